"""Shared input checks: each raises with the function, the argument, what was expected and what came."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _kind(a: NDArray[Any]) -> str:
    return f"{a.dtype} array of shape {a.shape}"


def _asarray(x: ArrayLike, func: str, arg: str) -> NDArray[Any]:
    """np.asarray(x), with a ragged nested list (rows of different lengths) named as such."""
    try:
        return np.asarray(x)
    except ValueError as exc:
        if "inhomogeneous" not in str(exc):
            raise
        raise ValueError(
            f"{func}: {arg} must be an array of numbers; got a ragged {type(x).__name__} (rows of different "
            f"lengths). For parameters of several shapes pass a dict or list of arrays (a pytree)"
        ) from None


def as_float_array(x: ArrayLike, func: str, arg: str) -> NDArray[Any]:
    """`x` as a floating (or complex) array; integers and booleans become float64 (a new array)."""
    a = _asarray(x, func, arg)
    if a.dtype.kind in "biu":
        return a.astype(np.float64)
    if a.dtype.kind not in "fc":
        raise TypeError(f"{func}: {arg} must be numeric; got {_kind(a)}")
    return a


def real_floating_array(x: ArrayLike, func: str, arg: str) -> NDArray[np.floating[Any]]:
    """`x` as a real floating array, without conversion: the point at which derivatives are taken."""
    a = _asarray(x, func, arg)
    if a.dtype.kind in "biu":
        raise TypeError(
            f"{func}: {arg} must be a floating array (float32 or float64); got {_kind(a)}. "
            f"Integer steps are meaningless: pass np.asarray({arg}, dtype=np.float64)"
        )
    if a.dtype.kind == "c":
        raise TypeError(
            f"{func}: {arg} must be real; got {_kind(a)}. For the complex-step derivative of a real "
            f"function pass a real {arg} with method='complex'"
        )
    if a.dtype.kind != "f":
        raise TypeError(f"{func}: {arg} must be a floating array (float32 or float64); got {_kind(a)}")
    return a


def callable_arg(f: object, func: str, arg: str = "f") -> Callable[..., Any]:
    if not callable(f):
        raise TypeError(f"{func}: {arg} must be callable; got {type(f).__name__}")
    return f


def choice(value: object, allowed: tuple[str, ...], func: str, arg: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{func}: {arg} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def positive_int(value: object, func: str, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{func}: {arg} must be a positive integer; got {value!r}")
    return int(value)


def class_labels(t: ArrayLike, num_classes: int, func: str, arg: str = "t") -> NDArray[np.intp]:
    """Integer class labels in [0, num_classes): float, negative and out-of-range labels are errors."""
    a = np.asarray(t)
    if a.dtype.kind not in "iu":
        raise TypeError(
            f"{func}: {arg} must hold integer class labels (or one-hot rows of the same shape as the "
            f"scores); got {_kind(a)}"
        )
    bad = np.flatnonzero((a < 0) | (a >= num_classes))
    if bad.size:
        pos = bad[0]
        raise ValueError(
            f"{func}: labels must lie in [0, {num_classes}); got {a.reshape(-1)[pos]} at position {pos}"
        )
    return a.astype(np.intp)


def finite_point(x: NDArray[Any], func: str, arg: str = "x") -> NDArray[Any]:
    """A point derivatives can be taken at: at least one element, every element finite."""
    if x.size == 0:
        raise ValueError(f"{func}: {arg} must have at least one element; got shape {x.shape}")
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x.reshape(-1)))[0])
        where = tuple(int(i) for i in np.unravel_index(bad, x.shape)) if x.ndim else ()
        raise ValueError(
            f"{func}: {arg} must be finite (the derivative at inf or nan is undefined); got "
            f"{x.reshape(-1)[bad]} at index {where}"
        )
    return x


MAX_SEED = 2**128  # SeedSequence takes any non-negative int; a bound keeps the message about the seed


def seed_generator(
    seed: object, func: str, arg: str = "seed", *, default: int | None = None
) -> np.random.Generator:
    """`seed` as a numpy.random.Generator: a Generator as is, a non-negative int, or None (`default`,
    or fresh entropy when `default` is None). The one place every function that takes a seed validates it."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng(default)
    return np.random.default_rng(seed_int(seed, func, arg, expected=ANY_SEED))


ANY_SEED = "a non-negative int, a numpy.random.Generator or None"  # what seed_generator takes


def seed_int(seed: object, func: str, arg: str = "seed", *, expected: str = "a non-negative int") -> int:
    """A seed as a plain non-negative int (for functions that derive several streams from it); `expected`
    is what the caller accepts in all, for the message (it may take None or a Generator before this)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"{func}: {arg} must be {expected}; got {type(seed).__name__} {seed!r}")
    if not 0 <= int(seed) < MAX_SEED:
        raise ValueError(f"{func}: {arg} must be a non-negative int below 2**128; got {int(seed)}")
    return int(seed)


def reprefixed(exc: BaseException, old: str, new: str) -> BaseException | None:
    """numgrad's own error `exc` (a TypeError, ValueError or FloatingPointError, or their subclasses that
    take one message: MutatedArgumentError) from an inner function whose message starts ``"{old}: "``,
    as the same type and notes under ``"{new}: "`` (the function the user called, and where in it); None
    for anything else, a user's own exception included, which is to go on as it came."""
    text = str(exc)
    if not isinstance(exc, TypeError | ValueError | FloatingPointError) or not text.startswith(f"{old}: "):
        return None
    try:
        renamed = type(exc)(f"{new}: {text.removeprefix(f'{old}: ')}")
    except TypeError:  # an exception class that takes other arguments: leave it be
        return None
    for note in getattr(exc, "__notes__", ()):
        renamed.add_note(note)
    return renamed.with_traceback(exc.__traceback__)


@contextmanager
def named_as(old: str, new: str) -> Iterator[None]:
    """``with named_as("check_vjp", "check_layers: layer [1] relu"):`` — numgrad's own errors raised inside
    under the name of the function the user called (:func:`reprefixed`); anything else as it came."""
    try:
        yield
    except (TypeError, ValueError, FloatingPointError) as exc:
        renamed = reprefixed(exc, old, new)
        if renamed is None:
            raise
        raise renamed from None

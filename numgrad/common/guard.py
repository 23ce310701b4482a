"""The caller's data is never changed: detecting an f (or grad) that writes into its argument.

numgrad perturbs the caller's array in place in element-by-element mode (so that ``lambda W:
net.loss(x, t)`` sees the perturbation). An f that writes into its argument would then corrupt both the
caller's array and every later evaluation. :func:`unchanged` saves a copy once per public call and
compares bitwise once at the end; the engine checks the one element it perturbed after each call of f
(O(1) per evaluation). Either way the caller's array is restored bitwise and
:class:`MutatedArgumentError` says what happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["MutatedArgumentError", "NumericalWarning", "changed_at", "unchanged", "unchanged_tree"]


class MutatedArgumentError(ValueError):
    """f or grad wrote into the array numgrad passed it; the caller's array has been restored bitwise."""


class NumericalWarning(UserWarning):
    """A result numgrad's own error estimate says may be unreliable (the warning says where and why)."""


def _bits(a: NDArray[Any]) -> NDArray[Any]:
    """A same-size unsigned-integer view: equality of bits (-0.0 vs 0.0, NaN payloads) for any strides."""
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.kind in "fc" and a.dtype.itemsize <= 8 else a


def changed_at(a: NDArray[Any], saved: NDArray[Any]) -> int | None:
    """The first flat index where `a` and `saved` differ bitwise, or None."""
    contiguous = a.flags.c_contiguous and saved.flags.c_contiguous
    if contiguous and a.dtype == saved.dtype and a.tobytes() == saved.tobytes():  # the common case
        return None
    if a.dtype.kind == "c":
        differs = (_bits(a.real) != _bits(saved.real)) | (_bits(a.imag) != _bits(saved.imag))
    else:
        differs = _bits(a) != _bits(saved)
    if not np.any(differs):
        return None
    return int(np.flatnonzero(differs.reshape(-1))[0])


def mutation_error(
    func: str, who: str, arg: str, shape: tuple[int, ...], j: int, was: Any, now: Any
) -> Exception:
    where = tuple(int(i) for i in np.unravel_index(j, shape)) if shape else ()
    return MutatedArgumentError(
        f"{func}: {who} wrote into its argument (element {where} of {arg} changed from {was!r} to "
        f"{now!r}); {arg} has been restored bitwise. numgrad needs {who} to only read its argument: copy "
        f"inside {who} before modifying it (v = v.copy())"
    )


class unchanged:  # noqa: N801  (used as a context manager, like contextlib's lower-case ones)
    """``with unchanged(func, x):`` — afterwards the caller's `x` is bitwise what it was before.

    If the block changed `x` it is restored and :class:`MutatedArgumentError` raised; if the block raised
    anyway, `x` is restored and the original exception carries a note saying so (numgrad's own verdicts on
    the corrupted points, a non-finite value or a NumericalWarning turned error, become the
    MutatedArgumentError). A class, not a generator: this runs on every call of the engine.
    """

    __slots__ = ("arg", "func", "saved", "who", "x")

    def __init__(self, func: str, x: NDArray[Any], *, who: str = "f", arg: str = "x") -> None:
        self.func, self.x, self.who, self.arg = func, x, who, arg
        self.saved: NDArray[Any] | None = None

    def __enter__(self) -> None:
        if isinstance(self.x, np.ndarray) and self.x.flags.writeable:  # else nobody can write into it
            self.saved = self.x.copy()

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        saved, x = self.saved, self.x
        if saved is None:
            return
        j = changed_at(x, saved)
        if j is None:
            return
        now = x.reshape(-1)[j].item()
        np.copyto(x, saved)
        error = mutation_error(self.func, self.who, self.arg, x.shape, j, saved.reshape(-1)[j].item(), now)
        if exc is None:
            raise error
        # numgrad's verdict on corrupted points, or a write found where x was already changed (its "from"
        # value is then the changed one): this error, from the copy taken before, says what was there
        if isinstance(exc, NumericalWarning | FloatingPointError | MutatedArgumentError):
            raise error from exc
        exc.add_note(
            f"{self.func}: {self.who} also wrote into {self.arg}; {self.arg} has been restored bitwise"
        )


def unchanged_tree(func: str, leaves: Sequence[Any], paths: Sequence[str], *, who: str = "f") -> ExitStack:
    """``with unchanged_tree(func, flat.leaves, flat.paths):`` — :class:`unchanged` for every leaf of a
    pytree at once, each named by its key path (``x['W1']``); a single array is the path ``''``."""
    stack = ExitStack()
    for leaf, path in zip(leaves, paths, strict=True):
        stack.enter_context(unchanged(func, leaf, who=who, arg=f"x{path}"))
    return stack

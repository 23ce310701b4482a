"""Gradient descent of chapter 4, made watchable: the path, the values, and how the run ended.

The book's ``gradient_descent`` overwrites ``init_x`` and returns only the last point; here the caller's
array is never touched, every point and value is recorded, and a run that blows up stops at the first
non-finite or exploding value with ``status="diverged"`` instead of spilling overflow warnings.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin
from numpy.typing import ArrayLike, NDArray

from numgrad.common import numerics as nm
from numgrad.common.guard import unchanged
from numgrad.common.validate import as_float_array, callable_arg, finite_point, positive_int
from numgrad.differences import small
from numgrad.differences.gradient import numerical_gradient
from numgrad.differences.reuse import StepReuse

__all__ = ["DescentResult", "gradient_descent"]

DEFAULT_LR = 0.01  # the book's default learning rate
DEFAULT_STEP_NUM = 100  # the book's default number of steps


SHOWN_ELEMENTS = 6  # a repr shows at most this many elements of x (3 at each end)


@dataclass(frozen=True, eq=False)
class DescentResult(NDArrayOperatorsMixin):
    """How a gradient descent went; the same fields whatever the options.

    It also stands for its final point where the book uses the returned array: ``print(result)``
    leads with ``x``; ``np.asarray(result)``, arithmetic (``result + 0``, ``result == 0``, NumPy
    functions), indexing and ``len`` act on ``x``. The record (path, values, status) stays.

    Attributes
    ----------
    x : ndarray of init_x's shape
        The final point (a new array; ``path[-1]``).
    path : ndarray, shape (steps + 1, *x.shape)
        Every point visited, the starting point first.
    values : ndarray of float64, shape (steps + 1,)
        ``f`` along the path.
    status : {"converged", "max_steps", "diverged"}
        "converged": a step was shorter than `tol` (without `tol`: the last step of the full run was
        under sqrt(eps) of the first); "diverged": the last value is non-finite or exploded, or the
        gradient at the last point was non-finite; "max_steps": otherwise.
    steps : int
        Steps taken.
    reason : str
        For "diverged", which check ended the run (f or the point not finite, f rising above the start by
        more than DIVERGENCE_RISE, or the gradient at the last point not finite); "" otherwise.
    """

    x: NDArray[np.floating[Any]]
    path: NDArray[np.floating[Any]]
    values: NDArray[np.float64]
    status: str
    steps: int
    reason: str = ""

    def __repr__(self) -> str:
        """``DescentResult(x=[...], status=..., steps=..., f=...; path (steps + 1, ...))``: x first, short."""
        x = np.asarray(self.x)
        shown = np.array2string(
            x.reshape(-1) if x.ndim > 1 else x, separator=", ", threshold=SHOWN_ELEMENTS,
            edgeitems=SHOWN_ELEMENTS // 2, max_line_width=10**6,
        )  # fmt: skip
        shape = f" (x of shape {x.shape}, flattened)" if x.ndim > 1 else ""
        why = f", reason={self.reason!r}" if self.reason else ""
        return (
            f"DescentResult(x={shown}{shape}, status={self.status!r}{why}, steps={self.steps}, "
            f"f={float(self.values[-1]):.6g}; path {self.path.shape}, values {self.values.shape})"
        )

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> NDArray[Any]:
        """The final point: ``np.asarray(result)`` is ``result.x``."""
        if copy:
            return np.array(self.x, dtype=dtype, copy=True)
        return np.asarray(self.x, dtype=dtype)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """Arithmetic and ufuncs act on the final point ``x`` (and return plain arrays)."""
        if any(isinstance(o, DescentResult) for o in kwargs.get("out", ())):
            raise TypeError("DescentResult is a record and cannot be changed in place; use result.x")
        args = [a.x if isinstance(a, DescentResult) else a for a in inputs]
        return getattr(ufunc, method)(*args, **kwargs)

    def __getitem__(self, key: Any) -> Any:
        return self.x[key]

    def __len__(self) -> int:
        return len(self.x)

    def tolist(self) -> Any:
        """``x.tolist()``."""
        return self.x.tolist()


def gradient_descent(
    f: Callable[..., Any],
    init_x: ArrayLike,
    lr: float = DEFAULT_LR,
    step_num: int = DEFAULT_STEP_NUM,
    *,
    grad: Callable[..., Any] | None = None,
    h: float | ArrayLike | None = None,
    tol: float | None = None,
) -> DescentResult:
    """Minimise `f` by ``x ← x − lr·∇f(x)`` from `init_x`, recording the path.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar`` for x of init_x's shape.
    init_x : array_like, any shape
        The start; never modified. Integers become a float64 copy.
    lr : float
        Learning rate, positive.
    step_num : int
        Most steps to take, positive.
    grad : callable, optional
        ``grad(x) -> array of x's shape``; default: :func:`numgrad.numerical_gradient` of `f`.
    h : float or array of x's shape, optional
        Step of the numerical gradient (``h=1e-4`` is the book's formula); only without `grad`.
    tol : float, optional
        Stop (``"converged"``) at the first step shorter than this (Euclidean norm). Without it every
        step is taken, as in the book.

    Returns
    -------
    DescentResult
        ``x``, ``path`` (steps + 1, *x.shape), ``values`` (steps + 1,), ``status``, ``steps``.

    Raises
    ------
    TypeError
        If `f` or `grad` is not callable, `init_x` is not real, or `f` does not return a real number.
    ValueError
        If `lr`, `step_num` or `tol` is not positive, `init_x` or ``f(init_x)`` is not finite, `h` is
        given with `grad`, or `grad` returns the wrong shape.

    Examples
    --------
    >>> r = gradient_descent(lambda x: x[0]**2 + x[1]**2, [-3.0, 4.0], lr=0.1, h=1e-4)
    >>> r.x.tolist(), r.status, r.path.shape
    ([-6.111107928998789e-10, 8.148143905314271e-10], 'converged', (101, 2))
    """
    x0, lr, step_num, tol = _validate(f, init_x, lr, step_num, grad, h, tol)
    # f and grad may write into the caller's start from a closure: restored, and said (once per run)
    with unchanged("gradient_descent", init_x, who="f or grad", arg="init_x"):  # type: ignore[arg-type]
        return _run(f, x0, lr, step_num, grad, h, tol)


def _run(
    f: Callable[..., Any], x0: NDArray[Any], lr: float, step_num: int, grad: Callable[..., Any] | None,
    h: Any, tol: float | None,
) -> DescentResult:  # fmt: skip
    f0 = _start_value(f, x0)
    with np.errstate(all="ignore"):  # overflow is reported as status="diverged", not as warnings
        if (
            grad is None
            and (h is None or type(h) is float)
            and small.eligible(x0, "central", False, None, None)
        ):
            path, values, status = _descend_small(f, x0, f0, lr, step_num, tol, h)
        else:
            path, values, status = _descend(
                f, x0, f0, lr, step_num, tol, _gradient_function(f, grad, h, x0.shape)
            )
    trail = path if isinstance(path, np.ndarray) else np.array(path)  # np.stack, without its per-array work
    status = status or _final_status(trail, tol)
    return DescentResult(
        x=trail[-1].copy(),
        path=trail,
        values=np.asarray(values, dtype=np.float64),
        status=status,
        steps=len(path) - 1,
        reason=divergence_reason(status, trail, values),
    )


# the points (a list of arrays, or stacked), f at them, the status so far
Run = tuple["list[NDArray[Any]] | NDArray[Any]", list[float], "str | None"]


def _descend(
    f: Callable[..., Any],
    x0: NDArray[Any],
    f0: float,
    lr: float,
    step_num: int,
    tol: float | None,
    gradient: Callable[[NDArray[Any], float], NDArray[Any] | None],
) -> Run:
    path, values = [x0], [f0]
    status = None
    while status is None and len(path) <= step_num:
        g = gradient(path[-1], values[-1])
        if g is None:
            status = "diverged"
            break
        x_new = np.asarray(path[-1] - lr * g, dtype=x0.dtype)
        path.append(x_new)
        values.append(_value(f, x_new))
        status = _step_verdict(f0, path[-2], x_new, values[-1], tol)
    return path, values, status


def _descend_small(
    f: Callable[..., Any],
    x0: NDArray[np.float64],
    f0: float,
    lr: float,
    step_num: int,
    tol: float | None,
    h: float | None,
) -> Run:
    """:func:`_descend` for a few float64 numbers with numerical gradients (the book's examples): the
    points as Python floats, f evaluated at one working array that holds each point in turn (the path is
    made of the floats, so f cannot change it), the small path's gradients as lists; the same operations
    on the same values, so the same run, at a fraction of the fixed cost of a step."""
    memory = StepReuse(f) if h is None else None
    shape = x0.shape
    rise = nm.DIVERGENCE_RISE * max(1.0, abs(f0))  # _step_verdict's bound
    x = np.array(x0)  # the working point
    mv = small.flat_view(x)
    xs, fx = mv.tolist(), f0
    rows, values = [xs], [f0]
    status = None
    try:
        while status is None and len(rows) <= step_num:
            try:
                if memory is not None:
                    g = memory.flat_gradient(x, fx, xs)
                else:
                    try:
                        g = small.explicit_pass("numerical_gradient", f, x, mv, xs, h)  # type: ignore[arg-type]
                    except small.Fallback:
                        g = numerical_gradient(f, x, h=h).ravel().tolist()
            except FloatingPointError:  # f was non-finite next to x
                status = "diverged"
                break
            old, xs = xs, [a - lr * b for a, b in zip(xs, g)]  # noqa: B905  (x − lr·g, element for element)
            for i, a in enumerate(xs):
                mv[i] = a
            fx = _value(f, x)
            rows.append(xs)
            values.append(fx)
            finite = math.isfinite(fx + sum(xs)) or (math.isfinite(fx) and all(map(math.isfinite, xs)))
            if not finite or fx - f0 > rise:
                status = "diverged"
            elif tol is not None and _length(np.array(xs), np.array(old)) < tol:
                status = "converged"
    finally:
        mv.release()
    return np.array(rows).reshape(len(rows), *shape), values, status  # the path, stacked


# --------------------------------------------------------------------------------------------------
# The decisions (shared with the JAX twin, so both stop at the same step)


def _step_verdict(
    f0: float, x_old: NDArray[Any], x_new: NDArray[Any], f_new: float, tol: float | None
) -> str | None:
    """How the step to `x_new` ends the run: "diverged", "converged" (shorter than `tol`) or None."""
    if not (math.isfinite(f_new) and _all_finite(np.asarray(x_new))):
        return "diverged"
    if f_new - f0 > nm.DIVERGENCE_RISE * max(1.0, abs(f0)):
        return "diverged"
    if tol is not None and _length(x_new, x_old) < tol:
        return "converged"
    return None


def divergence_reason(status: str, path: NDArray[Any], values: Any) -> str:
    """Which of :func:`_step_verdict`'s checks (or the gradient's) ended a "diverged" run, read off its
    record: the last point or f there not finite, f risen above the start, else the gradient at the last
    point (f not finite next to it, or grad's value not finite). "" for any other status."""
    if status != "diverged":
        return ""
    last, f_last, f0 = np.asarray(path[-1]), float(values[-1]), float(values[0])
    if not _all_finite(last):
        return "the point left float range (a step of lr·gradient overflowed)"
    if not math.isfinite(f_last):
        return f"f was not finite at the last point ({f_last})"
    if f_last - f0 > nm.DIVERGENCE_RISE * max(1.0, abs(f0)):
        return f"f rose from {f0:.6g} to {f_last:.6g} (more than {nm.DIVERGENCE_RISE:g}·max(1, |f(x0)|))"
    return "the gradient at the last point was not finite (f not finite next to it, or grad's value)"


def _all_finite(a: NDArray[Any]) -> bool:
    if a.size <= nm.SMALL_N:  # a few numbers: cheaper as floats than as a NumPy reduction
        return all(map(math.isfinite, a.ravel().tolist()))
    return bool(np.all(np.isfinite(a)))


def _final_status(path: NDArray[Any], tol: float | None) -> str:
    """Status of a run that took every step: "converged" (settled, when no `tol` was given) or "max_steps"."""
    if tol is None and len(path) > 1:
        first, last = _length(path[1], path[0]), _length(path[-1], path[-2])
        if last <= nm.settled_step_rtol(path.dtype) * first:
            return "converged"
    return "max_steps"


def _length(a: NDArray[Any], b: NDArray[Any]) -> float:
    with np.errstate(over="ignore"):  # beyond float range: inf, not a warning
        return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


# --------------------------------------------------------------------------------------------------
# Validation and the pieces of one step


def _validate(
    f: object, init_x: ArrayLike, lr: object, step_num: object, grad: object, h: object, tol: object
) -> tuple[NDArray[np.floating[Any]], float, int, float | None]:
    name = "gradient_descent"
    callable_arg(f, name)
    if grad is not None:
        callable_arg(grad, name, "grad")
        if h is not None:
            raise ValueError(f"{name}: h is the step of the numerical gradient; got h={h!r} with grad=")
    x0 = as_float_array(init_x, name, "init_x")
    if x0.dtype.kind != "f":
        raise TypeError(f"{name}: init_x must be real; got a {x0.dtype} array")
    if not np.all(np.isfinite(x0)):
        raise ValueError(f"{name}: init_x must be finite; got {x0.tolist()}")
    finite_point(x0, name, "init_x")
    if h is not None:
        _step(h, x0.shape)
    rate = _positive(lr, name, "lr")
    steps = positive_int(step_num, name, "step_num")
    recorded = (steps + 1) * (x0.size + 1)  # the path and its values, kept for the result
    if recorded > nm.DESCENT_RECORD_NUMBERS:
        raise ValueError(
            f"{name}: step_num={steps} would record {recorded:,} numbers (the path of {x0.size} elements and "
            f"its values at every step), more than {nm.DESCENT_RECORD_NUMBERS:,} (1 GiB); take fewer steps "
            f"(a loop of gradient_descent calls, each from the last one's x, runs as long)"
        )
    return np.array(x0), rate, steps, None if tol is None else _positive(tol, name, "tol")


def _positive(value: object, func: str, arg: str) -> float:
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if not ok or not np.isfinite(float(value)) or float(value) <= 0:  # type: ignore[arg-type]
        raise ValueError(f"{func}: {arg} must be a positive finite number; got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _step(h: object, shape: tuple[int, ...]) -> None:
    try:
        ok = bool(np.all(np.isfinite(steps := np.asarray(h, dtype=np.float64)) & (steps > 0)))
        np.broadcast_to(steps, shape)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"gradient_descent: h must be a positive finite number or an array of init_x's shape "
            f"{shape}; got {h!r}"
        )


_PLAIN_RESULTS = (float, np.float64, np.float32)  # real scalars, taken without further checks


def _value(f: Callable[..., Any], x: NDArray[Any]) -> float:
    if x.size > nm.SMALL_N:
        with unchanged("gradient_descent", x, arg="the point"):  # x is on the recorded path
            result = f(x)
    else:  # a few numbers: the guard's copy as bytes, its comparison only if they changed
        before = x.tobytes()
        try:
            result = f(x)
        finally:
            if x.tobytes() != before:
                guard = unchanged("gradient_descent", x, arg="the point")
                guard.saved = np.frombuffer(before, dtype=x.dtype).reshape(x.shape).copy()
                error = sys.exc_info()[1]
                guard.__exit__(type(error), error, None)  # restores x; raises, or notes f's own error
    if type(result) in _PLAIN_RESULTS:
        return float(result)
    out = np.asarray(result)
    if out.dtype.kind not in "fiu":
        raise TypeError(f"gradient_descent: f must return a real number; got {out.dtype}")
    if out.size != 1:
        raise ValueError(f"gradient_descent: f must return a scalar; got an array of shape {out.shape}")
    return float(out.reshape(()))


def _start_value(f: Callable[..., Any], x0: NDArray[Any]) -> float:
    with np.errstate(all="ignore"):
        f0 = _value(f, np.array(x0))
    if not np.isfinite(f0):
        raise ValueError(f"gradient_descent: f(init_x) must be finite; got {f0} at {x0.tolist()}")
    return f0


def _gradient_function(
    f: Callable[..., Any], grad: Callable[..., Any] | None, h: object, shape: tuple[int, ...]
) -> Callable[[NDArray[Any], float], NDArray[Any] | None]:
    """``(x, f(x)) -> ∇f(x)``, or None where the gradient is not finite (the run has diverged). The
    automatic step is probed once and re-used while x and f keep its scale (numgrad.differences.reuse)."""
    memory = StepReuse(f) if h is None else None

    def numerical(x: NDArray[Any], fx: float) -> NDArray[Any] | None:
        try:
            if memory is not None:
                return memory.gradient(x, fx)
            return numerical_gradient(f, x, h=h)  # type: ignore[arg-type]
        except FloatingPointError:  # f was non-finite next to x
            return None

    if grad is None:
        return numerical
    user = grad

    def given(x: NDArray[Any], fx: float) -> NDArray[Any] | None:
        g = np.asarray(user(np.array(x)), dtype=np.float64)
        if g.shape != shape:
            raise ValueError(f"gradient_descent: grad must return init_x's shape {shape}; got {g.shape}")
        return g if np.all(np.isfinite(g)) else None

    return given

"""Gradient checking: is a hand-written gradient right, and if not, where and by how much?

:func:`check_gradient` compares an analytic gradient with numgrad's numerical one. The tolerance comes
from the engine's own error estimate (steps h and h/2), floored by what the dtypes can resolve, so it
neither flakes in float32 nor hides small bugs in float64. Kinks (ReLU at 0, hinge at the margin) are
reported as such, not as wrong gradients.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad.checking import fast as _fastcheck
from numgrad.checking import measure as gc
from numgrad.checking import text as _checktext
from numgrad.checking.report import GradientReport, index_of, ratio_to_tolerance
from numgrad.common import numerics as nm
from numgrad.common.guard import unchanged
from numgrad.common.validate import callable_arg, choice, finite_point, real_floating_array, seed_generator

__all__ = ["GradientReport", "assert_gradient_close", "check_gradient", "plot_gradient_errors"]

MODES = ("full", "fast")


def check_gradient(
    f: Callable[..., Any],
    x: ArrayLike,
    grad: ArrayLike | Callable[..., Any],
    *,
    method: str = "auto",
    mode: str = "full",
    rtol: float | None = None,
    atol: float | None = None,
    seed: int | np.random.Generator | None = None,
    executor: Executor | None = None,
) -> GradientReport:
    """Compare an analytic gradient of scalar `f` at `x` with numgrad's numerical gradient.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``. As in :func:`numgrad.numerical_gradient`, x is perturbed in place, so
        ``lambda W: net.loss(x, t)`` reading ``W`` from a closure works.
    x : array_like, float32 or float64, any shape
        The point. A float32 x is differenced in float64 when f computes in float64 for a float64
        argument (NumPy code does), so float32 gradients are checked as finely as float64 ones.
    grad : array of x's shape, or callable ``grad(x) -> array``
        The analytic gradient at `x`, or the function that computes it.
    method : {"auto", "central", "forward", "backward", "richardson", "complex"}
        Difference method of full mode's first pass; fast mode uses central differences. ``"auto"``
        takes forward differences (x.size + 10 evaluations, as many as scipy.optimize.check_grad)
        where differences are taken in float64, central ones where they must be taken in float32.
        ``"central"`` resolves bugs about 1000 times smaller (relative 2e-9 instead of 2e-6) for
        twice the evaluations. Whatever the method, elements beyond tolerance are re-measured with
        central differences at two steps before they are called wrong.
    mode : {"full", "fast"}
        ``"full"`` checks and locates every element; ``"fast"`` checks directional derivatives along
        seeded random directions: six evaluations whatever the size.
    rtol, atol : float, optional
        Override the estimated tolerance with ``atol + rtol·|numerical|`` per element.
    seed : int or numpy.random.Generator, optional
        Fast mode's directions (default: a fixed seed, so results repeat).
    executor : concurrent.futures.Executor, optional
        Full mode sends its chunks of perturbed points there (a process pool, a Dask client's
        executor), with bitwise the local result; `f` must then read its argument and pickle. Fast
        mode's six evaluations always run here.

    Returns
    -------
    GradientReport
        ``str(report)`` is a short table; ``report.to_dict()`` is JSON-ready.

    Raises
    ------
    TypeError
        If `f` is not callable, `x` is not a real floating array, or `grad` is not numeric.
    ValueError
        If `grad`'s shape differs from x's, an option is unknown or negative, or x is read-only.

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> check_gradient(lambda v: np.sum(v**3), x, 3 * x**2).passed
    True
    >>> report = check_gradient(lambda v: np.sum(v**3), x, 3 * x)
    >>> report.passed, report.worst_index
    (False, (2,))
    """
    start = time.perf_counter()
    fn, xa, meth, md = _validated(f, x, method, mode)
    low, high, rng = _bound(rtol, "rtol"), _bound(atol, "atol"), _generator(seed)
    pool = _executor(executor)
    with unchanged(gc.FUNC, xa, who="grad"):
        analytic = _analytic(grad, xa)
    coarser = analytic.dtype if nm.eps(analytic.dtype) > nm.eps(xa.dtype) else xa.dtype
    tol = gc.Tolerance(low, high, "central" if md == "fast" else meth, str(coarser))
    with unchanged(gc.FUNC, xa):
        if md == "full":
            outcome = gc.full_check(fn, xa, analytic, meth, tol, executor=pool)
        else:
            outcome = _fastcheck.fast_check(fn, xa, analytic, tol, rng)
    tol = replace(tol, method=outcome.method)  # what "auto" resolved to
    shape = xa.shape if md == "full" else (outcome.analytic.size,)
    return _report(outcome, md, tol, xa, shape, time.perf_counter() - start)


def _executor(executor: object) -> Executor | None:
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(
            f"check_gradient: executor must be a concurrent.futures.Executor (a ProcessPoolExecutor, or "
            f"dask.distributed.Client(...).get_executor()); got {type(executor).__name__}"
        )
    return executor


def assert_gradient_close(
    f: Callable[..., Any],
    x: ArrayLike,
    grad: ArrayLike | Callable[..., Any],
    *,
    method: str = "auto",
    mode: str = "full",
    rtol: float | None = None,
    atol: float | None = None,
    seed: int | np.random.Generator | None = None,
    executor: Executor | None = None,
) -> GradientReport:
    """:func:`check_gradient`, raising ``AssertionError`` with the report's table when it fails.

    Examples
    --------
    >>> x = np.array([1.0, 2.0])
    >>> assert_gradient_close(lambda v: np.sum(v**2), x, 2 * x).passed
    True
    """
    report = check_gradient(
        f, x, grad, method=method, mode=mode, rtol=rtol, atol=atol, seed=seed, executor=executor
    )
    if not report.passed:
        raise AssertionError(f"gradient check failed\n{report}")
    return report


def plot_gradient_errors(report: GradientReport, path: str | Path, *, title: str | None = None) -> Path:
    """Save a heatmap of ``error / tolerance`` per element of a full-mode report.

    Elements beyond tolerance show red, kinks are crossed, the worst element is boxed; the colour bar
    says where it clips. The format follows `path`'s extension (.png, .svg, .pdf); `title` (say, the
    function's name) heads the picture, above the dtype and the verdict. x of 1 dimension is drawn as
    one row, more than 2 as ``(shape[0], rest)``.

    Examples
    --------
    >>> import tempfile, os
    >>> r = check_gradient(lambda w: np.sum(w**2), np.ones((3, 4)), np.ones((3, 4)))
    >>> out = plot_gradient_errors(r, os.path.join(tempfile.mkdtemp(), "errors.png"))
    >>> out.suffix
    '.png'
    """
    if not isinstance(report, GradientReport):
        raise TypeError(f"plot_gradient_errors: report must be a GradientReport; got {type(report).__name__}")
    if report.mode != "full" or report.abs_errors.ndim == 0:
        raise ValueError(
            "plot_gradient_errors: the heatmap needs a full-mode report of an array x (fast mode has one "
            f"number per direction, not per element); got mode={report.mode!r} with x of shape "
            f"{report.abs_errors.shape}. Run check_gradient(..., mode='full')"
        )
    from numgrad.checking.heatmap import save_heatmap

    return save_heatmap(report, Path(path), title=title)


# --------------------------------------------------------------------------------------------------
# Validation and assembly


def _validated(
    f: object, x: ArrayLike, method: object, mode: object
) -> tuple[Callable[..., Any], NDArray[Any], str, str]:
    fn = callable_arg(f, gc.FUNC)
    xa = finite_point(real_floating_array(x, gc.FUNC, "x"), gc.FUNC, "x")
    meth = choice(method, ("auto", *nm.METHODS), gc.FUNC, "method")
    md = choice(mode, MODES, gc.FUNC, "mode")
    if md == "fast" and meth not in ("auto", "central"):
        raise ValueError(
            f"{gc.FUNC}: mode='fast' takes central differences along random directions; method must be "
            f"'auto' or 'central', got {meth!r}. Use mode='full' for other methods"
        )
    return fn, xa, meth, md


def _bound(value: object, arg: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{gc.FUNC}: {arg} must be a number or None; got {type(value).__name__}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{gc.FUNC}: {arg} must be finite and non-negative; got {value}")
    return float(value)


def _generator(seed: object) -> np.random.Generator:
    return seed_generator(seed, gc.FUNC, default=nm.DEFAULT_CHECK_SEED)


def _analytic(grad: object, x: NDArray[Any]) -> NDArray[Any]:
    """The analytic gradient as an array of x's shape (computed before x is ever perturbed)."""
    g = np.asarray(grad(x) if callable(grad) else grad)
    source = "grad(x)" if callable(grad) else "grad"
    if g.dtype.kind not in "fiu":
        raise TypeError(f"{gc.FUNC}: {source} must be a real numeric array of x's shape; got {g.dtype}")
    if g.shape != x.shape:
        hint = ": it is the transpose (dW.T?)" if g.ndim == 2 and g.shape == x.shape[::-1] else ""
        raise ValueError(f"{gc.FUNC}: {source} must have x's shape {x.shape}; got {g.shape}{hint}")
    return g if g.dtype.kind == "f" else g.astype(np.float64)


def _report(
    o: gc.Outcome, mode: str, t: gc.Tolerance, x: NDArray[Any], shape: tuple[int, ...], seconds: float
) -> GradientReport:
    err, tol = o.abs_error, o.tolerance
    judged = ~o.kinks
    beyond = judged & ~(err <= tol)
    worst = int(np.argmax(ratio_to_tolerance(err, tol, o.kinks)))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(o.scale > 0, err / o.scale, np.where(err > 0, np.inf, 0.0))
    passed = not beyond.any()
    return GradientReport(
        passed=passed,
        mode=mode,
        method=t.method,
        dtype=str(x.dtype),
        working_dtype=o.working_dtype,
        max_abs_error=float(np.max(err[judged], initial=0.0)),
        max_rel_error=float(np.max(rel[judged], initial=0.0)),
        worst_index=index_of(worst, shape),
        analytic=float(o.analytic[worst]),
        numerical=float(o.numerical[worst]),
        tolerance=float(tol[worst]),
        tolerance_source=_checktext.source(o, worst, t, mode),
        step=float(o.steps[worst]),
        nfev=o.nfev,
        seconds=seconds,
        failures=int(beyond.sum()),
        message=_checktext.message(passed, int(beyond.sum()), o, mode, index_of(worst, shape)),
        analytic_values=o.analytic.reshape(shape),
        numerical_values=o.numerical.reshape(shape),
        abs_errors=err.reshape(shape),
        tolerances=tol.reshape(shape),
        steps=o.steps.reshape(shape),
        kinks=o.kinks.reshape(shape),
    )

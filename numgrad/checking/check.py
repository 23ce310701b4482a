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
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad.checking import measure as gc
from numgrad.checking.core import Checked, check_flat, point
from numgrad.checking.report import GradientReport
from numgrad.common import numerics as nm
from numgrad.common.guard import unchanged_tree
from numgrad.common.trees import Flat, match
from numgrad.common.validate import callable_arg, choice, named_as, seed_generator

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
    x : array_like, float32 or float64, any shape; or a pytree (nested dict / list / tuple) of them
        The point. A float32 x is differenced in float64 when f computes in float64 for a float64
        argument (NumPy code does), so float32 gradients are checked as finely as float64 ones. A
        pytree's leaves are perturbed in place too (``lambda p: net.loss(x, t)`` over ``net.params``).
    grad : array of x's shape (a pytree of x's structure), or callable ``grad(x)`` returning it
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
        seeded random directions: six evaluations whatever the size (seven for a float32 x: one more says
        whether f computes in float64; where it computes in float32, the tolerance is the measured error
        estimate and kinks are told apart, as in full mode).
    rtol, atol : float, optional
        Override the estimated tolerance with ``atol + rtol·|numerical|`` per element.
    seed : int or numpy.random.Generator, optional
        Fast mode's directions (default: a fixed seed, so results repeat).
    executor : concurrent.futures.Executor, optional
        Full mode sends its chunks of perturbed points there (a process pool, a Dask client's
        executor), with bitwise the local result; `f` must then read its argument and pickle. Fast
        mode's six or seven evaluations always run here.

    Returns
    -------
    GradientReport
        ``str(report)`` is a short table; ``report.to_dict()`` is JSON-ready. For a pytree,
        ``report.worst_leaf`` names the leaf of ``worst_index`` and ``report.leaves`` sums up each.

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
    fn, flat, meth, md = _validated(f, x, method, mode)
    low, high, rng = _bound(rtol, "rtol"), _bound(atol, "atol"), _generator(seed)
    pool = _executor(executor)
    with unchanged_tree(gc.FUNC, flat.leaves, flat.paths, who="grad"):
        analytic = [_analytic(grad, flat.leaves[0])] if flat.single else _tree_analytic(grad, flat)
    checked = Checked(gc.FUNC, fn, flat, analytic)
    return check_flat(
        checked, method=meth, mode=md, rtol=low, atol=high, rng=rng, executor=pool,
        seconds=lambda: time.perf_counter() - start,
    )  # fmt: skip


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
    with named_as(gc.FUNC, "assert_gradient_close"):  # numgrad's own errors; a user's f's as they came
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
    f: object, x: Any, method: object, mode: object, func: str = gc.FUNC
) -> tuple[Callable[..., Any], Flat, str, str]:
    fn = callable_arg(f, func)
    flat = point(x, func)
    meth = choice(method, ("auto", *nm.METHODS), func, "method")
    md = choice(mode, MODES, func, "mode")
    if md == "fast" and meth not in ("auto", "central"):
        raise ValueError(
            f"{func}: mode='fast' takes central differences along random directions; method must be "
            f"'auto' or 'central', got {meth!r}. Use mode='full' for other methods"
        )
    return fn, flat, meth, md


def _bound(value: object, arg: str, func: str = gc.FUNC) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{func}: {arg} must be a number or None; got {type(value).__name__}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{func}: {arg} must be finite and non-negative; got {value}")
    return float(value)


def _generator(seed: object, func: str = gc.FUNC) -> np.random.Generator:
    return seed_generator(seed, func, default=nm.DEFAULT_CHECK_SEED)


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


def _tree_analytic(grad: object, flat: Flat) -> list[NDArray[Any]]:
    """The analytic gradient's leaves, in x's order, after checking it has x's structure."""
    g = grad(flat.unflatten(flat.leaves)) if callable(grad) else grad
    return match(flat, g, gc.FUNC, "grad(x)" if callable(grad) else "grad")

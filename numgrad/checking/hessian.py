"""Checking second derivatives: a hand-written Hessian (or Hessian-vector product) against numgrad's.

:func:`check_hessian` compares every entry with numgrad's Hessian of f (second differences at h and 2h),
or — the ``gradgradcheck`` case — with numgrad's Jacobian of the user's own gradient function (central
differences at h and h/2). Tolerances come from those error estimates, floored by what the dtypes resolve.
The report is the :class:`~numgrad.checking.report.GradientReport` of :func:`numgrad.check_gradient`,
indexed by ``(i…, j…)`` over ``x.shape + x.shape``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad.checking.core import point
from numgrad.checking.hessian_fast import fast_hessian
from numgrad.checking.hessian_report import judge, report
from numgrad.checking.hessian_tree import check_tree, numerical
from numgrad.checking.measure import promotable
from numgrad.checking.report import GradientReport
from numgrad.common import numerics as nm
from numgrad.common.guard import unchanged_tree
from numgrad.common.trees import is_tree, match
from numgrad.common.validate import callable_arg, choice, seed_generator
from numgrad.differences.engine import make_problem
from numgrad.differences.estimate import Estimate, hessian_estimate
from numgrad.differences.joined import matched_square

__all__ = ["assert_hessian_close", "check_hessian"]

FUNC = "check_hessian"


def check_hessian(
    f: Callable[..., Any],
    x: ArrayLike,
    hess: ArrayLike | Callable[..., Any],
    *,
    grad: Callable[..., Any] | None = None,
    mode: str = "full",
    rtol: float | None = None,
    atol: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> GradientReport:
    """Compare an analytic Hessian of scalar `f` at `x` with numgrad's, entry by entry (or, fast, along
    random direction pairs).

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``. x is perturbed in place (the closure idiom works); not called when `grad`
        is given.
    x : array_like, float32 or float64, any shape; or a pytree of float arrays
        A float32 x is differenced in float64 when f (or `grad`) computes in float64 for float64 input.
    hess : array of shape ``x.shape + x.shape``, or callable ``hvp(v) -> array of x's shape``
        The analytic Hessian at x, or its product with a vector (called once per element of x, on the
        unit vectors, to form the columns). For a pytree x: the tree of trees of ``jax.hessian``
        (``hess[p][q]`` of shape ``x[p].shape + x[q].shape``), or ``hvp(v)`` in x's structure.
    grad : callable, optional
        ``grad(x) -> array of x's shape``, the user's gradient: `hess` is then checked against numgrad's
        Jacobian of `grad` (``gradgradcheck``: is the second derivative the derivative of the first?).
        Called on copies of x, which it must only read; every value is checked in both modes.
    mode : {"full", "fast"}
        ``"full"``: every entry, ``2·(n² + n) + 10`` evaluations of f (one more for a float32 x; as many
        again where a step is not small against f's length scale and is taken again at the unit scale).
        ``"fast"``: ``uᵀHw`` along ``HESSIAN_FAST_PAIRS`` (3) seeded random direction pairs, 24
        evaluations (with `grad`: 12 calls of grad) whatever n, one more where f (or grad) returns
        float32 values for a float64 x (its steps then follow float32); `hess` as a callable is called
        once per pair. Where a pair's step is not small against f's length scale (sin at x = 1e8), the
        pairs are taken again with every x_i moving at the unit scale: 24 evaluations and a call of `hess`
        per pair more. It finds that the Hessian is wrong, not where: run full mode for that.
    rtol, atol : float, optional
        Override the estimated tolerance with ``atol + rtol·|numerical|`` per entry (or pair).
    seed : int or numpy.random.Generator, optional
        Fast mode's directions (default: a fixed seed, so results repeat).

    Returns
    -------
    GradientReport
        ``worst_index`` is ``(*i, *j)``: row index then column index into x. For a pytree x,
        ``worst_leaf`` is the pair of key paths (``"['W']['b']"`` for ``hess['W']['b']``), ``worst_index``
        the index into that block, and ``leaves`` one summary per block. Fast mode: one check per
        direction pair, ``worst_index`` ``(k,)``.

    Raises
    ------
    TypeError
        If `f` or `grad` is not callable, x is not a real floating array, `hess` is not numeric, or f
        (``grad(x)``) returns something other than a real number (real array of x's shape).
    ValueError
        If x is not finite, `hess` (or ``hvp(v)``, ``grad(x)``) has the wrong shape, f is not scalar, or
        a tolerance is negative; ``MutatedArgumentError`` (a ValueError) if f or grad writes into its
        argument (the caller's x is restored bitwise).
    FloatingPointError
        If f or grad is not finite at x, or near it where no step avoids it.

    Examples
    --------
    >>> f = lambda v: v[0] ** 2 * v[1]
    >>> x = np.array([1.0, 2.0])
    >>> check_hessian(f, x, np.array([[4.0, 2.0], [2.0, 0.0]])).passed
    True
    >>> r = check_hessian(f, x, np.array([[4.0, 0.0], [0.0, 0.0]]))  # missing the mixed term
    >>> r.passed, r.worst_index
    (False, (0, 1))
    >>> check_hessian(f, x, np.array([[4.0, 0.0], [0.0, 0.0]]), mode="fast").passed
    False
    """
    start = time.perf_counter()
    fn = callable_arg(f, FUNC)
    gfn = None if grad is None else callable_arg(grad, FUNC, "grad")
    low, high = _bound(rtol, "rtol"), _bound(atol, "atol")
    md = choice(mode, ("full", "fast"), FUNC, "mode")
    if md == "fast":
        rng = seed_generator(seed, FUNC, default=nm.DEFAULT_CHECK_SEED)
        return _fast(fn, gfn, x, hess, low, high, rng, start)
    if is_tree(x):
        return check_tree(fn, gfn, x, hess, low, high, start)
    flat = point(x, FUNC)
    xa = flat.leaves[0]
    if xa.size == 0:
        raise ValueError(f"{FUNC}: x must have at least one element; got shape {xa.shape}")
    if gfn is None and not xa.flags.writeable:
        raise ValueError(
            f"{FUNC}: x is read-only, but the check perturbs x in place (so that a function reading x "
            f"from a closure sees the perturbation); pass x.copy()"
        )
    analytic = _analytic(hess, xa)
    if gfn is None:
        est, working, nfev = _numerical(fn, xa, analytic)
    else:  # grad on copies of x, each value checked as fast mode checks it
        est, working, nfev = numerical(fn, gfn, flat, analytic)
    judged = judge(analytic.reshape(xa.size, xa.size), est, x_dtype=xa.dtype, analytic_dtype=analytic.dtype,
                   working=working, gradgrad=gfn is not None, rtol=low, atol=high)  # fmt: skip
    return report(judged, est, xa, working, nfev, time.perf_counter() - start)


def assert_hessian_close(
    f: Callable[..., Any],
    x: ArrayLike,
    hess: ArrayLike | Callable[..., Any],
    *,
    grad: Callable[..., Any] | None = None,
    mode: str = "full",
    rtol: float | None = None,
    atol: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> GradientReport:
    """:func:`check_hessian`, raising ``AssertionError`` with the report's table when it fails.

    Examples
    --------
    >>> assert_hessian_close(lambda v: np.sum(v**2), np.array([1.0, 2.0]), 2 * np.eye(2)).passed
    True
    """
    report = check_hessian(f, x, hess, grad=grad, mode=mode, rtol=rtol, atol=atol, seed=seed)
    if not report.passed:
        raise AssertionError(f"Hessian check failed\n{report}")
    return report


# --------------------------------------------------------------------------------------------------


def _fast(
    f: Callable[..., Any],
    grad: Callable[..., Any] | None,
    x: Any,
    hess: Any,
    rtol: float | None,
    atol: float | None,
    rng: np.random.Generator,
    start: float,
) -> GradientReport:
    """Fast mode on one array or a pytree (as its joined coordinates); the caller's data unchanged."""
    flat = point(x, FUNC)
    if callable(hess):
        kinds: list[Any] = []

        def times_w(w: NDArray[np.float64]) -> NDArray[np.float64]:
            out = hess(flat.unflatten(flat.split(w, [leaf.dtype for leaf in flat.leaves])))
            leaves = match(flat, out, FUNC, "hess(v)") if not flat.single else [_column(out, flat.leaves[0])]
            kinds.extend(leaf.dtype for leaf in leaves)
            return flat.concatenate(leaves)

        def analytic_dtype() -> Any:
            return max(kinds, key=nm.eps)
    else:
        matrix = (
            _analytic(hess, flat.leaves[0]) if flat.single else matched_square(flat, hess, FUNC, "hess")[0]
        )
        n = flat.offsets[-1]
        square = np.asarray(matrix, dtype=np.float64).reshape(n, n)
        dtype = np.asarray(matrix).dtype

        def times_w(w: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.asarray(square @ w)

        def analytic_dtype() -> Any:
            return dtype

    with unchanged_tree(FUNC, flat.leaves, flat.paths):
        return fast_hessian(f, grad, flat, times_w, analytic_dtype, rng, rtol, atol,
                            lambda: time.perf_counter() - start)  # fmt: skip


def _bound(value: object, arg: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{FUNC}: {arg} must be a number or None; got {type(value).__name__}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{FUNC}: {arg} must be finite and non-negative; got {value}")
    return float(value)


def _column(out: Any, x: NDArray[Any]) -> NDArray[Any]:
    col = np.asarray(out)
    if col.dtype.kind not in "fiu":
        raise TypeError(f"{FUNC}: hess(v) must return a real numeric array; got {col.dtype}")
    if col.shape != x.shape:
        raise ValueError(f"{FUNC}: hess(v) must return x's shape {x.shape}; got {col.shape}")
    return col if col.dtype.kind == "f" else col.astype(np.float64)


def _analytic(hess: object, x: NDArray[Any]) -> NDArray[Any]:
    """The analytic Hessian as an array of shape ``x.shape * 2`` (an hvp is applied to unit vectors)."""
    if callable(hess):
        columns = []
        for j in range(x.size):
            e = np.zeros(x.size, dtype=x.dtype)
            e[j] = 1
            columns.append(_column(hess(e.reshape(x.shape)), x).reshape(-1))
        H = np.stack(columns, axis=1).reshape(x.shape * 2)
    else:
        H = np.asarray(hess)
        if H.dtype.kind not in "fiu":
            raise TypeError(f"{FUNC}: hess must be a real numeric array of shape x.shape * 2; got {H.dtype}")
        if H.shape != x.shape * 2:
            flat = tuple(H.shape) == (x.size, x.size)
            raise ValueError(
                f"{FUNC}: hess must have shape x.shape + x.shape = {x.shape * 2}; got {H.shape}"
                f"{': reshape it to x.shape * 2' if flat else ''}"
            )
    return H.copy() if H.dtype.kind == "f" else H.astype(np.float64)


def _numerical(f: Callable[..., Any], x: NDArray[Any], analytic: NDArray[Any]) -> tuple[Estimate, str, int]:
    """numgrad's Hessian of f with its error (flat: (n, n)); where it was differenced; nfev."""

    def estimate(at: NDArray[Any]) -> Estimate:
        p = make_problem(FUNC, f, at, out_shape=None, method="central", batched=False, chunk_size=None,
                         executor=None)  # fmt: skip
        return hessian_estimate(p, None)

    nfev = 0
    if promotable(x, "central"):
        wide = x.astype(np.float64)
        probe = np.asarray(f(wide.copy()))
        nfev += 1
        if probe.dtype == np.float64:
            est = estimate(wide)
            nfev += est.nfev
            if np.any(est.derivative) or not np.any(analytic):
                return est, "float64", nfev
            # nothing moved when the float64 copy moved: f reads x from a closure. Difference in place.
    est = estimate(x)
    return est, est.working_dtype or str(x.dtype), nfev + est.nfev  # float32 where f casts a float64 x

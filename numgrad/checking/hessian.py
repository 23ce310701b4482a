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

from numgrad.checking.measure import promotable
from numgrad.checking.report import GradientReport, index_of, ratio_to_tolerance
from numgrad.common import numerics as nm
from numgrad.common.validate import callable_arg, real_floating_array
from numgrad.differences.estimate import Estimate, estimate_hessian, estimate_jacobian

__all__ = ["assert_hessian_close", "check_hessian"]

FUNC = "check_hessian"


def check_hessian(
    f: Callable[..., Any],
    x: ArrayLike,
    hess: ArrayLike | Callable[..., Any],
    *,
    grad: Callable[..., Any] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> GradientReport:
    """Compare an analytic Hessian of scalar `f` at `x` with numgrad's, entry by entry.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``. x is perturbed in place (the closure idiom works); not called when `grad`
        is given.
    x : array_like, float32 or float64, any shape
        A float32 x is differenced in float64 when f (or `grad`) computes in float64 for float64 input.
    hess : array of shape ``x.shape + x.shape``, or callable ``hvp(v) -> array of x's shape``
        The analytic Hessian at x, or its product with a vector (called once per element of x, on the
        unit vectors, to form the columns).
    grad : callable, optional
        ``grad(x) -> array of x's shape``, the user's gradient: `hess` is then checked against numgrad's
        Jacobian of `grad` (``gradgradcheck``: is the second derivative the derivative of the first?).
    rtol, atol : float, optional
        Override the estimated tolerance with ``atol + rtol·|numerical|`` per entry.

    Returns
    -------
    GradientReport
        ``worst_index`` is ``(*i, *j)``: row index then column index into x.

    Raises
    ------
    TypeError
        If `f` or `grad` is not callable, x is not a real floating array, or `hess` is not numeric.
    ValueError
        If `hess` (or ``hvp(v)``) has the wrong shape, or a tolerance is negative.

    Examples
    --------
    >>> f = lambda v: v[0] ** 2 * v[1]
    >>> x = np.array([1.0, 2.0])
    >>> check_hessian(f, x, np.array([[4.0, 2.0], [2.0, 0.0]])).passed
    True
    >>> r = check_hessian(f, x, np.array([[4.0, 0.0], [0.0, 0.0]]))  # missing the mixed term
    >>> r.passed, r.worst_index
    (False, (0, 1))
    """
    start = time.perf_counter()
    fn = callable_arg(f, FUNC)
    xa = real_floating_array(x, FUNC, "x")
    if xa.size == 0:
        raise ValueError(f"{FUNC}: x must have at least one element; got shape {xa.shape}")
    gfn = None if grad is None else callable_arg(grad, FUNC, "grad")
    low, high = _bound(rtol, "rtol"), _bound(atol, "atol")
    if gfn is None and not xa.flags.writeable:
        raise ValueError(
            f"{FUNC}: x is read-only, but the check perturbs x in place (so that a function reading x "
            f"from a closure sees the perturbation); pass x.copy()"
        )
    analytic = _analytic(hess, xa)
    est, working, nfev = _numerical(fn, gfn, xa, analytic)
    n = xa.size
    a, num = analytic.reshape(n, n).astype(np.float64), est.derivative.reshape(n, n)
    coarser = analytic.dtype if nm.eps(analytic.dtype) > nm.eps(xa.dtype) else xa.dtype
    accuracy = nm.accuracy("central", working) if gfn is not None else nm.hessian_accuracy(working)
    floor = max(accuracy, nm.analytic_floor(coarser))
    scale = float(np.max(np.abs(num), initial=0.0)) or float(np.max(np.abs(a), initial=0.0))
    explicit = low is not None or high is not None
    if explicit:
        tol = (high or 0.0) + (low or 0.0) * np.abs(num)
    else:
        tol = np.maximum(nm.ESTIMATE_SAFETY * est.error.reshape(n, n), floor * scale)
    how = "differences of grad at h and h/2" if gfn is not None else "second differences at h and 2h"
    err = np.abs(a - num)
    err = np.where(np.isnan(err), np.inf, err)
    return _report(a, num, err, tol, est, xa, working, nfev, time.perf_counter() - start,
                   explicit=explicit, floor=floor, how=how)  # fmt: skip


def assert_hessian_close(
    f: Callable[..., Any],
    x: ArrayLike,
    hess: ArrayLike | Callable[..., Any],
    *,
    grad: Callable[..., Any] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> GradientReport:
    """:func:`check_hessian`, raising ``AssertionError`` with the report's table when it fails.

    Examples
    --------
    >>> assert_hessian_close(lambda v: np.sum(v**2), np.array([1.0, 2.0]), 2 * np.eye(2)).passed
    True
    """
    report = check_hessian(f, x, hess, grad=grad, rtol=rtol, atol=atol)
    if not report.passed:
        raise AssertionError(f"Hessian check failed\n{report}")
    return report


# --------------------------------------------------------------------------------------------------


def _bound(value: object, arg: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{FUNC}: {arg} must be a number or None; got {type(value).__name__}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{FUNC}: {arg} must be finite and non-negative; got {value}")
    return float(value)


def _analytic(hess: object, x: NDArray[Any]) -> NDArray[Any]:
    """The analytic Hessian as an array of shape ``x.shape * 2`` (an hvp is applied to unit vectors)."""
    if callable(hess):
        columns = []
        for j in range(x.size):
            e = np.zeros(x.size, dtype=x.dtype)
            e[j] = 1
            col = np.asarray(hess(e.reshape(x.shape)))
            if col.dtype.kind not in "fiu":
                raise TypeError(f"{FUNC}: hess(v) must return a real numeric array; got {col.dtype}")
            if col.shape != x.shape:
                raise ValueError(f"{FUNC}: hess(v) must return x's shape {x.shape}; got {col.shape}")
            columns.append(col.reshape(-1))
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


def _numerical(
    f: Callable[..., Any], grad: Callable[..., Any] | None, x: NDArray[Any], analytic: NDArray[Any]
) -> tuple[Estimate, str, int]:
    """numgrad's Hessian (of f, or the Jacobian of grad) with its error; where it was differenced; nfev."""
    target = f if grad is None else grad

    def estimate(point: NDArray[Any]) -> Estimate:
        if grad is None:
            return estimate_hessian(f, point)
        return estimate_jacobian(grad, point)

    nfev = 0
    if promotable(x, "central"):
        wide = x.astype(np.float64)
        probe = np.asarray(target(wide.copy()))
        nfev += 1
        if probe.dtype == np.float64:
            est = estimate(wide)
            nfev += est.nfev
            if np.any(est.derivative) or not np.any(analytic):
                return est, "float64", nfev
            # nothing moved when the float64 copy moved: f reads x from a closure. Difference in place.
    est = estimate(x if grad is None else x.copy())
    return est, str(x.dtype), nfev + est.nfev


def _report(
    a: NDArray[np.float64],
    num: NDArray[np.float64],
    err: NDArray[np.float64],
    tol: NDArray[np.float64],
    est: Estimate,
    x: NDArray[Any],
    working: str,
    nfev: int,
    seconds: float,
    *,
    explicit: bool,
    floor: float,
    how: str,
) -> GradientReport:
    shape = x.shape * 2
    kinks = np.zeros(a.shape, dtype=bool)
    beyond = ~(err <= tol)
    worst = int(np.argmax(ratio_to_tolerance(err, tol, kinks)))
    i, j = divmod(worst, x.size)
    scale = float(np.max(np.abs(num), initial=0.0)) or float(np.max(np.abs(a), initial=0.0))
    if explicit:
        source = "atol + rtol·|numerical| (given)"
    elif nm.ESTIMATE_SAFETY * est.error.reshape(a.shape)[i, j] >= floor * scale:
        source = f"{nm.ESTIMATE_SAFETY:g} × the error estimate from {how}"
    else:
        source = f"floor {floor:.1e} × max|H| ({how} in {working})"
    steps = np.broadcast_to(est.step.reshape(1, -1), a.shape)  # entry (i, j): the step along x_j
    passed = not beyond.any()
    where = index_of(worst, shape)
    return GradientReport(
        passed=passed,
        mode="full",
        method="gradient differences" if "grad" in how else "central second differences",
        dtype=str(x.dtype),
        working_dtype=working,
        max_abs_error=float(err.max(initial=0.0)),
        max_rel_error=_relative(float(err.max(initial=0.0)), scale),
        worst_index=where,
        analytic=float(a[i, j]),
        numerical=float(num[i, j]),
        tolerance=float(tol[i, j]),
        tolerance_source=source,
        step=float(steps[i, j]),
        nfev=nfev,
        seconds=seconds,
        failures=int(beyond.sum()),
        message=_message(passed, int(beyond.sum()), a, where, x.ndim),
        analytic_values=a.reshape(shape),
        numerical_values=num.reshape(shape),
        abs_errors=err.reshape(shape),
        tolerances=tol.reshape(shape),
        steps=np.array(steps).reshape(shape),
        kinks=kinks.reshape(shape),
    )


def _relative(error: float, scale: float) -> float:
    if scale > 0:
        return error / scale
    return np.inf if error > 0 else 0.0


def _message(passed: bool, failures: int, a: NDArray[np.float64], where: tuple[int, ...], ndim: int) -> str:
    entries = a.size
    if passed:
        return f"Hessian ok: {entries} entries within tolerance"
    row, col = where[:ndim], where[ndim:]
    asymmetric = not np.allclose(a, a.T, rtol=1e-12, atol=0.0)
    note = (
        "; the analytic Hessian is not symmetric (a true Hessian is): compare the entries "
        f"{row + col} and {col + row}"
        if asymmetric
        else ""
    )
    return (
        f"Hessian WRONG at {failures} of {entries} entries; worst at index {where} "
        f"(d²f / dx{list(row)} dx{list(col)}){note}"
    )

"""The report of a Hessian check: tolerances from numgrad's error estimates, and the GradientReport.

Shared by :mod:`numgrad.checking.hessian` (one array x) and :mod:`numgrad.checking.hessian_tree` (a
pytree). Entries are judged as an (n, n) matrix over the (joined) coordinates of x.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.checking.report import GradientReport, index_of, ratio_to_tolerance
from numgrad.common import numerics as nm
from numgrad.differences.estimate import Estimate

__all__ = ["Judged", "judge", "report"]


@dataclass(frozen=True)
class Judged:
    """The comparison of an analytic (n, n) Hessian with numgrad's, entry by entry."""

    analytic: NDArray[np.float64]
    numerical: NDArray[np.float64]
    err: NDArray[np.float64]
    tol: NDArray[np.float64]
    explicit: bool
    floor: float
    how: str


def judge(
    analytic: NDArray[Any],
    est: Estimate,
    *,
    x_dtype: Any,
    analytic_dtype: Any,
    working: str,
    gradgrad: bool,
    rtol: float | None,
    atol: float | None,
) -> Judged:
    """Tolerances from the estimate's error (``ESTIMATE_SAFETY`` × it), floored by what the dtypes resolve
    (``floor × max|H|``), or ``atol + rtol·|numerical|`` when either is given."""
    n = analytic.shape[0]
    a, num = analytic.reshape(n, n).astype(np.float64), np.asarray(est.derivative).reshape(n, n)
    coarser = analytic_dtype if nm.eps(analytic_dtype) > nm.eps(x_dtype) else x_dtype
    accuracy = nm.accuracy("central", working) if gradgrad else nm.hessian_accuracy(working)
    floor = max(accuracy, nm.analytic_floor(coarser))
    scale = float(np.max(np.abs(num), initial=0.0)) or float(np.max(np.abs(a), initial=0.0))
    explicit = rtol is not None or atol is not None
    if explicit:
        tol = (atol or 0.0) + (rtol or 0.0) * np.abs(num)
    else:
        tol = np.maximum(_known(np.asarray(est.error).reshape(n, n)) * nm.ESTIMATE_SAFETY, floor * scale)
    how = "differences of grad at h and h/2" if gradgrad else "second differences at h and 2h"
    err = np.abs(a - num)
    err = np.where(np.isnan(err), np.inf, err)
    return Judged(a, num, err, np.asarray(tol, dtype=np.float64), explicit, floor, how)


def _known(error: NDArray[np.float64]) -> NDArray[np.float64]:
    """The error estimate where there is one; 0 where it is unknown (inf: the step is coarse against f's
    length scale, numgrad.differences.second), so that such an entry is judged by the floor alone and a
    check never passes an entry for want of an estimate."""
    return np.where(np.isinf(error), 0.0, error)


def report(
    j: Judged, est: Estimate, x: NDArray[Any], working: str, nfev: int, seconds: float
) -> GradientReport:
    """The report, indexed over ``x.shape * 2`` (a pytree: x is the joined vector, the caller renames)."""
    a, num, err, tol, explicit, floor, how = j.analytic, j.numerical, j.err, j.tol, j.explicit, j.floor, j.how
    shape = x.shape * 2
    kinks = np.zeros(a.shape, dtype=bool)
    beyond = ~(err <= tol)
    worst = int(np.argmax(ratio_to_tolerance(err, tol, kinks)))
    i, k = divmod(worst, x.size)
    scale = float(np.max(np.abs(num), initial=0.0)) or float(np.max(np.abs(a), initial=0.0))
    if explicit:
        source = "atol + rtol·|numerical| (given)"
    elif nm.ESTIMATE_SAFETY * _known(np.asarray(est.error).reshape(a.shape))[i, k] >= floor * scale:
        source = f"{nm.ESTIMATE_SAFETY:g} × the error estimate from {how}"
    else:
        source = f"floor {floor:.1e} × max|H| ({how} in {working})"
    steps = np.broadcast_to(np.asarray(est.step).reshape(1, -1), a.shape)  # entry (i, j): the step along x_j
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
        analytic=float(a[i, k]),
        numerical=float(num[i, k]),
        tolerance=float(tol[i, k]),
        tolerance_source=source,
        step=float(steps[i, k]),
        nfev=nfev,
        seconds=seconds,
        failures=int(beyond.sum()),
        message=message(passed, int(beyond.sum()), a, where, x.ndim),
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


def message(passed: bool, failures: int, a: NDArray[np.float64], where: tuple[int, ...], ndim: int) -> str:
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

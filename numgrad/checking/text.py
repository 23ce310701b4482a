"""The words of a gradient-check report: how a tolerance was derived, the verdict, the kinks."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from numgrad.checking.measure import ESTIMATE, EXPLICIT, SLOPES, Outcome, Tolerance
from numgrad.common import numerics as nm


def source(o: Outcome, k: int, t: Tolerance, mode: str) -> str:
    """How the tolerance at check k was derived, in words."""
    if o.source[k] == EXPLICIT:
        return "atol + rtol·|numerical| (given)" if mode == "full" else "atol + rtol·|grad|, along v (given)"
    if o.source[k] == ESTIMATE:
        how = "steps h and h/2" if mode == "full" else "steps t and t/2 along the direction that missed most"
        return f"{nm.ESTIMATE_SAFETY:g} × the error estimate from {how}"
    if o.source[k] == SLOPES:
        return f"{nm.ESTIMATE_SAFETY:g} × the error estimate from the one-sided slopes at h (missed by far)"
    floor = t.floor(o.working_dtype)
    if mode == "fast" and np.dtype(o.working_dtype).itemsize < 8:  # the measured tolerance's floor
        floor = nm.analytic_floor(t.analytic_dtype)
    if floor > nm.accuracy(t.method, o.working_dtype) or floor == nm.analytic_floor(t.analytic_dtype):
        why = f"rounding of a {t.analytic_dtype} analytic gradient"
    else:
        why = f"{t.method} differences in {o.working_dtype}"
    scale = "max|g|" if mode == "full" else "max|g|·‖v‖"
    return f"floor {floor:.1e} × {scale} ({why})"


KINDS = {
    "gradient": "the gradient",
    "vjp": "vjp(u) against the gradient of ⟨u, f(x)⟩, u a seeded random cotangent",
    "jvp": "⟨u, jvp(v)⟩ against the derivative of ⟨u, f(x)⟩ along v, u a seeded random cotangent",
    "jacobian": "uᵀ·jac against the gradient of ⟨u, f(x)⟩, u a seeded random cotangent",
}
RERUN = {"gradient": "check_gradient", "vjp": "check_vjp", "jvp": "check_jvp", "jacobian": "check_jacobian"}


def message(
    passed: bool,
    failures: int,
    o: Outcome,
    mode: str,
    worst: tuple[int, ...],
    kind: str = "gradient",
    leaf: str = "",
) -> str:
    """The report's one-line verdict, and where to look next."""
    n = o.analytic.size
    where = f"{leaf} {worst}" if leaf else f"index {worst}"
    count = int(o.kinks.sum())
    kinks = f", {count} kink{'s' if count > 1 else ''} (not counted as wrong)" if count else ""
    if mode == "fast":
        if passed:
            return f"{kind} ok along {n} random directions ({o.nfev} evaluations of f)"
        return (
            f"{kind} WRONG along {failures} of {n} random directions; fast mode cannot say where: "
            f"run {RERUN[kind]}(..., mode='full') to find the wrong elements"
        )
    if passed:
        return f"{kind} ok: {n} elements within tolerance{kinks}"
    return f"{kind} WRONG at {failures} of {n} elements{kinks}; worst at {where}"


def kink_line(mode: str, kinks: NDArray[np.bool_]) -> str:
    """The report's line about kinks."""
    count = int(np.count_nonzero(kinks))
    if mode == "fast":
        if not count:
            return "none found (fast mode looks for them at a float32 x only)"
        return f"{count} direction{'s' if count > 1 else ''}: one-sided slopes straddle the analytic value"
    if not count:
        return "none"
    flat = int(np.flatnonzero(kinks.reshape(-1))[0])
    first = tuple(int(i) for i in np.unravel_index(flat, kinks.shape)) if kinks.shape else ()
    many = "s" if count > 1 else ""
    return f"{count} element{many}, e.g. {first}: one-sided slopes differ, analytic between them"

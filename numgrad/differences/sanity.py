"""Checks of a finite-difference pass against its own numbers: steps that cannot work, results that cannot
be trusted. Errors where the answer would be meaningless (an explicit step that does not move x), a
:class:`~numgrad.common.guard.NumericalWarning` where the pass's own error estimate says the result is
unreliable (rounding swamps the difference; a length scale shorter than the smallest step tried).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.common import numerics as nm
from numgrad.common.guard import NumericalWarning
from numgrad.differences.engine import Problem


def explicit_step_clears(dtype: np.dtype[Any], top: float, least: float, most: float, reach: int) -> bool:
    """Whether explicit steps from `least` to `most` move every x_i (|x_i| at most `top`) by within 1% of
    themselves at every offset up to `reach`, for certain: rounding moves x + c·h by at most eps·|x + c·h|,
    far below 1% of h in the common case (:func:`explicit_step_moves` checks the points only where not)."""
    return bool(nm.eps(dtype) * (top + 2 * reach * most) <= nm.EXPLICIT_STEP_WARN * least)


def step_moves_along(
    func: str, base: NDArray[np.float64], unit: NDArray[np.float64], t: float, dtype: np.dtype[Any],
    given: object,
) -> None:  # fmt: skip
    """A ValueError where the step `t` along `unit` that the caller's h (`given`) makes moves no
    coordinate of x (`base`) in x's dtype, either way: the difference would be 0 (directional_derivative,
    hessian_vector_product)."""
    at = base.astype(dtype)
    if all(np.array_equal((base + c * t * unit).astype(dtype), at) for c in (1.0, -1.0)):
        raise ValueError(
            f"{func}: h={given!r} does not move x along v (x ± h·v, v scaled to max |v_i| = max(1, "
            f"max|x_i|), rounds to x in {dtype}); pass a larger h, or h=None for numgrad's own step"
        )


def explicit_step_moves(
    p: Problem,
    x0: NDArray[np.float64],
    values: NDArray[Any],
    moved: tuple[int, ...],
    steps: NDArray[np.float64],
    *,
    given: bool,
) -> None:
    """An explicit h must move every x_i in x's dtype: ``x + h == x`` is an error, and a displacement
    ``(x + h) − x`` more than 1% off h (catastrophic cancellation, which the textbook formula divides by)
    a warning; both before f is called. Nothing to check for a step numgrad chose (`given` False)."""
    if not given:
        return
    reach, top = max(abs(c) for c in moved), float(np.abs(x0).max())
    if explicit_step_clears(p.x.dtype, top, float(steps.min()), float(steps.max()), reach):
        return
    wanted = np.multiply.outer(np.asarray(moved, dtype=np.float64), steps)
    off = np.abs(values.astype(np.float64, copy=False).reshape(wanted.shape) - x0 - wanted)
    off /= np.abs(wanted)
    worst = float(off.max())
    if worst <= nm.EXPLICIT_STEP_WARN:  # the common case: one pass over the points
        return
    still = np.flatnonzero((values.reshape(wanted.shape) == x0).any(axis=0))
    j = int(still[0]) if still.size else int(np.argmax(off.max(axis=0)))
    if still.size:
        least = nm.eps(p.x.dtype) * max(abs(float(x0[j])), float(np.finfo(p.x.dtype).tiny))
        raise ValueError(
            f"{p.func}: h={steps[j]:.3g} does not move x at index {p.index(j)} (x + h == x in {p.x.dtype} "
            f"at x={x0[j]:.17g}), so the difference would be 0; expected h above ~{least:.2g} "
            f"(eps·|x|), or h=None to let numgrad choose the step"
        )
    warnings.warn(
        f"{p.func}: h={steps[j]:.3g} is too small for x's dtype {p.x.dtype} at index {p.index(j)} "
        f"(x={x0[j]:.6g}): x + h moves x by a displacement {float(off[:, j].max()):.1%} off h "
        f"(catastrophic cancellation), and the result is off by as much. Pass a larger h, or h=None "
        f"to let numgrad choose the step",
        NumericalWarning,
        stacklevel=4,
    )


def warn_if_unresolved(p: Problem, unresolved: NDArray[np.intp], detail: str) -> None:
    """Warn that some elements have a length scale shorter than the smallest step tried."""
    if unresolved.size == 0:
        return
    where = ", ".join(str(p.index(int(j))) for j in unresolved[:3]) + (" ..." if unresolved.size > 3 else "")
    warnings.warn(
        f"{p.func}: {unresolved.size} of {p.n} elements may be inaccurate (at index {where}): {detail}. "
        f"f varies on a length scale shorter than the step; rescale x (work in units where x is ~1), or "
        f"pass an explicit h of the order of that length scale",
        NumericalWarning,
        stacklevel=4,
    )

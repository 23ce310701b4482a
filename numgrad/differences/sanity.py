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


def explicit_step_moves(
    p: Problem,
    x0: NDArray[np.float64],
    values: NDArray[Any],
    moved: tuple[int, ...],
    steps: NDArray[np.float64],
    *,
    given: bool,
) -> None:
    """An explicit h must move every x_i in x's dtype (x + h != x): raised (or warned, see
    :func:`warn_if_swamped`) before f is called. Nothing to check for a step numgrad chose (`given` False)."""
    if not given:
        return
    still = (values.astype(np.float64, copy=False).reshape(len(moved), p.n) == x0).any(axis=0)
    if still.any():
        j = int(np.flatnonzero(still)[0])
        least = nm.eps(p.x.dtype) * max(abs(float(x0[j])), float(np.finfo(p.x.dtype).tiny))
        raise ValueError(
            f"{p.func}: h={steps[j]:.3g} does not move x at index {p.index(j)} (x + h == x in {p.x.dtype} "
            f"at x={x0[j]:.17g}), so the difference would be 0; expected h above ~{least:.2g} "
            f"(eps·|x|), or h=None to let numgrad choose the step"
        )
    warn_if_swamped(p, x0, values, steps, moved)


def warn_if_swamped(
    p: Problem,
    x0: NDArray[np.float64],
    values: NDArray[Any],
    steps: NDArray[np.float64],
    moved: tuple[int, ...],
) -> None:
    """Warn when an explicit h is so small for x's dtype that x + h rounds it by a large share of h
    (catastrophic cancellation in the displacement, which the textbook formula divides by)."""
    disp = values.astype(np.float64, copy=False).reshape(len(moved), p.n) - x0
    wanted = np.multiply.outer(np.asarray(moved, dtype=np.float64), steps)
    off = np.abs(disp - wanted) / np.abs(wanted)
    j = int(np.argmax(off.max(axis=0)))
    relative = float(off[:, j].max())
    if relative > nm.EXPLICIT_STEP_WARN:
        warnings.warn(
            f"{p.func}: h={steps[j]:.3g} is too small for x's dtype {p.x.dtype} at index {p.index(j)} "
            f"(x={x0[j]:.6g}): x + h moves x by a displacement {relative:.1%} off h (catastrophic "
            f"cancellation), and the result is off by as much. Pass a larger h, or h=None to let numgrad "
            f"choose the step",
            NumericalWarning,
            stacklevel=5,
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

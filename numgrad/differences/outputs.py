"""Refinement for array-valued f (the Jacobian): coordinates with a short length scale, re-measured.

The scalar engine (:func:`numgrad.differences.steps._refine`) predicts, from the pass's own points, which
coordinates' steps are too coarse for f's length scale there, and re-measures them at h/2, h/4, ... with
Richardson's value at each halving. A Jacobian row is a vector of such derivatives, one per output: here a
coordinate is suspect where any output predicts truncation above the goal (each output against its own
largest slope), the change between steps is the row's largest (one rounding unit, from f's largest |f(x)|
or, in float32, its measured noise, for the whole Jacobian: normwise, as the accuracy it promises), and a
row that does not settle is flagged with a :class:`~numgrad.common.guard.NumericalWarning`. sin(x) at
x = 1e8 among a Jacobian's outputs was returned 6e-5 for -0.36 without a word.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.common import numerics as nm
from numgrad.differences import sanity
from numgrad.differences.engine import Problem, evaluate

__all__ = ["refine_outputs"]


def refine_outputs(
    p: Problem,
    x0: NDArray[np.float64],
    h: NDArray[np.float64],
    deriv: NDArray[Any],
    second: NDArray[Any],
    rounding: Callable[[], tuple[float, int]],
    stencil_points: Callable[[NDArray[np.intp], NDArray[np.float64]], tuple[NDArray[Any], NDArray[np.intp]]],
) -> tuple[NDArray[np.float64], int]:
    """The pass's Jacobian rows (n, *out) refined where suspect, and the evaluations spent. `second`: the
    pass's ``f(x+h) + f(x−h) − 2f(x)`` per row; `rounding()`: f's rounding unit and the evaluations it
    spent (the scalar engine's ``_rounding_unit``, asked only where a row is suspect);
    `stencil_points(coords, steps)`: the method's points (x ± c·h, no f(x)) and their coordinates."""
    n = p.n
    d = np.asarray(deriv, dtype=np.float64).reshape(n, -1)
    order = _suspects(p, d, np.asarray(second, dtype=np.float64).reshape(n, -1), h)
    if order.size == 0:
        return d.reshape(deriv.shape), 0
    stencil = nm.STENCILS[p.method]
    gain = 2.0**stencil.order
    unit, extra = rounding()
    out, prev, step = d.copy(), d.copy(), h.copy()
    best_err, best_trunc = np.full(n, np.inf), np.zeros(n)
    growing = np.zeros(n, dtype=bool)
    # the worst-predicted rows first: where none of them shows truncation, the model over-predicts for this
    # f (a quadratic) and the rest are left alone, as the scalar engine does
    active, waiting = order[: nm.REFINE_SAMPLE], order[nm.REFINE_SAMPLE :]
    for halving in range(nm.MAX_REFINE_HALVINGS):
        if active.size == 0:
            break
        step[active] /= 2
        d_half = _quotients(p, stencil, active, step[active], stencil_points)
        extra += len(stencil.moved) * active.size
        elementwise = np.abs(d_half - prev[active])
        change = elementwise.max(axis=1)
        noise = unit * stencil.rounding_gain / step[active]
        truncated = change > noise
        if halving == 0 and not truncated.any():  # no truncation beyond rounding: the pass stands
            return d.reshape(deriv.shape), extra
        score = change + noise
        better = score < best_err[active]
        take = active[better]
        extrapolated = (gain * d_half[better] - prev[take]) / (gain - 1)
        out[take] = np.where(elementwise[better] > noise[better][:, None], extrapolated, out[take])
        best_err[take] = score[better]
        best_trunc[take] = np.where(truncated[better], change[better], 0.0)
        prev[active] = d_half
        wild = ~better & (change > nm.REFINE_GROWTH_MARGIN * noise)  # grew far above rounding: go on
        growing[active] = wild
        keep = (better & truncated) | wild
        active = active[keep]
        if waiting.size and truncated.any():  # the rest join at their first halving
            active, waiting = np.concatenate([active, waiting]), waiting[:0]
    unsettled = active[growing[active]]  # still growing when the halvings ran out
    worst = np.abs(prev[unsettled] - out[unsettled]).max(axis=1, initial=0.0)
    best_trunc[unsettled] = np.maximum(best_trunc[unsettled], worst)
    coarse = best_trunc > nm.UNRESOLVED_FRACTION * float(np.max(np.abs(out), initial=0.0))
    unresolved, spent = _relative_retry(p, x0, out, np.flatnonzero(coarse), stencil_points)
    detail = "halving the step did not settle the difference quotient"
    sanity.warn_if_unresolved(p, unresolved, detail)
    return out.reshape(deriv.shape), extra + spent


def _relative_retry(
    p: Problem,
    x0: NDArray[np.float64],
    out: NDArray[np.float64],
    idx: NDArray[np.intp],
    stencil_points: Callable[[NDArray[np.intp], NDArray[np.float64]], tuple[NDArray[Any], NDArray[np.intp]]],
) -> tuple[NDArray[np.intp], int]:
    """Rows that did not settle, retried at the scalar engine's steps relative to min(|x_i|, 1)
    (:func:`~numgrad.common.numerics.relative_steps`, and half of them, Richardson); a row whose pair agrees
    replaces `out` in place. The rows still unresolved, and the evaluations spent."""
    retried = idx[nm.below_unit(x0[idx])]
    if retried.size == 0:
        return idx, 0
    stencil = nm.STENCILS[p.method]
    h = nm.relative_steps(x0[retried], p.method, p.work_dtype)
    try:
        d1 = _quotients(p, stencil, retried, h, stencil_points)
        d2 = _quotients(p, stencil, retried, h / 2, stencil_points)
    except FloatingPointError:  # the retry left f's domain: the rows stay flagged (as the scalar engine's)
        return idx, 0
    gain = 2.0**stencil.order
    value = (gain * d2 - d1) / (gain - 1)
    with np.errstate(invalid="ignore"):
        settled = np.abs(d2 - d1).max(axis=1) <= nm.UNRESOLVED_FRACTION * np.abs(value).max(axis=1)
    out[retried[settled]] = value[settled]
    return np.setdiff1d(idx, retried[settled]), 2 * len(stencil.moved) * retried.size


def _suspects(
    p: Problem, d: NDArray[np.float64], second: NDArray[np.float64], h: NDArray[np.float64]
) -> NDArray[np.intp]:
    """Coordinates where some output's predicted truncation is above the goal, worst first: the scalar
    engine's model (:func:`~numgrad.common.numerics.truncation_suspects`) per output, each against its own
    largest slope; outputs whose slopes are all 0 (or not finite) predict nothing."""
    stencil = nm.STENCILS[p.method]
    top = np.abs(d).max(axis=0)
    live = (top > 0) & np.isfinite(top)
    if not live.any():
        return np.zeros(0, dtype=np.intp)
    slope = np.abs(d[:, live]) / top[live]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        bend = np.abs(second[:, live] / top[live] / h[:, None]) ** stencil.order
        weight = slope ** (stencil.order - 1)
        flagged = (bend > weight * nm._suspect_threshold(p.method, p.work_dtype)) & (slope > 0)
        key = np.where(flagged, bend / np.where(weight > 0, weight, 1.0), 0.0).max(axis=1)
    rows = np.flatnonzero(flagged.any(axis=1))
    return rows[np.argsort(-key[rows], kind="stable")]


def _quotients(
    p: Problem, stencil: Any, coords: NDArray[np.intp], steps: NDArray[np.float64], stencil_points: Any
) -> NDArray[np.float64]:
    """The method's quotient at `coords` and `steps`, one row of outputs per coordinate: (k, m)."""
    values, tiled = stencil_points(coords, steps)
    vals = np.asarray(evaluate(p, values, tiled), dtype=np.float64)
    vals = vals.reshape(len(stencil.moved), len(coords), -1)
    if not np.isfinite(vals).all():
        return np.full((len(coords), vals.shape[2]), np.nan)
    by_offset = dict(zip(stencil.moved, vals, strict=True))
    total = sum(w * by_offset[c] for c, w in zip(stencil.offsets, stencil.weights, strict=True))
    return np.asarray(total / steps[:, None])

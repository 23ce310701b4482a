"""Fast mode of numgrad.checking.check: directional derivatives along seeded random directions.

Six evaluations of f whatever the size of x: both directions at step t, then the direction that missed
most (relative to its scale) again at t/2, which gives its truncation estimate; the other direction,
which missed less, borrows that estimate in proportion to its scale. (Measuring always the first
direction let a short length scale that the second weighs more, log(y) at small y, raise a false alarm
there: truncation grows as the cube of a direction's weight on such a coordinate.) Steps come from the
dtype and the scale of x, so no probe evaluations are spent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.checking.measure import FUNC, Outcome, Tolerance, in_place, promotable, promoted
from numgrad.common import numerics as nm
from numgrad.differences.engine import Problem, _call, evaluate_points


def directions(x0: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.float64]:
    """Gaussian directions scaled so that no x_i moves by more than ``max(1, |x_i|)`` per unit step."""
    v = rng.standard_normal((nm.FAST_DIRECTIONS, x0.size))
    return np.asarray(v * np.maximum(1.0, np.abs(x0)) / np.max(np.abs(v), axis=1, keepdims=True))


@dataclass(frozen=True)
class Linear:
    """The analytic side of fast mode: ``⟨g, d⟩`` for a displacement d of x (flat), and g's size.

    From a gradient array (:func:`of_gradient`), or from a function of d alone, such as a forward-mode
    rule ``d ↦ ⟨u, jvp(d)⟩`` whose gradient is never formed (`magnitude` then None: the scale a
    direction is judged against is the larger of its measured and predicted values).
    """

    dot: Callable[[NDArray[np.float64]], float]
    magnitude: NDArray[np.float64] | None  # |g| per element, when g is known


def of_gradient(analytic: NDArray[Any]) -> Linear:
    a = analytic.reshape(-1).astype(np.float64)
    return Linear(lambda d: float(a @ d), np.abs(a))


@dataclass(frozen=True)
class Along:
    """Central differences along one direction at one step: f's difference and grad's prediction of it."""

    numerical: float
    analytic: float
    rounding: float


def along(p: Problem, vals: NDArray[Any], points: NDArray[Any], a: Linear, t: float) -> Along:
    """From f at ``x + t·w`` and ``x − t·w`` (as rounded to x's dtype): the analytic prediction uses the
    displacements actually applied, so rounding of the points themselves cancels."""
    x0 = np.ravel(p.x).astype(np.float64)
    plus, minus = points.astype(np.float64)
    moved = (plus - x0) + (x0 - minus)
    fp, fm = (float(np.real(v)) for v in vals)
    if not (np.isfinite(fp) and np.isfinite(fm)):
        raise FloatingPointError(
            f"{p.func}: f returned a non-finite value ({fp if not np.isfinite(fp) else fm}) at x ± t·v "
            f"(fast mode, t = {t:.1e}); the directional derivative there is undefined. Check f's domain, "
            f"or use mode='full', whose steps shrink where f is undefined"
        )
    rounding = nm.eps(p.x.dtype) * max(abs(fp), abs(fm)) / t
    return Along((fp - fm) / (2 * t), a.dot(moved) / (2 * t), rounding)


def fast_check(
    f: Callable[..., Any],
    x: NDArray[Any],
    analytic: NDArray[Any] | Linear,
    tol: Tolerance,
    rng: np.random.Generator,
    *,
    func: str = FUNC,
) -> Outcome:
    """Directional derivatives along seeded random directions: each at t, then the one that missed most
    at t/2 (which gives the truncation estimate). Six evaluations of f whatever the size of x."""
    a = analytic if isinstance(analytic, Linear) else of_gradient(analytic)
    w = directions(x.reshape(-1).astype(np.float64), rng)
    p, measured, wasted = in_place(f, x, "central", func=func), [], 0
    if promotable(x, "central"):
        # f at the first pair of points, in float64: also tells whether f computes in float64 and
        # reads its argument (a closure over x returns the same value twice: difference x in place)
        candidate = promoted(f, x, "central", func=func)
        t = nm.base_step("central", np.float64)
        points = pair(candidate, w[0], t)
        raw = [_call(candidate, row.reshape(x.shape), lambda: "x ± t·v as float64") for row in points]
        if all(r.dtype == np.float64 for r in raw) and raw[0] != raw[1]:
            p, measured = candidate, [along(candidate, np.array(raw, dtype=np.float64), points, a, t)]
        else:
            wasted = len(raw)
    t = nm.base_step("central", p.x.dtype)
    pairs = (nm.FAST_EVALUATIONS - wasted) // 2  # the first pair, if measured in float64, included
    for k in range(len(measured), min(nm.FAST_DIRECTIONS, pairs - 1)):  # one pair is kept for t/2
        measured.append(measure(p, w[k], a, t))
    scale = scales(measured, w, a)
    missed = np.abs([m.numerical - m.analytic for m in measured]) / np.where(scale > 0, scale, 1.0)
    worst = int(np.argmax(missed))
    half = measure(p, w[worst], a, t / 2)
    return fast_outcome(p, measured, half, worst, scale, w, a, t, tol, wasted)


def measure(p: Problem, w: NDArray[np.float64], a: Linear, t: float) -> Along:
    points = pair(p, w, t)
    return along(p, evaluate_points(p, points), points, a, t)


def scales(rows: list[Along], w: NDArray[np.float64], a: Linear) -> NDArray[np.float64]:
    """The size a directional derivative is judged against: ``max|g|·‖v‖``, or the measured value
    (also the predicted one when g itself is unknown)."""
    norms = np.linalg.norm(w[: len(rows)], axis=1)
    measured = np.abs(np.array([m.numerical for m in rows], dtype=np.float64))
    if a.magnitude is None:
        predicted = np.abs(np.array([m.analytic for m in rows], dtype=np.float64))
        return np.asarray(np.maximum(measured, predicted), dtype=np.float64)
    scale: NDArray[np.float64] = np.maximum(float(np.max(a.magnitude, initial=0.0)) * norms, measured)
    return scale


def pair(p: Problem, w: NDArray[np.float64], t: float) -> NDArray[Any]:
    x0 = np.ravel(p.x).astype(np.float64)
    return np.stack([x0 + t * w, x0 - t * w]).astype(p.x.dtype)


def fast_outcome(
    p: Problem,
    rows: list[Along],
    half: Along,
    worst: int,
    scale: NDArray[np.float64],
    w: NDArray[np.float64],
    a: Linear,
    t: float,
    tol: Tolerance,
    wasted: int,
) -> Outcome:
    """The worst direction's two steps estimate its truncation error, ``|r(t) − r(t/2)|·4/3`` for the
    residuals ``r = numerical − analytic``; the other direction borrows that estimate in proportion to
    its scale."""
    count = len(rows)
    numerical = np.array([m.numerical for m in rows])
    analytic = np.array([m.analytic for m in rows])
    chosen = rows[worst]
    truncation = abs((chosen.numerical - chosen.analytic) - (half.numerical - half.analytic)) * 4 / 3
    ratio = scale / scale[worst] if scale[worst] > 0 else np.ones(count)
    estimate = truncation * ratio + np.array([m.rounding for m in rows])
    if a.magnitude is not None:
        explicit = np.array([np.linalg.norm(tol.elementwise(a.magnitude) * wk) for wk in w[:count]])
    else:  # g unknown: atol along v, rtol of the predicted value
        norms = np.linalg.norm(w[:count], axis=1)
        explicit = (tol.atol or 0.0) * norms + (tol.rtol or 0.0) * np.abs(analytic)
    tolerance, source = tol.per_check(estimate, explicit, scale, str(p.x.dtype))
    steps, kinks = np.full(count, t), np.zeros(count, dtype=bool)
    nfev = 2 * (count + 1) + wasted
    work = str(p.x.dtype)
    return Outcome(analytic, numerical, tolerance, source, scale, steps, kinks, nfev, work, "central")

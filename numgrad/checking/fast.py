"""Fast mode of numgrad.checking.check: directional derivatives along seeded random directions.

Six or seven evaluations of f whatever the size of x: both directions at step t, then the direction that
missed most (relative to its scale) again at t/2, which gives its truncation estimate; the other
direction, which missed less, borrows that estimate in proportion to its scale. (Measuring always the
first direction let a short length scale that the second weighs more, log(y) at small y, raise a false
alarm there: truncation grows as the cube of a direction's weight on such a coordinate.) Steps come from
the dtype and the scale of x, so no probe evaluations are spent.

A float32 (or float16) x costs one evaluation more: f at x as float64, which says whether f computes in
float64 (then the differences are too) and is f(x) either way, for the kink test. Where f computes in
float32 the tolerance is the measured estimate alone (see :func:`measured_tolerance`), not full mode's
per-element floor, which would hide the 1e-2 bugs full mode catches; a direction that misses is a kink
when its one-sided slopes straddle the analytic value and their gap does not shrink with the step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.checking.measure import ESTIMATE, FLOOR, FUNC, Outcome, Tolerance, in_place, promotable, promoted
from numgrad.common import numerics as nm
from numgrad.differences.engine import Problem, _call, evaluate_points, on_float32_grid


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
    """Central differences along one direction at one step: f's difference and grad's prediction of it,
    and the two sides apart (for the kink test): f at ``x ± t·v`` and grad's prediction of each rise."""

    numerical: float
    analytic: float
    rounding: float
    plus: float
    minus: float
    rise: float  # ⟨g, x₊ − x⟩
    fall: float  # ⟨g, x − x₋⟩
    t: float

    def sides(self, f0: float) -> tuple[float, float]:
        """The one-sided slopes' misses, ``(f(x₊) − f(x) − rise)/t`` and ``(f(x) − f(x₋) − fall)/t``."""
        return (self.plus - f0 - self.rise) / self.t, (f0 - self.minus - self.fall) / self.t


def along(
    p: Problem,
    vals: NDArray[Any],
    points: NDArray[Any],
    a: Linear,
    t: float,
    grid: np.dtype[Any] | None = None,
) -> Along:
    """From f at ``x + t·w`` and ``x − t·w`` (as rounded to x's dtype): the analytic prediction uses the
    displacements actually applied, so rounding of the points themselves cancels."""
    x0 = np.ravel(p.x).astype(np.float64)
    plus, minus = points.astype(np.float64)
    rise, fall = a.dot(plus - x0), a.dot(x0 - minus)
    fp, fm = (float(np.real(v)) for v in vals)
    if not (np.isfinite(fp) and np.isfinite(fm)):
        raise FloatingPointError(
            f"{p.func}: f returned a non-finite value ({fp if not np.isfinite(fp) else fm}) at x ± t·v "
            f"(fast mode, t = {t:.1e}); the directional derivative there is undefined. Check f's domain, "
            f"or use mode='full', whose steps shrink where f is undefined"
        )
    rounding = nm.eps(p.x.dtype if grid is None else grid) * max(abs(fp), abs(fm)) / t
    return Along((fp - fm) / (2 * t), (rise + fall) / (2 * t), rounding, fp, fm, rise, fall, t)


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
    at t/2 (which gives the truncation estimate). Six evaluations of f whatever the size of x, seven
    for a float32 x (one to learn where f computes). Where a direction misses and some |x_i| is at least
    UNIT_RETRY, f may vary on a scale of 1 there rather than |x_i| (sin at x = 1e8, whose moves of 1e8
    per unit step alias): the same directions are measured again with every x_i moving at the unit scale,
    and that measurement decides (as many evaluations again)."""
    a = analytic if isinstance(analytic, Linear) else of_gradient(analytic)
    x0 = x.reshape(-1).astype(np.float64)
    w = directions(x0, rng)
    first = _along_directions(f, x, a, tol, w, func)
    far = np.abs(x0) >= nm.UNIT_RETRY
    if not far.any() or not first.beyond.any():
        return first
    retry = _along_directions(f, x, a, tol, _unit_scale(w, x0, x.dtype), func)
    return replace(retry, nfev=first.nfev + retry.nfev)


def _unit_scale(w: NDArray[np.float64], x0: NDArray[np.float64], dtype: np.dtype[Any]) -> NDArray[np.float64]:
    """The directions with every x_i moving at the unit scale, and by at least FAST_LEAST_SPACINGS / 2 of
    its spacings per step t/2 (at x = 1e10 a unit move of t·w_i, 6e-6 or less, rounds to a few ulps or to
    nothing, and a bug in that element went unseen)."""
    v = w / np.maximum(1.0, np.abs(x0))
    spacing = np.spacing(np.abs(x0).astype(dtype)).astype(np.float64)
    least = nm.FAST_LEAST_SPACINGS * spacing / nm.base_step("central", dtype)
    return np.asarray(np.where(v < 0, -1.0, 1.0) * np.maximum(np.abs(v), least))


def _along_directions(
    f: Callable[..., Any], x: NDArray[Any], a: Linear, tol: Tolerance, w: NDArray[np.float64], func: str
) -> Outcome:
    """The fast check along the directions w (rows)."""
    seen = _Seen(f)
    measured: list[Along] = []
    p, spent, f0 = in_place(seen, x, "central", func=func), 0, None
    if promotable(x, "central"):
        p, measured, spent, f0 = _where_f_computes(f, x, a, w[0], func, p)
    grid = p.x.dtype
    t = nm.base_step("central", grid)
    if not measured and grid.itemsize >= 8:
        points = pair(p, w[0], t)
        raw = evaluate_points(p, points)
        measured.append(along(p, raw, points, a, t))
        narrow = seen.narrow or (np.dtype(np.float32) if on_float32_grid(raw) else None)
        if narrow:  # a float64 x, but f computes in float32 (it returns float32, or float32 numbers)
            grid, measured, spent = narrow, [], 2  # difference on float32's grid
            t = nm.base_step("central", grid)
    pairs = (nm.FAST_EVALUATIONS + nm.FAST_DTYPE_PROBE - spent) // 2  # a float64 first pair included
    for k in range(len(measured), min(nm.FAST_DIRECTIONS, pairs - 1)):  # one pair is kept for t/2
        measured.append(measure(p, w[k], a, t, grid))
    scale = scales(measured, w, a)
    missed = np.abs([m.numerical - m.analytic for m in measured]) / np.where(scale > 0, scale, 1.0)
    worst = int(np.argmax(missed))
    half = measure(p, w[worst], a, t / 2, grid)
    return fast_outcome(p, measured, half, worst, scale, w, a, t, tol, spent, f0, grid)


@dataclass
class _Seen:
    """f, noting whether its values came back narrower than float64 (f computes in float32)."""

    f: Callable[..., Any]
    narrow: np.dtype[Any] | None = None

    def __call__(self, v: Any) -> Any:
        out = self.f(v)
        dtype = np.asarray(out).dtype
        if (
            dtype.kind == "f"
            and dtype.itemsize < 8
            and (self.narrow is None or dtype.itemsize < self.narrow.itemsize)
        ):
            self.narrow = np.dtype(np.float32) if dtype.itemsize >= 4 else dtype
        return out


def _where_f_computes(
    f: Callable[..., Any], x: NDArray[Any], a: Linear, w0: NDArray[np.float64], func: str, p: Problem
) -> tuple[Problem, list[Along], int, float | None]:
    """f at x as float64 (f(x) itself, whether f computes in float32 or reads x from a closure), then,
    where that came back in float64, at ``x + t·w₀`` and, where f moved (it reads its argument),
    ``x − t·w₀``: the first pair of the float64 differences. Returns where to difference, the pair if
    measured, the evaluations spent outside pairs, and f(x)."""
    candidate = promoted(f, x, "central", func=func)
    center = _call(candidate, candidate.x.copy(), lambda: "x as float64")
    value = float(np.real(center))
    f0 = value if np.isfinite(value) else None
    if center.dtype != np.float64:
        return p, [], 1, f0
    t = nm.base_step("central", np.float64)
    points = pair(candidate, w0, t)
    first = _call(candidate, points[0].reshape(x.shape), lambda: "x + t·v as float64")
    if first == center:  # a closure over x: f(x) there is the center; difference x in place
        return p, [], 2, f0
    second = _call(candidate, points[1].reshape(x.shape), lambda: "x − t·v as float64")
    raw = np.array([first, second], dtype=np.float64)
    return candidate, [along(candidate, raw, points, a, t)], 1, f0


def measure(
    p: Problem, w: NDArray[np.float64], a: Linear, t: float, grid: np.dtype[Any] | None = None
) -> Along:
    points = pair(p, w, t, grid)
    return along(p, evaluate_points(p, points), points, a, t, grid)


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


def pair(p: Problem, w: NDArray[np.float64], t: float, grid: np.dtype[Any] | None = None) -> NDArray[Any]:
    """``x ± t·w`` in x's dtype, rounded to `grid` first (float32 where f computes in float32 at a
    float64 x: the points f sees, so the displacements the prediction uses are the ones applied)."""
    x0 = np.ravel(p.x).astype(np.float64)
    points = np.stack([x0 + t * w, x0 - t * w])
    if grid is not None and grid != p.x.dtype:
        points = points.astype(grid)
    return points.astype(p.x.dtype)


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
    spent: int,
    f0: float | None = None,
    grid: np.dtype[Any] | None = None,
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
    rounding = np.array([m.rounding for m in rows])
    if a.magnitude is not None:
        explicit = np.array([np.linalg.norm(tol.elementwise(a.magnitude) * wk) for wk in w[:count]])
    else:  # g unknown: atol along v, rtol of the predicted value
        norms = np.linalg.norm(w[:count], axis=1)
        explicit = (tol.atol or 0.0) * norms + (tol.rtol or 0.0) * np.abs(analytic)
    work = p.x.dtype if grid is None else grid

    def judged(estimate: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.str_]]:
        if not tol.explicit and work.itemsize < 8:
            return measured_tolerance(estimate, scale, tol)
        return tol.per_check(estimate, explicit, scale, str(work))

    tolerance, source = judged(truncation * ratio + rounding)
    kinks = np.zeros(count, dtype=bool)
    if f0 is not None:
        kinks = kinked(rows, half, worst, f0, tolerance, nm.eps(work))
        if not kinks.any():  # f's own noise, which can stand far above eps·|f| (a sum that cancels)
            measured = nm.FAST_NOISE_GAIN * noise(chosen, half, f0) / t
            tolerance, source = judged(truncation * ratio + np.maximum(rounding, measured))
    steps = np.full(count, t)
    nfev = 2 * (count + 1) + spent
    return Outcome(analytic, numerical, tolerance, source, scale, steps, kinks, nfev, str(work), "central")


def noise(at_t: Along, at_half: Along, f0: float) -> float:
    """f's noise near x, measured: the fourth difference of f at ``x − t·v, x − t/2·v, x, x + t/2·v,
    x + t·v`` (whose smooth part, ``(t/2)⁴`` times f's fourth derivative along v, is far below rounding
    at these steps), less its linear part from the analytic prediction of each displacement as applied
    (rounding of the points moves them off the line), over ``sqrt(1 + 16 + 36 + 16 + 1)``: one sample
    of f's rounding, which the truncation estimate's own sample backs up. (A kink crossed between the
    points dominates it: where one is found, this is not used.)"""
    fourth = at_t.plus - 4 * at_half.plus + 6 * f0 - 4 * at_half.minus + at_t.minus
    linear = at_t.rise - 4 * at_half.rise + 4 * at_half.fall - at_t.fall
    return abs(fourth - linear) / float(np.sqrt(70.0))


def measured_tolerance(
    estimate: NDArray[np.float64], scale: NDArray[np.float64], tol: Tolerance
) -> tuple[NDArray[np.float64], NDArray[np.str_]]:
    """Where f computes in float32: the measured estimate times the safety factor, floored only at the
    analytic gradient's own rounding. Full mode's floor, the accuracy float32 central differences
    promise per element (1e-2 of max|g|), stands ~100 times above a directional derivative's measured
    error: it hid dense 1e-2 bugs that full mode catches."""
    by_estimate = nm.ESTIMATE_SAFETY * estimate
    by_floor = nm.analytic_floor(tol.analytic_dtype) * scale
    return np.maximum(by_estimate, by_floor), np.where(by_estimate >= by_floor, ESTIMATE, FLOOR)


def kinked(
    rows: list[Along], half: Along, worst: int, f0: float, tolerance: NDArray[np.float64], eps: float
) -> NDArray[np.bool_]:
    """Directions that miss because x ± t·v crosses a kink (ReLU, hinge), as full mode's test: the
    one-sided slopes' misses straddle 0 (the analytic value lies between the slopes, a valid
    subgradient) and, along the direction measured at t/2, their gap does not shrink with the step
    (a smooth f's gap, t·f'', halves). The other direction counts as a kink only beside a kink found
    so, its slopes straddling the analytic value."""
    count = len(rows)
    miss = np.array([abs(m.numerical - m.analytic) for m in rows]) > tolerance
    if not miss.any():
        return np.zeros(count, dtype=bool)

    def straddles(m: Along, tol: float) -> bool:
        up, down = m.sides(f0)
        return bool(min(up, down) - tol <= 0.0 <= max(up, down) + tol)

    def gap(m: Along) -> float:
        up, down = m.sides(f0)
        return abs(up - down)

    noise = eps * max(abs(f0), abs(half.plus), abs(half.minus)) / half.t
    chosen = rows[worst]
    persists = gap(half) > nm.KINK_NOISE * noise and gap(half) > nm.KINK_PERSISTENCE * gap(chosen)
    if not (
        persists and straddles(chosen, float(tolerance[worst])) and straddles(half, float(tolerance[worst]))
    ):
        return np.zeros(count, dtype=bool)
    return np.array([bool(miss[k]) and straddles(m, float(tolerance[k])) for k, m in enumerate(rows)])

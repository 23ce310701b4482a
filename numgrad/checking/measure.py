"""The measurements behind numgrad.checking.check: where differences are taken, full and fast checks, kinks.

Full mode compares every element with the engine's numerical gradient and its a-posteriori error
estimate; fast mode compares directional derivatives along seeded random directions (at most six
evaluations of f). Both return an :class:`Outcome`; numgrad.checking.check turns it into the public report.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.common import numerics as nm
from numgrad.differences.engine import (
    Difference,
    Problem,
    _call,
    evaluate,
    evaluate_points,
    float32_input,
    make_problem,
    on_grid,
)
from numgrad.differences.steps import difference, probe

FUNC = "check_gradient"
# where a check's tolerance came from: given, estimated at steps h and h/2, estimated from the one-sided
# slopes at h (a gross miss), or the floor
EXPLICIT, ESTIMATE, SLOPES, FLOOR = "explicit", "estimate", "slopes", "floor"


@dataclass(frozen=True)
class Tolerance:
    """How a check's tolerance is set: explicit ``atol + rtol·|g|`` when either is given, else the
    engine's error estimate times a safety factor, floored at what the dtypes resolve (normwise)."""

    rtol: float | None
    atol: float | None
    method: str
    analytic_dtype: str  # the coarser of x's and the analytic gradient's dtypes

    @property
    def explicit(self) -> bool:
        return self.rtol is not None or self.atol is not None

    def floor(self, working: str) -> float:
        """Normwise relative floor when the differences are taken in `working` precision."""
        return nm.check_floor(self.method, working, self.analytic_dtype)

    def elementwise(self, magnitude: NDArray[np.float64]) -> NDArray[np.float64]:
        """``atol + rtol·|g|`` per element (as numpy.testing.assert_allclose)."""
        return np.asarray((self.atol or 0.0) + (self.rtol or 0.0) * magnitude, dtype=np.float64)

    def per_check(
        self,
        estimate: NDArray[np.float64],
        explicit: NDArray[np.float64],
        scale: NDArray[np.float64],
        working: str,
    ) -> tuple[NDArray[np.float64], NDArray[np.str_]]:
        """Tolerances and their sources: `explicit` is what atol/rtol allow per check, `scale` the
        gradient's normwise scale that the floor multiplies."""
        if self.explicit:
            return explicit, np.full(explicit.shape, EXPLICIT)
        by_estimate, by_floor = nm.ESTIMATE_SAFETY * estimate, self.floor(working) * scale
        return np.maximum(by_estimate, by_floor), np.where(by_estimate >= by_floor, ESTIMATE, FLOOR)


@dataclass(frozen=True)
class Outcome:
    """What a check measured, one entry per check (an element in full mode, a direction in fast mode)."""

    analytic: NDArray[np.float64]
    numerical: NDArray[np.float64]
    tolerance: NDArray[np.float64]
    source: NDArray[np.str_]
    scale: NDArray[np.float64]  # what relative errors are relative to
    steps: NDArray[np.float64]
    kinks: NDArray[np.bool_]
    nfev: int
    working_dtype: str  # the dtype the differences were taken in
    method: str  # the difference method of the first pass (what "auto" resolved to)

    @property
    def abs_error(self) -> NDArray[np.float64]:
        err = np.abs(self.analytic - self.numerical)
        return np.where(np.isnan(err), np.inf, err)

    @property
    def beyond(self) -> NDArray[np.bool_]:
        """The checks that fail: beyond their tolerance (NaN included), kinks excepted."""
        return np.asarray(~self.kinks & ~(self.abs_error <= self.tolerance))


# --------------------------------------------------------------------------------------------------
# Where differences are taken


def promotable(x: NDArray[Any], method: str) -> bool:
    """float16/float32 points are differenced in float64 when f computes in float64 (it usually does:
    NumPy promotes), so a float32 check resolves bugs far below float32's difference noise."""
    return x.dtype.itemsize < 8 and method != "complex"


def in_place(
    f: Callable[..., Any], x: NDArray[Any], method: str, executor: Executor | None = None, func: str = FUNC
) -> Problem:
    """The caller's own array, perturbed in place (the closure idiom ``lambda W: net.loss(x, t)``);
    with an executor, chunks of points go there instead and x is not touched."""
    if executor is not None:
        return make_problem(
            func, f, x, out_shape=None, method=method, batched=False, chunk_size=None, executor=executor
        )
    if not x.flags.writeable and method != "complex":
        raise ValueError(
            f"{func}: x is read-only, but the check perturbs x in place (so that a function reading x "
            f"from a closure sees the perturbation); pass x.copy()"
        )
    return make_problem(
        func, f, x, out_shape=None, method=method, batched=False, chunk_size=None, executor=None
    )


def promoted(
    f: Callable[..., Any], x: NDArray[Any], method: str, executor: Executor | None = None, func: str = FUNC
) -> Problem:
    """A float64 copy of x (f then computes in float64 if it takes its argument)."""
    return make_problem(
        func, f, x.astype(np.float64), out_shape=None, method=method, batched=False, chunk_size=None,
        executor=executor,
    )  # fmt: skip


def computes_in_float64(p: Problem) -> bool:
    """Whether f returns a float64 value at the float64 copy (else it casts down: keep x's dtype)."""
    return bool(_call(p, p.x, lambda: "x as float64").dtype == np.float64)


# --------------------------------------------------------------------------------------------------
# Full mode


def first_method(method: str, working: np.dtype[Any]) -> str:
    """The first pass's method: ``"auto"`` takes forward differences (n + 1 evaluations, as
    scipy.optimize.check_grad) where they are taken in float64, central ones in float32, whose forward
    differences could not resolve a 1e-4 bug."""
    if method != "auto":
        return method
    return "forward" if working.itemsize >= 8 else "central"


def first_pass(p: Problem, method: str) -> tuple[Problem, Difference]:
    """The engine's pass at its own step, refinement left to the check. Its probe comes first and says
    which precision f's values carry (float32 where f casts a float64 x); ``"auto"`` then picks the
    method for that precision, and the pass's steps follow it. No evaluation is added: the probe is
    the pass's own."""
    if p.method == "complex":
        return p, difference(p, None, refine=False)
    probed = probe(p)
    grid = probed.grid if probed.grid is not None else p.grid  # (p's: f casts its input to float32)
    work = p.x.dtype if grid is None else grid
    p = replace(p, method=first_method(method, work), grid=grid)
    return p, difference(p, None, refine=False, probed=probed)


def full_check(
    f: Callable[..., Any],
    x: NDArray[Any],
    analytic: NDArray[Any],
    method: str,
    tol: Tolerance,
    *,
    executor: Executor | None = None,
    func: str = FUNC,
    segments: tuple[int, ...] | None = None,
) -> Outcome:
    """Every element against the engine's numerical gradient (one pass). Elements outside the tolerance
    are re-measured with central differences at two steps (re-using the pass's own points), which gives
    their error estimate and tells kinks from wrong values."""
    a = analytic.reshape(-1).astype(np.float64)
    provisional = "central" if method == "auto" else method
    p, nfev, lifted = in_place(f, x, provisional, executor, func), 0, False
    if promotable(x, provisional):
        candidate = promoted(f, x, provisional, executor, func)
        nfev += 1
        if computes_in_float64(candidate):
            p, lifted = candidate, True
    p, d = first_pass(p, method)
    nfev += d.nfev
    if lifted and not np.any(d.derivative) and np.any(a):
        # f did not move when the float64 copy moved: it reads x from a closure. Difference in place.
        p, d = first_pass(in_place(f, x, provisional, executor, func), method)
        nfev += d.nfev
    return _from_first_pass(p, d, a, method, tol, nfev, segments)


def _from_first_pass(
    p: Problem,
    d: Difference,
    a: NDArray[np.float64],
    method: str,
    tol: Tolerance,
    nfev: int,
    segments: tuple[int, ...] | None,
) -> Outcome:
    """:func:`full_check` from its first pass `d` on the problem `p` it returned (`nfev`: the evaluations
    so far, the pass's included)."""
    work, tol = str(p.work_dtype), replace(tol, method=p.method)
    numerical, steps = d.derivative.reshape(-1).copy(), d.h.copy()
    first_rounding = rounding(p, d)
    scale = segment_scales(numerical, a, segments, first_rounding)
    tolerance, source = tol.per_check(first_rounding, tol.elementwise(np.abs(numerical)), scale, work)
    suspect = np.flatnonzero(~(np.abs(a - numerical) <= tolerance))
    if suspect.size and d.f0 is not None:  # f casting x to float32 misses everywhere at float64's steps
        on_float32, spent = float32_input(p, np.ravel(p.x).astype(np.float64), d.f0, d.f_scale, numerical, a)
        nfev += spent
        if on_float32:  # the first pass again on float32's grid, and the check from it
            p, d = first_pass(replace(p, grid=np.dtype(np.float32)), method)
            return _from_first_pass(p, d, a, method, tol, nfev + d.nfev, segments)
    kinks = np.zeros(a.shape, dtype=bool)
    sigma = 0.0
    if suspect.size and p.method != "complex":
        # f's noise, measured along the coordinate with the largest step: the one least bent over it
        # (the engine shrinks steps where f's length scale is short), so what the fit leaves is noise
        widest = int(np.argmax(d.h))
        sigma, spent = noise_level(p, widest, float(d.h[widest]))
        at_h, more = pass_pair(p, d, suspect)
        nfev += spent + more
        if at_h is not None and d.f0 is not None:  # wrong beyond doubt: no need for the step h/2
            gross, t, src = gross_misses(
                p, at_h, d.f0, a[suspect], d.h[suspect], tol, scale[suspect], work, sigma
            )
            sure = suspect[gross]
            numerical[sure], tolerance[sure], source[sure] = at_h.central[gross], t[gross], src[gross]
            suspect, at_h = suspect[~gross], at_h.subset(~gross)
    if suspect.size and p.method != "complex":
        h_rm = noisy_steps(p, suspect, d.h[suspect], sigma, d.f0)
        m = remeasure(p, suspect, h_rm, at_h if np.array_equal(h_rm, d.h[suspect]) else None)
        m = replace(m, estimate=m.estimate + NOISE_GAIN * sigma / m.h)  # f's measured noise, amplified
        m = relative_retry(p, suspect, m)  # (its estimate holds its own noise: two quotients' difference)
        # where x − h left f's domain (never visited by a one-sided pass) the first pass stands
        ok = np.isfinite(m.value) & np.isfinite(m.estimate)
        numerical[suspect[ok]], steps[suspect[ok]] = m.value[ok], m.h[ok]
        t, src = tol.per_check(m.estimate, tol.elementwise(np.abs(m.value)), scale[suspect], work)
        tolerance[suspect[ok]], source[suspect[ok]] = t[ok], src[ok]
        still = ok & ~(np.abs(a[suspect] - m.value) <= t)
        wrong = suspect[still]
        kinks[wrong], kink_spent = find_kinks(p, wrong, m, still, a[wrong], t[still], sigma)
        nfev += m.nfev + kink_spent
    return Outcome(a, numerical, tolerance, source, scale, steps, kinks, nfev, work, p.method)


def segment_scales(
    numerical: NDArray[np.float64],
    a: NDArray[np.float64],
    segments: tuple[int, ...] | None,
    noise: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """The normwise scale each element is judged against: ``max|numerical|`` (else ``max|analytic|``)
    over x, or over its segment (a pytree's leaf, at offsets `segments`) when given.

    A segment whose differences resolve no gradient at all — every ``|numerical|`` within
    ESTIMATE_SAFETY times its rounding `noise`, as for a bias in front of a batch norm, whose gradient
    is exactly 0 — is judged at the scale of the whole vector: a float32 backward rounds relative to the
    terms it sums, not to their cancelled total, so its own scale (0, or noise) would call rounding wrong.
    """
    bounds = (0, a.size) if segments is None else segments
    whole = float(np.max(np.abs(numerical), initial=0.0))
    scale = np.empty(a.shape)
    for lo, hi in itertools.pairwise(bounds):
        big = float(np.max(np.abs(numerical[lo:hi]), initial=0.0))
        if segments is not None and noise is not None and big <= nm.ESTIMATE_SAFETY * np.max(noise[lo:hi]):
            big = whole
        scale[lo:hi] = big or float(np.max(np.abs(a[lo:hi]), initial=0.0))
    return scale


# The Richardson value (4·D(h/2) − D(h))/3 carries up to (4·2 + 1)/3 = 3 times f's noise over h
NOISE_GAIN = 3.0


def noise_level(p: Problem, j: int, h: float) -> tuple[float, int]:
    """f's rounding noise near x, measured from the data rather than assumed to be ``eps·|f|``: the RMS
    residual of a quadratic fitted to f at a few irregularly spaced points ``x + t_k·e_j`` within h/2
    (the quadratic takes f's smooth part; irregular spacing keeps rounding from looking smooth, as it
    can on an even grid). Spent only when a check has elements beyond tolerance (a noisy f, such as the
    pseudo-inverse of a low-rank matrix, would otherwise alarm)."""
    x0 = float(np.ravel(p.x)[j])
    values = on_grid(p, (x0 + h * np.asarray(nm.NOISE_OFFSETS)).astype(p.x.dtype))
    k = len(values)
    vals = np.real(evaluate(p, values, np.full(k, j, dtype=np.intp))).astype(np.float64)
    if not np.all(np.isfinite(vals)):
        return 0.0, k
    t = (values.astype(np.float64) - x0) / h
    centred = vals - vals[np.argmin(np.abs(t))]
    coef = np.polyfit(t, centred, 2)
    residual = centred - np.polyval(coef, t)
    return float(np.sqrt(np.sum(np.square(residual)) / (k - 3))), k


def noisy_steps(
    p: Problem, idx: NDArray[np.intp], h: NDArray[np.float64], sigma: float, f0: float | None
) -> NDArray[np.float64]:
    """Steps for re-measuring when f is noisier than ``eps·|f|``: the central step that balances the
    measured noise σ against truncation, ``cbrt(σ/|f|)·max(1, |x_i|)`` (a power of two), where it is
    larger than the pass's own step."""
    size = max(abs(f0 or 0.0), sigma)
    if sigma <= nm.eps(p.work_dtype) * size or size == 0:
        return h
    length = nm.length_scales(np.ravel(p.x)[idx].astype(np.float64))
    wanted = np.exp2(np.round(np.log2(np.cbrt(sigma / size) * length)))
    return np.asarray(np.minimum(np.maximum(h, wanted), nm.MAX_RELATIVE_STEP * length))


def gross_misses(
    p: Problem,
    pair: Pair,
    f0: float,
    a: NDArray[np.float64],
    h: NDArray[np.float64],
    tol: Tolerance,
    scale: NDArray[np.float64],
    work: str,
    sigma: float = 0.0,
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.str_]]:
    """Elements wrong beyond doubt at the pass's step h, with their tolerances and sources.

    The error of the central difference at h is estimated by the gap between the one-sided slopes (h
    times the second derivative, which bounds the truncation, h² times the third derivative over 6,
    wherever f is not at an inflection) plus rounding. An element is wrong beyond doubt when it misses
    the analytic value by its tolerance plus :data:`GROSS_MISS` such estimates (re-measuring cannot
    move the central value that far) and the analytic value is not between the one-sided slopes (a
    kink's subgradients are).
    """
    forward, backward = pair.one_sided(f0)
    size = np.fmax.reduce([np.full(a.size, abs(f0)), np.abs(pair.plus), np.abs(pair.minus)])
    estimate = np.abs(forward - backward) + 2 * np.maximum(nm.eps(p.work_dtype) * size, sigma) / h
    central = pair.central
    t, src = tol.per_check(estimate, tol.elementwise(np.abs(central)), scale, work)
    with np.errstate(invalid="ignore"):
        between = (a >= np.minimum(forward, backward) - t) & (a <= np.maximum(forward, backward) + t)
        far = np.abs(a - central) > t + nm.GROSS_MISS * estimate
        # where the one-sided slopes differ by more than the central value, f bends within the step (its
        # length scale is shorter: log1p((x/1e-8)²) at 1e-8, steps of 0.06) and their gap bounds nothing
        resolved = np.abs(forward - backward) <= np.abs(central)
        gross = np.isfinite(estimate) & np.isfinite(central) & far & ~between & resolved
    return gross, t, np.where(src == ESTIMATE, SLOPES, src)


def rounding(p: Problem, d: Difference) -> NDArray[np.float64]:
    """The rounding part of a pass's error, ``Σ|w|·eps·|f| / h`` (complex step: a few ulps of the
    derivative). Truncation is measured only where the comparison needs it (see :func:`remeasure`)."""
    if p.method == "complex":
        return np.asarray(nm.COMPLEX_ERROR_ULPS * nm.eps(p.x.dtype) * np.abs(d.derivative.reshape(-1)))
    unit = nm.eps(p.work_dtype) * d.f_scale
    if p.grid is not None:  # float32 values move by no less than their smallest step, even where f is 0,
        unit = max(unit, float(np.finfo(p.grid).smallest_subnormal))  # below which a float64 gradient can lie
    return np.asarray(nm.STENCILS[p.method].rounding_gain * unit / d.h)


@dataclass(frozen=True)
class Pair:
    """f at ``x ± step·e_i`` for some elements, and the displacements actually applied (x's dtype)."""

    plus: NDArray[np.float64]
    minus: NDArray[np.float64]
    up: NDArray[np.float64]
    down: NDArray[np.float64]

    @property
    def central(self) -> NDArray[np.float64]:
        return np.asarray((self.plus - self.minus) / (self.up + self.down))

    def one_sided(self, f0: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return (self.plus - f0) / self.up, (f0 - self.minus) / self.down

    def subset(self, keep: NDArray[np.bool_]) -> Pair:
        return Pair(self.plus[keep], self.minus[keep], self.up[keep], self.down[keep])


def pair_at(
    p: Problem,
    idx: NDArray[np.intp],
    step: NDArray[np.float64],
    known: dict[int, NDArray[np.float64]] | None = None,
) -> tuple[Pair, int]:
    """f at ``x ± step·e_i`` for the elements `idx`, evaluating only the sides (+1, −1) not `known`;
    also the evaluations spent."""
    x0 = np.ravel(p.x).astype(np.float64)
    points = {c: on_grid(p, (x0[idx] + c * step).astype(p.x.dtype)) for c in (1, -1)}
    sides = dict(known or {})
    missing = [c for c in (1, -1) if c not in sides]
    if missing:
        values = np.concatenate([points[c] for c in missing])
        vals = np.real(evaluate(p, values, np.tile(idx, len(missing)))).astype(np.float64)
        sides.update(zip(missing, vals.reshape(len(missing), -1), strict=True))
    up, down = (np.abs(points[c].astype(np.float64) - x0[idx]) for c in (1, -1))
    return Pair(sides[1], sides[-1], up, down), len(missing) * idx.size


def pass_pair(p: Problem, d: Difference, idx: NDArray[np.intp]) -> tuple[Pair | None, int]:
    """f at ``x ± h·e_i`` for the elements `idx` at the pass's own steps: the pass's points, plus the
    other side's where the pass was one-sided (one evaluation per element). None when the pass kept no
    values."""
    if d.values is None:
        return None, 0
    moved = nm.STENCILS[p.method].moved
    return pair_at(p, idx, d.h[idx], {c: d.values[moved.index(c), idx] for c in (1, -1) if c in moved})


@dataclass(frozen=True)
class Remeasured:
    """Central differences at h and h/2 for the elements that disagreed at the floor."""

    value: NDArray[np.float64]  # Richardson value (4·D(h/2) − D(h)) / 3
    estimate: NDArray[np.float64]  # |D(h) − D(h/2)| plus rounding at h/2: bounds the error of the value
    half: Pair
    full: Pair | None  # the pair at h, when it had to be evaluated (methods other than central)
    h: NDArray[np.float64]
    nfev: int

    def subset(self, keep: NDArray[np.bool_]) -> Remeasured:
        full = None if self.full is None else self.full.subset(keep)
        return Remeasured(
            self.value[keep], self.estimate[keep], self.half.subset(keep), full, self.h[keep], self.nfev
        )

    def replaced(self, where: NDArray[np.bool_], other: Remeasured, *, extra: int) -> Remeasured:
        """These results with the elements `where` taken from `other` (a retry at a smaller step)."""

        def put(mine: NDArray[np.float64], theirs: NDArray[np.float64]) -> NDArray[np.float64]:
            out = mine.copy()
            out[where] = theirs
            return out

        half = Pair(
            *(put(getattr(self.half, k), getattr(other.half, k)) for k in ("plus", "minus", "up", "down"))
        )
        full = None  # the pair at h is re-evaluated by find_kinks where it is needed
        value, estimate, h = (
            put(self.value, other.value),
            put(self.estimate, other.estimate),
            put(self.h, other.h),
        )
        return Remeasured(value, estimate, half, full, h, self.nfev + extra)


def remeasure(
    p: Problem,
    idx: NDArray[np.intp],
    h: NDArray[np.float64],
    at_h: Pair | None,
    shrinks: int = nm.MAX_STEP_SHRINKS,
    prior: NDArray[np.float64] | None = None,
) -> Remeasured:
    """The a-posteriori estimate of the engine (steps h and h/2), spent only where it is needed: two
    evaluations per element when the pair at h is known (`at_h`, from the pass), four otherwise.

    Where the points leave f's domain (x − h after a one-sided pass), or the estimate says the step is
    coarse for the element's length scale (log(y) near 0), the step is quartered while that helps.
    """
    full, spent = (at_h, 0) if at_h is not None else pair_at(p, idx, h)
    d_h = full.central
    half, spent_half = pair_at(p, idx, h / 2)
    size = np.fmax(np.abs(half.plus), np.abs(half.minus))  # f can be 0 at x and not at x ± h
    noise = nm.eps(p.work_dtype) * np.maximum(size, 1e-300) / (h / 2)
    value = (4 * half.central - d_h) / 3
    spent += spent_half
    m = Remeasured(value, np.abs(d_h - half.central) + noise, half, full, h, spent)
    finite = np.isfinite(m.value) & np.isfinite(m.estimate)
    with np.errstate(invalid="ignore"):
        coarse = m.estimate > nm.COARSE_STEP * np.abs(m.value)
        improving = np.ones(idx.size, dtype=bool) if prior is None else m.estimate < prior
    retry = ~finite | (coarse & improving)
    if not retry.any() or shrinks == 0:
        return m
    r = remeasure(p, idx[retry], h[retry] / 4, None, shrinks - 1, np.where(finite, m.estimate, np.inf)[retry])
    take = np.zeros(idx.size, dtype=bool)
    take[retry] = ~finite[retry] | (np.isfinite(r.value) & (r.estimate < m.estimate[retry]))
    return m.replaced(take, r.subset(take[retry]), extra=r.nfev)


def relative_retry(p: Problem, idx: NDArray[np.intp], m: Remeasured) -> Remeasured:
    """Elements whose estimate stays coarse after the step shrank (above COARSE_STEP of the value) and
    with 0 < |x_i| < 1: f may vary on the scale of x_i itself (log1p((x/1e-8)²) at x = 1e-8). Re-measured
    at steps relative to |x_i| (base·|x_i|, the engine's own retry), taken where it settles there."""
    x0 = np.ravel(p.x).astype(np.float64)[idx]
    with np.errstate(invalid="ignore"):
        coarse = ~(m.estimate <= nm.COARSE_STEP * np.abs(m.value))
    small = coarse & nm.below_unit(x0)
    if not small.any():
        return m
    h = nm.relative_steps(x0[small], "central", p.work_dtype)
    retry = np.zeros(idx.size, dtype=bool)
    retry[small] = h < m.h[small]
    if not retry.any():
        return m
    r = remeasure(p, idx[retry], h[retry[small]], None, shrinks=0)
    # f's noise measured at each retried element's own step (the check's sigma was measured at another
    # coordinate's, far larger, step): a quotient of noise can settle by coincidence, one of f cannot
    noise = [noise_level(p, int(j), float(hj)) for j, hj in zip(idx[retry], r.h, strict=True)]
    r = replace(r, estimate=r.estimate + NOISE_GAIN * np.array([s for s, _ in noise]) / r.h,
                nfev=r.nfev + sum(k for _, k in noise))  # fmt: skip
    take = np.zeros(idx.size, dtype=bool)
    with np.errstate(invalid="ignore"):  # settled there (not coarse itself; pure noise never is)
        settled = r.estimate <= nm.COARSE_STEP * np.abs(r.value)
    take[retry] = np.isfinite(r.value) & np.isfinite(r.estimate) & settled
    return m.replaced(take, r.subset(take[retry]), extra=r.nfev)


def find_kinks(
    p: Problem,
    idx: NDArray[np.intp],
    m: Remeasured,
    keep: NDArray[np.bool_],
    a: NDArray[np.float64],
    tol: NDArray[np.float64],
    sigma: float = 0.0,
) -> tuple[NDArray[np.bool_], int]:
    """Kinks among elements that still disagree: the forward and backward slopes differ beyond rounding,
    the gap does not shrink when the step halves, and the analytic value lies between the slopes (every
    value there is a valid subgradient, as 0 or 1 for ReLU at 0).

    A smooth f's gap is ``h·f''``, which halves with h; a kink's is the jump in slope, which stays.
    Costs f(x) plus f at ``x ± h·e_i`` where the pass did not already have them.
    """
    if idx.size == 0:
        return np.zeros(0, dtype=bool), 0
    x0 = np.ravel(p.x).astype(np.float64)
    f0 = float(np.real(evaluate_points(p, on_grid(p, x0[None].astype(p.x.dtype)))[0]))
    half = m.half.subset(keep)
    full, spent = (m.full.subset(keep), 0) if m.full is not None else pair_at(p, idx, m.h[keep])
    spent += 1  # f(x)
    (fw, bw), (fw2, bw2) = full.one_sided(f0), half.one_sided(f0)
    size = np.fmax.reduce([np.full(idx.size, abs(f0)), *map(np.abs, (half.plus, half.minus, full.plus))])
    noise = np.maximum(nm.eps(p.work_dtype) * np.maximum(size, 1e-300), sigma) / (m.h[keep] / 2)
    with np.errstate(invalid="ignore"):
        gap, gap2 = np.abs(fw - bw), np.abs(fw2 - bw2)
        persists = (gap2 > nm.KINK_NOISE * noise) & (gap2 > nm.KINK_PERSISTENCE * gap)
        between = (a >= np.minimum(fw2, bw2) - tol) & (a <= np.maximum(fw2, bw2) + tol)
    return np.asarray(persists & between & np.isfinite(gap2)), spent

"""Steps and assembly of the finite-difference engine: one pass over every coordinate of x.

:mod:`numgrad.differences.engine` validates and evaluates; this module chooses steps (probe, and a
truncation test that halves them where truncation above rounding is widespread), assembles
difference quotients, shrinks steps that leave f's domain, re-measures coordinates with a short length scale
(Richardson), and estimates the error of a pass.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.common import numerics as nm
from numgrad.differences import sanity
from numgrad.differences.engine import (
    Difference,
    Problem,
    coarser_values,
    evaluate,
    evaluate_joined,
    evaluate_points,
    evaluate_points_typed,
    float32_input,
    joined_fits,
    on_grid,
    resolve_step,
)
from numgrad.differences.noise import noise_level
from numgrad.differences.outputs import refine_outputs


def _check_finite(p: Problem, vals: NDArray[Any], coords: NDArray[np.intp] | None, what: str) -> None:
    if np.isfinite(vals).all():  # the common case, in two operations
        return
    bad = ~np.isfinite(vals.reshape(len(vals), -1)).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        where = "" if coords is None else f" at index {p.index(int(coords[first]))}"
        raise FloatingPointError(
            f"{p.func}: f returned a non-finite value ({vals.reshape(len(vals), -1)[first][0]}) at {what}"
            f"{where} ({int(bad.sum())} of {len(vals)} points); the derivative there is undefined. "
            f"Pass a smaller h or check f's domain"
        )


@dataclass(frozen=True)
class Probe:
    """f at :func:`numgrad.common.numerics.probe_points` (x itself first), which the steps are chosen from,
    and the precision f's values carry where it is coarser than x's (f casts a float64 x to float32):
    learnt from f(x) itself, so knowing it costs no evaluation."""

    values: NDArray[Any]
    grid: np.dtype[Any] | None
    nfev: int


def probe(
    p: Problem, x0: NDArray[np.float64] | None = None, length: NDArray[np.float64] | None = None
) -> Probe:
    """The engine's probe of f at x (the first evaluations of a pass at its own step); `x0` (x as flat
    float64) and `length` (its :func:`~numgrad.common.numerics.length_scales`) where the pass has them."""
    x0 = np.ravel(p.x).astype(np.float64) if x0 is None else x0
    points = nm.probe_points(x0, p.x.dtype, length)
    vals, dtype = evaluate_points_typed(p, points)
    return Probe(vals, coarser_values(p, dtype, vals[1:]), len(points))


def _steps(
    p: Problem, x0: NDArray[np.float64], probed: Probe | None, length: NDArray[np.float64] | None = None
) -> tuple[NDArray[np.float64], float, float, Any, int, Problem]:
    """Steps from the dtype, the scale of each x_i and the measured scales of f (see _numerics); f's
    values' precision where coarser than x's sets the step rule, and comes back on the problem.
    `length`: x's :func:`~numgrad.common.numerics.length_scales`, where the caller has them."""
    if p.method == "complex":
        return nm.complex_steps(x0), 0.0, 0.0, None, 0, p
    length = nm.length_scales(x0) if length is None else length
    probed = probe(p, x0, length) if probed is None else probed
    if probed.grid is not None:
        p = replace(p, grid=probed.grid)
    vals = probed.values
    h, f_scale, variation = nm.steps_from_probe(vals, x0, p.x.dtype, p.method, length, p.work_dtype)
    if not math.isfinite(f_scale):  # |f(x)|: the derivative at a point where f is undefined is too
        _check_finite(p, vals[:1], None, "x")
    return h, f_scale, variation, vals[0], probed.nfev, p


def _shrink_out_of_domain(
    p: Problem,
    x0: NDArray[np.float64],
    steps: NDArray[np.float64],
    moved: tuple[int, ...],
    values: Any,
    vals: Any,
) -> tuple[NDArray[np.float64], Any, Any, int]:
    """Quarter the step of each coordinate whose perturbed points gave non-finite values, and retry."""
    n, extra = p.n, 0
    steps, values, vals = steps.copy(), values.copy(), vals.copy()
    for _ in range(nm.MAX_STEP_SHRINKS):
        bad = ~np.isfinite(vals.reshape(len(moved), n, -1)).all(axis=(0, 2))
        if not bad.any():
            break
        idx = np.flatnonzero(bad)
        steps[idx] = _shrunk(x0[idx], steps[idx], max(map(abs, moved)))
        rows = np.concatenate([i * n + idx for i in range(len(moved))])
        values[rows] = on_grid(p, np.concatenate([x0[idx] + c * steps[idx] for c in moved]).astype(p.x.dtype))
        vals[rows] = evaluate(p, values[rows], np.tile(idx, len(moved)))
        extra += len(rows)
    return steps, values, vals, extra


def _shrunk(x: NDArray[np.float64], h: NDArray[np.float64], reach: int) -> NDArray[np.float64]:
    """A quarter of the step, and at most half the distance to 0 (sqrt and log are undefined beyond it):
    a power of two, so the shrunk points stay exact."""
    near = np.exp2(np.floor(np.log2(np.abs(x) / (2 * reach), where=x != 0, out=np.full(x.shape, np.inf))))
    return np.asarray(np.minimum(h / 4, np.where(x != 0, near, np.inf)))


def _stencil_points(
    p: Problem, x0: NDArray[np.float64], coords: NDArray[np.intp], steps: NDArray[np.float64]
) -> tuple[NDArray[Any], NDArray[np.intp]]:
    """The method's moved points for `coords` at `steps`, offset-major, and the coordinate of each."""
    moved = nm.STENCILS[p.method].moved
    values = on_grid(p, (np.multiply.outer(moved, steps) + x0[coords]).reshape(-1).astype(p.x.dtype))
    return values, np.concatenate([coords] * len(moved))


def _stencil_at(
    p: Problem,
    x0: NDArray[np.float64],
    f0: Any,
    coords: NDArray[np.intp],
    steps: NDArray[np.float64],
    given: tuple[NDArray[np.intp], NDArray[Any]] | None = None,
) -> tuple[NDArray[np.float64], int]:
    """The method's difference quotient for `coords` at `steps` (powers of two: x ± c·h exact), and the
    evaluations spent; `given`: the coordinate of each of :func:`_stencil_points` and f at them, evaluated
    already (none spent here)."""
    stencil = nm.STENCILS[p.method]
    moved = stencil.moved
    if given is None:
        values, tiled = _stencil_points(p, x0, coords, steps)
        vals, spent = evaluate(p, values, tiled), len(values)
    else:
        (tiled, vals), spent = given, 0
    _check_finite(p, vals, tiled, "a refined step")
    by_offset = dict(
        zip(moved, vals.astype(np.float64, copy=False).reshape(len(moved), len(coords)), strict=True)
    )
    if 0 in stencil.offsets:  # a one-sided stencil: f(x) itself
        by_offset[0] = np.broadcast_to(np.float64(np.real(f0)), (len(coords),))
    total = sum(w * by_offset[c] for c, w in zip(stencil.offsets, stencil.weights, strict=True))
    return np.asarray(total / steps), spent


def _truncation_test_applies(p: Problem) -> bool:
    """The step's truncation test runs for a scalar float64 f of x with at least TRUNCATION_MIN_N elements."""
    return p.out_shape is None and nm.precision(p.work_dtype) == "float64" and p.n >= nm.TRUNCATION_MIN_N


def _test_points(p: Problem, x0: NDArray[np.float64], h: NDArray[np.float64]) -> NDArray[Any]:
    """The truncation test's points at steps h: x ± h and x + 2h at its sampled coordinates (offset-major,
    :func:`numgrad.common.numerics.truncation_coordinates`)."""
    coords = nm.truncation_sample(p.n)
    values: NDArray[np.float64] = np.multiply.outer(nm.TRUNCATION_OFFSETS, h[coords]) + x0[coords]
    return values.reshape(-1).astype(p.x.dtype, copy=False)


def _pass_points(
    p: Problem, x0: NDArray[np.float64], steps: NDArray[np.float64], moved: tuple[int, ...]
) -> NDArray[Any]:
    """The pass's points: x + c·h for every coordinate, per offset c of the stencil (offset-major)."""
    return on_grid(p, (np.multiply.outer(moved, steps) + x0).reshape(-1).astype(p.x.dtype, copy=False))


def _halve_if_truncated(
    p: Problem,
    x0: NDArray[np.float64],
    h: NDArray[np.float64],
    f_scale: float,
    f0: Any,
    given: NDArray[Any] | None = None,
) -> tuple[NDArray[np.float64], int, tuple[NDArray[np.intp], NDArray[Any]] | None]:
    """Every step halved when the truncation of central differences at h, measured on a seeded sample of
    coordinates, is above rounding at half of them or more: truncation above rounding is widespread (see
    numerics, TRUNCATION_SAMPLE). Per sampled coordinate f at x ± h (the pass's own points) and at x + 2h,
    with f(x) from the probe: the third difference ``f(x+2h) − 3f(x+h) + 3f(x) − f(x−h) ≈ h³·f‴`` gives
    the truncation ``h²·f‴/8`` that halving would remove from the quotient at h (``|D(h) − D(h/2)|``),
    for one evaluation per coordinate beyond the pass's. Returns the steps, the evaluations spent and, for
    the pass to re-use when the steps are kept, the sampled coordinates with f at x ± h there, shape
    (2, k); a sample point outside f's domain leaves the steps as they are (and nothing to re-use).
    `given`: f at the test's points, evaluated already (:func:`_joined`; none spent here)."""
    coords, offsets = nm.truncation_sample(p.n), nm.TRUNCATION_OFFSETS
    at = h[coords]
    if given is None:
        raw = evaluate(p, _test_points(p, x0, h), nm.truncation_coordinates(p.n))
        spent = len(raw)
    else:
        raw, spent = given, 0
    vals = raw.real.astype(np.float64, copy=False).tolist()  # real methods: f's values as they are
    if not all(map(math.isfinite, vals)):
        return h, spent, None
    k, centre = len(coords), float(np.real(f0))
    unit = float(nm.REFINE_NOISE["float64"] * nm.eps(p.x.dtype) * max(f_scale, 1e-300))  # as the refinement's
    unit *= nm.STENCILS[p.method].rounding_gain
    truncated = 0
    for up, down, up2, step in zip(vals[:k], vals[k : 2 * k], vals[2 * k :], at.tolist()):  # noqa: B905
        rise, before = up - centre, centre - down  # near values first: no overflow near f's range
        third = ((up2 - up) - rise) - (rise - before)
        truncated += abs(third) / (8 * step) > unit / step  # h²·|f‴|/8, as |D(h) − D(h/2)|, above rounding
    if 2 * truncated >= k:
        return h / 2, spent, None
    return h, spent, (coords, raw.reshape(len(offsets), k)[:2])


def _evaluate_unless_known(
    p: Problem,
    values: NDArray[Any],
    coords: NDArray[np.intp],
    known: tuple[NDArray[np.intp], NDArray[Any]] | None,
) -> NDArray[Any]:
    """The central pass's f values (offset-major: x + h, then x − h): the truncation test's points at the
    pass's own steps are taken from it (the same points, so the same values), the rest evaluated."""
    if known is None:
        return evaluate(p, values, coords)
    _sample, at_step = known
    rows, todo = _rows_known(p.n)
    fresh = evaluate(p, values[todo], coords[todo])
    vals = np.empty((len(coords), *fresh.shape[1:]), dtype=np.result_type(fresh, at_step))
    vals[todo] = fresh
    vals[rows] = at_step.reshape(-1)
    return vals


@functools.lru_cache(maxsize=32)
def _rows_known(n: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """The central pass's points (offset-major, 2n) that the truncation test evaluated, and the others."""
    sample = nm.truncation_sample(n)
    rows = np.concatenate([sample, sample + n])
    todo = np.ones(2 * n, dtype=bool)
    todo[rows] = False
    others = np.flatnonzero(todo)
    rows.flags.writeable = others.flags.writeable = False
    return rows, others


def _refine(  # noqa: PLR0915  (one loop over the halvings, read top to bottom)
    p: Problem,
    x0: NDArray[np.float64],
    h: NDArray[np.float64],
    deriv: Any,
    second: Any,
    f0: Any,
    f_scale: float,
    vals: NDArray[Any] | None = None,
    given: _Refined | None = None,
) -> tuple[Any, int, bool | None, NDArray[np.intp] | None]:
    """Re-measure coordinates with a short length scale at h/2, h/4, ...: each halving gives the Richardson
    value ``(2**p·D(h/2) − D(h)) / (2**p − 1)`` and an error estimate ``|D(h/2) − D(h)|``; a coordinate
    keeps the value with the smallest estimate and stops once the change is rounding noise or grows.
    Also returns the evaluations spent, what it found: None (nothing flagged), False (no change beyond
    the rounding of f at the points it evaluated), True (truncation beyond that rounding), and the
    coordinates it measured first (None where nothing was flagged).
    `vals`: f at the pass's points, whose largest size scales the rounding the warning speaks of.
    `given`: f at the first halving's points, evaluated already for the coordinates and steps it names
    (:func:`_joined`): used where they are this pass's first suspects at half its steps."""
    active, waiting, waiting_key = nm.truncation_suspects(  # waiting: every flagged one, the head too
        p.method, deriv, second, h, p.work_dtype, nm.REFINE_SAMPLE
    )
    if active.size == 0:
        return deriv, 0, None, None
    stencil = nm.STENCILS[p.method]
    unit, extra = _rounding_unit(p, f_scale)
    # The worst-predicted coordinates go first: if none of them shows truncation, the model over-predicts
    # for this f (a quadratic, say) and the rest are left alone (unsorted until then) — decided before
    # anything of x's size is built, as most passes end there.
    half, head = h[active] / 2, active
    known = None  # f at the first halving's points, where they were evaluated with the pass's
    if given is not None and np.array_equal(given.coords, active) and np.array_equal(given.steps, half):
        known = given.tiled, given.values
    d_half, spent = _stencil_at(p, x0, f0, active, half, known)
    extra += spent
    change = np.abs(d_half - deriv[active])
    noise = unit * stencil.rounding_gain / half
    if not (change > noise).any():  # no truncation beyond rounding: the pass's quotients stand
        return np.asarray(deriv, dtype=np.float64), extra, False, head
    # a float32 input's rounding shows as bends and changes that no halving settles: ask before halving on
    on_float32, tested = float32_input(p, x0, f0, f_scale, deriv)
    if on_float32:
        raise Float32Input(extra + tested)
    extra += tested
    f_size = 0.0 if vals is None else float(np.abs(vals).max())
    out = np.array(deriv, dtype=np.float64)
    best_err = np.full(p.n, np.inf)
    best_trunc = np.zeros(p.n)  # truncation left (the change beyond rounding) at the kept value
    prev, step = out.copy(), h.copy()
    step[active] = half
    gain = 2.0**stencil.order
    found = False
    growing = np.zeros(p.n, dtype=bool)  # the last change grew, far above rounding
    for halving in range(nm.MAX_REFINE_HALVINGS):
        if active.size == 0:
            break
        if halving:  # the first halving is the one measured above
            step[active] /= 2
            d_half, spent = _stencil_at(p, x0, f0, active, step[active])
            extra += spent
            change = np.abs(d_half - prev[active])
            noise = unit * stencil.rounding_gain / step[active]
        score = change + noise  # truncation left in the pair, plus the rounding that halving costs
        better = score < best_err[active]
        take = active[better]
        # a change within rounding noise says there was no truncation to remove: keep the best so far
        extrapolated = (gain * d_half[better] - prev[take]) / (gain - 1)
        out[take] = np.where(change[better] > noise[better], extrapolated, out[take])
        best_err[take] = score[better]
        # for the warning only: rounding of f at the perturbed points, which can be far above |f(x)|
        loud = np.maximum(noise, noise * (f_size / max(f_scale, 1e-300)))
        best_trunc[take] = np.where(change[better] > loud[better], change[better], 0.0)
        found = found or bool(np.any(change[better] > loud[better]))
        prev[active] = d_half
        truncated = change > noise
        wild = ~better & (change > nm.REFINE_GROWTH_MARGIN * loud)  # grew far above rounding: go on
        growing[active] = wild
        keep = (better & truncated) | wild
        if waiting.size and truncated.any():
            rest = nm.worst_first(waiting, waiting_key, nm.REFINE_SAMPLE)
            active = np.concatenate([active[keep], rest])
            waiting = waiting[:0]
        else:
            active = active[keep]
    # still growing when the halvings ran out: the best pair so far may be aliasing's coincidence
    unsettled = active[growing[active]]
    best_trunc[unsettled] = np.maximum(best_trunc[unsettled], np.abs(prev[unsettled] - out[unsettled]))
    coarse = best_trunc > nm.UNRESOLVED_FRACTION * float(np.max(np.abs(out)))  # normwise, as ACCURACY
    unresolved, spent = _relative_retry(p, x0, f0, out, np.flatnonzero(coarse))
    sanity.warn_if_unresolved(p, unresolved, "halving the step did not settle the difference quotient")
    return out, extra + spent, found or bool(spent), head


def _rounding_unit(p: Problem, f_scale: float) -> tuple[float, int]:
    """The size of f's rounding below which a change between steps is noise, and the evaluations spent:
    ``REFINE_NOISE·eps·|f|`` (the ulp model), or in float32 ``REFINE_NOISE_SIGMAS`` standard deviations of
    f's noise measured by ECnoise where it can be measured (see numerics)."""
    model = nm.REFINE_NOISE[nm.precision(p.work_dtype)] * nm.eps(p.work_dtype) * max(f_scale, 1e-300)
    if nm.precision(p.work_dtype) != "float32":
        return model, 0
    sigma, spent = noise_level(p)
    level = float(np.max(sigma, initial=0.0))
    return (nm.REFINE_NOISE_SIGMAS * level if level > 0 else model), spent


def _relative_retry(
    p: Problem, x0: NDArray[np.float64], f0: Any, out: NDArray[np.float64], idx: NDArray[np.intp]
) -> tuple[NDArray[np.intp], int]:
    """Coordinates that did not settle and lie within (0, 1) in size: f may vary on the scale of x_i itself
    (x ~ 1e-8). Retry at steps relative to |x_i| (``base·|x_i|`` and half of it, Richardson); a pair that
    agrees replaces `out` in place. Returns the coordinates still unresolved and the evaluations spent."""
    small = idx[nm.below_unit(x0[idx])]
    if small.size == 0:
        return idx, 0
    order = nm.STENCILS[p.method].order
    h = nm.relative_steps(x0[small], p.method, p.work_dtype)
    try:
        d1, s1 = _stencil_at(p, x0, f0, small, h)
        d2, s2 = _stencil_at(p, x0, f0, small, h / 2)
    except FloatingPointError:  # the retry left f's domain: the coordinates stay flagged
        return idx, 0
    value = (2**order * d2 - d1) / (2**order - 1)
    settled = np.abs(d2 - d1) <= nm.UNRESOLVED_FRACTION * np.abs(value)
    out[small[settled]] = value[settled]
    return np.setdiff1d(idx, small[settled]), s1 + s2


# The probe's steps each local batched f chose at its last calls, whether the truncation test halved
# them, and the coordinates the refinement measured first (None: none), by (f, caller, x's shape and
# dtype): at most nm.LAST_STEPS_KEPT, the oldest dropped first
_LAST_STEPS: dict[tuple[Any, ...], tuple[NDArray[np.float64], bool, NDArray[np.intp] | None]] = {}


@dataclass(frozen=True)
class _Refined:
    """f at the refinement's first points (x ± h/2 at `coords`, :func:`_stencil_points`), evaluated with
    the pass's: they count where the refinement's first suspects are these coordinates at these steps."""

    coords: NDArray[np.intp]
    steps: NDArray[np.float64]  # h/2 at coords
    tiled: NDArray[np.intp]  # the coordinate of each point (offset-major)
    values: NDArray[Any]


@dataclass(frozen=True)
class _Joined:
    """f at the probe's points and, in the same call, at the pass's (and the truncation test's) points for
    the steps the same f chose at its last call at x's shape; the pass's values count where the probe
    chooses those steps again, and the test decides as it did (else they are spent for nothing)."""

    probe: Probe
    steps: NDArray[np.float64]  # the probe's steps the points were built for
    halved: bool  # ... and whether the pass is at half of them (the test halved them last time)
    points: NDArray[Any]  # the pass's points, offset-major (x + h, then x − h)
    passed: NDArray[Any]  # f at them
    test: NDArray[Any] | None  # f at the test's points at `steps`, (3·k,), where the test applies
    refined: _Refined | None  # the refinement's first points at the last call's first suspects
    nfev: int  # the pass's, the test's and the refinement's evaluations (the probe's are its own)


def _last_key(p: Problem) -> tuple[Any, ...] | None:
    """The key of this problem's last steps, where the probe's rows fit the pass's first call of f."""
    if p.method != "central" or p.out_shape is not None or p.grid is not None:
        return None
    if not joined_fits(p, nm.PROBE_DIRECTIONS + 2):  # the probe's rows, at most
        return None
    return (id(p.f), p.func, p.x.shape, p.x.dtype.str)


def _joined(
    p: Problem, x0: NDArray[np.float64], length: NDArray[np.float64], key: tuple[Any, ...]
) -> _Joined | None:
    """The probe, pass, truncation test and the refinement's first halving in one call of f, at the steps
    and suspects of this f's last call (`length`: x's length scales)."""
    last = _LAST_STEPS.get(key)
    if last is None:
        return None
    steps, halved, head = last
    n, moved = p.n, nm.STENCILS["central"].moved
    rows = nm.probe_points(x0, p.x.dtype, length)
    at_pass = steps / 2 if halved else steps
    points = _pass_points(p, x0, at_pass, moved)
    parts, where = [points], [nm.coordinates(n, len(moved))]
    applies = _truncation_test_applies(p)
    if applies:  # kept: x ± h are the pass's own points, only x + 2h is the test's
        skip = 0 if halved else 2 * nm.TRUNCATION_SAMPLE
        parts.append(_test_points(p, x0, steps)[skip:])
        where.append(nm.truncation_coordinates(n)[skip:])
    if head is not None:  # the refinement's first halving at the last call's first suspects
        half = at_pass[head] / 2
        refine_at, refine_coords = _stencil_points(p, x0, head, half)
        parts.append(refine_at)
        where.append(refine_coords)
    values = np.concatenate(parts) if len(parts) > 1 else points
    coords = np.concatenate(where) if len(where) > 1 else where[0]
    at_probe, vals, dtype = evaluate_joined(p, rows, values, coords)
    refined = None if head is None else (head, half, refine_coords)
    return _joined_record(p, steps, halved, points, at_probe, vals, dtype, refined)


def _joined_record(
    p: Problem,
    steps: NDArray[np.float64],
    halved: bool,
    points: NDArray[Any],
    at_probe: NDArray[Any],
    vals: NDArray[Any],
    dtype: np.dtype[Any],
    refined: tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.intp]] | None = None,
) -> _Joined:
    """:func:`_joined`'s record of f's values: `at_probe` at the probe's rows, `vals` at the pass's points
    (`points`, at `steps` or half of them where `halved`), then the truncation test's x + 2h where the test
    applies, then the refinement's first points (`refined`: their coordinates, steps and the coordinate of
    each point); `dtype`: what f returned (:func:`~numgrad.differences.engine.evaluate_joined`)."""
    n = p.n
    passed, test, first = vals[: 2 * n], None, None
    tested_to = 2 * n
    if _truncation_test_applies(p):
        tested_to += nm.TRUNCATION_SAMPLE * (len(nm.TRUNCATION_OFFSETS) if halved else 1)
        sample = nm.truncation_sample(n)
        own = vals[2 * n : tested_to]
        test = own if halved else np.concatenate([passed[sample], passed[n + sample], own])
    if refined is not None:
        first = _Refined(*refined, vals[tested_to:])
    probed = Probe(at_probe, coarser_values(p, dtype, at_probe[1:]), len(at_probe))
    return _Joined(probed, steps, halved, points, passed, test, first, len(vals))


def kept_pass(
    p: Problem,
) -> tuple[tuple[Any, ...], NDArray[np.float64], NDArray[np.intp] | None] | None:
    """Where this f's last call at x's shape kept the steps it chose (the truncation test did not halve
    them): the key they are remembered by, the steps and the coordinates its refinement measured first
    (None: none), which :mod:`numgrad.differences.repeated` builds its stack for, as :func:`_joined`
    would; else None."""
    key = _last_key(p)
    last = None if key is None else _LAST_STEPS.get(key)
    if key is None or last is None or last[1]:
        return None
    return key, last[0], last[2]


def joined_pass(
    p: Problem,
    steps: NDArray[np.float64],
    points: NDArray[Any],
    raw: NDArray[Any],
    refined: tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.intp]] | None = None,
) -> _Joined:
    """:func:`_joined`'s record for kept steps (:func:`kept_pass`), from f's values `raw` at the probe's
    rows, the pass's `points`, the truncation test's x + 2h and the refinement's first points, in that
    order (as :func:`~numgrad.differences.engine.evaluate_stack` returns them): to hand to
    :func:`difference`."""
    m = nm.probe_size(p.n)
    vals = raw.astype(p.value_dtype, copy=False)
    return _joined_record(p, steps, False, points, vals[:m], vals[m:], raw.dtype, refined)


def _remember(
    key: tuple[Any, ...], steps: NDArray[np.float64], halved: bool, head: NDArray[np.intp] | None
) -> None:
    if key not in _LAST_STEPS and len(_LAST_STEPS) >= nm.LAST_STEPS_KEPT:
        _LAST_STEPS.pop(next(iter(_LAST_STEPS)), None)
    _LAST_STEPS[key] = (steps.copy(), halved, None if head is None else head.copy())


def weighted_quotient(
    stencil: nm.Stencil, by_offset: NDArray[Any], f0: Any, steps: NDArray[np.float64]
) -> NDArray[Any]:
    """The stencil's weighted sum of f's values over h: f at x + c·h is ``by_offset[moved.index(c)]``
    (shape (len(moved), n, *out)), f(x) is `f0` (where 0 is an offset)."""
    moved = stencil.moved
    total = sum(w * (f0 if c == 0 else by_offset[moved.index(c)])
                for c, w in zip(stencil.offsets, stencil.weights, strict=True))  # fmt: skip
    return total / steps.reshape(steps.size, *([1] * (by_offset.ndim - 2)))  # type: ignore[no-any-return]


def difference(  # noqa: PLR0912, PLR0915  (one pass, read top to bottom)
    p: Problem,
    h: object,
    *,
    refine: bool = True,
    chosen: tuple[NDArray[np.float64], float, float, float] | None = None,
    probed: Probe | None = None,
    joined: _Joined | None = None,
) -> Difference:
    """One finite-difference pass over every coordinate of x (``refine=False``: no re-measuring of short
    length scales; gradient checks re-measure only the elements that disagree).

    `chosen`: ``(h, f_scale, variation, f(x))`` of an earlier probe, re-used as the engine's own step
    (no probe is evaluated); gradient descent passes it while x and f stay at the probe's scale.
    `probed`: the pass's own :func:`probe`, evaluated already (a check learns f's precision from it
    before it picks the method); counted in the pass's nfev. `joined`: :func:`_joined`'s record, evaluated
    already (:func:`joined_pass`, by :mod:`numgrad.differences.repeated`): the pass goes on from it as from
    its own."""
    explicit, given = resolve_step(p, h)
    x0 = np.ravel(p.x).astype(np.float64)
    f0: Any = None
    known: tuple[NDArray[np.intp], NDArray[Any]] | None = None  # the truncation test's points, re-used
    ready: _Joined | None = None  # the pass's points and f at them, evaluated with the probe's
    key: tuple[Any, ...] | None = None  # where this f's steps are remembered for its next call
    if explicit is not None:
        steps, f_scale, g_scale, nfev = explicit, 0.0, 0.0, 0
    elif chosen is not None:
        (steps, f_scale, g_scale, f0), nfev = chosen, 0
    else:
        key = _last_key(p) if refine and probed is None else None
        length = None if key is None else nm.length_scales(x0)  # the probe's, once for both
        if joined is None and key is not None and length is not None:
            joined = _joined(p, x0, length, key)
        probed = probed if joined is None else joined.probe
        steps, f_scale, g_scale, f0, nfev, p = _steps(p, x0, probed, length)
        chose, halved = steps, False
        if joined is not None:  # evaluated for the last call's steps: they count where they are these
            nfev += joined.nfev
            joined = joined if p.grid is None and np.array_equal(steps, joined.steps) else None
        if refine and p.method == "central" and _truncation_test_applies(p):
            tested = None if joined is None else joined.test
            steps, spent, known = _halve_if_truncated(p, x0, steps, f_scale, f0, tested)
            halved, nfev = steps is not chose, nfev + spent
        if joined is not None and halved == joined.halved:
            ready = joined
    n = p.n
    if p.method == "complex":
        coords = nm.coordinates(n, 1)
        values = (x0 + 1j * steps).astype(p.point_dtype)
        vals = evaluate(p, values, coords)
        _check_finite(p, vals, coords, "x + i·h")
        deriv = np.imag(vals) / steps.reshape(n, *([1] * (vals.ndim - 1)))
        return Difference(deriv, steps, f_scale, g_scale, nfev + n)
    stencil = nm.STENCILS[p.method]
    moved = stencil.moved
    truncation: bool | None = None
    coords = nm.coordinates(n, len(moved))
    values = _pass_points(p, x0, steps, moved) if ready is None else ready.points
    sanity.explicit_step_moves(p, x0, values, moved, steps, given=given)
    if ready is None:
        vals = _evaluate_unless_known(p, values, coords, known)
        nfev += len(coords) - (0 if known is None else known[1].size)
    else:
        vals = ready.passed
    if not np.isfinite(vals).all():
        if not given:  # a chosen step that left f's domain (log of a tiny probability) is shrunk
            steps, values, vals, extra = _shrink_out_of_domain(p, x0, steps, moved, values, vals)
            nfev += extra
        _check_finite(p, vals, coords, "x ± h")
    if 0 in stencil.offsets and f0 is None:
        f0 = evaluate_points(p, on_grid(p, x0[None].astype(p.x.dtype)))[0]
        _check_finite(p, f0[None], None, "x")
        nfev += 1
    shape = (n, *([1] * (vals.ndim - 1)))
    by_offset = vals.reshape(len(moved), n, *vals.shape[1:])
    if given or len(stencil.offsets) != 2:
        deriv = weighted_quotient(stencil, by_offset, f0, steps)
    else:  # two-point stencil at a chosen step: divide by the representable displacement
        centre = x0 if p.grid is None else on_grid(p, x0).astype(np.float64)  # f(x) is f at this point
        disp = values.astype(np.float64, copy=False).reshape(len(moved), n) - centre
        a, b = stencil.offsets
        rise = (by_offset[moved.index(a)] if a else f0) - (by_offset[moved.index(b)] if b else f0)
        run = (disp[moved.index(a)] if a else 0.0) - (disp[moved.index(b)] if b else 0.0)
        deriv = rise / np.reshape(run, shape)
    if refine and moved[:2] == (1, -1) and not given and p.out_shape is None:
        second = (by_offset[0] - f0) + (by_offset[1] - f0)  # no overflow for f near float64's range
        first = None if ready is None else ready.refined
        try:
            deriv, extra, truncation, head = _refine(p, x0, steps, deriv, second, f0, f_scale, vals, first)
        except Float32Input as found:  # f casts x to float32: the pass again, on float32's grid
            return on_float32_input(p, h, refine, nfev + found.spent)
        nfev += extra
        if key is not None and p.grid is None:
            _remember(key, chose, halved, head)
    elif refine and moved[:2] == (1, -1) and not given and 0 not in stencil.offsets and f0 is not None:
        second = (by_offset[0] - f0) + (by_offset[1] - f0)  # an array-valued f: its Jacobian's rows
        deriv, extra = refine_outputs(
            p, x0, steps, deriv, second, lambda: _rounding_unit(p, f_scale),
            lambda c, s: _stencil_points(p, x0, c, s),
        )  # fmt: skip
        nfev += extra
    if not np.isfinite(deriv).all():
        _check_finite(p, deriv, np.arange(n), "the difference quotient")
    kept = vals.reshape(len(moved), n) if p.out_shape is None else None  # float64: real methods
    base = float(np.real(f0)) if p.out_shape is None and f0 is not None else None
    derivative = np.asarray(deriv, dtype=np.float64)
    return Difference(derivative, steps, f_scale, g_scale, nfev, kept, base, truncation, p.grid)


class Float32Input(Exception):  # noqa: N818  (a hand-over, not an error)
    """Raised by :func:`_refine` where f casts its float64 input to float32
    (:func:`~numgrad.differences.engine.float32_input`); `spent`: the evaluations that found it."""

    def __init__(self, spent: int) -> None:
        super().__init__(spent)
        self.spent = spent


def on_float32_input(p: Problem, h: object, refine: bool, spent: int) -> Difference:
    """The pass of :func:`difference` from the start on float32's grid (steps, points and rounding), for
    an f that casts its float64 input to float32; `spent`: the evaluations of the pass that found it."""
    again = difference(replace(p, grid=np.dtype(np.float32)), h, refine=refine)
    return replace(again, nfev=again.nfev + spent)


def difference_with_error(p: Problem, h: object) -> tuple[Difference, NDArray[np.float64]]:
    """A pass plus an a-posteriori error estimate per coordinate, from a second pass at half the step
    (half, so that no point leaves f's domain that the first pass stayed in).

    Truncation at h: ``|D(h) − D(h/2)|·2**p / (2**p − 1)``; rounding: ``Σ|w|·eps·|f| / h``. It estimates
    the pass at h before refinement, so it bounds the refined coordinates from above.
    """
    first = difference(p, h)
    if p.method == "complex":
        err = nm.eps(p.x.dtype) * np.abs(first.derivative) * nm.COMPLEX_ERROR_ULPS
        return first, err.reshape(p.n, -1).max(axis=1)
    if first.grid is not None:
        p = replace(p, grid=first.grid)
    second = difference(p, (first.h / 2).reshape(p.x.shape))
    stencil = nm.STENCILS[p.method]
    truncation = np.abs(first.derivative - second.derivative).reshape(p.n, -1).max(axis=1)
    truncation *= 2**stencil.order / (2**stencil.order - 1)
    f_scale = first.f_scale or float(np.max(np.abs(evaluate_points(p, p.x.reshape(1, -1).copy()))))
    rounding = stencil.rounding_gain * nm.eps(p.work_dtype) * f_scale / first.h
    both = Difference(
        first.derivative, first.h, first.f_scale, first.g_scale, first.nfev + second.nfev, grid=first.grid
    )
    return both, truncation + rounding

"""The small-problem path of the engine: central differences on a float64 array of a few elements.

On the book's ``x0² + x1²`` the general engine spends most of a call in NumPy operations on arrays of two
or four numbers (validation, probe, assembly, refinement test). This path does the same arithmetic on
Python floats, in the same order, so it returns bitwise the same gradient as the general path — the steps
are the probe's of :mod:`numgrad.common.numerics` — at a fraction of the fixed cost.

The automatic step, for x of at most PROBE_DIRECTIONS elements, is chosen without the probe's own points
where that settles it: f at x and at x ± the plain rule's steps (``base·L_i``, where the probe's steps are
on most of the book's problems) give the probe's ratio ``|f| / variation`` from central slopes and the
second difference along x_0; where every ratio within SMALL_PROBE_RATIO_MARGIN of that estimate rounds to
the same powers of two, and one rounding unit of f moves neither estimate by more than
1/SMALL_PROBE_NOISE_MARGIN, those are the steps (a coordinate whose step is not the plain rule's is then
evaluated at its own); elsewhere the probe's points are evaluated and decide, as in the general path. On
x0² + x1² at (3, 4) that is 5 evaluations instead of 8, with the probe's steps. The estimate and the probe
measure slopes at different distances from x, so where f is not smooth at the scale of the step (a kink
within it) their steps can differ: both are then steps of the engine's rule for what it measured, and the
gradients agree within the engine's error estimate (tests/differences/test_small.py).

It handles the common case only. Anything else (a result that is not a real scalar, a non-finite value, a
coordinate the refinement test flags) hands the problem back to the general path, which evaluates it again
from the start and raises or refines as it always does; such a call evaluates f twice.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from math import frexp, ldexp
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from numgrad.common import numerics as nm
from numgrad.common.guard import mutation_error, unchanged

Doubles = Any  # x's memoryview, format "d": Python floats in and out (typeshed's items are int)
_FLOAT64 = np.dtype(np.float64)
_NDARRAY = np.ndarray
_FAST = (float, np.float64, np.float32)
_PLAIN = frozenset(_FAST)  # results taken as floats without further checks
# The stages of gradient()'s loop (see its docstring)
_DIFFERENCES, _PLAIN_RULE, _PROBE, _CHANGED = "differences", "plain rule", "probe", "changed"
_PROBING = frozenset((_PLAIN_RULE, _PROBE))  # f raising there was "at a probe point near x"
_PLAIN_PROBE = frozenset((float, np.float64))  # ... in the probe, where a float32 f hands over
_PROBE_DIRECTIONS = nm.PROBE_DIRECTIONS  # x of at most this many elements: the probe's rows move one each
_RATIO_MARGIN = nm.SMALL_PROBE_RATIO_MARGIN
_CENTRAL = nm.STENCILS["central"]
# truncation_suspects' threshold for central float64, as it computes it: goal / const
_REFINE_GOAL = nm.REFINE_FRACTION["float64"] * nm.accuracy("central", np.float64)
_PROBE_SCALE = nm.probe_scale(np.float64)
_HALF_SQRT2 = math.sqrt(2.0) / 2
_NEAR_HALF_SQRT2 = 1e-12 / 2  # within a few ulps of the rounding boundary NumPy decides
_EPS = nm.eps(np.float64)
_BASE_STEP = nm.base_step("central", np.float64)
_SMALL_N = nm.SMALL_N
_TRUNCATION_CONST = _CENTRAL.truncation_const
_STEP_CONST, _STEP_POWER = _CENTRAL.step_const, 1.0 / (_CENTRAL.order + 1)
_REFINE_SAMPLE, _MAX_REFINE_HALVINGS = nm.REFINE_SAMPLE, nm.MAX_REFINE_HALVINGS
_GAIN = 2.0**_CENTRAL.order  # Richardson: (gain·D(h/2) − D(h)) / (gain − 1)
_NOISE_UNIT = nm.REFINE_NOISE["float64"] * _CENTRAL.rounding_gain * nm.eps(np.float64)  # × max(|f|, 1e-300)
_UNRESOLVED_FRACTION = nm.UNRESOLVED_FRACTION
_GROWTH_MARGIN = nm.REFINE_GROWTH_MARGIN
_ROUNDED_AWAY = nm.EXPLICIT_STEP_WARN  # x + h that rounds h by more than this share: the engine warns
# below h = max|x|·_ROUNDING_BOUND, x ± h is within a quarter of that share of h (it rounds by ≤ eps·|x + h|)
_ROUNDING_BOUND = 4 * nm.eps(np.float64) / nm.EXPLICIT_STEP_WARN
_CURVATURE_WEIGHT = nm.CURVATURE_WEIGHT
_MAX_RELATIVE_STEP = nm.MAX_RELATIVE_STEP
_FLOAT32_INPUT_MARGIN = nm.FLOAT32_INPUT_MARGIN * nm.eps(np.float64)  # × max(|f|, |f(x)|)
# The variation scale above which the estimate is trusted, per unit of |f| and for n = 0..4: the noise
# margin times what one rounding unit of f moves the probe's slope scale (a forward difference over
# s·sqrt(n)·L) or its weighted curvature (a second difference over s·sqrt(n)·L), whichever is larger
_TRUSTED = tuple(
    nm.SMALL_PROBE_NOISE_MARGIN
    * _EPS
    * max(1 / (_PROBE_SCALE * math.sqrt(n)), 2 * _CURVATURE_WEIGHT / (n * _PROBE_SCALE**2))
    if n
    else math.inf
    for n in range(nm.PROBE_DIRECTIONS + 1)
)


def _error_state_switch() -> tuple[Callable[[], Any], Callable[[Any], None]]:
    """``(ignore, restore)``: ``token = ignore()`` makes floating-point errors silent, as
    ``np.errstate(all="ignore")`` does, until ``restore(token)``.

    np.errstate costs about 1.5 µs to build, enter and leave: half of the book's whole loop on x0² + x1².
    NumPy 2 keeps the error state in a context variable; setting it to a prepared value and resetting it is
    the same state change at a fraction of the cost. Other NumPy versions use np.errstate itself.
    """
    try:
        from numpy._core._ufunc_config import _extobj_contextvar  # type: ignore[attr-defined]
        from numpy._core.umath import _make_extobj

        quiet = _make_extobj(all="ignore")
    except (ImportError, AttributeError, TypeError):

        def ignore() -> Any:
            state = np.errstate(all="ignore")
            state.__enter__()
            return state

        return ignore, lambda state: state.__exit__(None, None, None)
    return functools.partial(_extobj_contextvar.set, quiet), _extobj_contextvar.reset


ignore_errors, restore_errors = _error_state_switch()


class Fallback(Exception):  # noqa: N818  (a hand-over, not an error)
    """The small path cannot finish this problem; the general path takes it from the start."""


class SmallSteps(NamedTuple):
    """The steps one pass chose, with what its probe measured (gradient descent re-uses them)."""

    h: list[float]  # per coordinate, powers of two
    f_scale: float  # |f(x)| at the probe
    variation: float  # the probe's variation scale (see numerics.steps_from_probe)


def eligible(x: object, method: object, batched: object, chunk_size: object, executor: object) -> bool:
    """Whether the small path takes this call: element mode, central, float64, at most SMALL_N elements,
    a writable, aligned, C-contiguous array of the caller's (perturbed in place, as in the general path)."""
    return (
        type(x) is _NDARRAY
        and x.dtype is _FLOAT64  # NumPy's own float64 descriptor (an equal one elsewhere: the general path)
        and method == "central"
        and batched is False
        and chunk_size is None
        and executor is None
        and 0 < x.size <= _SMALL_N
        and x.flags.carray  # C-contiguous, aligned and writeable, as one flag
    )


def _real(out: Any, narrow: bool = True) -> float:
    """A result f returned, as a float; Fallback for anything the general path must judge, and (`narrow`
    False: in the probe) for one narrower than float64 (:func:`_narrow`)."""
    if not narrow and _narrow(out):
        raise Fallback
    if type(out) in _FAST:
        return float(out)
    a = np.asarray(out)
    if a.size != 1 or a.dtype.kind not in "fiu":
        raise Fallback
    return float(a.reshape(()))


def _note(exc: Exception, func: str, where: str) -> None:
    exc.add_note(f"{func}: raised by f at {where}")


def gradient(  # noqa: PLR0912, PLR0915  (one frame on purpose: see the comment below)
    func: str,
    f: Callable[..., Any],
    x: NDArray[np.float64],
    chosen: SmallSteps | None = None,
    f0: float | None = None,
    refine: bool = True,
) -> tuple[list[float], SmallSteps | None, int, bool | None]:
    """The central-difference gradient of f at x (a flat list), the steps used, the evaluations of f and
    what the refinement found (None: it did not run; False: no change beyond the rounding of f at the
    points it evaluated; True: truncation beyond it, see steps._refine). Flagged coordinates are refined
    as the engine refines them (``refine=False``: the refinement test is not run); one that does not
    settle hands the whole problem to the engine (Fallback), which retries it and warns.

    The steps are the engine's, from f at x and x ± the plain rule's steps (then the probe's points where
    that leaves the steps in doubt, and the points of any step that is not the plain rule's: see the
    module) or, when `chosen` is given, the steps of an earlier probe (`f0`, f(x), is then used for the
    refinement test; evaluated when not given); an explicit step is :func:`explicit_gradient`'s. The
    difference points are the general path's, ``x0 + h`` for every coordinate, then ``x0 − h``; for
    n > PROBE_DIRECTIONS (or a −0.0 in x) the probe's full rows come first, as there. Raises
    :class:`Fallback` (x restored) where the general path must take over.

    x is read and written through a flat memoryview (Python floats, no NumPy scalars): each call of f
    costs one comparison of the element it perturbed (after f: else f wrote into it) and one of the
    element about to be perturbed (before: else f wrote into it while another was perturbed, and putting
    it back would hide that); any other write is found by one comparison of x's bytes at the end.

    One frame, one loop over the points of each stage (f(x) with the plain rule's points, the probe's,
    the changed steps', or the difference points): CPython 3.11 runs a code object unspecialised until it
    has been entered or looped 8 times, so in a new interpreter the first calls of a pass split over
    helpers ran ~2× the time of later ones (benchmarks/bench_fresh.py; a helper for the estimate alone
    measured ~15% slower there); here the loop warms the frame within the first call.
    """
    mv: Doubles = memoryview(x) if x.ndim == 1 else memoryview(x).cast("B").cast("d")  # type: ignore[arg-type]
    before = mv.tobytes()
    x0: list[float] = mv.tolist()
    token = ignore_errors()  # non-finite values are reported by the engine, not as warnings
    try:
        if not math.isfinite(sum(x0)):  # a false alarm (a sum that overflows) only costs the hand-over
            raise Fallback  # the general path refuses a non-finite x with its own error
        n, nfev = len(x0), 0
        steps, stage = chosen, _DIFFERENCES
        deriv: list[float] | None = None  # the quotients, where a stage computed them at the final steps
        if steps is not None:
            hs = steps.h
        else:
            length, hs, plus, minus = [], [], [], []  # numerics.length_scales, the plain rule's steps
            for c in x0:  # and points x ± h (c − b is c + (−b), the general path's point, bit for bit)
                a = abs(c)
                if a > 1.0:
                    b = a * _BASE_STEP  # a power of two of base·L_i, as _steps rounds
                    mantissa, e = frexp(b)
                    if abs(mantissa - _HALF_SQRT2) < _NEAR_HALF_SQRT2:
                        b = _power_of_two(b)
                    else:
                        b = ldexp(1.0, e - 1 if mantissa < _HALF_SQRT2 else e)
                else:
                    a, b = 1.0, _UNIT_STEP
                length.append(a)
                hs.append(b)
                plus.append(c + b)
                minus.append(c - b)
            if n > _PROBE_DIRECTIONS or (0.0 in x0 and any(math.copysign(1.0, a) < 0 for a in x0 if a == 0)):
                # the probe's directions are not coordinate vectors, or c·0 + x_i is not x_i (a −0.0 in
                # x becomes 0.0): the probe's full rows, then the differences at its steps
                probed = _evaluate_probe(func, f, x, mv, x0, length)
                if _float32_numbers(probed[1:]):  # f computes in float32: as at the plain rule
                    raise Fallback
                nfev = len(probed)
                hs, variation = _probe_steps(func, probed, length)
                steps = tuple.__new__(SmallSteps, (hs, abs(probed[0]), variation))
                f0 = probed[0]
            else:  # f at x (element 0 set to its own value), then at x ± the plain rule's steps
                stage = _PLAIN_RULE
        if stage is _PLAIN_RULE:
            coords, points = _with_x(n), [x0[0]] + plus + minus  # noqa: RUF005  (cheaper than *)
        else:
            coords, points = _twice(n), _points(x0, hs)
        j, c = -1, 0.0
        while True:
            vals: list[float] = []
            append, fast = vals.append, _PLAIN_PROBE if stage in _PROBING else _PLAIN
            try:
                for j, v in zip(coords, points):  # noqa: B905  (equal lengths; strict costs)
                    c = x0[j]
                    if mv[j] != c:
                        raise mutation_error(func, "f", "x", x.shape, j, c, mv[j])
                    mv[j] = v
                    out = f(x)
                    if mv[j] != v:
                        raise mutation_error(func, "f", "x", x.shape, j, v, mv[j])
                    append(float(out) if type(out) in fast else _real(out, fast is _PLAIN))  # (a view of x?)
                    mv[j] = c
            except BaseException as exc:
                if j >= 0:
                    mv[j] = c
                if isinstance(exc, Exception) and not isinstance(exc, Fallback):
                    where = (
                        "a probe point near x"
                        if stage in _PROBING
                        else f"x perturbed at index {_index(x, j)}"
                    )
                    _note(exc, func, where)
                raise
            nfev += len(vals)
            if stage is _DIFFERENCES:
                break
            if stage is _PLAIN_RULE:  # f at x and x ± the plain rule's steps: the probe's ratio estimated
                f0 = at_x = vals[0]
                vals = at_plain = vals[1:]
                if not math.isfinite(f0):  # f(x) itself: the engine's error, as at the probe
                    raise FloatingPointError(
                        f"{func}: f returned a non-finite value ({f0}) at x; the derivative there is "
                        f"undefined. Pass a smaller h or check f's domain"
                    )
                if _float32_numbers(vals):  # f computes in float32 and returns floats: the general
                    raise Fallback  # path's probe says so, and takes float32's steps
                # the probe's ratio |f| / variation (numerics.steps_from_probe), estimated from central
                # slopes (RMS of g_i·L_i) and the weighted second difference along x_0 (f''·L_0²)
                deriv, slope, rms = [], [], 0.0
                for i in range(n):
                    c = x0[i]
                    d = (vals[i] - vals[n + i]) / ((plus[i] - c) - (minus[i] - c))
                    deriv.append(d)
                    slope.append(abs(d))
                    d *= length[i]
                    rms += d * d
                if not math.isfinite(rms):  # f not finite at a point (every value is in a quotient):
                    raise Fallback  # the general path shrinks the step out of f's domain
                rms = math.sqrt(rms / n)
                bend = abs((vals[0] + vals[n]) / 2 - at_x)
                d = length[0] / hs[0]
                curve = _CURVATURE_WEIGHT * (2 * bend * (d * d))
                variation, f_scale = (curve if curve > rms else rms), abs(at_x)
                size = abs(vals[0]) if abs(vals[0]) > f_scale else f_scale  # |f| here, for its rounding
                # its steps where every ratio within SMALL_PROBE_RATIO_MARGIN of it gives the same
                # powers of two (the steps are monotone in the ratio: its ends decide), and where one
                # rounding unit of f moves neither this estimate nor the probe's by more than
                # 1/SMALL_PROBE_NOISE_MARGIN of it; else (moved None) the probe's points decide
                moved: list[int] | None = [] if variation > _TRUSTED[n] * size else None
                wide = _STEP_CONST * f_scale / (variation if moved is not None else 1.0)
                low, high = (wide / _RATIO_MARGIN) ** _STEP_POWER, (wide * _RATIO_MARGIN) ** _STEP_POWER
                chosen_h, base = hs, _BASE_STEP
                for i in range(n if moved is not None else 0):  # the step at a factor in [low, high]:
                    a = length[i]  # base·max(L_i, factor), at most cap·L_i, as a power of two; the plain
                    if not a < high:  # rule's, L_i·base, where L_i >= high
                        continue
                    cap = _MAX_RELATIVE_STEP * a
                    b_low, b_high = (a if a > low else low) * base, high * base
                    m_low, e_low = frexp(b_low if b_low < cap else cap)
                    m_high, e_high = frexp(b_high if b_high < cap else cap)
                    e_low -= m_low < _HALF_SQRT2
                    if (
                        e_low != e_high - (m_high < _HALF_SQRT2)
                        or abs(m_low - _HALF_SQRT2) <= _NEAR_HALF_SQRT2
                        or abs(m_high - _HALF_SQRT2) <= _NEAR_HALF_SQRT2
                    ):  # a power of two between them (or NumPy's rounding to ask)
                        moved = None
                        break
                    b = ldexp(1.0, e_low)
                    if b != hs[i]:
                        chosen_h = list(chosen_h) if chosen_h is hs else chosen_h
                        chosen_h[i] = b
                        moved.append(i)  # type: ignore[union-attr]
                if moved is None:  # the steps in doubt: the probe's points decide
                    sparse = _sparse_directions(n)  # numerics.probe_points: one coordinate moved per row
                    stage, coords = _PROBE, sparse[0]  # type: ignore[index]
                    s, points = _PROBE_SCALE, []
                    for i, d in zip(*sparse):  # type: ignore[misc]  # noqa: B905  (rows after x: (s·L_i)·z_i + x_i)
                        points.append(s * length[i] * d + x0[i])
                    continue
            elif stage is _PROBE:
                chosen_h, variation = _probe_steps(func, [at_x, *vals], length)
                moved = [i for i in range(n) if chosen_h[i] != hs[i]]
            else:  # _CHANGED: the coordinates whose step is not the plain rule's, at their steps
                got, vals, k = vals, at_plain, len(coords) // 2
                for i, a, b in zip(coords, got[:k], got[k:]):  # noqa: B905
                    vals[i], vals[n + i] = a, b
                hs, points, deriv = chosen_h, _points(x0, chosen_h), None
                break
            steps = tuple.__new__(SmallSteps, (chosen_h, abs(at_x), variation))  # NamedTuple's __new__
            if not moved:  # the plain rule's steps: the differences are those already evaluated
                vals = at_plain
                break
            stage, coords = _CHANGED, (*moved, *moved)
            points = [x0[i] + chosen_h[i] for i in moved] + [x0[i] - chosen_h[i] for i in moved]
        if deriv is None:
            deriv, slope = [], []
            for i, c in enumerate(x0):  # (f(x+h) − f(x−h)) / ((x+h) − (x−h)), the displacements as
                d = (vals[i] - vals[n + i]) / ((points[i] - c) - (points[n + i] - c))  # represented
                deriv.append(d)
                slope.append(abs(d))
            if not math.isfinite(sum(slope)):  # also where f was not finite: a step out of f's domain
                raise Fallback  # is shrunk by the general path (the estimate's quotients: finite)
        if not refine:
            return deriv, steps, nfev, None
        if f0 is None:
            f0 = _value(func, f, x)
            nfev += 1
        threshold, twice = _REFINE_GOAL * max(slope) / _TRUNCATION_CONST, 2 * f0  # as _suspects tests
        for j, g in enumerate(slope):
            bend = (vals[j] + vals[n + j] - twice) / hs[j]
            if bend * bend > g * threshold and g > 0:
                break
        else:  # no coordinate flagged
            return deriv, steps, nfev, None
        flagged = _suspects(slope, vals, hs, f0)
        size = max(map(abs, vals))  # steps._refine's f_size: the rounding of f at the points, for its verdict
        deriv, extra, found = _refined(func, f, x, mv, x0, hs, deriv, flagged, f0, steps.f_scale, size)  # type: ignore[union-attr]
        if not all(map(math.isfinite, deriv)):
            raise Fallback
        return deriv, steps, nfev + extra, found
    except (OverflowError, ZeroDivisionError):  # scales beyond floats: the general path works in logs
        raise Fallback from None
    finally:
        restore_errors(token)
        try:
            if mv.tobytes() != before:  # f wrote into x beside the perturbed element: restore, say so
                _restore(func, x, mv, before, sys.exc_info()[1])
        finally:
            mv.release()


def _float32_numbers(vals: list[float]) -> bool:
    """engine.on_float32_grid on Python floats: every value exactly a float32 (24 significant bits, in
    float32's normal range) and not all equal. A float64 f's first value almost surely is not: one test."""
    first, varied = vals[0], False
    for v in vals:
        m, e = frexp(v)
        if e < -125 or e > 128 or ldexp(m, 24) % 1.0:  # nan and inf: nan % 1.0 is nan, true
            return False
        varied = varied or v != first
    return varied


def flat_view(x: NDArray[np.float64]) -> Doubles:
    """x's elements as a flat memoryview of Python floats (x: C-contiguous float64, as :func:`eligible`)."""
    return memoryview(x) if x.ndim == 1 else memoryview(x).cast("B").cast("d")  # type: ignore[arg-type]


def explicit_gradient(func: str, f: Callable[..., Any], x: NDArray[np.float64], h: float) -> list[float]:
    """:func:`gradient` at an explicit step h: the same points, checks, quotients and hand-overs, through
    :func:`explicit_pass`, whose loops quicken it within the first two calls. (In a new interpreter
    :func:`gradient`'s large frame, some 1,400 instructions, is quickened and specialised over its first
    calls at a cost above the pass itself: at (3, 4) the median of calls 2–6 was 1.6–1.75× the book's
    loop through it, 1.4–1.45× here; benchmarks/bench_fresh.py --rows small.)"""
    mv = flat_view(x)
    x0: list[float] = mv.tolist()
    token = ignore_errors()  # non-finite values are reported by the engine, not as warnings
    try:
        if not math.isfinite(sum(x0)):  # a false alarm (a sum that overflows) only costs the hand-over
            raise Fallback  # the general path refuses a non-finite x with its own error
        return explicit_pass(func, f, x, mv, x0, h)
    except (OverflowError, ZeroDivisionError):  # scales beyond floats: the general path works in logs
        raise Fallback from None
    finally:
        restore_errors(token)
        mv.release()


def explicit_pass(
    func: str, f: Callable[..., Any], x: NDArray[np.float64], mv: Doubles, x0: list[float], h: float
) -> list[float]:
    """:func:`gradient` at an explicit step h, for a caller that holds x's flat view `mv` and its elements
    `x0` (gradient descent's working point across calls; :func:`explicit_gradient`), with floating-point
    errors already silenced: the same points, checks and quotients, without the per-call setup. Raises
    :class:`Fallback` (x restored) where the general path must take over, FloatingPointError where f is
    not finite at x ± h. The guarded loop is :func:`_evaluate`'s, inline: a frame entered once a call
    runs unspecialised for its first 8 calls, one that loops is quickened within the first two."""
    if max(map(abs, x0)) * _ROUNDING_BOUND >= h and any(abs((c + h - c) - h) > _ROUNDED_AWAY * h for c in x0):
        raise Fallback  # x + h rounds h away or by much: the general path says so
    n, before, plus, minus = len(x0), mv.tobytes(), [], []
    for c in x0:  # the difference points, x0 + h for every coordinate, then x0 − h (as _points)
        plus.append(c + h)
        minus.append(c - h)
    vals: list[float] = []
    append, fast = vals.append, _FAST
    j, c = -1, 0.0
    try:
        try:
            for j, v in zip(_twice(n), plus + minus):  # noqa: B905  (equal lengths; strict costs)
                c = x0[j]
                if mv[j] != c:
                    raise mutation_error(func, "f", "x", x.shape, j, c, mv[j])
                mv[j] = v
                out = f(x)
                if mv[j] != v:
                    raise mutation_error(func, "f", "x", x.shape, j, v, mv[j])
                append(float(out) if type(out) in fast else _real(out))  # before x is put back: a view
                mv[j] = c
        except BaseException as exc:
            if j >= 0:
                mv[j] = c
            if isinstance(exc, Exception) and not isinstance(exc, Fallback):
                _note(exc, func, f"x perturbed at index {_index(x, j)}")
            raise
        if not math.isfinite(sum(vals)):
            raise _explicit_non_finite(func, x, vals)
        quotients = []
        for i in range(n):
            quotients.append((0.5 * vals[i] + -0.5 * vals[n + i]) / h)
        return quotients
    finally:
        if mv.tobytes() != before:  # f wrote into x beside the perturbed element: restore, say so
            _restore(func, x, mv, before, sys.exc_info()[1])


def _steps(length: list[float], factor: float) -> list[float]:
    """numerics.steps_from_probe's steps for a step factor (numerics.step_factor, floored at 1): powers
    of two of ``base·max(L_i, factor)``, at most MAX_RELATIVE_STEP·L_i. Monotone in `factor`."""
    if not factor > 1.0:
        factor = 1.0
    base, cap = _BASE_STEP, _MAX_RELATIVE_STEP
    capped = factor * base > cap
    hs = []
    for a in length:
        b = (a if a > factor else factor) * base if factor > 1 else a * base
        if capped and not b < cap * a:
            b = cap * a
        # _power_of_two(b), inline: b = m·2**e, m in [0.5, 1); 2m against sqrt(2), halved (exact)
        mantissa, e = frexp(b)
        if -_NEAR_HALF_SQRT2 < mantissa - _HALF_SQRT2 < _NEAR_HALF_SQRT2:
            hs.append(_power_of_two(b))
        else:
            hs.append(ldexp(1.0, e - 1 if mantissa < _HALF_SQRT2 else e))
    return hs


def _probe_steps(func: str, vals: list[float], length: list[float]) -> tuple[list[float], float]:
    """numerics.steps_from_probe for a scalar f on floats, the same operations in the same order: the
    steps and the variation scale from f at the probe's points (x itself first)."""
    if not math.isfinite(vals[0]):  # f(x) itself: the engine's error, at the first call as there
        raise FloatingPointError(
            f"{func}: f returned a non-finite value ({vals[0]}) at x; the derivative there is "
            f"undefined. Pass a smaller h or check f's domain"
        )
    if not math.isfinite(sum(vals)):
        raise Fallback
    s, m, n = _PROBE_SCALE, len(vals) - 2, len(length)
    f0 = vals[0]
    first, mirror = vals[1], vals[m + 1]
    rises = 0.0  # sum() of these squares, as steps_from_probe adds them
    for a in vals[2 : m + 1]:
        rises += (a - f0) ** 2
    diff_sq = ((first - mirror) / 2) ** 2 + rises
    sum_sq = ((first + mirror) / 2 - f0) ** 2
    rms_slope = math.sqrt(diff_sq / (m * n)) / s
    curve = 2 * math.sqrt(sum_sq) / (n * s * s)
    variation = max(rms_slope, _CURVATURE_WEIGHT * curve)
    ratio = abs(f0) / variation if variation > 0 else 0.0
    return _steps(length, (_STEP_CONST * ratio) ** _STEP_POWER), variation  # numerics.step_factor


def _explicit_non_finite(func: str, x: NDArray[np.float64], vals: list[float]) -> Exception:
    """The engine's error for a non-finite f at x ± h (a sum that only overflowed: the hand-over)."""
    bad = next((k for k, v in enumerate(vals) if not math.isfinite(v)), None)
    if bad is None:
        return Fallback()
    return FloatingPointError(
        f"{func}: f returned a non-finite value ({vals[bad]}) at x ± h at index "
        f"{_index(x, bad % (len(vals) // 2))}; the derivative there is undefined. Pass a smaller h or "
        f"check f's domain"
    )


def _restore(
    func: str, x: NDArray[np.float64], mv: Doubles, before: bytes, error: BaseException | None
) -> None:
    """x back to `before`, and what :class:`numgrad.common.guard.unchanged` says of the write (an error,
    or a note on f's own exception). A hand-over is left to go on: the general path evaluates f again and
    reaches its own verdict."""
    if isinstance(error, Fallback):
        mv[:] = memoryview(before).cast("d")
        return
    guard = unchanged(func, x)
    guard.saved = np.frombuffer(before, dtype=x.dtype).reshape(x.shape)
    guard.__exit__(type(error), error, None)


def _evaluate(
    func: str,
    f: Callable[..., Any],
    x: NDArray[np.float64],
    mv: Doubles,
    coords: tuple[int, ...] | list[int],
    points: list[float],
    x0: list[float],
    where: str | None = None,
) -> list[float]:
    """f with element ``j = coords[k]`` of x at ``points[k]``, in turn, each put back to ``x0[j]``.

    Two comparisons a call keep the contract: the perturbed element still holds its point after f (else f
    wrote into it), and the element about to be perturbed still holds its original (else f wrote into it
    while another was perturbed, and putting it back would hide that). Writes anywhere else stay in x and
    are found by :func:`gradient`'s comparison of x's bytes at the end.
    """
    vals: list[float] = []
    append, fast = vals.append, _FAST
    j, c = -1, 0.0
    try:
        for j, v in zip(coords, points, strict=False):  # equal lengths (strict costs)
            c = x0[j]
            if mv[j] != c:
                raise mutation_error(func, "f", "x", x.shape, j, c, mv[j])
            mv[j] = v
            out = f(x)
            if mv[j] != v:
                raise mutation_error(func, "f", "x", x.shape, j, v, mv[j])
            append(float(out) if type(out) in fast else _real(out))  # before x is put back (a view of x?)
            mv[j] = c
    except BaseException as exc:
        if j >= 0:
            mv[j] = c
        if isinstance(exc, Exception) and not isinstance(exc, Fallback):
            _note(exc, func, where or f"x perturbed at index {_index(x, j)}")
        raise
    return vals


def _evaluate_probe(
    func: str, f: Callable[..., Any], x: NDArray[np.float64], mv: Doubles, x0: list[float],
    length: list[float],
) -> list[float]:  # fmt: skip
    """f at x and at the probe's full rows ``c·z + x0`` (c = s·L, z the probe's directions)."""
    s = _PROBE_SCALE
    try:
        out = f(x)
        if _narrow(out):
            raise Fallback
        first = float(out) if type(out) in _FAST else _real(out)
        if mv.tolist() != x0:  # f wrote into x at x itself (the rows below overwrite every element)
            at = next(i for i, (a, b) in enumerate(zip(mv.tolist(), x0, strict=True)) if a != b)
            raise mutation_error(func, "f", "x", x.shape, at, x0[at], mv[at])
    except Exception as exc:
        if not isinstance(exc, Fallback):
            _note(exc, func, "a probe point near x")
        for i, v in enumerate(x0):
            mv[i] = v
        raise
    rows = [[s * a * d + e for a, d, e in zip(length, z, x0, strict=True)] for z in _directions(len(x0))[1:]]
    return [first, *_at_rows(func, f, x, mv, x0, rows)]


def _at_rows(
    func: str, f: Callable[..., Any], x: NDArray[np.float64], mv: Doubles, x0: list[float],
    rows: list[list[float]],
) -> list[float]:  # fmt: skip
    """f at full rows (every element of x written through `mv`), x put back to `x0` after, also where f
    raised or wrote into x (said as a MutatedArgumentError)."""
    vals = []
    try:
        for row in rows:
            for i, v in enumerate(row):
                mv[i] = v
            out = f(x)
            if mv.tolist() != row:  # a full row: every element was written
                now = mv.tolist()
                at = next(i for i, (a, b) in enumerate(zip(now, row, strict=True)) if a != b)
                raise mutation_error(func, "f", "x", x.shape, at, row[at], now[at])
            vals.append(float(out) if type(out) in _FAST else _real(out))
    except Exception as exc:
        if not isinstance(exc, Fallback):
            _note(exc, func, "a probe point near x")
        raise
    finally:
        for i, v in enumerate(x0):
            mv[i] = v
    return vals


def _narrow(out: Any) -> bool:
    """Whether f returned a float narrower than float64 (it casts x to float32 inside): its values carry
    float32's rounding, and the general path takes steps and tolerances from that precision."""
    kind = type(out)
    if kind is float or kind is np.float64:
        return False
    if kind is np.float32:
        return True
    dtype = getattr(out, "dtype", None)
    return isinstance(dtype, np.dtype) and dtype.kind == "f" and dtype.itemsize < 8


def _power_of_two(h: float) -> float:
    """``np.exp2(np.round(np.log2(h)))`` for a positive finite h (numerics' rounding of steps), exactly.

    h = m·2**e with m in [1, 2) rounds to 2**e below m = sqrt(2) and to 2**(e+1) above. Only within a few
    ulps of sqrt(2) could NumPy's rounded log2 decide otherwise; there NumPy itself is asked.
    """
    m, e = frexp(h)  # h = m·2**e, m in [0.5, 1): 2m against sqrt(2), halved (both exact)
    if -_NEAR_HALF_SQRT2 < m - _HALF_SQRT2 < _NEAR_HALF_SQRT2:
        return float(np.exp2(np.round(np.log2(h))))
    return ldexp(1.0, e - 1 if m < _HALF_SQRT2 else e)


_UNIT_STEP = _power_of_two(_BASE_STEP)  # the plain rule's step where |x_i| <= 1


def _points(x0: list[float], hs: list[float]) -> list[float]:
    """The central difference points: ``x0 + h`` for every coordinate, then ``x0 − h`` (c − b is c + (−b),
    the general path's point, bit for bit)."""
    plus, minus = [], []
    for c, b in zip(x0, hs):  # noqa: B905  (equal lengths)
        plus.append(c + b)
        minus.append(c - b)
    return plus + minus


@functools.lru_cache(maxsize=32)
def _twice(n: int) -> tuple[int, ...]:
    return (*range(n), *range(n))


@functools.lru_cache(maxsize=32)
def _with_x(n: int) -> tuple[int, ...]:
    """x itself (element 0 set to its own value), then the difference points' coordinates."""
    return (0, *range(n), *range(n))


@functools.lru_cache(maxsize=32)
def _directions(n: int) -> list[list[float]]:
    rows: list[list[float]] = nm._signed_probe_directions(n).tolist()  # the probe's own directions
    return rows


@functools.lru_cache(maxsize=32)
def _sparse_directions(n: int) -> tuple[tuple[int, ...], tuple[float, ...]] | None:
    """The probe's rows after x itself as perturbations of one coordinate each (small n: the directions
    are scaled coordinate vectors): the coordinate each moves and its z; None where a direction moves
    more than one."""
    moved = [[(i, d) for i, d in enumerate(z) if d != 0] for z in _directions(n)[1:]]
    if not all(len(row) == 1 for row in moved):
        return None
    return tuple(row[0][0] for row in moved), tuple(row[0][1] for row in moved)


def _value(func: str, f: Callable[..., Any], x: NDArray[np.float64]) -> float:
    try:
        f0 = _real(f(x))
    except Exception as exc:
        if not isinstance(exc, Fallback):
            _note(exc, func, "x")
        raise
    if not math.isfinite(f0):
        raise Fallback
    return f0


def _float32_input(
    func: str, f: Callable[..., Any], x: NDArray[np.float64], mv: Doubles, x0: list[float],
    deriv: list[float], f0: float, f_scale: float,
) -> int:  # fmt: skip
    """engine.float32_input on floats, with x set through `mv`: the evaluations spent (0 or 1); raises
    Fallback where f casts x to float32 (the general path finds it again and takes float32's grid)."""
    moved = nm.float32_cell_point(np.array(x0)).tolist()
    change = abs(math.fsum(g * (b - a) for g, a, b in zip(deriv, x0, moved, strict=True)))
    if not change > _FLOAT32_INPUT_MARGIN * max(f_scale, abs(f0)):
        return 0
    j = next((j for j, a in enumerate(x0) if mv[j] != a), -1)  # f wrote into x at an earlier point
    if j >= 0:
        raise mutation_error(func, "f", "x", x.shape, j, x0[j], mv[j])
    at = _at_rows(func, f, x, mv, x0, [moved])[0]
    if at == f0:
        raise Fallback
    return 1


def _suspects(slope: list[float], vals: list[float], hs: list[float], f0: float) -> list[int]:
    """numerics.truncation_suspects for central float64 on floats, as it computes it: the flagged
    coordinates, worst first (a stable sort, as NumPy's). `slope`: |quotient|; `vals`: f at x + h, then
    at x − h."""
    n = len(slope)
    threshold = _REFINE_GOAL * max(slope) / _TRUNCATION_CONST  # (fraction·accuracy·max|g|) / c
    twice = 2 * f0
    flagged, keys = [], []
    for j in range(n):
        s = slope[j]
        q = (vals[j] + vals[n + j] - twice) / hs[j]
        bend = q * q
        if bend > s * threshold and s > 0:
            flagged.append(j)
            keys.append(-_TRUNCATION_CONST * bend / s)
    if len(flagged) == 2:  # the sort below, for two
        return flagged if not keys[1] < keys[0] else [flagged[1], flagged[0]]
    if len(flagged) > 2:
        flagged = [j for _, j in sorted(zip(keys, flagged, strict=True), key=lambda kj: kj[0])]
    return flagged


def _refined(
    func: str,
    f: Callable[..., Any],
    x: NDArray[np.float64],
    mv: Doubles,
    x0: list[float],
    hs: list[float],
    deriv: list[float],
    flagged: list[int],
    f0: float,
    f_scale: float,
    f_size: float,
) -> tuple[list[float], int, bool]:
    """steps._refine on floats, operation for operation: re-measure the flagged coordinates at h/2, h/4,
    ... (Richardson), the worst-predicted REFINE_SAMPLE first; returns the derivatives, the evaluations
    spent and whether a change exceeded the rounding of f at the points (`f_size`: max |f| there).
    Fallback (x restored) if a refined point is not finite, where a change grows far above rounding (the
    engine halves on there), or where truncation beyond rounding is left after the halvings: the engine
    then retries at steps relative to |x_i| and warns (a superset of its test: rounding at the perturbed
    points is taken as f's own, never louder)."""
    active, waiting = flagged[:_REFINE_SAMPLE], flagged[_REFINE_SAMPLE:]
    out, prev, step = list(deriv), list(deriv), list(hs)
    n = len(x0)
    best = [math.inf] * n
    left = [0.0] * n  # truncation left at the kept value (steps._refine's best_trunc); 0 where not flagged
    gain = _GAIN
    noise_unit = _NOISE_UNIT * max(f_scale, 1e-300)
    extra = 0
    found = asked = False
    loudness = f_size / max(f_scale, 1e-300)
    for _ in range(_MAX_REFINE_HALVINGS):
        if not active:
            break
        # steps._stencil_at: f at x0 ± step for the active coordinates, all + first, then all −
        plus, minus = [], []
        for j in active:
            b = step[j] = step[j] / 2
            plus.append(x0[j] + b)
            minus.append(x0[j] - b)  # x0 + (−b), bit for bit
        m = len(active)
        vals = _evaluate(func, f, x, mv, active + active, plus + minus, x0)
        extra += 2 * m
        if not math.isfinite(sum(vals)):
            raise Fallback
        kept = []
        any_truncated = False
        for i, j in enumerate(active):
            b = step[j]
            d_half = (0.5 * vals[i] + -0.5 * vals[m + i]) / b
            change = abs(d_half - prev[j])
            noise = noise_unit / b
            score = change + noise
            truncated = change > noise
            loud = noise if noise > noise * loudness else noise * loudness  # rounding at the points
            if not score < best[j] and change > _GROWTH_MARGIN * loud:
                raise Fallback  # grew far above rounding: the engine halves on (steps._refine)
            if score < best[j]:
                if truncated:
                    out[j] = (gain * d_half - prev[j]) / (gain - 1)
                    kept.append(j)
                    found = found or change > loud
                best[j] = score
                left[j] = change if truncated else 0.0
            prev[j] = d_half
            any_truncated = any_truncated or truncated
        if any_truncated and not asked:  # as steps._refine: a float32 input's rounding? (Fallback if so)
            asked, extra = True, extra + _float32_input(func, f, x, mv, x0, deriv, f0, f_scale)
        if waiting and any_truncated:
            active, waiting = kept + waiting, []
        else:
            active = kept
    if max(left) > _UNRESOLVED_FRACTION * max(map(abs, out)):
        raise Fallback
    return out, extra, found


def _index(x: NDArray[Any], j: int) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(j, x.shape)) if x.ndim else ()

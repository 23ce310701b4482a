"""The small-problem path of the engine: central differences on a float64 array of a few elements.

On the book's ``x0² + x1²`` the general engine spends most of a call in NumPy operations on arrays of two
or four numbers (validation, probe, assembly, refinement test). This path does the same arithmetic on
Python floats, in the same order, so it returns bitwise the same gradient as the general path — the probe
points and steps still come from :mod:`numgrad.common.numerics` — at a fraction of the fixed cost.

It handles the common case only. Anything else (a result that is not a real scalar, a non-finite value, a
coordinate the refinement test flags) hands the problem back to the general path, which evaluates it again
from the start and raises or refines as it always does; such a call evaluates f twice.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from numgrad.common import numerics as nm
from numgrad.common.guard import changed_at, mutation_error

_FLOAT64 = np.dtype(np.float64)
_FAST = (float, np.float64, np.float32)
_CENTRAL = nm.STENCILS["central"]
# truncation_suspects' threshold for central float64, as it computes it: goal / const
_REFINE_GOAL = nm.REFINE_FRACTION["float64"] * nm.accuracy("central", np.float64)
_PROBE_SCALE = nm.probe_scale(np.float64)
_SQRT2 = math.sqrt(2.0)
_EPS = nm.eps(np.float64)
_ELEMENTWISE = 4  # up to this many elements, a probe row is written element by element (cheaper)
_BASE_STEP = nm.base_step("central", np.float64)


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
    a writable C-contiguous array of the caller's (perturbed in place, as in the general path)."""
    return (
        type(x) is np.ndarray
        and method == "central"
        and batched is False
        and chunk_size is None
        and executor is None
        and x.dtype == _FLOAT64
        and 0 < x.size <= nm.SMALL_N
        and x.flags.writeable
        and x.flags.c_contiguous
    )


def _real(out: Any) -> float:
    """A result f returned, as a float; Fallback for anything the general path must judge."""
    if type(out) in _FAST:
        return float(out)
    a = np.asarray(out)
    if a.size != 1 or a.dtype.kind not in "fiu":
        raise Fallback
    return float(a.reshape(()))


def _note(exc: Exception, func: str, where: str) -> None:
    exc.add_note(f"{func}: raised by f at {where}")


def gradient(
    func: str,
    f: Callable[..., Any],
    x: NDArray[np.float64],
    h: float | None,
    chosen: SmallSteps | None = None,
    f0: float | None = None,
) -> tuple[list[float], SmallSteps | None, int]:
    """The central-difference gradient of f at x (a flat list), the steps used and the evaluations of f.
    Flagged coordinates are refined as the engine refines them; one that does not settle hands the whole
    problem to the engine (Fallback), which retries it and warns.

    `h`: an explicit step (the textbook formula); None: the engine's step, from a probe of f or, when
    `chosen` is given, the steps of an earlier probe (`f0`, f(x), is then used for the refinement test;
    evaluated when not given). Raises :class:`Fallback` (x restored) where the general path must take over.
    """
    before = x.tobytes()
    try:
        return _gradient(func, f, x, h, chosen, f0)
    except (OverflowError, ZeroDivisionError):  # scales beyond floats: the general path works in logs
        raise Fallback from None
    finally:
        if x.tobytes() != before:  # f wrote into x beside the perturbed element: restore, say so
            saved = np.frombuffer(before, dtype=x.dtype).reshape(x.shape)
            k = changed_at(x, saved)
            now = x.reshape(-1)[k].item() if k is not None else None
            np.copyto(x, saved)
            raise mutation_error(func, "f", "x", x.shape, k or 0, saved.reshape(-1)[k or 0].item(), now)


def _gradient(  # noqa: PLR0912  (the general path's branches, on floats)
    func: str,
    f: Callable[..., Any],
    x: NDArray[np.float64],
    h: float | None,
    chosen: SmallSteps | None,
    f0: float | None,
) -> tuple[list[float], SmallSteps | None, int]:
    flat = x.reshape(-1)  # a view: x is C-contiguous
    x0 = flat.tolist()
    if not all(map(math.isfinite, x0)):
        raise Fallback  # the general path refuses a non-finite x with its own error
    n = len(x0)
    token = ignore_errors()  # non-finite values are reported by the engine, not as warnings
    try:
        steps = chosen
        if h is None and chosen is None:
            steps, f0 = _probe(func, f, x, flat, x0)
        hs: list[float] = [h] * n if steps is None else steps.h  # type: ignore[list-item]
        # the points as the general path forms them: (c·h + x0), offset-major
        points = [a + b for a, b in zip(x0, hs, strict=True)]
        points += [a + (-b) for a, b in zip(x0, hs, strict=True)]
        vals = []
        j, fast = 0, _FAST
        try:
            for j, v, original in zip(_twice(n), points, x0 + x0, strict=True):
                out = _at(func, f, x, flat, j, v, original)
                vals.append(float(out) if type(out) in fast else _real(out))
        except BaseException as exc:
            flat[j] = x0[j]
            if isinstance(exc, Exception) and not isinstance(exc, Fallback):
                _note(exc, func, f"x perturbed at index {_index(x, j)}")
            raise
        if steps is None and not all(map(math.isfinite, vals)):  # explicit h: the engine's error
            bad = next(k for k, v in enumerate(vals) if not math.isfinite(v))
            raise FloatingPointError(
                f"{func}: f returned a non-finite value ({vals[bad]}) at x ± h at index "
                f"{_index(x, _twice(n)[bad])}; the derivative there is undefined. Pass a smaller h or check "
                f"f's domain"
            )
        if not all(map(math.isfinite, vals)):
            raise Fallback
        plus, minus = vals[:n], vals[n:]
        if steps is None:  # the textbook formula: (0.5·f(x+h) − 0.5·f(x−h)) / h, as the stencil sums it
            if any(abs((q - c) - h) > nm.EXPLICIT_STEP_WARN * h for q, c in zip(points, x0, strict=False)):  # type: ignore[operator]
                raise Fallback  # x + h rounds h away or by much: the general path says so
            quotients = [(0.5 * a + -0.5 * b) / h for a, b in zip(plus, minus, strict=True)]  # type: ignore[operator]
            return quotients, None, 2 * n
        # a chosen step: divide by the representable displacement (x+h) − (x−h)
        try:
            deriv = [
                (a - b) / ((p - c) - (m - c))
                for a, b, p, m, c in zip(plus, minus, points[:n], points[n:], x0, strict=True)
            ]
        except ZeroDivisionError:  # a step below x's resolution: NumPy's inf, the general path's error
            raise Fallback from None
        nfev = 2 * n + (nm.probe_size(n) if chosen is None else 0)
        if f0 is None:
            f0 = _value(func, f, x)
            nfev += 1
        flagged = _suspects(deriv, plus, minus, hs, f0)
        if flagged:
            deriv, extra = _refined(func, f, x, x0, hs, deriv, flagged, f0, steps.f_scale)
            if not all(map(math.isfinite, deriv)):
                raise Fallback
            nfev += extra
        return deriv, steps, nfev
    finally:
        restore_errors(token)


def _probe(
    func: str, f: Callable[..., Any], x: NDArray[np.float64], flat: NDArray[np.float64], x0: list[float]
) -> tuple[SmallSteps, float]:
    """f at numerics.probe_points and the steps numerics.steps_from_probe chooses from them, both
    computed as those functions compute them (the same operations in the same order) on floats."""
    n = len(x0)
    length = [a if a > 1.0 else 1.0 for a in map(abs, x0)]  # numerics.length_scales
    s = _PROBE_SCALE
    scaled = [s * a for a in length]
    vals = []
    try:
        for k, z in enumerate(_directions(n)):
            row = x0 if k == 0 else [c * d + e for c, d, e in zip(scaled, z, x0, strict=True)]
            if n <= _ELEMENTWISE:
                for i, v in enumerate(row):
                    flat[i] = v
            else:
                flat[:] = row
            out = f(x)
            if flat.tolist() != row:  # a probe row: every element was written
                at = next(i for i, (a, b) in enumerate(zip(flat.tolist(), row, strict=True)) if a != b)
                raise mutation_error(func, "f", "x", x.shape, at, row[at], flat[at].item())
            vals.append(float(out) if type(out) in _FAST else _real(out))
    except Exception as exc:
        if not isinstance(exc, Fallback):
            _note(exc, func, "a probe point near x")
        raise
    finally:
        flat[:] = x0
    if not math.isfinite(vals[0]):  # f(x) itself: the engine's error, at the first call as there
        raise FloatingPointError(
            f"{func}: f returned a non-finite value ({vals[0]}) at x; the derivative there is undefined. "
            f"Pass a smaller h or check f's domain"
        )
    if not all(map(math.isfinite, vals)):
        raise Fallback
    # numerics.steps_from_probe, scalar f
    m = len(vals) - 2
    f0, *rest = vals
    f_scale = abs(f0)
    first, mirror = rest[0], rest[m]
    diff_sq = ((first - mirror) / 2) ** 2 + sum((a - f0) ** 2 for a in rest[1:m])
    sum_sq = ((first + mirror) / 2 - f0) ** 2
    slope = math.sqrt(diff_sq / (m * n)) / s
    curve = 2 * math.sqrt(sum_sq) / (n * s * s)
    variation = max(slope, nm.CURVATURE_WEIGHT * curve)
    ratio = f_scale / variation if variation > 0 else 0.0
    factor = float(nm.step_factor("central", _FLOAT64, ratio))
    base = _BASE_STEP
    h = [(a if a > factor else factor) * base for a in length] if factor > 1 else [a * base for a in length]
    if factor * base > nm.MAX_RELATIVE_STEP:
        cap = nm.MAX_RELATIVE_STEP
        h = [b if b < cap * a else cap * a for a, b in zip(length, h, strict=True)]
    return SmallSteps([_power_of_two(b) for b in h], f_scale, variation), f0


def _power_of_two(h: float) -> float:
    """``np.exp2(np.round(np.log2(h)))`` for a positive finite h (numerics' rounding of steps), exactly.

    h = m·2**e with m in [1, 2) rounds to 2**e below m = sqrt(2) and to 2**(e+1) above. Only within a few
    ulps of sqrt(2) could NumPy's rounded log2 decide otherwise; there NumPy itself is asked.
    """
    m, e = math.frexp(h)  # h = m·2**e, m in [0.5, 1)
    m, e = 2 * m, e - 1
    if abs(m - _SQRT2) < 1e-12:
        return float(np.exp2(np.round(np.log2(h))))
    return math.ldexp(1.0, e if m < _SQRT2 else e + 1)


@functools.lru_cache(maxsize=32)
def _twice(n: int) -> tuple[int, ...]:
    return (*range(n), *range(n))


@functools.lru_cache(maxsize=32)
def _directions(n: int) -> list[list[float]]:
    rows: list[list[float]] = nm._signed_probe_directions(n).tolist()  # the probe's own directions
    return rows


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


def _suspects(
    deriv: list[float], plus: list[float], minus: list[float], hs: list[float], f0: float
) -> list[int]:
    """numerics.truncation_suspects for central float64 on floats, as it computes it: the flagged
    coordinates, worst first (a stable sort, as NumPy's); Fallback if a quotient is not finite."""
    if not all(map(math.isfinite, deriv)):
        raise Fallback
    slope = list(map(abs, deriv))
    threshold = _REFINE_GOAL * max(slope) / _CENTRAL.truncation_const  # (fraction·accuracy·max|g|) / c
    twice = 2 * f0
    flagged, keys = [], []
    for j, (s, a, b, step) in enumerate(zip(slope, plus, minus, hs, strict=True)):
        q = (a + b - twice) / step
        bend = q * q
        if bend > s * threshold and s > 0:
            flagged.append(j)
            keys.append(-_CENTRAL.truncation_const * bend / s)
    if len(flagged) > 1:
        flagged = [j for _, j in sorted(zip(keys, flagged, strict=True), key=lambda kj: kj[0])]
    return flagged


def _refined(  # noqa: PLR0912, PLR0915  (steps._refine, branch for branch)
    func: str,
    f: Callable[..., Any],
    x: NDArray[np.float64],
    x0: list[float],
    hs: list[float],
    deriv: list[float],
    flagged: list[int],
    f0: float,
    f_scale: float,
) -> tuple[list[float], int]:
    """steps._refine on floats, operation for operation: re-measure the flagged coordinates at h/2, h/4,
    ... (Richardson), the worst-predicted REFINE_SAMPLE first; returns the derivatives and the evaluations
    spent. Fallback (x restored) if a refined
    point is not finite, or where truncation beyond rounding is left after the halvings: the engine then
    retries at steps relative to |x_i| and warns (a superset of its test: rounding at the perturbed points
    is taken as f's own, never louder)."""
    flat = x.reshape(-1)
    active, waiting = flagged[: nm.REFINE_SAMPLE], flagged[nm.REFINE_SAMPLE :]
    out, prev, step = list(deriv), list(deriv), list(hs)
    best = dict.fromkeys(flagged, math.inf)
    left = dict.fromkeys(flagged, 0.0)  # truncation left at the kept value (steps._refine's best_trunc)
    gain = 2.0**_CENTRAL.order
    noise_unit = nm.REFINE_NOISE * _CENTRAL.rounding_gain * _EPS * max(f_scale, 1e-300)
    extra = 0
    for _ in range(nm.MAX_REFINE_HALVINGS):
        if not active:
            break
        for j in active:
            step[j] /= 2
        # steps._stencil_at: f at x0 ± step for the active coordinates, all + first, then all −
        points = [x0[j] + step[j] for j in active] + [x0[j] + (-step[j]) for j in active]
        vals = []
        m = len(active)
        j = active[0]
        try:
            for k, v in enumerate(points):
                j = active[k % m]
                value = _at(func, f, x, flat, j, v, x0[j])
                vals.append(float(value) if type(value) in _FAST else _real(value))
        except BaseException as exc:
            flat[j] = x0[j]
            if isinstance(exc, Exception) and not isinstance(exc, Fallback):
                _note(exc, func, f"x perturbed at index {_index(x, j)}")
            raise
        extra += len(points)
        if not all(map(math.isfinite, vals)):
            raise Fallback
        kept = []
        any_truncated = False
        for i, j in enumerate(active):
            d_half = (0.5 * vals[i] + -0.5 * vals[m + i]) / step[j]
            change = abs(d_half - prev[j])
            noise = noise_unit / step[j]
            score = change + noise
            better = score < best[j]
            if better:
                if change > noise:
                    out[j] = (gain * d_half - prev[j]) / (gain - 1)
                best[j] = score
                left[j] = change if change > noise else 0.0
            prev[j] = d_half
            truncated = change > noise
            any_truncated = any_truncated or truncated
            if better and truncated:
                kept.append(j)
        if waiting and any_truncated:
            active, waiting = kept + waiting, []
        else:
            active = kept
    if max(left.values()) > nm.UNRESOLVED_FRACTION * max(map(abs, out)):
        raise Fallback
    return out, extra


def _at(
    func: str,
    f: Callable[..., Any],
    x: NDArray[np.float64],
    flat: NDArray[np.float64],
    j: int,
    v: float,
    original: float,
) -> Any:
    """f with element j of x at v, then put back; O(1) checks that f wrote into neither that element nor
    (while another was perturbed) this one. Any other write is caught once a call by :func:`gradient`."""
    if flat[j] != original:  # f wrote here while another element was perturbed
        raise mutation_error(func, "f", "x", x.shape, j, original, flat[j].item())
    flat[j] = v
    out = f(x)
    if flat[j] != v:
        raise mutation_error(func, "f", "x", x.shape, j, v, flat[j].item())
    flat[j] = original
    return out


def _index(x: NDArray[Any], j: int) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(j, x.shape)) if x.ndim else ()

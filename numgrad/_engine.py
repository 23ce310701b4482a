"""The finite-difference engine behind numgrad.gradient: points, steps, evaluation and assembly.

A derivative along coordinate j is ``Σ_k w_k · f(x + c_k·h_j·e_j) / h_j`` for a stencil (c, w). The
engine enumerates the perturbed points offset-major (point ``k·n + j``), evaluates them in one of three
ways — in place on the caller's array, as stacks handed to a batched `f`, or as chunks sent to an
executor — and assembles the quotients. All three see bitwise the same points.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad import _executor as ex
from numgrad import _numerics as nm
from numgrad._validate import callable_arg, choice, positive_int, real_floating_array


@dataclass(frozen=True)
class Difference:
    """What one finite-difference pass produced: derivatives, the steps used and the evaluations spent."""

    derivative: NDArray[Any]  # shape (n, *out_shape), float64
    h: NDArray[np.float64]  # shape (n,), the step of each coordinate
    f_scale: float  # |f(x)| as seen by the pass (probe or base point); 0 when unknown
    g_scale: float  # RMS size of the derivatives measured by the probe; 0 when unknown
    nfev: int


@dataclass(frozen=True)
class Problem:
    func: str  # public name, for messages
    f: Callable[..., Any]
    x: NDArray[Any]  # the caller's array (perturbed in place in element mode)
    out_shape: tuple[int, ...] | None  # None: scalar output required
    method: str
    batched: bool
    chunk_size: int | None
    executor: Executor | None

    @property
    def n(self) -> int:
        return self.x.size

    @property
    def value_dtype(self) -> np.dtype[Any]:
        return np.dtype(np.complex128 if self.method == "complex" else np.float64)

    @property
    def point_dtype(self) -> np.dtype[Any]:
        return np.result_type(self.x.dtype, 1j) if self.method == "complex" else self.x.dtype

    def index(self, j: int) -> tuple[int, ...]:
        """The multi-index of flat coordinate j, for messages."""
        return tuple(int(i) for i in np.unravel_index(j, self.x.shape)) if self.x.ndim else ()


def make_problem(
    func: str,
    f: object,
    x: ArrayLike,
    *,
    out_shape: tuple[int, ...] | None,
    method: object,
    batched: bool,
    chunk_size: object,
    executor: object,
) -> Problem:
    """Validate every argument up front (never after `f` has been called)."""
    fn = callable_arg(f, func)
    xa = real_floating_array(x, func, "x")
    meth = choice(method, nm.METHODS, func, "method")
    size = None if chunk_size is None else positive_int(chunk_size, func, "chunk_size")
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(
            f"{func}: executor must be a concurrent.futures.Executor (a ProcessPoolExecutor, or "
            f"dask.distributed.Client(...).get_executor()); got {type(executor).__name__}"
        )
    if not isinstance(batched, bool):
        raise TypeError(f"{func}: batched must be True or False; got {batched!r}")
    in_place = isinstance(x, np.ndarray) and not batched and executor is None and meth != "complex"
    if in_place and not xa.flags.writeable:
        raise ValueError(
            f"{func}: x is read-only, but element-by-element mode perturbs x in place (so that functions "
            f"reading x from a closure see the perturbation); pass x.copy(), or batched=True"
        )
    if executor is not None:
        ex.payload(func, fn, executor)  # a process pool pickles f: say now if it cannot
    if not isinstance(x, np.ndarray):
        xa = np.array(xa)  # our own writable copy of a list or scalar
    return Problem(func, fn, xa, out_shape, meth, batched, size, executor)


def resolve_step(p: Problem, h: object) -> tuple[NDArray[np.float64] | None, bool]:
    """An explicit step as a float64 array of shape (n,); None when the engine is to choose."""
    if h is None:
        return None, False
    try:
        arr = np.asarray(h, dtype=np.float64)
        arr = np.broadcast_to(arr, p.x.shape).reshape(-1).copy()
    except (TypeError, ValueError):
        raise ValueError(
            f"{p.func}: h must be a positive number or an array of x's shape {p.x.shape}; "
            f"got {type(h).__name__} of shape {np.shape(np.asarray(h, dtype=object))}"
        ) from None
    if not np.all(np.isfinite(arr) & (arr > 0)):
        bad = arr[~(np.isfinite(arr) & (arr > 0))][0]
        raise ValueError(f"{p.func}: h must be positive and finite; got {bad}")
    return arr, True


# --------------------------------------------------------------------------------------------------
# Evaluating f


def _as_value(p: Problem, out: object, what: Callable[[], str]) -> NDArray[Any]:
    a = np.asarray(out)
    if a.dtype.kind not in "fiuc":
        raise TypeError(f"{p.func}: f must return a number; got {type(out).__name__} at {what()}")
    expected = () if p.out_shape is None else p.out_shape
    if a.shape != expected:
        if p.out_shape is None and a.size == 1:
            return a.reshape(())
        kind = "a scalar" if p.out_shape is None else f"shape {expected}"
        raise ValueError(f"{p.func}: f must return {kind}; got an array of shape {a.shape} at {what()}")
    if p.method == "complex" and a.dtype.kind != "c":
        raise TypeError(
            f"{p.func}: method='complex' needs f to carry complex input through, but f returned a real "
            f"{a.dtype} value for complex x (it casts to real, uses abs/max, or ignores its argument)"
        )
    return a


_FAST_RESULTS = (float, np.float64, np.float32)  # results stored without further checks


def _call(p: Problem, point: NDArray[Any], what: Callable[[], str]) -> NDArray[Any]:
    try:
        with np.errstate(all="ignore"):
            out = p.f(point)
    except Exception as exc:
        exc.add_note(f"{p.func}: raised by f at {what()}")
        raise
    return _as_value(p, out, what)


def _check_stack(p: Problem, out: Any, rows: int) -> NDArray[Any]:
    a = np.asarray(out)
    tail = () if p.out_shape is None else p.out_shape
    if a.dtype.kind not in "fiuc":
        raise TypeError(f"{p.func}: f must return numbers; got an array of {a.dtype}")
    if a.shape != (rows, *tail):
        if p.out_shape is None and a.size == rows and not p.batched:
            return a.reshape(rows)
        how = "a batched f" if p.batched else "f, point by point,"
        raise ValueError(
            f"{p.func}: {how} must return shape {(rows, *tail)} for a stack of {rows} points of shape "
            f"{p.x.shape}; got shape {a.shape}"
        )
    if p.method == "complex" and a.dtype.kind != "c":
        raise TypeError(f"{p.func}: method='complex' needs f to return complex values for complex points")
    return a


def _bounds(p: Problem, total: int, row_bytes: int) -> list[tuple[int, int]]:
    """Chunks of `chunk_size` points; by default nearly equal chunks within the memory budget and, on an
    executor, a few per worker (enough to balance the load, few enough to amortise the cost per task)."""
    if p.chunk_size is not None:
        return [(a, min(a + p.chunk_size, total)) for a in range(0, total, p.chunk_size)]
    size = max(1, nm.BATCH_BYTES // max(1, row_bytes))
    if p.executor is not None:
        tasks = nm.EXECUTOR_TASKS_PER_WORKER * ex.executor_workers(p.executor)
        size = max(1, min(size, math.ceil(total / tasks)))
    m = math.ceil(total / size)
    return [(total * i // m, total * (i + 1) // m) for i in range(m)]


def _chunked(
    p: Problem, base: NDArray[Any], values: NDArray[Any] | None, coords: NDArray[np.intp] | None
) -> NDArray[Any]:
    """f at base (flat x) with coordinate ``coords[k]`` set to ``values[k]``, or at the rows of base when
    values is None; batched or through the executor, in memory-bounded chunks."""
    total = len(base) if values is None else len(values)
    bounds = _bounds(p, total, base.shape[-1] * base.itemsize)
    if values is None or coords is None:
        tasks: list[ex.Task] = [(base[a:b], None, None) for a, b in bounds]
    else:  # the rows are built where f runs: only x and the changed coordinates travel
        tasks = [(base, values[a:b], coords[a:b]) for a, b in bounds]
    if p.executor is not None:
        parts = ex.run_tasks(p.func, p.executor, p.f, tasks, p.batched, p.x.shape)
    else:
        parts = []
        for task in tasks:
            try:
                parts.append(ex.evaluate_rows(p.f, *task, p.x.shape, p.batched))
            except Exception as exc:
                exc.add_note(f"{p.func}: raised by f; nothing was returned and x is unchanged")
                raise
    return np.concatenate([_check_stack(p, part, b - a) for part, (a, b) in zip(parts, bounds, strict=True)])


def evaluate(p: Problem, values: NDArray[Any], coords: NDArray[np.intp]) -> NDArray[Any]:
    """f at x with coordinate ``coords[k]`` set to ``values[k]``, for every k; shape (len(k), *out)."""
    flat_x = np.ravel(p.x).astype(p.point_dtype)
    if p.batched or p.executor is not None:
        return _chunked(p, flat_x, values, coords).astype(p.value_dtype, copy=False)
    return _evaluate_in_place(p, values, coords, flat_x)


def _describe(p: Problem, j: int) -> Callable[[], str]:
    return lambda: f"x perturbed at index {p.index(j)}"


def _evaluate_in_place(
    p: Problem, values: NDArray[Any], coords: NDArray[np.intp], flat_x: NDArray[Any]
) -> NDArray[Any]:
    """The textbook loop: perturb one element of the caller's array, call f(x), restore it bitwise.

    With method='complex' the caller's real array cannot hold ``x + i·h``: a complex copy is perturbed.
    A plain float result takes a fast path; anything else is validated by `_as_value`.
    """
    vals = np.empty((len(coords), *(p.out_shape or ())), dtype=p.value_dtype)
    if p.method == "complex":
        holder, point = flat_x, flat_x.reshape(p.x.shape)
    elif p.x.flags.c_contiguous:
        holder, point = p.x.reshape(-1), p.x
    else:
        holder, point = p.x, p.x
    unravel = holder.ndim != 1 or holder.size != p.n
    fast = _FAST_RESULTS if p.out_shape is None and p.method != "complex" else ()
    f, j = p.f, -1
    try:
        with np.errstate(all="ignore"):  # non-finite values are reported by the engine, not as warnings
            for k, (j, v) in enumerate(zip(coords.tolist(), values, strict=True)):
                where = np.unravel_index(j, p.x.shape) if unravel else j
                original = holder[where]
                try:
                    holder[where] = v
                    out = f(point)
                finally:
                    holder[where] = original
                vals[k] = out if type(out) in fast else _as_value(p, out, _describe(p, j))
    except Exception as exc:
        if not getattr(exc, "__notes__", None):
            exc.add_note(f"{p.func}: raised by f at x perturbed at index {p.index(j)}")
        raise
    return vals


def evaluate_points(p: Problem, points: NDArray[Any]) -> NDArray[Any]:
    """f at arbitrary full points (rows, n); in element mode the caller's x is overwritten and restored."""
    if p.batched or p.executor is not None:
        return _chunked(p, points, None, None).astype(p.value_dtype, copy=False)
    vals = np.empty((points.shape[0], *(p.out_shape or ())), dtype=p.value_dtype)
    if p.method == "complex":
        for r, row in enumerate(points):
            vals[r] = _call(p, row.reshape(p.x.shape), lambda: "a probe point near x")
        return vals
    saved = p.x.copy()
    try:
        for r, row in enumerate(points):
            p.x[...] = row.reshape(p.x.shape)
            vals[r] = _call(p, p.x, lambda: "a probe point near x")
    finally:
        np.copyto(p.x, saved)
    return vals


# --------------------------------------------------------------------------------------------------
# Steps and assembly


def _check_finite(p: Problem, vals: NDArray[Any], coords: NDArray[np.intp] | None, what: str) -> None:
    bad = ~np.isfinite(vals.reshape(len(vals), -1)).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        where = "" if coords is None else f" at index {p.index(int(coords[first]))}"
        raise FloatingPointError(
            f"{p.func}: f returned a non-finite value ({vals.reshape(len(vals), -1)[first][0]}) at {what}"
            f"{where} ({int(bad.sum())} of {len(vals)} points); the derivative there is undefined. "
            f"Pass a smaller h or check f's domain"
        )


def _steps(p: Problem, x0: NDArray[np.float64]) -> tuple[NDArray[np.float64], float, float, Any, int]:
    """Steps from the dtype, the scale of each x_i and the measured scales of f (see _numerics)."""
    if p.method == "complex":
        return nm.complex_steps(x0), 0.0, 0.0, None, 0
    points = nm.probe_points(x0, p.x.dtype)
    vals = evaluate_points(p, points)
    _check_finite(p, vals[:1], None, "x")
    h, f_scale, variation = nm.steps_from_probe(vals, x0, p.x.dtype, p.method)
    return h, f_scale, variation, vals[0], len(points)


def _shrink_out_of_domain(
    p: Problem, x0: NDArray[np.float64], steps: NDArray[np.float64], moved: list[int], values: Any, vals: Any
) -> tuple[NDArray[np.float64], Any, Any, int]:
    """Quarter the step of each coordinate whose perturbed points gave non-finite values, and retry."""
    n, extra = p.n, 0
    steps, values, vals = steps.copy(), values.copy(), vals.copy()
    for _ in range(nm.MAX_STEP_SHRINKS):
        bad = ~np.isfinite(vals.reshape(len(moved), n, -1)).all(axis=(0, 2))
        if not bad.any():
            break
        idx = np.flatnonzero(bad)
        steps[idx] /= 4
        rows = np.concatenate([i * n + idx for i in range(len(moved))])
        values[rows] = np.concatenate([x0[idx] + c * steps[idx] for c in moved]).astype(p.x.dtype)
        vals[rows] = evaluate(p, values[rows], np.tile(idx, len(moved)))
        extra += len(rows)
    return steps, values, vals, extra


def _stencil_at(
    p: Problem, x0: NDArray[np.float64], f0: Any, coords: NDArray[np.intp], steps: NDArray[np.float64]
) -> tuple[NDArray[np.float64], int]:
    """The method's difference quotient for `coords` at `steps` (powers of two: x ± c·h exact)."""
    stencil = nm.STENCILS[p.method]
    moved = [c for c in stencil.offsets if c != 0]
    values = np.concatenate([x0[coords] + c * steps for c in moved]).astype(p.x.dtype)
    vals = evaluate(p, values, np.tile(coords, len(moved)))
    _check_finite(p, vals, np.tile(coords, len(moved)), "a refined step")
    by_offset = dict(zip(moved, vals.astype(np.float64).reshape(len(moved), len(coords)), strict=True))
    by_offset[0] = np.broadcast_to(np.float64(np.real(f0)), (len(coords),))
    total = sum(w * by_offset[c] for c, w in zip(stencil.offsets, stencil.weights, strict=True))
    return np.asarray(total / steps), len(values)


def _refine(
    p: Problem,
    x0: NDArray[np.float64],
    h: NDArray[np.float64],
    deriv: Any,
    second: Any,
    f0: Any,
    f_scale: float,
) -> tuple[Any, int]:
    """Re-measure coordinates with a short length scale at h/2, h/4, ...: each halving gives the Richardson
    value ``(2**p·D(h/2) − D(h)) / (2**p − 1)`` and an error estimate ``|D(h/2) − D(h)|``; a coordinate
    keeps the value with the smallest estimate and stops once the change is rounding noise or grows."""
    stencil = nm.STENCILS[p.method]
    predicted, goal = nm.predicted_truncation(p.method, deriv, second / (h * h), h, p.x.dtype)
    flagged = np.flatnonzero(predicted > goal)
    flagged = flagged[np.argsort(-predicted[flagged], kind="stable")]
    # The worst-predicted coordinates go first: if none of them shows truncation, the model over-predicts
    # for this f (a quadratic, say) and the rest are left alone.
    active, waiting = flagged[: nm.REFINE_SAMPLE], flagged[nm.REFINE_SAMPLE :]
    out = np.array(deriv, dtype=np.float64)
    best_err = np.full(p.n, np.inf)
    prev, step, extra = out.copy(), h.copy(), 0
    gain = 2.0**stencil.order
    for _ in range(nm.MAX_REFINE_HALVINGS):
        if active.size == 0:
            break
        step[active] /= 2
        d_half, spent = _stencil_at(p, x0, f0, active, step[active])
        extra += spent
        change = np.abs(d_half - prev[active])
        noise = (
            nm.REFINE_NOISE * stencil.rounding_gain * nm.eps(p.x.dtype) * max(f_scale, 1e-300) / step[active]
        )
        score = change + noise  # truncation left in the pair, plus the rounding that halving costs
        better = score < best_err[active]
        take = active[better]
        # a change within rounding noise says there was no truncation to remove: keep the best so far
        extrapolated = (gain * d_half[better] - prev[take]) / (gain - 1)
        out[take] = np.where(change[better] > noise[better], extrapolated, out[take])
        best_err[take] = score[better]
        prev[active] = d_half
        truncated = change > noise
        if waiting.size and truncated.any():
            active, waiting = np.concatenate([active[better & truncated], waiting]), waiting[:0]
        else:
            active = active[better & truncated]
    return out, extra


def difference(p: Problem, h: object, *, refine: bool = True) -> Difference:
    """One finite-difference pass over every coordinate of x (``refine=False``: no re-measuring of short
    length scales; gradient checks re-measure only the elements that disagree)."""
    explicit, given = resolve_step(p, h)
    x0 = np.ravel(p.x).astype(np.float64)
    f0: Any = None
    if given:
        assert explicit is not None
        steps, f_scale, g_scale, nfev = explicit, 0.0, 0.0, 0
    else:
        steps, f_scale, g_scale, f0, nfev = _steps(p, x0)
    n = p.n
    coords = np.tile(np.arange(n, dtype=np.intp), 1 if p.method == "complex" else 2)
    if p.method == "complex":
        values = (x0 + 1j * steps).astype(p.point_dtype)
        vals = evaluate(p, values, coords)
        _check_finite(p, vals, coords, "x + i·h")
        deriv = np.imag(vals) / steps.reshape(n, *([1] * (vals.ndim - 1)))
        return Difference(deriv, steps, f_scale, g_scale, nfev + n)
    stencil = nm.STENCILS[p.method]
    moved = [c for c in stencil.offsets if c != 0]
    coords = np.tile(np.arange(n, dtype=np.intp), len(moved))
    values = np.concatenate([x0 + c * steps for c in moved]).astype(p.x.dtype)
    vals = evaluate(p, values, coords)
    nfev += len(coords)
    if not given:  # a chosen step that left f's domain (log of a tiny probability) is shrunk, not reported
        steps, values, vals, extra = _shrink_out_of_domain(p, x0, steps, moved, values, vals)
        nfev += extra
    _check_finite(p, vals, coords, "x ± h")
    if 0 in stencil.offsets and f0 is None:
        f0 = evaluate_points(p, x0[None].astype(p.x.dtype))[0]
        _check_finite(p, f0[None], None, "x")
        nfev += 1
    by_offset = dict(zip(moved, vals.reshape(len(moved), n, *vals.shape[1:]), strict=True))
    shape = (n, *([1] * (vals.ndim - 1)))
    if 0 in stencil.offsets:
        by_offset[0] = np.broadcast_to(f0, vals.shape[1:])[None].repeat(n, axis=0)
    if given or len(stencil.offsets) != 2:
        total = sum(w * by_offset[c] for c, w in zip(stencil.offsets, stencil.weights, strict=True))
        deriv = total / steps.reshape(shape)
    else:  # two-point stencil at a chosen step: divide by the representable displacement
        a, b = stencil.offsets
        disp = {c: values[i * n : (i + 1) * n].astype(np.float64) - x0 for i, c in enumerate(moved)}
        disp[0] = np.zeros(n)
        deriv = (by_offset[a] - by_offset[b]) / (disp[a] - disp[b]).reshape(shape)
    if refine and {1, -1} <= set(stencil.offsets) and not given and f0 is not None and p.out_shape is None:
        second = by_offset[1] + by_offset[-1] - 2 * f0
        deriv, extra = _refine(p, x0, steps, deriv, second, f0, f_scale)
        nfev += extra
    _check_finite(p, deriv, np.arange(n), "the difference quotient")
    return Difference(np.asarray(deriv, dtype=np.float64), steps, f_scale, g_scale, nfev)


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
    second = difference(p, (first.h / 2).reshape(p.x.shape))
    stencil = nm.STENCILS[p.method]
    truncation = np.abs(first.derivative - second.derivative).reshape(p.n, -1).max(axis=1)
    truncation *= 2**stencil.order / (2**stencil.order - 1)
    f_scale = first.f_scale or float(np.max(np.abs(evaluate_points(p, p.x.reshape(1, -1).copy()))))
    rounding = stencil.rounding_gain * nm.eps(p.x.dtype) * f_scale / first.h
    both = Difference(first.derivative, first.h, first.f_scale, first.g_scale, first.nfev + second.nfev)
    return both, truncation + rounding

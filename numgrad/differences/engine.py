"""The finite-difference engine behind numgrad.differences.gradient: points, steps, evaluation and assembly.

A derivative along coordinate j is ``Σ_k w_k · f(x + c_k·h_j·e_j) / h_j`` for a stencil (c, w). The
engine enumerates the perturbed points offset-major (point ``k·n + j``), evaluates them in one of three
ways — in place on the caller's array, as stacks handed to a batched `f`, or as chunks sent to an
executor — and assembles the quotients. All three see bitwise the same points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad.common import numerics as nm
from numgrad.common.guard import MutatedArgumentError, changed_at, mutation_error
from numgrad.common.validate import callable_arg, choice, finite_point, positive_int, real_floating_array
from numgrad.differences import executors as ex
from numgrad.differences import stacks as st


@dataclass(frozen=True)
class Difference:
    """What one finite-difference pass produced: derivatives, the steps used and the evaluations spent."""

    derivative: NDArray[Any]  # shape (n, *out_shape), float64
    h: NDArray[np.float64]  # shape (n,), the step of each coordinate
    f_scale: float  # |f(x)| as seen by the pass (probe or base point); 0 when unknown
    g_scale: float  # RMS size of the derivatives measured by the probe; 0 when unknown
    nfev: int
    # f at the pass's points x + c·h_j·e_j, one row per moved offset c (scalar f, real methods only):
    # a gradient check re-uses them instead of evaluating them again
    values: NDArray[np.float64] | None = None
    f0: float | None = None  # f(x), when the pass evaluated it (probe or stencil)
    # what the refinement found: None (not run, or nothing flagged), False (no change between h and h/2
    # beyond the rounding of f at the points evaluated), True (truncation beyond it): gradient descent
    # accepts a False as the verdict at these steps while it re-uses them (numgrad.differences.reuse)
    truncation: bool | None = None
    # the precision f's values carry where it is coarser than x's (f casts a float64 x to float32): the
    # pass's steps, points and rounding followed it; None: x's own
    grid: np.dtype[Any] | None = None


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
    # where f's values are coarser than x (float32 values for a float64 x: f casts its argument), that
    # precision: steps, points and rounding follow it (see :func:`coarser_values`); None: x's own
    grid: np.dtype[Any] | None = None

    @property
    def n(self) -> int:
        return self.x.size

    @property
    def work_dtype(self) -> np.dtype[Any]:
        """The precision the differences resolve: x's dtype, or f's values' where those are coarser."""
        return self.x.dtype if self.grid is None else self.grid

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
    xa = finite_point(real_floating_array(x, func, "x"), func, "x")
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
    if type(h) is float and 0 < h < math.inf:  # the common case, without building an array to check
        return np.full(p.n, h), True
    try:
        kind = np.asarray(h).dtype.kind
    except (TypeError, ValueError):  # a ragged list: not an array of numbers
        kind = "O"
    if isinstance(h, str | bytes | bool | np.bool_) or kind not in "iuf":
        raise ValueError(  # np.asarray would read "1e-4" and True as numbers (a ValueError, as "big" was)
            f"{p.func}: h must be a positive number or an array of x's shape {p.x.shape}; got "
            f"{type(h).__name__} {h!r}"[:300]
        )
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
        if not (p.out_shape is None and a.size == 1):
            kind = "a scalar" if p.out_shape is None else f"shape {expected}"
            raise ValueError(f"{p.func}: f must return {kind}; got an array of shape {a.shape} at {what()}")
        a = a.reshape(())  # a one-element array, as a scalar: its dtype is judged below as any value's
    if a.base is not None:  # a view (of x itself, perhaps: np.ravel), which putting x back would change
        a = a.copy()
    if p.method != "complex" and a.dtype.kind == "c":
        raise TypeError(_complex_result(p, what()))
    if p.method == "complex" and a.dtype.kind != "c":
        raise TypeError(
            f"{p.func}: method='complex' needs f to carry complex input through, but f returned a real "
            f"{a.dtype} value for complex x (it casts to real, uses abs/max, or ignores its argument)"
        )
    return a


_FAST_RESULTS = (float, np.float64, np.float32)  # results stored without further checks
_FLOAT64 = np.dtype(np.float64)


def _complex_result(p: Problem, where: str) -> str:
    return (
        f"{p.func}: f must return real values for method={p.method!r}; got a complex value at {where} "
        f"(its imaginary part would be dropped). Return the real part yourself, or use method='complex' "
        f"for the complex-step derivative of a real function"
    )


def _call(p: Problem, point: NDArray[Any], what: Callable[[], str]) -> NDArray[Any]:
    try:
        with np.errstate(all="ignore"):
            out = p.f(point)
    except Exception as exc:
        exc.add_note(f"{p.func}: raised by f at {what()}")
        raise
    return _as_value(p, out, what)


def _check_stack(p: Problem, out: Any, rows: int) -> NDArray[Any]:
    scalar_real = p.out_shape is None and p.method != "complex"
    if scalar_real and type(out) is np.ndarray and out.dtype == _FLOAT64 and out.shape == (rows,):
        return out  # the common case: a batched scalar f's float64 values, nothing more to check
    a = np.asarray(out)
    tail = () if p.out_shape is None else p.out_shape
    if a.dtype.kind not in "fiuc":
        raise TypeError(f"{p.func}: f must return numbers; got an array of {a.dtype}")
    if p.method != "complex" and a.dtype.kind == "c":
        raise TypeError(_complex_result(p, "a stack of perturbed points"))
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
    """Chunks of `chunk_size` points; by default nearly equal chunks within the cache budget (locally) or
    the memory budget and, on an executor, a few per worker (enough to balance the load, few enough to
    amortise the cost per task)."""
    if p.chunk_size is not None:
        return st.fixed_bounds(total, p.chunk_size)
    if p.executor is None:
        return st.chunk_bounds(total, row_bytes, nm.CHUNK_BYTES)
    tasks = nm.EXECUTOR_TASKS_PER_WORKER * ex.executor_workers(p.executor)
    return st.chunk_bounds(total, row_bytes, nm.BATCH_BYTES, tasks)


def _chunked(
    p: Problem, base: NDArray[Any], values: NDArray[Any] | None, coords: NDArray[np.intp] | None
) -> NDArray[Any]:
    """f at base (flat x) with coordinate ``coords[k]`` set to ``values[k]``, or at the rows of base when
    values is None; batched or through the executor, in memory-bounded chunks."""
    total = len(base) if values is None else len(values)
    bounds = _bounds(p, total, base.shape[-1] * base.itemsize)
    if p.executor is None:  # a batched f on this machine: read-only stacks of one re-used buffer
        if values is None or coords is None:
            return _on_stacks(p, st.row_stacks(base, bounds, p.x.shape), total)
        return _on_stacks(p, st.perturbed_stacks(base, values, coords, bounds, p.x.shape), total)
    if values is None or coords is None:
        tasks: list[ex.Task] = [(base[a:b], None, None) for a, b in bounds]
    else:  # the rows are built where f runs: only x and the changed coordinates travel
        tasks = [(base, values[a:b], coords[a:b]) for a, b in bounds]
    done = ex.run_tasks(p.func, p.executor, p.f, tasks, p.batched, p.x.shape)
    parts = [part for task in done for part in task]  # (k, values of k points), in order
    if len(parts) == 1:  # one stack
        return _check_stack(p, parts[0][1], parts[0][0])
    return np.concatenate([_check_stack(p, part, k) for k, part in parts])


def _on_stacks(p: Problem, stacks: Iterator[tuple[int, int, NDArray[Any]]], total: int) -> NDArray[Any]:
    """A local batched f on each stack of :mod:`~numgrad.differences.stacks`; its values, checked and
    copied out of the stack (which the next chunk re-uses), shape (total, *out)."""
    out = np.empty((total, *(p.out_shape or ())), dtype=p.value_dtype)
    first = out.dtype
    with np.errstate(all="ignore"):  # non-finite values are reported by the engine, not as warnings
        for a, b, stack in stacks:
            checked = _check_stack(p, _call_on_stack(p, stack), b - a)
            first = checked.dtype if a == 0 else first
            out[a:b] = checked
            del stack, checked  # nothing of this stack is held while the next is built
    return _in_their_dtype(p, out, first)


def one_stack_call(
    f: object, x: object, method: object, batched: object, chunk_size: object, executor: object
) -> bool:
    """Whether a call may take one of the engine's one-stack paths (numgrad.differences.repeated, .fixed),
    each of which adds its own condition on h: a callable batched f, the central method, a float64 array x,
    on this machine in the engine's own stacks (no chunk size, no executor)."""
    return (
        batched is True
        and type(method) is str
        and method == "central"
        and chunk_size is None
        and executor is None
        and type(x) is np.ndarray
        and x.dtype == _FLOAT64
        and callable(f)
    )


def joined_fits(p: Problem, rows: int) -> bool:
    """Whether a local batched f's first stack has room for `rows` full rows beside perturbed points
    (:func:`evaluate_joined`)."""
    return (
        p.batched
        and p.executor is None
        and p.chunk_size is None
        and nm.CHUNK_BYTES // max(1, p.x.size * p.x.dtype.itemsize) >= 2 * rows
    )


def evaluate_joined(
    p: Problem, rows: NDArray[Any], values: NDArray[Any], coords: NDArray[np.intp]
) -> tuple[NDArray[Any], NDArray[Any], np.dtype[Any]]:
    """A local batched f (:func:`joined_fits`) at the full `rows` and at x with coordinate ``coords[k]``
    set to ``values[k]``, the rows in the first stack beside the first points (one call of f fewer than
    :func:`evaluate_points` and :func:`evaluate` would take): their values, as those two give them, and
    the dtype f returned on the first stack (as :func:`evaluate_points_typed`)."""
    m, total = len(rows), len(rows) + len(values)
    raw = _on_stacks(p, _joined_stacks(p, rows, values, coords), total)
    vals = raw.astype(p.value_dtype, copy=False)
    return vals[:m], vals[m:], raw.dtype


def evaluate_stack(p: Problem, stack: NDArray[Any]) -> NDArray[Any]:
    """A local batched f on one read-only stack of points, as :func:`evaluate_joined` evaluates its first:
    f's values, checked, shape (len(stack), *out), in float64 or in the coarser dtype f returned."""
    k = len(stack)
    with np.errstate(all="ignore"):  # non-finite values are reported by the engine, not as warnings
        checked = _check_stack(p, _call_on_stack(p, stack), k)
    out = np.array(checked, dtype=p.value_dtype)  # a copy of our own: f may keep what it returned
    return _in_their_dtype(p, out, checked.dtype)


def _in_their_dtype(p: Problem, out: NDArray[Any], got: np.dtype[Any]) -> NDArray[Any]:
    """f's values `out` (in the problem's value dtype) in the dtype `got` that f returned where that is
    coarser than x's (f casts to float32), as evaluate_points_typed says; else `out` itself."""
    return out if got == out.dtype or coarser_values(p, got) is None else out.astype(got)


def _call_on_stack(p: Problem, stack: NDArray[Any]) -> Any:
    """A local batched f on one read-only stack, with what it raised told where it was raised."""
    try:
        return p.f(stack)
    except Exception as exc:
        wrote = st.wrote_into(exc, p.func, len(stack))
        if wrote is not None:
            raise wrote from exc
        exc.add_note(f"{p.func}: raised by a batched f on a stack of {len(stack)} points; x is unchanged")
        raise


def _joined_stacks(
    p: Problem, rows: NDArray[Any], values: NDArray[Any], coords: NDArray[np.intp]
) -> Iterator[tuple[int, int, NDArray[Any]]]:
    """:func:`evaluate_joined`'s stacks: the rows with the first points, then the other points as
    :func:`evaluate` hands them over, numbered after the first stack (whose buffer is freed first, so that
    the next one takes its memory: two at once would not stay in cache beside f's temporaries)."""
    flat_x = np.ravel(p.x)
    m, total = len(rows), len(rows) + len(values)
    bounds = st.chunk_bounds(total, flat_x.size * flat_x.itemsize, nm.CHUNK_BYTES)
    split = bounds[0][1]
    where = st.joined_positions(m, coords[: split - m], flat_x.size)
    yield 0, split, st.joined_stack(flat_x, rows, values[: split - m], where, p.x.shape)
    if len(bounds) > 1:
        rest = [(a - split, b - split) for a, b in bounds[1:]]
        others = st.perturbed_stacks(flat_x, values[split - m :], coords[split - m :], rest, p.x.shape)
        for a, b, stack in others:
            yield a + split, b + split, stack


def evaluate(p: Problem, values: NDArray[Any], coords: NDArray[np.intp]) -> NDArray[Any]:
    """f at x with coordinate ``coords[k]`` set to ``values[k]``, for every k; shape (len(k), *out)."""
    flat_x = np.ravel(p.x).astype(p.point_dtype, copy=False)  # read only: rows are built from copies
    if p.batched or p.executor is not None:
        return _chunked(p, flat_x, values, coords).astype(p.value_dtype, copy=False)
    return _evaluate_in_place(p, values, coords, flat_x)


def _wrote(p: Problem, j: int, was: Any, now: Any) -> Exception:
    return mutation_error(p.func, "f", "x", p.x.shape, j, np.asarray(was).item(), np.asarray(now).item())


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
    if fast and not unravel and holder.flags.c_contiguous and holder.dtype in _MEMORYVIEW_FORMATS:
        return _evaluate_scalar_in_place(p, values, coords, holder, point)
    f, j = p.f, -1
    try:
        with np.errstate(all="ignore"):  # non-finite values are reported by the engine, not as warnings
            for k, (j, v) in enumerate(zip(coords.tolist(), values.tolist(), strict=True)):
                where = np.unravel_index(j, p.x.shape) if unravel else j
                original = holder[where]
                try:
                    holder[where] = v
                    out = f(point)
                    if holder[where] != v:  # f wrote into x: O(1) here, the rest is checked by the caller
                        raise _wrote(p, j, original, holder[where])
                    # stored before x is put back: f may return a view of x (np.ravel)
                    vals[k] = out if type(out) in fast else _as_value(p, out, _describe(p, j))
                finally:
                    holder[where] = original
    except Exception as exc:
        _note_raised(p, exc, j)
        raise
    if p.method == "complex":  # f wrote into the complex copy: later points would be wrong
        _unchanged_copy(p, flat_x)
    return vals


def _note_raised(p: Problem, exc: Exception, j: int) -> None:
    """Where f raised in element mode: which perturbed point (numgrad's own MutatedArgumentError says it)."""
    if not isinstance(exc, MutatedArgumentError) and not getattr(exc, "__notes__", None):
        exc.add_note(f"{p.func}: raised by f at x perturbed at index {p.index(j)}")


_MEMORYVIEW_FORMATS = {np.dtype(np.float64): "d", np.dtype(np.float32): "f"}


def _evaluate_scalar_in_place(
    p: Problem, values: NDArray[Any], coords: NDArray[np.intp], holder: NDArray[Any], point: NDArray[Any]
) -> NDArray[Any]:
    """:func:`_evaluate_in_place` for a scalar real f of a contiguous float64 or float32 x: the same points,
    order, checks and values, with x's elements read and written as Python floats through a memoryview of
    the caller's array (no NumPy scalar per access: the loop costs about what the textbook's does)."""
    fmt = _MEMORYVIEW_FORMATS[holder.dtype]
    view: Any = memoryview(holder).cast("B").cast(fmt)  # type: ignore[arg-type, call-overload]  # floats
    out: list[Any] = []
    keep, fast, f, j = out.append, _FAST_RESULTS, p.f, -1
    try:
        with np.errstate(all="ignore"):  # non-finite values are reported by the engine, not as warnings
            for j, v in zip(coords.tolist(), values.tolist(), strict=True):
                original = view[j]
                try:
                    view[j] = v
                    value = f(point)
                    if view[j] != v:  # f wrote into x: O(1) here, the rest is checked by the caller
                        raise _wrote(p, j, original, view[j])
                    keep(value if type(value) in fast else _as_value(p, value, _describe(p, j)))  # (a view)
                finally:
                    view[j] = original
    except Exception as exc:
        _note_raised(p, exc, j)
        raise
    finally:
        view.release()
    return np.array(out, dtype=p.value_dtype).reshape(len(coords))


def _unchanged_copy(p: Problem, flat_x: NDArray[Any]) -> None:
    j = changed_at(flat_x.real, np.ravel(p.x))
    if j is not None or np.any(flat_x.imag):
        j = j if j is not None else int(np.flatnonzero(flat_x.imag)[0])
        raise _wrote(p, j, np.ravel(p.x)[j], flat_x[j])


def coarser_values(
    p: Problem, dtype: np.dtype[Any], near: NDArray[Any] | None = None
) -> np.dtype[Any] | None:
    """The dtype of f's values when they are real floats coarser than x's (f casts a float64 x to
    float32 inside, or rounds its result): their rounding, not x's, bounds what differences resolve.
    Where f returns float64 for a float64 x, `near` (f's values at points near x, not x itself) may say
    so instead: float32 where they all lie on float32's grid (:func:`on_float32_grid`)."""
    if p.method == "complex":
        return None
    coarser = coarser_than(dtype, p.x.dtype)
    return coarser if coarser is not None or near is None else float32_numbers(near, p.x.dtype)


def confirmed_float32(
    p: Problem, x0: NDArray[np.float64], dtype: np.dtype[Any], near: NDArray[Any]
) -> tuple[np.dtype[Any] | None, int]:
    """:func:`coarser_values` for values at points x ± powers of two (the Hessian's, the hvp's), where a
    float64 f's values can be float32 numbers (x⁴ at 0): float32 only where f's value at
    :func:`~numgrad.common.numerics.irregular_point` is one too. Also the evaluations spent (that one,
    taken only where the first look says float32)."""
    if coarser_values(p, dtype, near) is None:
        return None, 0
    at = np.real(evaluate_points(p, nm.irregular_point(x0, p.x.dtype)[None])).ravel()
    return coarser_values(p, dtype, np.concatenate([np.real(near).ravel(), at])), 1


def float32_input(
    p: Problem, x0: NDArray[np.float64], f0: Any, f_scale: float, *derivs: NDArray[Any]
) -> tuple[bool, int]:
    """Whether a float64 x's scalar f casts its input to float32 (or is no finer than float32 at x), where
    a gradient at x (f(x) = `f0`) predicts it would show: f at
    :func:`~numgrad.common.numerics.float32_cell_point`, where such an f sees x itself, is f(x) exactly
    while the gradient predicts a change of more than FLOAT32_INPUT_MARGIN ulps of |f(x)|. `derivs`: the
    pass's quotients (a check's analytic gradient too: a forward pass below float32's resolution gives
    0); the largest prediction counts. Also the evaluations spent: that one, only where the prediction is
    that large. Its values need not be float32 numbers (``np.sum(w64 * np.tanh(x.astype(np.float32)))``),
    so :func:`float32_numbers` cannot tell."""
    if p.x.dtype != _FLOAT64 or p.grid is not None or p.method == "complex" or p.out_shape is not None:
        return False, 0
    moved = nm.float32_cell_point(x0)
    with np.errstate(all="ignore"):
        change = max(abs(float(np.dot(np.ravel(d), moved - x0))) for d in derivs)
    if not change > nm.FLOAT32_INPUT_MARGIN * nm.eps(_FLOAT64) * max(f_scale, abs(float(np.real(f0)))):
        return False, 0
    at = evaluate_points(p, moved[None].astype(p.x.dtype))[0]
    return bool(at == f0), 1


def float32_numbers(values: NDArray[Any], x_dtype: np.dtype[Any]) -> np.dtype[Any] | None:
    """float32 where a float64 x's function (or gradient) gives float64 `values` that are float32
    numbers (:func:`on_float32_grid`), else None."""
    return np.dtype(np.float32) if x_dtype == _FLOAT64 and on_float32_grid(values) else None


def on_float32_grid(near: NDArray[Any]) -> bool:
    """Whether f's float64 values at points near x (not x itself: 25.0 at (3, 4) says nothing) are float32
    numbers: f computes in float32 and returns a Python float (``tensor.item()``, ``float(np.sum(a32))``)
    or casts back. At least FLOAT32_GRID_POINTS of them, each finite and exactly a float32, not all equal
    (a flat f says nothing). A float64 f's value at an arbitrary point is a float32 with odds ~2**-29."""
    v = np.asarray(np.real(near), dtype=np.float64).reshape(len(near), -1)
    if v.shape[0] < nm.FLOAT32_GRID_POINTS or not np.isfinite(v).all():
        return False
    with np.errstate(over="ignore"):
        exact = bool(np.all(v.astype(np.float32).astype(np.float64) == v))
    return exact and bool(np.any(v != v[0]))


def coarser_than(dtype: np.dtype[Any], x_dtype: np.dtype[Any]) -> np.dtype[Any] | None:
    """`dtype` (of f's values, or of a gradient's) where it is a float coarser than x's, else None."""
    return dtype if dtype.kind == "f" and nm.eps(dtype) > nm.eps(x_dtype) else None


def on_grid(p: Problem, values: NDArray[Any]) -> NDArray[Any]:
    """Points in x's dtype, rounded first to f's coarser grid where it has one (the points f sees: the
    displacements a quotient divides by are then the ones applied)."""
    return values if p.grid is None else values.astype(p.grid).astype(p.x.dtype)


def evaluate_points(p: Problem, points: NDArray[Any]) -> NDArray[Any]:
    """f at arbitrary full points (rows, n); in element mode the caller's x is overwritten and restored."""
    return evaluate_points_typed(p, points)[0]


def evaluate_points_typed(p: Problem, points: NDArray[Any]) -> tuple[NDArray[Any], np.dtype[Any]]:
    """:func:`evaluate_points`, and the dtype of f's value at the first point (of its stack when f is
    batched or runs on an executor), as f returned it: the values themselves are stored as float64."""
    if p.batched or p.executor is not None:
        raw = _chunked(p, points, None, None)
        return raw.astype(p.value_dtype, copy=False), raw.dtype
    vals = np.empty((points.shape[0], *(p.out_shape or ())), dtype=p.value_dtype)
    if p.method == "complex":
        for r, row in enumerate(points):
            vals[r] = _call(p, row.reshape(p.x.shape), lambda: "a probe point near x")
        return vals, vals.dtype
    saved, f = p.x.copy(), p.f
    fast = _FAST_RESULTS if p.out_shape is None else ()
    first: np.dtype[Any] = vals.dtype
    try:
        with np.errstate(all="ignore"):
            for r, row in enumerate(points.reshape(len(points), *p.x.shape)):
                p.x[...] = row
                out = f(p.x)
                if r == 0:
                    first = np.asarray(out).dtype
                j = changed_at(p.x, row)  # O(n), as setting the point is
                if j is not None:
                    raise _wrote(p, j, saved.reshape(-1)[j], p.x.reshape(-1)[j])
                vals[r] = out if type(out) in fast else _as_value(p, out, lambda: "a probe point near x")
    except MutatedArgumentError:
        raise
    except Exception as exc:
        if not getattr(exc, "__notes__", None):
            exc.add_note(f"{p.func}: raised by f at a probe point near x")
        raise
    finally:
        np.copyto(p.x, saved)
    return vals, first

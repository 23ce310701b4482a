"""Chunks of perturbed points on a concurrent.futures executor: what travels, what runs on the worker,
and the errors that say what went wrong.

A task carries x (flat), the changed coordinates and their values; the worker builds the rows itself, so a
chunk of k points costs ``n + 2k`` numbers on the wire instead of ``k·n``. A batched f gets them in the
local path's cache-sized, read-only stacks (:mod:`numgrad.differences.stacks`); f point by point gets the
rows of :func:`stack_rows`. Either way each coordinate is set to its value by assignment, so every executor
sees bitwise the same points.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from concurrent.futures import (
    FIRST_EXCEPTION,
    BrokenExecutor,
    CancelledError,
    Executor,
    Future,
    ProcessPoolExecutor,
    wait,
)
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.common import numerics as nm
from numgrad.common.guard import MutatedArgumentError, changed_at
from numgrad.differences import stacks as st

# A task: (base, values, coords). values None: base holds full rows (k, n); else base is x, flat (n,).
Task = tuple[NDArray[Any], NDArray[Any] | None, NDArray[np.intp] | None]


def stack_rows(base: NDArray[Any], values: NDArray[Any], coords: NDArray[np.intp]) -> NDArray[Any]:
    """Rows of the base point, row k with coordinate ``coords[k]`` set to ``values[k]``."""
    rows = np.repeat(base.reshape(1, -1), len(coords), axis=0)
    rows[np.arange(len(coords)), coords] = values
    return rows


def _where(k: int, coords: NDArray[np.intp] | None, shape: tuple[int, ...]) -> str:
    if coords is None:
        return "a probe point near x"
    return f"x perturbed at index {tuple(int(i) for i in np.unravel_index(int(coords[k]), shape))}"


def _unpickled(payload: bytes) -> Callable[..., Any]:
    try:
        f: Callable[..., Any] = pickle.loads(payload)
    except Exception as exc:
        raise TypeError(
            f"f could not be unpickled in the worker process ({type(exc).__name__}: {exc}). Worker "
            f"processes import f by module and name: define f in an importable module (not in an "
            f"interactive session or notebook) or run from a script"
        ) from None
    return f


def evaluate_rows(
    f: Callable[..., Any] | bytes,
    base: NDArray[Any],
    values: NDArray[Any] | None,
    coords: NDArray[np.intp] | None,
    shape: tuple[int, ...],
    batched: bool,
) -> list[tuple[int, Any]]:
    """Worker side (module level, so process pools can pickle it): f at the points of one task, as
    ``(k, values of k points)`` pairs in order, for the engine to check.

    `f` arrives pickled (bytes) from process pools, so that a worker that cannot import it says so. A
    batched f gets the task's points in cache-sized stacks of one re-used, read-only buffer, as on the
    local machine (:mod:`numgrad.differences.stacks`).
    """
    fn = _unpickled(f) if isinstance(f, bytes) else f
    if batched:
        return _batched_rows(fn, base, values, coords, shape)
    rows = base if values is None or coords is None else stack_rows(base, values, coords)
    before = rows.copy()  # f must not write into the points it is handed: checked after each call
    out = []
    with np.errstate(all="ignore"):  # non-finite values are reported by the engine, not as warnings
        for k, row in enumerate(rows):
            try:
                out.append(np.asarray(fn(row.reshape(shape))))
            except Exception as exc:
                exc.add_note(f"raised by f at {_where(k, coords, shape)}")
                raise
            _unwritten(row, before[k], shape, "f")
    return [(len(rows), np.array(out))]


def _batched_rows(
    fn: Callable[..., Any],
    base: NDArray[Any],
    values: NDArray[Any] | None,
    coords: NDArray[np.intp] | None,
    shape: tuple[int, ...],
) -> list[tuple[int, Any]]:
    total = len(base) if values is None or coords is None else len(values)
    bounds = st.chunk_bounds(total, base.shape[-1] * base.itemsize, nm.CHUNK_BYTES)
    if values is None or coords is None:
        stacks = st.row_stacks(base, bounds, shape)
    else:
        stacks = st.perturbed_stacks(base, values, coords, bounds, shape)
    parts = []
    with np.errstate(all="ignore"):  # non-finite values are reported by the engine, not as warnings
        for a, b, stack in stacks:
            try:
                part = fn(stack)
            except Exception as exc:
                wrote = st.wrote_into(exc, "", b - a)
                if wrote is not None:
                    raise wrote from exc
                exc.add_note(f"raised by a batched f on a stack of {b - a} points")
                raise
            parts.append((b - a, np.array(part)))  # a copy: the next chunk re-uses the stack
    return parts


def _unwritten(rows: NDArray[Any], before: NDArray[Any], shape: tuple[int, ...], who: str) -> None:
    j = changed_at(rows, before)
    if j is not None:
        n = max(1, int(np.prod(shape)))
        raise MutatedArgumentError(
            f"{who} wrote into its argument (element {tuple(int(i) for i in np.unravel_index(j % n, shape))} "
            f"of a point changed from {before.reshape(-1)[j].item()!r} to {rows.reshape(-1)[j].item()!r}); "
            f"the caller's x is unchanged, but f must only read its argument: copy inside f before "
            f"modifying it (v = v.copy())"
        )


def payload(func: str, f: Callable[..., Any], executor: Executor) -> Callable[..., Any] | bytes:
    """What is sent as f: pickled once, up front, for process pools (a clear error if it does not
    pickle); f itself for any other executor, which serializes it its own way (Dask: cloudpickle)."""
    if not isinstance(executor, ProcessPoolExecutor):
        return f
    try:
        return pickle.dumps(f)
    except Exception as exc:
        raise TypeError(
            f"{func}: f cannot be sent to the process pool ({type(exc).__name__}: {exc}). Process pools "
            f"pickle f by module and name, so lambdas, local functions and closures do not travel: define "
            f"f at module level (functools.partial of one is fine), or use a Dask client's executor, "
            f"which sends lambdas and closures with cloudpickle"
        ) from None


def executor_workers(executor: Executor) -> int:
    """How many tasks the executor runs at once: ``_max_workers`` of the standard pools, the threads of
    a Dask client's workers; :data:`~numgrad.common.numerics.DEFAULT_EXECUTOR_WORKERS` when unknown."""
    count: Any = getattr(executor, "_max_workers", None)
    client = getattr(executor, "_client", None)  # dask.distributed's ClientExecutor
    if count is None and client is not None:
        try:
            count = sum(client.nthreads().values())
        except Exception:  # an asynchronous, closed or unreachable client: fall back to the default
            count = None
    ok = isinstance(count, int | np.integer) and not isinstance(count, bool) and count > 0
    return int(count) if ok else nm.DEFAULT_EXECUTOR_WORKERS


def run_tasks(
    func: str,
    executor: Executor,
    f: Callable[..., Any],
    tasks: Sequence[Task],
    batched: bool,
    shape: tuple[int, ...],
) -> list[list[tuple[int, Any]]]:
    """Submit every task, then collect the results in order; the first failure cancels the rest."""
    sent = payload(func, f, executor)
    futures: list[Future[Any]] = []
    try:
        for base, values, coords in tasks:
            futures.append(executor.submit(evaluate_rows, sent, base, values, coords, shape, batched))
    except (TypeError, AttributeError, pickle.PicklingError) as exc:  # the executor could not serialize f
        _cancel(futures)
        raise TypeError(
            f"{func}: f could not be sent to the executor's workers ({_root_cause(exc)}). f and everything "
            f"it refers to must serialize (Dask uses cloudpickle: lambdas and closures travel, but locks, "
            f"open files, sockets and clients do not): create such objects inside f"
        ) from exc
    except BaseException as exc:
        _cancel(futures)
        exc.add_note(
            f"{func}: the executor refused a chunk of perturbed points; pass a running executor (this one "
            f"may be shut down or broken)"
        )
        raise
    return _gather(func, futures)


def _gather(func: str, futures: list[Future[Any]]) -> list[Any]:
    try:
        wait(futures, return_when=FIRST_EXCEPTION)
        for i, fut in enumerate(futures):
            if fut.done() and (fut.cancelled() or fut.exception() is not None):
                raise _failure(func, fut, i, len(futures))
        return [fut.result() for fut in futures]
    except BaseException:
        _cancel(futures)  # also on KeyboardInterrupt: nothing keeps running for a result nobody reads
        raise


def _failure(func: str, fut: Future[Any], i: int, chunks: int) -> BaseException:
    """The exception of a failed chunk, with a note that says what happened."""
    done = "the other chunks were cancelled; nothing was returned and x is unchanged"
    if fut.cancelled():
        exc: BaseException = CancelledError()
        exc.add_note(f"{func}: a chunk of perturbed points was cancelled in the executor; {done}")
        return exc
    exc = fut.exception() or RuntimeError("unknown executor failure")
    died = "f called os._exit, crashed, or was killed, e.g. for memory"
    if isinstance(exc, BrokenExecutor):
        exc.add_note(
            f"{func}: a worker process died while evaluating f ({died}); {done}. The process pool is broken "
            f"now and cannot be used again: create a new one"
        )
        return exc
    if type(exc).__name__ == "KilledWorker":  # dask.distributed, after its retries
        exc.add_note(f"{func}: Dask workers died while evaluating f ({died}) and Dask gave up; {done}")
        return exc
    if isinstance(exc, MutatedArgumentError) and not str(exc).startswith(f"{func}: "):
        named = MutatedArgumentError(f"{func}: {exc} (in an executor worker, chunk {i + 1} of {chunks})")
        named.__cause__ = exc.__cause__
        return named  # as every other MutatedArgumentError, it names the public function
    exc.add_note(f"{func}: f raised in an executor worker (chunk {i + 1} of {chunks}); {done}")
    return exc


def _cancel(futures: list[Future[Any]]) -> None:
    for fut in futures:
        fut.cancel()


def _root_cause(exc: BaseException) -> str:
    """The innermost explicit cause (Dask: cloudpickle's error, not the plain-pickle attempt before it)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {exc}"

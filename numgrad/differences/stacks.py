"""Stacks of points for a batched f: cache-sized chunks of one re-used, read-only buffer (issue 17).

The local batched path (:mod:`numgrad.differences.engine`) and an executor's worker
(:mod:`numgrad.differences.executors`) both hand f its points through :func:`perturbed_stacks` (x with one
coordinate changed per row) or :func:`row_stacks` (full rows, as the probe's), in chunks of
:func:`chunk_bounds`. One buffer of the largest chunk is filled with x once; each chunk sets its changed
coordinates, f reads a read-only view, the coordinates are put back. A stack costs O(k) per chunk instead of
a fresh O(k·n) copy, and f's own temporaries, of the chunk's size, are reused from the heap. That buffer
is placed so that the block after it, where f's first temporary lands, starts on a cache line
(:func:`repeated_rows`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.common import numerics as nm
from numgrad.common.guard import MutatedArgumentError

_allocator_settled = False


def settle_allocator() -> None:
    """Once per process: allocate and free an untouched block of ALLOCATOR_SETTLE_BYTES (see numerics).

    glibc serves blocks above its mmap threshold (128 KiB in a new process) by a fresh mmap, and returns
    free memory above its trim threshold (also 128 KiB) to the system, so in a new process every call of a
    batched f that holds two cache-sized temporaries at once maps or trims them again and page-faults on
    every 4 KiB of them. Freeing one mapped block raises both thresholds (to its size and twice that), as
    it does in any process that has freed a large array; the block is never touched, so it costs one
    mmap/munmap pair. Other allocators ignore it.
    """
    global _allocator_settled  # noqa: PLW0603  (once per process)
    if not _allocator_settled:
        _allocator_settled = True
        block = np.empty(nm.ALLOCATOR_SETTLE_BYTES, dtype=np.uint8)
        del block


def _heap_chunk(nbytes: int) -> int:
    """The bytes glibc's malloc takes for a request of `nbytes`: with its 8-byte size field, rounded up to
    16, at least 32. The next block it hands out from the top of the heap starts that far on."""
    return max(32, (nbytes + 8 + 15) & ~15)


def repeated_rows(base: NDArray[Any], count: int) -> NDArray[Any]:
    """`count` copies of flat `base` as rows, ``(count, base.size)``: ``np.repeat(base.reshape(1, -1), count,
    axis=0)``, in a buffer a few bytes longer where that makes the heap block after it start on a cache line
    (``numerics.STACK_FOLLOWER_ALIGNMENT``), where f's first temporary of the stack's size lands. Other
    allocators than glibc's just get the few bytes more. For the chunked path's buffer, re-used by every
    chunk of a call: a single stack (:func:`joined_stack`, the one-stack paths) is np.repeat's, where the
    placement measured slower (MSE (10,10), one stack of 200 points: 66 µs against 57 at h=1e-4)."""
    line, size = nm.STACK_FOLLOWER_ALIGNMENT, count * base.nbytes
    raw = np.empty(size, dtype=np.uint8)
    for _ in range(2):  # the longer request takes the same address, unless the heap had a hole just its size
        miss = (raw.ctypes.data + _heap_chunk(size)) % line
        if not miss:
            break
        size += line - miss
        del raw
        raw = np.empty(size, dtype=np.uint8)
    rows = raw[: count * base.nbytes].view(base.dtype).reshape(count, base.size)
    rows[...] = base.reshape(1, -1)
    return rows


def chunk_bounds(total: int, row_bytes: int, budget: int, parts: int = 1) -> list[tuple[int, int]]:
    """Nearly equal chunks ``(a, b)`` of ``range(total)``, each within `budget` bytes of rows, and at least
    `parts` of them where there are that many rows (an executor's tasks)."""
    size = max(1, budget // max(1, row_bytes))
    if parts > 1:
        size = max(1, min(size, math.ceil(total / parts)))
    if total <= size:
        return [(0, total)]
    m = math.ceil(total / size)
    return [(total * i // m, total * (i + 1) // m) for i in range(m)]


def fixed_bounds(total: int, size: int) -> list[tuple[int, int]]:
    """Chunks of `size` rows (the caller's ``chunk_size``), the last one shorter."""
    return [(a, min(a + size, total)) for a in range(0, total, size)]


def perturbed_stacks(
    base: NDArray[Any],
    values: NDArray[Any],
    coords: NDArray[np.intp],
    bounds: list[tuple[int, int]],
    shape: tuple[int, ...],
) -> Iterator[tuple[int, int, NDArray[Any]]]:
    """``(a, b, stack)`` for every chunk: a read-only stack ``(b − a, *shape)`` whose row k is `base`
    (flat x) with coordinate ``coords[a + k]`` set to ``values[a + k]``.

    The stack is a view of one buffer that the next chunk re-uses: take what f returned (a copy) before
    asking for the next chunk.
    """
    settle_allocator()
    n, width = base.size, max(b - a for a, b in bounds)
    single = len(bounds) == 1
    # the re-used buffer is placed for f's temporaries (repeated_rows); a single stack is np.repeat's
    rows = np.repeat(base.reshape(1, -1), width, axis=0) if single else repeated_rows(base, width)
    flat = rows.reshape(-1)
    if single:  # one stack (small problems, the probe's and tests' few points): nothing re-used
        flat[_diagonal(len(coords), n) + coords] = values
        only = rows.reshape(width, *shape)
        only.flags.writeable = False
        yield 0, width, only
        return
    # flat position of each changed element: its row within its chunk times n, plus its coordinate
    lane = np.arange(len(coords)) - np.repeat([a for a, _ in bounds], [b - a for a, b in bounds])
    where = lane * n + coords
    original = base[coords]
    views: dict[int, NDArray[Any]] = {}  # one view per chunk length (equal chunks: one or two)
    for a, b in bounds:
        k, at = b - a, where[a:b]
        flat[at] = values[a:b]
        stack = views.get(k)
        if stack is None:
            stack = views[k] = rows[:k].reshape(k, *shape)
        stack.flags.writeable = False  # again each chunk: f may not have left it so
        yield a, b, stack
        flat[at] = original[a:b]


def joined_stack(
    base: NDArray[Any],
    rows: NDArray[Any],
    values: NDArray[Any],
    where: NDArray[np.intp],
    shape: tuple[int, ...],
) -> NDArray[Any]:
    """One read-only stack ``(len(rows) + len(values), *shape)``: the full `rows` first, then `base` (flat
    x) with one coordinate set to ``values[k]`` per row (what two calls would get, in one); `where`: the
    flat position of each in the stack (:func:`joined_positions`)."""
    settle_allocator()
    stack = np.repeat(base.reshape(1, -1), len(rows) + len(values), axis=0)
    stack[: len(rows)] = rows
    stack.reshape(-1)[where] = values
    out = stack.reshape(len(stack), *shape)
    out.flags.writeable = False
    return out


def joined_positions(m: int, coords: NDArray[np.intp], n: int) -> NDArray[np.intp]:
    """The flat position of each set coordinate in a stack of rows of n after `m` full rows
    (:func:`joined_stack`): row ``m + k`` sets ``coords[k]``."""
    return _diagonal(len(coords), n) + (m * n + coords)


@functools.lru_cache(maxsize=64)
def _diagonal(k: int, n: int) -> NDArray[np.intp]:
    """``0, n, 2n, ...``: the flat start of each of k rows of n (read-only)."""
    starts = np.arange(0, k * n, n)
    starts.flags.writeable = False
    return starts


def row_stacks(
    rows: NDArray[Any], bounds: list[tuple[int, int]], shape: tuple[int, ...]
) -> Iterator[tuple[int, int, NDArray[Any]]]:
    """``(a, b, stack)``: read-only views ``(b − a, *shape)`` of full rows ``(total, n)``."""
    settle_allocator()
    for a, b in bounds:
        stack = rows[a:b].reshape(b - a, *shape)  # a new view (or a copy): rows stay writable
        stack.flags.writeable = False
        yield a, b, stack


def wrote_into(exc: BaseException, func: str, k: int) -> BaseException | None:
    """The error to raise instead of `exc` where a batched f wrote into its read-only stack, else None."""
    if not (isinstance(exc, ValueError) and "read-only" in str(exc)):
        return None
    prefix = f"{func}: " if func else ""
    return MutatedArgumentError(
        f"{prefix}a batched f wrote into its argument (a read-only stack of {k} points: {exc}); the caller's "
        f"x is unchanged, but f must only read its argument: copy inside f before modifying it "
        f"(s = s.copy())"
    )

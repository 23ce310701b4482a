"""Every workload of bench_gradient.py and the book's small problems, each sample in a fresh interpreter,
beside the same figures measured warm (issue 17).

    uv run python benchmarks/bench_fresh.py            # 7 fresh samples per row (a few minutes)
    uv run python benchmarks/bench_fresh.py --samples 3 --rows small   # the book's small problems only
    uv run python benchmarks/bench_fresh.py --statistic min   # each interpreter's fastest call
    uv run python benchmarks/bench_fresh.py --clock cpu       # this thread's CPU time, not wall time

A user's first calls run in a process that has not yet allocated and freed a large block, where glibc
still maps every large temporary fresh from the system and page-faults on it; a benchmark that has already
run other work hides that. Here each sample is a new interpreter that builds the workload, makes one
untimed call of one method (imports, caches), then times CALLS calls of it and takes their median; then
does the same for the textbook loop in the same interpreter (before the method in every other sample).
The loop's arrays are small, so it leaves glibc's thresholds as a new process has them. Samples of all
rows are taken in turn (A B C, C B A, ...), and each row's ratio is the median over its interpreters of
each one's loop time over its method time: a ratio against a baseline run in the same process, which
holds on a machine whose speed moves by 2x from one second to the next (as this shared one does), where a
ratio of two rows' separate medians moved by a third. The warm column times the same calls in one
process, after a 64 MiB block was allocated and freed, interleaved as in bench_gradient.py. A second table
gives each row's fresh ratios' quartiles.

Functions are written the natural way: ``take_along_axis`` for the batched softmax cross-entropy,
``sum(axis=(-1, -2))`` for the batched MSE.

On a machine shared with other jobs, wall time includes their time slices whenever a call is preempted
(a few ms, longer than most calls here); ``--clock cpu`` times the thread's CPU time instead
(``time.thread_time``: every method here runs in one thread), which the other jobs leave alone.

Two bounds: the 2n points of a central difference built once (not timed) and evaluated in one call of f
(as bench_gradient.py's), and the same points in calls of at most CHUNK_BYTES, as the engine hands them
to f (from n = 1000 one call of 16 MB is slower than cache-sized ones; at n = 100 they are the same call).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from numgrad.bench.measure import textbook_gradient  # the baseline loop; no JAX import

CALLS = 5  # timed calls per fresh interpreter (after one untimed call)
GRADIENT_METHODS = (
    "textbook", "element", "element_h", "batched", "batched_h", "bound", "bound_chunked", "textbook_plain",
)  # fmt: skip
SMALL_METHODS = ("textbook", "numgrad_h", "numgrad")
WORKLOADS = ("softmax-CE (10,10)", "softmax-CE (100,10)", "MSE (100,10)")
SMALL = ("numerical_gradient x0²+x1² at (3,4)", "gradient_descent 100 steps, lr 0.1")


def _workload(name: str) -> tuple[Any, Callable[[Any], Any], Callable[[Any], Any], Callable[[Any], Any]]:
    """x, the scalar f (numgrad's own losses, validated at every call, as in bench_gradient.py), the batched
    f as a user writes it, and the scalar f in plain NumPy (same data as numgrad.bench.harness)."""
    from numgrad.book.losses import mean_squared_error, softmax_cross_entropy

    if name.startswith("softmax-CE"):
        batch = int(name.split("(", 1)[1].split(",", 1)[0])
        rng = np.random.default_rng(batch)
        z, t = 3 * rng.standard_normal((batch, 10)), rng.integers(0, 10, batch)

        def log_softmax(s: Any) -> Any:
            shifted = s - s.max(axis=-1, keepdims=True)
            return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))

        def batched(s: Any) -> Any:
            picked = np.take_along_axis(
                log_softmax(s), np.broadcast_to(t[:, None], (*s.shape[:-1], 1)), axis=-1
            )
            return -picked.mean(axis=(-1, -2))

        rows = np.arange(batch)
        return z, lambda s: softmax_cross_entropy(s, t), batched, lambda s: -log_softmax(s)[rows, t].mean()
    rng = np.random.default_rng(101)
    y, target = rng.random((100, 10)), rng.random((100, 10))
    return (
        y,
        lambda s: mean_squared_error(s, target),
        lambda s: 0.5 * ((s - target) ** 2).sum(axis=(-1, -2)),
        lambda s: 0.5 * np.sum((s - target) ** 2),
    )


def _bound_stack(x: Any) -> Any:
    """The bound's 2n points x ± 1e-4·e_i, offset-major, as one stack."""
    n = x.size
    flat = np.repeat(x.reshape(1, -1), 2 * n, axis=0)
    idx = np.arange(n)
    flat[idx, idx] += 1e-4
    flat[n + idx, idx] -= 1e-4
    return flat.reshape(2 * n, *x.shape)


def _bound_call(x: Any, batched: Callable[[Any], Any]) -> Callable[[], Any]:
    n, stack = x.size, _bound_stack(x)

    def call() -> Any:
        vals = batched(stack)
        return (vals[:n] - vals[n:]) / 2e-4

    return call


def chunked_bound_call(x: Any, batched: Callable[[Any], Any]) -> Callable[[], Any]:
    """The bound evaluated as the engine evaluates: the same 2n points, built once (not timed), handed to
    f in stacks of at most CHUNK_BYTES (what f itself costs in cache-sized calls, without numgrad)."""
    from numgrad.common import numerics as nm
    from numgrad.differences import stacks

    n, stack = x.size, _bound_stack(x)
    bounds = stacks.chunk_bounds(2 * n, x.nbytes, nm.CHUNK_BYTES)
    stacks.settle_allocator()  # as the engine does once per process

    def call() -> Any:
        vals = np.concatenate([batched(stack[a:b]) for a, b in bounds])
        return (vals[:n] - vals[n:]) / 2e-4

    return call


def _textbook_descent(f: Callable[[Any], Any], init_x: Any) -> Any:
    x = init_x.copy()
    for _ in range(100):
        x -= 0.1 * textbook_gradient(f, x)
    return x


def make_call(workload: str, method: str) -> Callable[[], Any]:
    """One call of `method` on `workload` (what a sample times)."""
    from numgrad.book.optimize import gradient_descent
    from numgrad.differences.gradient import numerical_gradient

    if workload in SMALL:
        f = lambda v: v[0] ** 2 + v[1] ** 2  # noqa: E731  (the book's function_2)
        if workload.startswith("numerical_gradient"):
            x = np.array([3.0, 4.0])
            return {
                "textbook": lambda: textbook_gradient(f, x),
                "numgrad_h": lambda: numerical_gradient(f, x, h=1e-4),
                "numgrad": lambda: numerical_gradient(f, x),
            }[method]
        start = np.array([-3.0, 4.0])
        return {
            "textbook": lambda: _textbook_descent(f, start),
            "numgrad_h": lambda: gradient_descent(f, start, 0.1, 100, h=1e-4),
            "numgrad": lambda: gradient_descent(f, start, 0.1, 100),
        }[method]
    x, f, batched, plain = _workload(workload)
    if method == "bound":
        return _bound_call(x, batched)
    if method == "bound_chunked":
        return chunked_bound_call(x, batched)
    return {
        "textbook": lambda: textbook_gradient(f, x.copy()),
        "textbook_plain": lambda: textbook_gradient(plain, x.copy()),
        "element": lambda: numerical_gradient(f, x),
        "element_h": lambda: numerical_gradient(f, x, h=1e-4),
        "batched": lambda: numerical_gradient(batched, x, batched=True),
        "batched_h": lambda: numerical_gradient(batched, x, batched=True, h=1e-4),
    }[method]


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def _times(call: Callable[[], Any], calls: int, clock: Callable[[], float]) -> list[float]:
    times = []
    for _ in range(calls):
        start = clock()
        call()
        times.append(clock() - start)
    return times


def child(workload: str, method: str, clock: str = "wall", loop_first: bool = False) -> None:
    """A fresh interpreter's sample: one untimed call of the method, then CALLS calls of it, one after
    another as a user's repeated calls; and the same for the textbook loop, the baseline, in the same
    interpreter, before or after the method (samples alternate: neither always has the other's leftovers).
    The loop's arrays are small: glibc's thresholds stay as a new process has them either way. Prints the
    method's median and minimum, then the loop's (seconds, one line each)."""
    times = {}
    for name in ("textbook", method) if loop_first else (method, "textbook"):
        call = make_call(workload, name)
        call()
        times[name] = _times(call, CALLS, CLOCKS[clock])
    for name in (method, "textbook"):
        print(repr(statistics.median(times[name])))
        print(repr(min(times[name])))


def rows(which: str = "all") -> list[tuple[str, str]]:
    gradient = [(w, m) for w in WORKLOADS for m in GRADIENT_METHODS[1:]]
    small = [(w, m) for w in SMALL for m in SMALL_METHODS[1:]]
    return {"all": gradient + small, "gradient": gradient, "small": small}[which]


@dataclass(frozen=True)
class Fresh:
    """Fresh samples: for each row (workload, method) every interpreter's ratio of the textbook loop's
    time to the method's, both timed in that interpreter; for each workload every interpreter's loop time."""

    ratios: dict[tuple[str, str], list[float]]
    textbook: dict[str, list[float]]

    def times(self) -> dict[tuple[str, str], float]:
        """The times :func:`table` reads: each workload's loop at the median of its interpreters, each
        method at that over the median of its ratios (so the table's ratios are those medians)."""
        out: dict[tuple[str, str], float] = {}
        for w, loops in self.textbook.items():
            out[(w, "textbook")] = statistics.median(loops)
        for (w, m), ratios in self.ratios.items():
            out[(w, m)] = out[(w, "textbook")] / statistics.median(ratios)
        return out


def fresh_samples(samples: int, which: str = "all", statistic: str = "median", clock: str = "wall") -> Fresh:
    """`samples` interpreters per row, rows in turn (A B C, C B A, ...); each interpreter's median (or
    minimum) call of the method and of the textbook loop."""
    order = rows(which)
    fresh = Fresh({key: [] for key in order}, {w: [] for w, _ in order})
    pick = 0 if statistic == "median" else 1
    for r in range(samples):
        for key in order if r % 2 == 0 else reversed(order):
            first = ["--loop-first"] if r % 2 else []
            out = subprocess.run(
                [sys.executable, __file__, "--clock", clock, *first, "--child", *key],
                capture_output=True,
                text=True,
                check=True,
            )
            values = [float(v) for v in out.stdout.split()]  # method median, min; loop median, min
            method, loop = values[pick], values[2 + pick]
            fresh.ratios[key].append(loop / method)
            fresh.textbook[key[0]].append(loop)
    return fresh


def spread(fresh: Fresh) -> str:
    """Each row's per-interpreter ratios: median and quartiles (times faster than the loop for gradients,
    times slower for the small problems, as in the table)."""
    lines = ["| workload | method | interpreters | median | quartiles |", "|---|---|---|---|---|"]
    for (w, m), ratios in fresh.ratios.items():
        values = ratios if w not in SMALL else [1 / r for r in ratios]
        q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        lines.append(f"| {w} | {m} | {len(values)} | {statistics.median(values):.2f}x | {q1:.2f}–{q3:.2f}x |")
    return "\n".join(lines)


def warm_medians(samples: int, which: str = "all", clock: str = "wall") -> dict[tuple[str, str], float]:
    from numgrad.bench.measure import interleaved_medians

    block = np.ones(8 * 2**20)  # 64 MiB allocated and freed: glibc's mmap threshold rises, as in any
    del block  # process that has done some work
    out: dict[tuple[str, str], float] = {}
    for w in {"all": (*WORKLOADS, *SMALL), "gradient": WORKLOADS, "small": SMALL}[which]:
        methods = GRADIENT_METHODS if w in WORKLOADS else SMALL_METHODS
        calls = {m: make_call(w, m) for m in methods}
        medians = interleaved_medians(calls, repeats=max(7, 3 * samples), budget=0.05, clock=CLOCKS[clock])
        out.update({(w, m): t for m, t in medians.items()})
    return out


def table(fresh: dict[tuple[str, str], float], warm: dict[tuple[str, str], float]) -> str:
    """Ratios against the textbook loop: times faster (gradients) and times slower (small problems)."""
    lines = [
        "| workload | textbook loop (fresh / warm) | element-by-element | element, h=1e-4 | batched "
        "| batched, h=1e-4 | bound (2n evals, 1 call) | bound, cache-sized calls | bound / batched "
        "| cache-sized bound / batched | bound / batched, h=1e-4 | textbook loop, plain-NumPy f "
        "| batched vs that loop |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for w in [w for w in WORKLOADS if (w, "textbook") in fresh]:
        tf, tw = fresh[(w, "textbook")], warm[(w, "textbook")]
        cells = [f"{tf * 1e3:.2f} / {tw * 1e3:.2f} ms"]
        cells += [f"{tf / fresh[(w, m)]:.2f}x / {tw / warm[(w, m)]:.2f}x" for m in GRADIENT_METHODS[1:-1]]
        for bound, method in (("bound", "batched"), ("bound_chunked", "batched"), ("bound", "batched_h")):
            ratio = [fresh[(w, bound)] / fresh[(w, method)], warm[(w, bound)] / warm[(w, method)]]
            cells.append(f"{ratio[0]:.0%} / {ratio[1]:.0%}")
        pf, pw = fresh[(w, "textbook_plain")], warm[(w, "textbook_plain")]
        cells.append(f"{pf * 1e3:.2f} / {pw * 1e3:.2f} ms")
        cells.append(f"{pf / fresh[(w, 'batched')]:.2f}x / {pw / warm[(w, 'batched')]:.2f}x")
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| call (x0² + x1²) | textbook loop (fresh / warm) | numgrad, h=1e-4 | numgrad, automatic step |",
        "|---|---|---|---|",
    ]
    for w in [w for w in SMALL if (w, "textbook") in fresh]:
        tf, tw = fresh[(w, "textbook")], warm[(w, "textbook")]
        unit, scale = ("µs", 1e6) if w.startswith("numerical") else ("ms", 1e3)
        cells = [f"{tf * scale:.1f} / {tw * scale:.1f} {unit}"]
        cells += [f"{fresh[(w, m)] / tf:.2f}x / {warm[(w, m)] / tw:.2f}x slower" for m in SMALL_METHODS[1:]]
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=7, help="fresh interpreters per row")
    parser.add_argument("--rows", choices=("all", "gradient", "small"), default="all",
                        help="which table to measure (default: both)")  # fmt: skip
    parser.add_argument("--statistic", choices=("median", "min"), default="median",
                        help="of each interpreter's calls (min: robust to a loaded machine's preemptions)")  # fmt: skip
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="wall time (default) or this thread's CPU time (a machine shared with other jobs)")  # fmt: skip
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--loop-first", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.clock, args.loop_first)
        return
    from numgrad.bench.harness import machine_info

    print(f"machine: {machine_info()}; fresh: per row, the median over {args.samples} interpreters of each one's "
          f"textbook loop over the method, each the {args.statistic} of {CALLS} calls after one untimed call; "
          f"warm: one process; clock: {args.clock}\n")  # fmt: skip
    fresh = fresh_samples(args.samples, args.rows, args.statistic, args.clock)
    print(table(fresh.times(), warm_medians(args.samples, args.rows, args.clock)))
    print(f"\nFresh ratios, one per interpreter ({args.statistic} of its calls):\n")
    print(spread(fresh))


if __name__ == "__main__":
    main()

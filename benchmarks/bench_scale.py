"""Scale-out of perturbations: a black box that costs ~10 ms a call, with 1 and 2 workers.

The gradient of a black-box f (an external program or simulator: milliseconds per call, no autodiff) on a
ProcessPoolExecutor and on a Dask LocalCluster (worker processes on 127.0.0.1), against the plain serial
loop. Prints the time, the speedup from 1 to 2 workers and the overhead per chunk, measured with a free f.

The default black box sleeps (``--kind sleep``): it simulates waiting on an external program, so the
speedup does not depend on how busy the machine's cores are. ``--kind cpu`` burns a fixed amount of NumPy
work instead (~10 ms on an idle core): then 2 workers need 2 free cores.

    uv run python benchmarks/bench_scale.py                # sleep black box, n = 50
    uv run python benchmarks/bench_scale.py --kind cpu
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any, NamedTuple

import numpy as np

from numgrad import numerical_gradient
from numgrad.common import numerics as nm

COST = 0.010  # seconds per call of the black box: the "~10 ms"
N = 50  # variables: 2n + 6 (probe) and the refinement's few, 111 calls, ~1.1 s serial
FREE_CHUNKS = 200  # chunks of one point each, to measure the executor's own cost per chunk
BOOK_STEP = 1e-4  # an explicit step: exactly 2n points, no probe, for the per-chunk count


def value(x: np.ndarray) -> float:
    return float(np.sum(np.sin(x) * x**2) + 0.1 * np.sum(x) ** 2)


def sleepy(x: np.ndarray, cost: float) -> float:
    """A black box that waits `cost` seconds (an external program), then answers."""
    time.sleep(cost)
    return value(x)


def busy(x: np.ndarray, rounds: int) -> float:
    """A black box that does `rounds` rounds of fixed NumPy work (calibrated to ~10 ms), then answers."""
    a = np.linspace(0.0, 1.0, 4096)
    for _ in range(rounds):
        a = np.sin(a) + np.cos(a) * 0.5
    return value(x) + 0.0 * float(a[0])


def free(x: np.ndarray) -> float:
    return value(x)


def calibrate(cost: float) -> int:
    """Rounds of :func:`busy` work that take about `cost` seconds here (best of a few timings)."""
    rounds = 64
    elapsed = min(_timed(lambda: busy(np.zeros(1), rounds)) for _ in range(5))
    return max(1, round(rounds * cost / elapsed))


def _timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


class Row(NamedTuple):
    executor: str
    workers: int
    seconds: float
    nfev: int


def gradient_time(f: Callable[..., Any], x: np.ndarray, executor: Executor | None, repeat: int) -> float:
    numerical_gradient(f, x, executor=executor)  # warm-up: workers started, modules imported
    return min(_timed(lambda: numerical_gradient(f, x, executor=executor)) for _ in range(repeat))


def per_chunk(executor: Executor, repeat: int) -> float:
    """Seconds per one-point chunk of a free f: submit, serialize, run, return, collect."""
    x = np.linspace(-1.0, 1.0, FREE_CHUNKS // 2)
    run = functools.partial(numerical_gradient, free, x, h=BOOK_STEP, chunk_size=1, executor=executor)
    run()
    return min(_timed(run) for _ in range(repeat)) / FREE_CHUNKS


def process_pools(f: Callable[..., Any], x: np.ndarray, repeat: int) -> tuple[list[Row], float]:
    rows, overhead = [], 0.0
    for workers in (1, 2):
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as ex:
            rows.append(Row("ProcessPoolExecutor", workers, gradient_time(f, x, ex, repeat), 0))
            if workers == 1:
                overhead = per_chunk(ex, repeat)
    return rows, overhead


def dask_clusters(f: Callable[..., Any], x: np.ndarray, repeat: int) -> tuple[list[Row], float, float]:
    from dask.distributed import Client, LocalCluster

    rows, overhead, startup = [], 0.0, 0.0
    for workers in (1, 2):
        start = time.perf_counter()
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=":0", silence_logs=40,
            ) as cluster,
            Client(cluster) as client,
        ):  # fmt: skip
            startup = max(startup, time.perf_counter() - start)
            ex = client.get_executor()
            rows.append(Row("Dask LocalCluster", workers, gradient_time(f, x, ex, repeat), 0))
            if workers == 1:
                overhead = per_chunk(ex, repeat)
    return rows, overhead, startup


def report(serial: float, rows: list[Row], overheads: dict[str, float], nfev: int) -> str:
    lines = [
        f"| executor | workers | time (s) | speedup 1 → 2 workers | vs serial loop ({serial:.3f} s) |",
        "|---|---|---|---|---|",
    ]
    one = {r.executor: r.seconds for r in rows if r.workers == 1}
    for r in rows:
        speedup = f"{one[r.executor] / r.seconds:.2f}×" if r.workers == 2 else ""
        lines.append(
            f"| {r.executor} | {r.workers} | {r.seconds:.3f} | {speedup} | {serial / r.seconds:.2f}× |"
        )
    lines += ["", "| executor | overhead per chunk (ms, free f, 1 worker) |", "|---|---|"]
    lines += [f"| {name} | {1e3 * sec:.2f} |" for name, sec in overheads.items()]
    lines.append(f"\n{nfev} calls of f per gradient; chunks per call of the engine: "
                 f"{nm.EXECUTOR_TASKS_PER_WORKER} per worker")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--kind", choices=("sleep", "cpu"), default="sleep", help="what the black box does")
    parser.add_argument("--n", type=int, default=N, help=f"variables ({N})")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per configuration; best shown")
    parser.add_argument("--no-dask", action="store_true", help="process pools only")
    args = parser.parse_args(argv)
    if args.kind == "sleep":
        f: Callable[..., Any] = functools.partial(sleepy, cost=COST)
        what = f"sleeps {1e3 * COST:.0f} ms (an external program)"
    else:
        rounds = calibrate(COST)
        f = functools.partial(busy, rounds=rounds)
        what = f"{rounds} rounds of NumPy work ≈ {1e3 * COST:.0f} ms on an idle core"
    x = np.linspace(-1.0, 1.0, args.n)
    counter = _Counter(f)
    serial = _timed(lambda: numerical_gradient(counter, x))
    print(f"black box: {what}; n = {args.n}; {os.cpu_count()} CPU cores")
    rows, pool_overhead = process_pools(f, x, args.repeat)
    overheads = {"ProcessPoolExecutor": pool_overhead}
    if not args.no_dask:
        dask_rows, dask_overhead, startup = dask_clusters(f, x, args.repeat)
        rows += dask_rows
        overheads["Dask LocalCluster"] = dask_overhead
        print(f"Dask LocalCluster startup (not timed below): up to {startup:.1f} s")
    print(report(serial, rows, overheads, counter.calls))
    return 0


class _Counter:
    """Counts calls of f in the serial run (the executor runs call the same number of times)."""

    def __init__(self, f: Callable[..., Any]) -> None:
        self.f, self.calls = f, 0

    def __call__(self, x: np.ndarray) -> float:
        self.calls += 1
        return float(self.f(x))


if __name__ == "__main__":
    raise SystemExit(main())

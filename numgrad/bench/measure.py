"""What every benchmark row shares: the workload and row records, the textbook baseline, the timers.

:mod:`numgrad.bench.harness` (the gradient workloads) and :mod:`numgrad.bench.families` (descent, nets)
both build on this module, so neither imports the other's internals.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BenchRow",
    "Workload",
    "book_workload",
    "interleaved_medians",
    "median_seconds",
    "relative_error",
    "textbook_gradient",
]

Array = NDArray[np.float64]
TIME_BUDGET = 0.25  # seconds of repeated calls per timing sample (fast calls loop until this has passed)
QUICK_TIME_BUDGET = 0.08  # the quick subset's budget: the whole `numgrad bench` stays under a minute
REPEATS = 3  # timing samples per row; the median is reported


@dataclass(frozen=True)
class Workload:
    """A gradient problem in three spellings: NumPy scalar, NumPy batched (k, *x.shape) -> (k,), JAX."""

    name: str
    family: str
    x: Array
    f: Callable[[Array], Any]
    batched: Callable[[Array], Array]
    jax_f: Callable[[Any], Any]

    @property
    def n(self) -> int:
        return int(self.x.size)


@dataclass(frozen=True)
class BenchRow:
    workload: str
    family: str
    n: int
    method: str
    seconds: float  # median wall time of one gradient
    vs_textbook: float  # textbook time / this time (higher is faster)
    vs_jax: float  # this time / jax.grad time (how many times slower than autodiff)
    error: float  # normwise relative error against jax.grad
    nfev: int  # points at which f was evaluated
    note: str = field(default="")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: a value that does not exist (NaN: fast mode has no per-element error) is None."""
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(self).items()}


def textbook_gradient(f: Callable[[Array], Any], x: Array) -> Array:
    """The book's numerical_gradient as printed: element by element, in place, h = 1e-4 (the baseline)."""
    h = 1e-4
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])  # type: ignore[list-item]
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx]
        x[idx] = float(tmp_val) + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
        it.iternext()
    return grad


def book_workload(_: int) -> Workload:
    import jax.numpy as jnp

    return Workload(
        "book x0²+x1²", "book", np.array([3.0, 4.0]),
        lambda x: x[0] ** 2 + x[1] ** 2,
        lambda s: s[:, 0] ** 2 + s[:, 1] ** 2,
        lambda x: jnp.sum(x**2),
    )  # fmt: skip


def median_seconds(
    run: Callable[[], Any],
    repeats: int,
    budget: float = TIME_BUDGET,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Median over `repeats` samples of the seconds per call, each sample as many calls as fill `budget`
    (by `clock`: wall time, or ``time.thread_time`` for this thread's CPU time on a shared machine)."""
    samples = []
    for _ in range(repeats):
        loops, start = 0, clock()
        while True:
            run()
            loops += 1
            elapsed = clock() - start
            if elapsed >= budget:
                break
        samples.append(elapsed / loops)
    return statistics.median(samples)


def interleaved_medians(
    runs: dict[str, Callable[[], Any]],
    repeats: int,
    budget: float = TIME_BUDGET,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median seconds of each run, its samples taken in turn with the others' (round robin), so that a
    machine that speeds up or slows down during the measurement moves every run alike: ratios hold.
    Rounds alternate direction (A B C, C B A, ...): no run always follows the same one (a run after a
    memory-hungry one pays for its page faults), and every pair of runs is measured close in time."""
    for run in runs.values():
        run()  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    for r in range(repeats):
        for name in order if r % 2 == 0 else reversed(order):
            samples[name].append(median_seconds(runs[name], 1, budget, clock))
    return {name: statistics.median(values) for name, values in samples.items()}


def interleaved_calls(
    runs: dict[Any, Callable[[], Any]], rounds: int, clock: Callable[[], float] = time.perf_counter
) -> dict[Any, list[float]]:
    """Seconds of single calls of each run, `rounds` of them, in turn with the others' and alternating
    direction as :func:`interleaved_medians` takes them (for calls of microseconds, where min and median
    of single calls are what a script reports)."""
    times: dict[Any, list[float]] = {key: [] for key in runs}
    order = list(runs)
    for r in range(rounds):
        for key in order if r % 2 == 0 else reversed(order):
            start = clock()
            runs[key]()
            times[key].append(clock() - start)
    return times


def relative_error(g: Array, exact: Array) -> float:
    scale = float(np.max(np.abs(exact), initial=0.0))
    diff = float(np.max(np.abs(np.asarray(g, np.float64) - exact), initial=0.0))
    return diff / scale if scale > 0 else diff

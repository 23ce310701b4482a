"""How the size of the stacks handed to a batched f sets its cost: the choice of numerics.CHUNK_BYTES.

    uv run python benchmarks/chunk_sizes.py             # 15 interleaved rounds (about a minute)
    uv run python benchmarks/chunk_sizes.py --rounds 31

For each workload of bench_gradient.py with n = 1000 (the ones that are chunked at all), the 2n points of
a central difference, built once, are evaluated in calls of at most BUDGET bytes (f alone: "f"), and
numgrad's batched gradient is timed with the chunk size that budget gives ("numgrad"); cells are µs per
point, the median (or minimum) over the rounds, budgets taken in turn (forwards, then backwards). Small stacks pay f's
fixed cost per call (and numgrad's per chunk) more often; large ones spill f's temporaries out of cache.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np

from numgrad.bench import harness as nb
from numgrad.bench.measure import interleaved_calls
from numgrad.common import numerics as nm
from numgrad.differences import stacks
from numgrad.differences.gradient import numerical_gradient

BUDGETS_KIB = (64, 128, 256, 512, 1024, 2048, 4096)


def _calls(w: Any) -> dict[tuple[str, int], Callable[[], Any]]:
    n = w.x.size
    stack = np.repeat(w.x.reshape(1, -1), 2 * n, axis=0).reshape(2 * n, *w.x.shape)
    calls: dict[tuple[str, int], Callable[[], Any]] = {}
    for kib in BUDGETS_KIB:
        bounds = stacks.chunk_bounds(2 * n, w.x.nbytes, kib * 2**10)
        size = bounds[0][1] - bounds[0][0]
        calls[("f", kib)] = lambda b=bounds: [w.batched(stack[lo:hi]) for lo, hi in b]
        calls[("numgrad", kib)] = lambda s=size: numerical_gradient(
            w.batched, w.x, batched=True, chunk_size=s
        )
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--statistic", choices=("median", "min"), default="median",
                        help="over the rounds (min: robust to a loaded machine's preemptions)")  # fmt: skip
    args = parser.parse_args()
    pick = statistics.median if args.statistic == "median" else min
    stacks.settle_allocator()  # as the engine does once per process
    print(f"machine: {nb.machine_info()}; CHUNK_BYTES = {nm.CHUNK_BYTES // 2**10} KiB; µs per point, "
          f"{args.statistic} of {args.rounds} rounds\n")  # fmt: skip
    print("| workload | " + " | ".join(f"{k} KiB" for k in BUDGETS_KIB) + " |")
    print("|---|" + "---|" * len(BUDGETS_KIB))
    for w in (nb._softmax_ce(100), nb._mse(100)):
        times = interleaved_calls(_calls(w), args.rounds)
        points = 2 * w.x.size
        for kind in ("f", "numgrad"):
            cells = [f"{pick(times[(kind, k)]) / points * 1e6:.2f}" for k in BUDGETS_KIB]
            print(f"| {w.name}, {kind} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

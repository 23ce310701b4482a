"""Grid, random and Bayesian search at the same budget: the best validation accuracy each reaches.

    uv run python benchmarks/bench_search.py                 # 5 seeds x 20 trials of 100 iterations each
    uv run python benchmarks/bench_search.py --json          # the same, as JSON

Each seed runs ``numgrad.compare_searches`` on the embedded MNIST training set (3,200 images fitted, a
class-balanced 800 scored; the test set is never loaded): a 5 x 4 grid over lr in [0.01, 10] (log-spaced)
and hidden in [10, 100], 20 random settings from the same ranges (lr log-uniform), and 20 trials of
Optuna's TPE sampler with median pruning, every trial 100 iterations of batch 100 with backprop. The seed
sets the split, the nets' initial weights and the batches (the same for the three methods), the random
draw and the TPE sampler; the grid's settings are the same for every seed. Reported: mean, standard
deviation and range over the seeds of the best validation accuracy, the trial at which each method first
reached its best, the trials pruned, and the seconds spent.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from typing import Any

from numgrad.book.bayes import quiet_optuna
from numgrad.book.data import load_mnist
from numgrad.book.search import compare_searches
from numgrad.book.tuning import Trial

SEEDS = 5
BUDGET = 20
ITERS = 100  # 3 epochs of 3,200 images: short trials, as a sweep runs them
METHODS = ("grid", "random", "bayes")


def measure(seeds: int, budget: int, iters: int) -> dict[str, Any]:
    (x, t), _ = load_mnist()
    rows: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
    for seed in range(seeds):
        start = time.perf_counter()
        comparison = compare_searches(x, t, budget=budget, base=Trial(iters=iters), seed=seed)
        for method, curve in comparison.curves().items():
            result = getattr(comparison, method)
            best = result.best.val_acc
            rows[method].append({
                "seed": seed, "best": best, "reached_at": next(i for i, v in enumerate(curve, 1) if v >= best),
                "pruned": sum(r.pruned_at is not None for r in result.results),
                "seconds": sum(r.seconds for r in result.results),
            })  # fmt: skip
        print(f"seed {seed}: " + ", ".join(f"{m} {rows[m][-1]['best']:.2%}" for m in METHODS)
              + f" ({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    return {"seeds": seeds, "budget": budget, "iters": iters, "runs": rows}


def summary(data: dict[str, Any]) -> dict[str, dict[str, float]]:
    out = {}
    for method, runs in data["runs"].items():
        best = [r["best"] for r in runs]
        out[method] = {
            "mean": statistics.fmean(best), "std": statistics.stdev(best) if len(best) > 1 else math.nan,
            "min": min(best), "max": max(best), "reached_at": statistics.fmean(r["reached_at"] for r in runs),
            "pruned": statistics.fmean(r["pruned"] for r in runs),
            "seconds": statistics.fmean(r["seconds"] for r in runs),
        }  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--budget", type=int, default=BUDGET)
    parser.add_argument("--iters", type=int, default=ITERS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    quiet_optuna()
    data = measure(args.seeds, args.budget, args.iters)
    table = summary(data)
    if args.json:
        print(json.dumps({**data, "summary": table}, indent=2))
        return
    print(f"\nbest validation accuracy, {args.seeds} seeds x {args.budget} trials of {args.iters} iterations")
    print(f"{'search':<8} {'mean':>7} {'std':>7} {'min':>7} {'max':>7} {'best at trial':>14} {'pruned':>7} {'s/seed':>7}")
    for method, s in table.items():
        print(f"{method:<8} {s['mean']:>7.2%} {s['std']:>7.2%} {s['min']:>7.2%} {s['max']:>7.2%} "
              f"{s['reached_at']:>14.1f} {s['pruned']:>7.1f} {s['seconds']:>7.0f}")  # fmt: skip


if __name__ == "__main__":
    main()

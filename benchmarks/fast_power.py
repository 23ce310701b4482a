"""Fast mode's power on float32-computing losses: planted bugs that full mode catches, and how many of
them fast mode catches too; false alarms on the correct gradients; evaluations.

    uv run python benchmarks/fast_power.py [--seeds 20]

The losses are tests/fast_zoo.py's (the book's mean_squared_error, cross_entropy_error and
softmax_cross_entropy, softmax regression, a linear least-squares loss, the two-layer net over a
parameter dict). Each casts its argument to float32, so numgrad cannot difference it in float64: the
hard case for fast mode, whose few directional derivatives then stand near float32's accuracy floor.
Bugs: one element off by ``rel·max|g|``, or every element times ``1 + rel·z`` (z standard normal), for
rel in 1e-3..1e-1; one per loss, kind, size and seed. Fast mode runs with ``seed=`` the trial's seed.
False alarms are counted on the correct gradients in four settings: computing in float32 at a float32
point and at a float64 point (f casts its argument), computing in float64 at a float32 point
(promoted), and at a float64 point. Counts only: no timings.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from fast_zoo import KINDS, LOSSES, SIZES, case, planted

from numgrad import check_gradient


def power(seeds: range) -> tuple[Counter[tuple[str, float, str]], Counter[str], Counter[str]]:
    """Counts per (kind, size, outcome) of the planted bugs; false alarms per setting; evaluations."""
    caught: Counter[tuple[str, float, str]] = Counter()
    alarms: Counter[str] = Counter()
    evals: Counter[str] = Counter()
    for name in LOSSES:
        for seed in seeds:
            c = case(name, seed)
            for setting, (work, dtype) in SETTINGS.items():
                o = c if setting == "float32 compute" else case(name, seed, work, dtype)
                for mode in ("full", "fast"):
                    r = check_gradient(o.f, o.x, o.grad, mode=mode, seed=seed)
                    alarms[f"{setting} {mode}"] += not r.passed
                    alarms[f"{setting} checks"] += mode == "full"
                    if setting == "float32 compute":
                        evals[mode] += r.nfev
                        evals[f"{mode} max"] = max(evals[f"{mode} max"], r.nfev)
            evals["checks"] += 1
            for kind in KINDS:
                for rel in SIZES:
                    bad = planted(c, kind, rel, seed)
                    full = not check_gradient(c.f, c.x, bad).passed
                    fast = check_gradient(c.f, c.x, bad, mode="fast", seed=seed)
                    caught[(kind, rel, "bugs")] += 1
                    caught[(kind, rel, "full")] += full
                    caught[(kind, rel, "fast")] += not fast.passed
                    caught[(kind, rel, "both")] += full and not fast.passed
                    evals["fast on bugs"] += fast.nfev
                    evals["fast max"] = max(evals["fast max"], fast.nfev)
    return caught, alarms, evals


SETTINGS = {
    "float32 compute": (np.float32, np.float32),
    "float32 compute, float64 x": (np.float32, np.float64),
    "float64 compute, float32 x": (np.float64, np.float32),
    "float64 x": (np.float64, np.float64),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="problems per loss (default 20)")
    args = parser.parse_args(argv)
    caught, alarms, evals = power(range(args.seeds))
    print(f"{len(LOSSES)} float32-computing losses x {args.seeds} seeds\n")
    print("| bug | size | planted | caught by full | caught by fast | fast misses of full's |")
    print("|---|---|---|---|---|---|")
    totals: Counter[str] = Counter()
    for kind in KINDS:
        for rel in SIZES:
            row = {k: caught[(kind, rel, k)] for k in ("bugs", "full", "fast", "both")}
            totals.update(row)
            missed = row["full"] - row["both"]
            print(f"| {kind} | {rel:g} | {row['bugs']} | {row['full']} | {row['fast']} | {missed} |")
    missed = totals["full"] - totals["both"]
    print(f"| all | | {totals['bugs']} | {totals['full']} | {totals['fast']} | {missed} |\n")
    print("| false alarms on correct gradients | checks | full | fast |")
    print("|---|---|---|---|")
    for setting in SETTINGS:
        n = alarms[f"{setting} checks"]
        print(f"| {setting} | {n} | {alarms[f'{setting} full']} | {alarms[f'{setting} fast']} |")
    n = evals["checks"]
    bugs = totals["bugs"]
    print(
        f"\nevaluations (float32 compute): full mean {evals['full'] / n:.1f} (max {evals['full max']}); "
        f"fast mean {evals['fast'] / n:.2f} on correct, {evals['fast on bugs'] / bugs:.2f} on bugs, "
        f"max {evals['fast max']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

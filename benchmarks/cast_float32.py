"""A float64 x whose f casts it to float32 inside (the losses of tests/fast_zoo.py with ``work=float32``,
``dtype=float64``): numgrad's default differences against the exact gradient, full-mode checks of the
correct gradients (false alarms) and of planted bugs (catches), and the evaluations spent.

    uv run python benchmarks/cast_float32.py [--seeds 20]

f returns float32 values for a float64 x, so its values carry float32's rounding: steps and tolerances
chosen for float64 would stand far below what f resolves (its float64 steps round away inside f: the
differences come out 0 on small elements, and every correct gradient was called wrong). The exact
gradient is the zoo's: Richardson differences of the same loss in float64 (data upcast exactly), ~1e-10
relative, far below anything float32 resolves. Errors are elementwise relative, floored at 1e-3·max|g|,
and normwise ``max|g − t| / max|t|``. The same losses at a float32 x (f computing in float32 there too)
are shown beside: what float32 itself allows. Counts only: no timings.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from fast_zoo import KINDS, LOSSES, SIZES, case, planted

from numgrad import check_gradient, numerical_gradient
from numgrad.common.trees import flatten


def _flat(tree: Any) -> np.ndarray:
    return np.concatenate([np.ravel(leaf).astype(np.float64) for leaf in flatten(tree, "bench", "g").leaves])


def errors(g: Any, t: Any) -> tuple[float, float]:
    """(elementwise relative error floored at 1e-3·max|t|, normwise error) of g against the truth t."""
    g, t = _flat(g), _flat(t)
    top = float(np.max(np.abs(t)))
    return float(np.max(np.abs(g - t) / np.maximum(np.abs(t), 1e-3 * top))), float(
        np.max(np.abs(g - t)) / top
    )


class Counted:
    def __init__(self, f: Any) -> None:
        self.f, self.n = f, 0

    def __call__(self, v: Any) -> Any:
        self.n += 1
        return self.f(v)


def measure(seeds: range, dtype: Any) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    alarms: Counter[str] = Counter()
    caught: Counter[tuple[str, float]] = Counter()
    evals: Counter[str] = Counter()
    for name in LOSSES:
        worst = [0.0, 0.0]
        nfev = flagged = 0
        for seed in seeds:
            c = case(name, seed, np.float32, dtype)
            f = Counted(c.f)
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always")
                g = numerical_gradient(f, c.x)
            flagged += bool(said)
            e = errors(g, c.grad)
            worst = [max(worst[0], e[0]), max(worst[1], e[1])]
            nfev += f.n
            r = check_gradient(c.f, c.x, c.grad)
            alarms[name] += not r.passed
            evals["check correct"] += r.nfev
            for kind in KINDS:
                for rel in SIZES:
                    bad = check_gradient(c.f, c.x, planted(c, kind, rel, seed))
                    caught[(kind, rel)] += not bad.passed
                    evals["check bugs"] += bad.nfev
        rows[name] = (worst, nfev / len(seeds), flagged)
    return {"rows": rows, "alarms": alarms, "caught": caught, "evals": evals}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="problems per loss (default 20)")
    args = parser.parse_args(argv)
    seeds = range(args.seeds)
    at = {"float64 x": measure(seeds, np.float64), "float32 x": measure(seeds, np.float32)}
    print(f"{len(LOSSES)} losses computing in float32 x {args.seeds} seeds\n")
    print("numerical_gradient, default step: worst elementwise / normwise error, mean evaluations, calls")
    print("that warned of inaccurate elements")
    print("| loss | float64 x | float32 x |")
    print("|---|---|---|")
    for name in LOSSES:
        cells = []
        for where in at:
            (elem, norm), nfev, flagged = at[where]["rows"][name]
            cells.append(f"{elem:.1e} / {norm:.1e}, {nfev:.0f}, {flagged}")
        print(f"| {name} | {' | '.join(cells)} |")
    n = args.seeds * len(LOSSES)
    print("\ncheck_gradient full mode")
    print("| | float64 x | float32 x |")
    print("|---|---|---|")
    cells = [f"{sum(at[w]['alarms'].values())} of {n}" for w in at]
    print(f"| false alarms on correct gradients | {' | '.join(cells)} |")
    for kind in KINDS:
        for rel in SIZES:
            cells = [f"{at[w]['caught'][(kind, rel)]} of {n}" for w in at]
            print(f"| {kind} bug {rel:g} caught | {' | '.join(cells)} |")
    bugs = n * len(KINDS) * len(SIZES)
    cells = [f"{sum(at[w]['caught'].values())} of {bugs}" for w in at]
    print(f"| all bugs caught | {' | '.join(cells)} |")
    cells = [f"{at[w]['evals']['check correct'] / n:.1f}" for w in at]
    print(f"| mean evaluations, correct gradient | {' | '.join(cells)} |")
    cells = [f"{at[w]['evals']['check bugs'] / bugs:.1f}" for w in at]
    print(f"| mean evaluations, planted bug | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The repeated-call path against the general engine, in the same process: batched later calls at small x.

    uv run python benchmarks/repeated_path.py            # 200 alternating rounds per row (about 10 s)

Each row times numgrad's batched `numerical_gradient` from f's fourth call on (the steps kept), alternating
the repeated-call path (numgrad.differences.repeated, on by default) with the same call where that path is
switched off (the general engine around the same one call of f). Both return the same bits (asserted, and
tests/differences/test_repeated.py); the ratio is general / repeated of the minima, in µs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np

from numgrad.bench import harness as nb
from numgrad.bench.measure import interleaved_calls
from numgrad.differences import repeated
from numgrad.differences.gradient import numerical_gradient


def general(f: Callable[[Any], Any], x: Any) -> Any:
    """numerical_gradient(f, x, batched=True) with the repeated-call path switched off: the general
    engine around the same one call of f (batched_floor.py's row of it too)."""
    eligible = repeated.eligible
    repeated.eligible = lambda *args: False
    try:
        return numerical_gradient(f, x, batched=True)
    finally:
        repeated.eligible = eligible


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows: list[tuple[str, Callable[[Any], Any], Any]] = []
    for n in (5, 10, 30, 80, 150):
        rows.append((f"sin(x).sum(), n={n}", lambda s: np.sin(s).sum(axis=-1), rng.standard_normal(n)))
    for w in (nb._softmax_ce(10), nb._mse(10)):
        rows.append((w.name, w.batched, w.x))
    print(f"machine: {nb.machine_info()}; µs, minima of {args.rounds} alternating rounds\n")
    print(
        "| workload (batched, automatic step, later calls) | general engine | repeated-call path | general / repeated |"
    )
    print("|---|---|---|---|")
    for name, f, x in rows:
        for _ in range(3):
            numerical_gradient(f, x, batched=True)
        assert general(f, x).tobytes() == numerical_gradient(f, x, batched=True).tobytes()
        calls = {
            "general": lambda f=f, x=x: general(f, x),
            "repeated": lambda f=f, x=x: numerical_gradient(f, x, batched=True),
        }
        times = interleaved_calls(calls, args.rounds)
        g, r = min(times["general"]) * 1e6, min(times["repeated"]) * 1e6
        print(f"| {name} | {g:.1f} | {r:.1f} | {g / r:.2f}x |")


if __name__ == "__main__":
    main()

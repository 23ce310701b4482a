"""The engine's one-stack paths against its general path, in the same process: batched calls at small x.

    uv run python benchmarks/one_stack_paths.py          # 200 alternating rounds per row (about 20 s)

Two tables. The first times numgrad's batched `numerical_gradient` at the automatic step from f's fourth
call on (the steps kept), alternating the repeated-call path (numgrad.differences.repeated) with the same
call where that path is switched off (the general engine around the same one call of f). The second times
the same calls at the textbook's h = 1e-4, alternating the fixed-step path (numgrad.differences.fixed) with
the general path. Both paths are on by default; each pair returns the same bits (asserted here, and in
tests/differences/test_repeated.py and test_fixed.py). Ratios are general / path of the minima, in µs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np

from numgrad.bench import harness as nb
from numgrad.bench.measure import interleaved_calls
from numgrad.differences import fixed, repeated
from numgrad.differences.gradient import numerical_gradient

PATHS = {"repeated": repeated, "fixed": fixed}


def general(f: Callable[[Any], Any], x: Any, h: float | None = None) -> Any:
    """numerical_gradient(f, x, batched=True, h=h) with the one-stack path for that h switched off (the
    repeated-call path for the automatic step, the fixed-step path for an explicit one): the general
    engine around the same one call of f (batched_floor.py's row of it too)."""
    module = PATHS["repeated" if h is None else "fixed"]
    eligible = module.eligible
    module.eligible = lambda *args: False  # type: ignore[assignment]
    try:
        return numerical_gradient(f, x, batched=True, h=h)
    finally:
        module.eligible = eligible  # type: ignore[assignment]


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
    print(f"machine: {nb.machine_info()}; µs, minima of {args.rounds} alternating rounds")
    for h, what, path in (
        (None, "automatic step, later calls", "repeated-call"),
        (1e-4, "h=1e-4", "fixed-step"),
    ):
        print(f"\n| workload (batched, {what}) | general engine | {path} path | general / {path} |")
        print("|---|---|---|---|")
        for name, f, x in rows:
            for _ in range(3):
                numerical_gradient(f, x, batched=True, h=h)
            assert general(f, x, h).tobytes() == numerical_gradient(f, x, batched=True, h=h).tobytes()
            calls = {
                "general": lambda f=f, x=x, h=h: general(f, x, h),
                "path": lambda f=f, x=x, h=h: numerical_gradient(f, x, batched=True, h=h),
            }
            times = interleaved_calls(calls, args.rounds)
            g, r = min(times["general"]) * 1e6, min(times["path"]) * 1e6
            print(f"| {name} | {g:.1f} | {r:.1f} | {g / r:.2f}x |")


if __name__ == "__main__":
    main()

"""The vectorized gradient loop against the textbook loop, as ratios measured in one run (issue 2's table).

    uv run python benchmarks/bench_gradient.py

Workloads: softmax cross-entropy over logits (10, 10) and (100, 10), MSE over (100, 10). For each: the
textbook loop (baseline), numgrad element-by-element, numgrad batched (default step: a probe call, the
main calls, a refinement sample), numgrad batched with a fixed h (no probe), and the bound: the time of
the 2n evaluations of f in one batched call (what any finite-difference gradient must pay). The last
column says how close batched gets to the bound (above 100%: chunks that fit in cache beat one big call).
"""

from __future__ import annotations

from numgrad import benchmark as nb
from numgrad.gradient import numerical_gradient


def main() -> None:
    print(f"machine: {nb.machine_info()}\n")
    print("| workload | textbook loop | element-by-element | batched | batched, h=1e-4 | bound (2n evals, 1 call) "
          "| bound / batched |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for w in (nb._softmax_ce(10), nb._softmax_ce(100), nb._mse(100)):
        t = nb.interleaved_medians(
            {
                "base": lambda w=w: nb.textbook_gradient(w.f, w.x.copy()),
                "loop": lambda w=w: numerical_gradient(w.f, w.x),
                "batched": lambda w=w: numerical_gradient(w.batched, w.x, batched=True),
                "fixed": lambda w=w: numerical_gradient(w.batched, w.x, batched=True, h=1e-4),
                "bound": lambda w=w: nb._bound(w),
            },
            repeats=11,
        )
        base = t["base"]
        cells = [
            f"{base * 1e3:.2f} ms",
            *(f"{base / t[k]:.2f}x" for k in ("loop", "batched", "fixed", "bound")),
        ]
        print(f"| {w.name} | " + " | ".join(cells) + f" | {t['bound'] / t['batched']:.0%} |")


if __name__ == "__main__":
    main()

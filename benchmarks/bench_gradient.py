"""The vectorized gradient loop against the textbook loop, as ratios measured in one run (issue 2's table).

    uv run python benchmarks/bench_gradient.py

Workloads: softmax cross-entropy over logits (10, 10) and (100, 10), MSE over (100, 10). For each: the
textbook loop (baseline); numgrad element-by-element at its default step (a probe of f, then the loop)
and at the textbook's h = 1e-4 (the loop alone); numgrad batched (default step: a probe call, the main
calls, a refinement sample) and batched with a fixed h (no probe); and the bound: the time of the 2n
evaluations of f in one batched call (what any finite-difference gradient must pay), and the same points
in calls of at most CHUNK_BYTES, as the engine hands them to f (from n = 1000 one big call is slower than
cache-sized ones; at n = 100 they are one call either way). The last columns say how close batched gets to
each (above 100%: faster than it). Each ratio is against the textbook loop timed in the same interleaved
rounds."""

from __future__ import annotations

import time

from bench_fresh import chunked_bound_call  # the bound in cache-sized calls (benchmarks/ is on the path)

from numgrad.bench import harness as nb
from numgrad.bench import measure
from numgrad.differences.gradient import numerical_gradient

# Many short samples rather than a few long ones: this machine's noise comes in bursts of a few hundred
# milliseconds, which spoil a long sample whole but only a few short ones, and the median drops those.
SAMPLES = 41
SAMPLE_SECONDS = 0.05
# The element-by-element loops differ from the textbook's by a few percent, less than one run's noise:
# they are measured apart from the batched runs, one call per sample, with as many samples as fit in
# this many seconds per workload (41 to 301).
ELEMENT_SECONDS = 12.0


def element_medians(w: measure.Workload) -> dict[str, float]:
    """Median seconds of the textbook loop and numgrad's element-by-element loop (default step, and
    the textbook's h = 1e-4: the loop alone, without the probe), samples taken in turn."""
    start = time.perf_counter()
    measure.textbook_gradient(w.f, w.x.copy())
    samples = min(301, max(SAMPLES, int(ELEMENT_SECONDS / (3 * (time.perf_counter() - start)))))
    return measure.interleaved_medians(
        {
            "base": lambda: measure.textbook_gradient(w.f, w.x.copy()),
            "loop": lambda: numerical_gradient(w.f, w.x),
            "loop_fixed": lambda: numerical_gradient(w.f, w.x, h=1e-4),
        },
        repeats=samples,
        budget=0.0,  # one call per sample
    )


def main() -> None:
    print(f"machine: {nb.machine_info()}\n")
    print("| workload | textbook loop | element-by-element | element, h=1e-4 | batched | batched, h=1e-4 "
          "| bound (2n evals, 1 call) | bound, cache-sized calls | bound / batched "
          "| cache-sized bound / batched |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for w in (nb._softmax_ce(10), nb._softmax_ce(100), nb._mse(100)):
        e = element_medians(w)
        chunked = chunked_bound_call(w.x, w.batched)
        t = measure.interleaved_medians(
            {
                "base": lambda w=w: measure.textbook_gradient(w.f, w.x.copy()),
                "batched": lambda w=w: numerical_gradient(w.batched, w.x, batched=True),
                "fixed": lambda w=w: numerical_gradient(w.batched, w.x, batched=True, h=1e-4),
                "bound": lambda w=w: nb._bound(w),
                "chunked": chunked,
            },
            repeats=SAMPLES,
            budget=SAMPLE_SECONDS,
        )
        base = t["base"]
        cells = [
            f"{base * 1e3:.2f} ms",
            *(f"{e['base'] / e[k]:.2f}x" for k in ("loop", "loop_fixed")),
            *(f"{base / t[k]:.2f}x" for k in ("batched", "fixed", "bound", "chunked")),
            *(f"{t[k] / t['batched']:.0%}" for k in ("bound", "chunked")),
        ]
        print(f"| {w.name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

"""The vectorized gradient loop against the textbook loop, measured as ratios in one run.

    uv run python benchmarks/bench_gradient.py

Workloads: softmax cross-entropy over logits (10, 10) and (100, 10), MSE over (100, 10). For each: the
textbook loop (baseline), numgrad element-by-element, numgrad batched (default step: a probe call, the
main calls, a refinement sample), numgrad batched with a fixed h (no probe), and the bound: the time of
the 2n evaluations of f in one batched call (what any finite-difference gradient must pay). The last
column says how close batched gets to the bound (above 100%: chunks that fit in cache beat one big call).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _harness import machine_info, median_seconds, print_table
from textbook import textbook_numerical_gradient

import numgrad


def sce_batched(t: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Softmax cross-entropy of each logit matrix in a stack (k, N, C) -> (k,)."""
    rows = np.arange(len(t))

    def f(z: np.ndarray) -> np.ndarray:
        shifted = z - z.max(axis=-1, keepdims=True)
        log_prob = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        return -log_prob[:, rows, t].mean(axis=-1)

    return f


def mse_batched(t: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def f(y: np.ndarray) -> np.ndarray:
        return 0.5 * ((y - t) ** 2).reshape(len(y), -1).sum(axis=1)

    return f


def workloads() -> list[tuple[str, np.ndarray, Callable[[Any], Any], Callable[[np.ndarray], np.ndarray]]]:
    rng = np.random.default_rng(0)
    out = []
    for n in (10, 100):
        z, t = 3 * rng.standard_normal((n, 10)), rng.integers(0, 10, n)
        out.append(
            (f"softmax-CE ({n},10)", z, lambda w, t=t: numgrad.softmax_cross_entropy(w, t), sce_batched(t))
        )
    y, target = rng.random((100, 10)), rng.random((100, 10))
    out.append(("MSE (100,10)", y, lambda w: numgrad.mean_squared_error(w, target), mse_batched(target)))
    return out


def bound_stack(x: np.ndarray) -> np.ndarray:
    """The 2n perturbed points of a central difference, built once (not timed)."""
    n = x.size
    stack = np.repeat(x.reshape(1, -1), 2 * n, axis=0)
    idx = np.arange(n)
    stack[idx, idx] += 1e-4
    stack[n + idx, idx] -= 1e-4
    return stack.reshape(2 * n, *x.shape)


def measure() -> list[list[str]]:
    rows = []
    for name, x, f, fb in workloads():
        base = median_seconds(lambda: textbook_numerical_gradient(f, x.copy()))
        loop = median_seconds(lambda: numgrad.numerical_gradient(f, x))
        batched = median_seconds(lambda: numgrad.numerical_gradient(fb, x, batched=True))
        fixed = median_seconds(lambda: numgrad.numerical_gradient(fb, x, batched=True, h=1e-4))
        stack = bound_stack(x)
        bound = median_seconds(lambda: fb(stack))
        rows.append([
            name, f"{base * 1e3:.2f} ms", f"{base / loop:.2f}x", f"{base / batched:.1f}x",
            f"{base / fixed:.1f}x", f"{base / bound:.1f}x", f"{bound / batched:.0%}",
        ])  # fmt: skip
    return rows


def main() -> None:
    print(f"machine: {machine_info()}")
    header = ["workload", "textbook loop", "element-by-element", "batched", "batched, h=1e-4",
              "bound (2n evals, 1 call)", "bound / batched"]  # fmt: skip
    print_table("speed-up over the textbook loop (higher is better)", header, measure())


if __name__ == "__main__":
    main()

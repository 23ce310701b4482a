"""TwoLayerNet(784, 50, 10), a batch of 100 MNIST images: the structured numerical gradient against the
textbook loop, measured in one run.

    uv run python benchmarks/bench_nets.py            # textbook loop timed on a sample, extrapolated
    uv run python benchmarks/bench_nets.py --full     # the whole textbook loop and generic pass (minutes)

The baseline is the book's own code (``common/gradient.py`` and ``common/functions.py``), copied below:
``numerical_gradient(f, x)`` perturbs one element at a time, 2 loss evaluations per parameter, 79,520 for
this net. Without ``--full`` it runs on a sample of parameters and its total time is extrapolated from the
fastest time per evaluation; the script says so. Accuracy: the structured gradient against numgrad's
generic central difference (``numgrad.numerical_gradient`` over each parameter, at the same step; all of
W2, b1, b2 and a sample of W1's rows unless ``--full``) and against backprop, over all parameters.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from numgrad.book.data import load_mnist
from numgrad.book.nets import TwoLayerNet
from numgrad.differences.gradient import numerical_gradient as generic_gradient

BOOK_STEP = 1e-4  # the book's h, used by all three methods here
TARGET_RATIO = 100  # the floor (200 is the aim)
TARGET_GENERIC_DIFF = 1e-9
TARGET_BACKPROP_DIFF = 1e-6

# ---------------------------------------------------------------------------------------------------
# The baseline: the book's code (Deep Learning from Scratch, common/functions.py and common/gradient.py)


def book_sigmoid(x: Any) -> Any:
    return 1 / (1 + np.exp(-x))


def book_softmax(x: Any) -> Any:
    if x.ndim == 2:
        x = x.T
        x = x - np.max(x, axis=0)
        y = np.exp(x) / np.sum(np.exp(x), axis=0)
        return y.T
    x = x - np.max(x)
    return np.exp(x) / np.sum(np.exp(x))


def book_cross_entropy_error(y: Any, t: Any) -> Any:
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


def book_loss(params: dict[str, Any], x: Any, t: Any) -> Any:
    """The book's TwoLayerNet.predict and .loss."""
    a1 = np.dot(x, params["W1"]) + params["b1"]
    z1 = book_sigmoid(a1)
    a2 = np.dot(z1, params["W2"]) + params["b2"]
    return book_cross_entropy_error(book_softmax(a2), t)


def textbook_numerical_gradient(f: Callable[[Any], Any], x: Any, indices: Any = None) -> Any:
    """The book's loop; `indices` (a list of multi-indices) restricts it to a sample, same body."""
    h = BOOK_STEP
    grad = np.zeros_like(x)
    if indices is None:
        it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
        indices = []
        while not it.finished:
            indices.append(it.multi_index)
            it.iternext()
    for idx in indices:
        tmp_val = x[idx]
        x[idx] = float(tmp_val) + h
        fxh1 = f(x)  # f(x+h)
        x[idx] = tmp_val - h
        fxh2 = f(x)  # f(x-h)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
    return grad


# ---------------------------------------------------------------------------------------------------


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def textbook_pass(
    net: TwoLayerNet, x: Any, t: Any, sample: int | None, rng: np.random.Generator
) -> dict[str, Any]:
    """The textbook loop over every parameter (sample=None) or `sample` of them; the fastest seconds per
    evaluation over chunks of the work (as best_of does for the fast pass), and the values it produced."""
    f = lambda _: book_loss(net.params, x, t)  # noqa: E731  (the book's idiom)
    total = sum(p.size for p in net.params.values())
    per_eval, evals, values = np.inf, 0, {}
    for key, p in net.params.items():
        every = list(np.ndindex(p.shape))
        if sample is not None:  # this parameter's share of the sample
            every = [
                every[i] for i in rng.choice(len(every), max(1, sample * p.size // total), replace=False)
            ]
        take = every
        for chunk in np.array_split(np.arange(len(take)), max(1, len(take) // 50)):
            idx = [take[i] for i in chunk]
            start = time.perf_counter()
            g = textbook_numerical_gradient(f, p, idx)
            per_eval = min(per_eval, (time.perf_counter() - start) / (2 * len(idx)))
            values.update({(key, i): float(g[i]) for i in idx})
        evals += 2 * len(take)
    return {"per_eval": per_eval, "evals": evals, "values": values, "total_evals": 2 * total}


def generic_pass(net: TwoLayerNet, x: Any, t: Any, w1_rows: Any) -> tuple[float, dict[str, Any]]:
    """numgrad's generic path at the book's step: W2, b1, b2 whole, W1 on the given rows (views of W1, which
    the engine perturbs in place, so the loss sees each perturbation)."""
    f = lambda _: net.loss(x, t)  # noqa: E731
    start = time.perf_counter()
    out = {k: generic_gradient(f, net.params[k], h=BOOK_STEP) for k in ("W2", "b1", "b2")}
    out["W1"] = np.stack([generic_gradient(f, net.params["W1"][r], h=BOOK_STEP) for r in w1_rows])
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="run the whole textbook loop and generic pass")
    parser.add_argument("--sample", type=int, default=2000, help="parameters in the textbook sample (2000)")
    parser.add_argument("--repeats", type=int, default=7, help="best of this many fast passes (7)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    (x_all, t_all), _ = load_mnist(one_hot_label=True)
    x, t = x_all[:100], t_all[:100]
    net = TwoLayerNet(784, 50, 10, seed=0)
    # trained a little (backprop), so the gradients are those of a net that is learning, not of its init
    for i in range(50):
        grads = net.gradient(x_all[i * 80 : i * 80 + 80], t_all[i * 80 : i * 80 + 80])
        for k in net.params:
            net.params[k] -= 2.0 * grads[k]

    fast_s, fast = best_of(args.repeats, lambda: net.numerical_gradient(x, t, h=BOOK_STEP))
    default_s, _ = best_of(args.repeats, lambda: net.numerical_gradient(x, t))
    book = textbook_pass(net, x, t, None if args.full else args.sample, rng)
    fast_again, _ = best_of(args.repeats, lambda: net.numerical_gradient(x, t, h=BOOK_STEP))
    fast_s = min(fast_s, fast_again)
    rows = np.arange(784) if args.full else np.sort(rng.choice(784, 16, replace=False))
    generic_s, generic = generic_pass(net, x, t, rows)
    backprop = net.gradient(x, t)

    textbook_s = book["per_eval"] * book["total_evals"]
    compared = {k: fast[k][rows] if k == "W1" else fast[k] for k in generic}
    diff_generic = max(float(np.max(np.abs(compared[k] - generic[k]))) for k in generic)
    diff_book = max(abs(fast[k][i] - v) for (k, i), v in book["values"].items())
    diff_backprop = max(float(np.max(np.abs(fast[k] - backprop[k]))) for k in fast)
    generic_evals = 2 * sum(net.params[k].size for k in ("W2", "b1", "b2")) + 2 * len(rows) * 50
    report = {
        "shape": "TwoLayerNet(784, 50, 10), batch 100, embedded MNIST, one-hot labels, h = 1e-4",
        "fast_seconds": fast_s,
        "fast_default_step_seconds": default_s,
        "textbook_seconds": textbook_s,
        "textbook_extrapolated": not args.full,
        "textbook_evaluations_timed": book["evals"],
        "textbook_seconds_per_evaluation": book["per_eval"],
        "speedup_vs_textbook": textbook_s / fast_s,
        "generic_seconds_per_evaluation": generic_s / generic_evals,
        "speedup_vs_generic": generic_s / generic_evals * book["total_evals"] / fast_s,
        "max_abs_diff_vs_generic": diff_generic,
        "max_abs_diff_vs_textbook": diff_book,
        "max_abs_diff_vs_backprop": diff_backprop,
        "targets_met": textbook_s / fast_s >= TARGET_RATIO
        and diff_generic <= TARGET_GENERIC_DIFF
        and diff_backprop <= TARGET_BACKPROP_DIFF,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    how = (
        "whole loop"
        if args.full
        else f"extrapolated from {book['evals']:,} of {book['total_evals']:,} losses"
    )
    print(report["shape"])
    print(
        f"  structured numerical gradient  {fast_s * 1e3:8.1f} ms   (best of {2 * args.repeats}; "
        f"default step: {default_s * 1e3:.1f} ms)"
    )
    per_loss = book["per_eval"] * 1e3
    print(f"  textbook loop (book's code)    {textbook_s:8.1f} s    ({how}; {per_loss:.3f} ms each)")
    print(f"  speed-up vs textbook           {textbook_s / fast_s:8.0f} x   (target >= {TARGET_RATIO}x)")
    print(
        f"  speed-up vs generic numgrad    {report['speedup_vs_generic']:8.0f} x   ({generic_evals:,} timed)"
    )
    print(f"  max |structured - generic|     {diff_generic:8.1e}     (target <= {TARGET_GENERIC_DIFF:g})")
    print(f"  max |structured - textbook|    {diff_book:8.1e}     (the book's functions, same step)")
    print(f"  max |structured - backprop|    {diff_backprop:8.1e}     (target <= {TARGET_BACKPROP_DIFF:g})")
    print(f"  targets met: {report['targets_met']}")


if __name__ == "__main__":
    main()

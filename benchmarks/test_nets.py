"""pytest-benchmark: TwoLayerNet (64, 50, 10) at batch 100 — the book's loop, the structured numerical
gradient, the generic central difference and backprop. (784, 50, 10): `uv run python benchmarks/bench_nets.py`.

    uv run pytest benchmarks/test_nets.py
"""

import numpy as np
import pytest

from numgrad.bench import families as nb
from numgrad.bench import measure
from numgrad.book.nets import TwoLayerNet

SIZES = nb.NET_SIZES["net-64"]
X, T = nb._net_data(SIZES)
NET = TwoLayerNet(*SIZES, seed=0)
NAMES = ("W1", "b1", "W2", "b2")


def textbook():
    return {k: measure.textbook_gradient(lambda _: NET.loss(X, T), NET.params[k]) for k in NAMES}


RUNS = {
    "textbook loop": textbook,
    "structured numerical_gradient": lambda: NET.numerical_gradient(X, T),
    "generic numerical_gradient": lambda: NET.numerical_gradient(X, T, mode="generic"),
    "backprop": lambda: NET.gradient(X, T),
}


@pytest.mark.parametrize("method", list(RUNS))
def test_net_64(benchmark, method):
    benchmark.group = f"net {SIZES}, batch {nb.NET_BATCH}"
    exact = NET.gradient(X, T)
    got = RUNS[method]()
    benchmark.extra_info["max_abs_diff_from_backprop"] = max(
        float(np.max(np.abs(got[k] - exact[k]))) for k in NAMES
    )
    benchmark.pedantic(RUNS[method], rounds=3 if method == "textbook loop" else 10)

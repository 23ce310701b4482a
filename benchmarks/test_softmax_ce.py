"""pytest-benchmark: the 'softmax-ce' workloads, every gradient method (see numgrad.bench.harness).

uv run pytest benchmarks/test_softmax_ce.py
"""

import pytest
from _family import METHODS, WORKLOADS, run

NAMES = [name for name, w in WORKLOADS.items() if w.family == "softmax-ce"]


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("workload", NAMES)
def test_softmax_ce(benchmark, workload, method):
    run(benchmark, workload, method)

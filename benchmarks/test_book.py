"""pytest-benchmark: the 'book' workloads, every gradient method (see numgrad.bench.harness).

uv run pytest benchmarks/test_book.py
"""

import pytest
from _family import METHODS, WORKLOADS, run

NAMES = [name for name, w in WORKLOADS.items() if w.family == "book"]


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("workload", NAMES)
def test_book(benchmark, workload, method):
    run(benchmark, workload, method)

"""pytest-benchmark files: `uv run pytest benchmarks` times every family (the tests/ suite never does).

Each file's rows are grouped by workload; pytest-benchmark shows every time relative to the fastest of
its group, and `extra_info` carries each method's error against jax.grad and its f-evaluations
(`--benchmark-json PATH` writes them out). The ratio tables against the textbook loop come from
`uv run numgrad bench --full`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

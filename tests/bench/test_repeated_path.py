"""benchmarks/repeated_path.py: every row compares the two paths on the same bits (the script asserts it),
and prints a row per workload with both times and their ratio (values only: speed is not asserted)."""

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np

from numgrad.differences import repeated

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "repeated_path.py"
_SPEC = importlib.util.spec_from_file_location("repeated_path", _PATH)
assert _SPEC is not None
assert _SPEC.loader is not None
script = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(script)


def test_rows_time_both_paths_and_leave_the_path_on(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["repeated_path.py", "--rounds", "3"])
    script.main()
    rows = [line for line in capsys.readouterr().out.splitlines() if re.match(r"\| (sin|softmax|MSE)", line)]
    assert len(rows) == 7
    for row in rows:
        general, fast, ratio = (cell.strip() for cell in row.strip("|").split("|")[1:])
        assert float(general) > 0
        assert float(fast) > 0
        assert abs(float(ratio.rstrip("x")) - float(general) / float(fast)) < 0.006
    assert repeated.eligible(abs, np.zeros(3), None, "central", None, None)  # switched back on

"""benchmarks/repeated_path.py: every row compares the two paths on the same bits (the script asserts it),
and prints a row per workload with both times and their ratio (values only: speed is not asserted)."""

import re
import sys

import numpy as np
from bench_scripts import load

from numgrad.differences import repeated

script = load("repeated_path")


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
    assert repeated.eligible(abs, np.zeros(3), None, "central", True, None, None)  # switched back on

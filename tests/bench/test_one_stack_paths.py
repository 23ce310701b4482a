"""benchmarks/one_stack_paths.py: every row compares a one-stack path with the general path on the same
bits (the script asserts it), and prints a row per workload and step with both times and their ratio
(values only: speed is not asserted); both paths are on again afterwards."""

import re
import sys

import numpy as np
from bench_scripts import load

from numgrad.differences import fixed, repeated

script = load("one_stack_paths")


def test_rows_time_both_paths_and_leave_the_paths_on(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["one_stack_paths.py", "--rounds", "3"])
    script.main()
    out = capsys.readouterr().out
    assert "| workload (batched, automatic step, later calls) | general engine | repeated-call path |" in out
    assert "| workload (batched, h=1e-4) | general engine | fixed-step path |" in out
    rows = [line for line in out.splitlines() if re.match(r"\| (sin|softmax|MSE)", line)]
    assert len(rows) == 14
    for row in rows:
        general, fast, ratio = (cell.strip() for cell in row.strip("|").split("|")[1:])
        assert float(general) > 0
        assert float(fast) > 0
        # the ratio is printed to 0.01 from the unrounded times, the times to 0.1 µs: what the cells allow
        shown = float(general) / float(fast)
        slack = 0.005 + shown * (0.05 / float(general) + 0.05 / float(fast)) * 1.01
        assert abs(float(ratio.rstrip("x")) - shown) <= slack
    assert repeated.eligible(abs, np.zeros(3), None, "central", True, None, None)  # switched back on
    assert fixed.eligible(abs, np.zeros(3), 1e-4, "central", True, None, None)


def test_general_switches_off_only_the_path_for_its_step(monkeypatch):
    monkeypatch.setattr(repeated, "gradient", lambda *a: (_ for _ in ()).throw(AssertionError("repeated")))
    monkeypatch.setattr(fixed, "gradient", lambda *a: (_ for _ in ()).throw(AssertionError("fixed")))
    x = np.linspace(-1, 1, 6)
    f = lambda s: np.sin(s).sum(axis=-1)  # noqa: E731
    script.general(f, x)
    script.general(f, x)  # a later call: the repeated-call path would take it
    script.general(f, x, 1e-4)

"""`numgrad check MODULE:FUNC --hessian MODULE:HESS` through numgrad.commands.cli.main([...])."""

from __future__ import annotations

import json
import textwrap

import pytest

from numgrad.commands.cli import main

TARGETS = textwrap.dedent(
    """
    import numpy as np

    def f(x):
        return np.sum(np.sin(x) * x**2) + x[0] * x[1]

    def hess(x):
        d = 2 * np.sin(x) + 4 * x * np.cos(x) - x**2 * np.sin(x)
        H = np.diag(d)
        H[0, 1] += 1
        H[1, 0] += 1
        return H

    def hess_missing_mixed(x):
        H = hess(x)
        H[0, 1] = H[1, 0] = 0
        return H

    def hess_flat(x):
        return hess(x).reshape(-1)
    """
)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def targets(tmp_path, monkeypatch):
    (tmp_path / "hess_targets.py").write_text(TARGETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_right_hessian_passes(targets, capsys):
    argv = ["check", "hess_targets:f", "--shape", "4", "--hessian", "hess_targets:hess", "--examples", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "hess_targets:hess vs numgrad's numerical Hessian" in out
    assert "2 passed, 0 failed" in out


def test_wrong_hessian_fails_and_is_located(targets, capsys):
    argv = ["check", "hess_targets:f", "--shape", "4", "--hessian", "hess_targets:hess_missing_mixed", "--json",
            "--examples", "1", "--dtype", "float32"]  # fmt: skip
    assert main(argv) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False
    assert report["hessian"] == "hess_targets:hess_missing_mixed"
    assert report["examples"][0]["worst_index"] in ([0, 1], [1, 0])


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["check", "hess_targets:f", "--shape", "4", "--hessian", "hess_targets:nope"], "has no attribute 'nope'"),
        (["check", "hess_targets:f", "--shape", "4", "--hessian", "hess_targets:hess_flat"], "hess must have shape"),
        (["check", "hess_targets:f", "--shape", "4", "--hessian", "hess_targets:hess", "--mode", "fast"], "--hessian checks every entry"),
        (["check", "--hessian", "hess_targets:hess"], "--hessian need a target"),
    ],
    ids=["missing", "flat", "fast-mode", "no-target"],
)  # fmt: skip
def test_input_validation(targets, capsys, argv, match):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err
    assert "Traceback" not in err

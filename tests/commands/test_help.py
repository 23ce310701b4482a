"""`--help` of every command: each option's default and an example; `bench --family` choices; the one
MODULE:FUNC loader shared by check and descend."""

from __future__ import annotations

import argparse
import json

import pytest

from numgrad.bench.harness import FAMILIES, FULL
from numgrad.commands import _targets, check
from numgrad.commands.cli import COMMANDS, build_parser, main


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_shows_every_default_and_an_example(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    parser = _subparsers()[command]
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert f"examples:\n  numgrad {command}" in text
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        shown = formatter._expand_help(action) if action.help else ""
        assert "default" in shown, f"{command} {action.option_strings or action.dest}: {shown!r}"
        if action.default not in (None, False, argparse.SUPPRESS) and action.nargs != 0:
            assert str(action.default) in shown or "default" in (action.help or ""), shown


def test_bench_family_lists_and_rejects(capsys):
    assert set(FAMILIES) == {fam for fam, _ in FULL}
    with pytest.raises(SystemExit) as info:
        main(["bench", "--family", "nosuch"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nosuch'" in err
    assert all(f"'{fam}'" in err for fam in FAMILIES)
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out.replace("\n", " ")
    assert all(fam in out for fam in FAMILIES)


MYMOD = """
import numpy as np

def f(x):
    return float(np.sum((x - 1.0) ** 2))

def grad(x):
    return 2 * (x - 1.0)
"""


def test_descend_and_check_import_the_same_module_from_the_current_directory(tmp_path, monkeypatch, capsys):
    (tmp_path / "mymod_i18.py").write_text(MYMOD)
    monkeypatch.chdir(tmp_path)  # not on sys.path otherwise: the loader adds the current directory
    assert main(["descend", "--function", "mymod_i18:f", "--start", "3", "-1", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)["runs"][0]
    assert run["status"] == "converged"
    assert run["x"] == pytest.approx([1.0, 1.0], abs=1e-6)
    assert main(["check", "mymod_i18:f", "--shape", "3", "--grad", "mymod_i18:grad", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True
    assert check.load is _targets.load


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("no_such_module_i18:f", "cannot import module 'no_such_module_i18'"),
        ("mymod_i18:missing", "has no attribute 'missing'"),
        ("nothing_here", "must be one of book, elongated, rosenbrock or MODULE:FUNC"),
    ],
    ids=["missing-module", "missing-attribute", "not-a-target"],
)
def test_descend_bad_targets_are_one_line(spec, match, tmp_path, monkeypatch, capsys):
    (tmp_path / "mymod_i18.py").write_text(MYMOD)
    monkeypatch.chdir(tmp_path)
    assert main(["descend", "--function", spec, "--start", "1", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert match in err

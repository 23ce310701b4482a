"""Tables fit the terminal: every command's output at 80 columns has no line wider than 80; piped output
and --wide keep every column; titles stay on one line."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

import numgrad.checking.catalog
import numgrad.checking.twins
from numgrad.bench import harness
from numgrad.commands._console import Column, console_width, fit_line, fit_table, print_table
from numgrad.commands.cli import main

TINY = ["--iters", "3", "--hidden", "4", "--batch-size", "10"]



def cell_width(text: str) -> int:
    from rich.cells import cell_len

    return max(cell_len(line) for line in text.splitlines())


@pytest.fixture
def few_builtins(monkeypatch):
    cases = tuple(c for c in numgrad.checking.catalog.CASES if c.name in ("softmax_cross_entropy", "hinge_loss"))
    monkeypatch.setattr(numgrad.checking.catalog, "CASES", cases)
    monkeypatch.setattr(numgrad.checking.twins, "CASES", cases)
    monkeypatch.setattr(numgrad.checking.twins, "SHAPES", ((3, 4),))


@pytest.fixture
def narrow(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")


def test_check_table_is_readable_at_80_columns(few_builtins, narrow, capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert cell_width(out) <= 80, out
    lines = out.splitlines()
    header = next(line for line in lines if "function" in line)
    for col in ("function", "dtype", "rel err", "tol", "status"):
        assert col in header
    assert "hinge_loss (binary)" in out
    assert "hinge_loss (multiclass)" in out
    assert sum("softmax_cross_entropy" in line for line in lines) == 2  # one line per row: nothing wraps
    assert "not shown at this width" in out
    assert "--wide" in out


def test_check_full_table_with_wide_or_piped(few_builtins, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["check", "--wide"]) == 0
    wide = capsys.readouterr().out
    monkeypatch.delenv("COLUMNS")
    assert main(["check"]) == 0  # capsys is not a terminal: a pipe
    piped = capsys.readouterr().out
    for out in (wide, piped):
        assert "max abs err" in out
        assert "cases" in out
        assert "float64" in out
        assert "not shown at this width" not in out
    assert cell_width(wide) > 80


def test_check_json_names_both_hinge_rows(few_builtins, capsys):
    assert main(["check", "--json", "--dtype", "float64"]) == 0
    names = [r["function"] for r in json.loads(capsys.readouterr().out)["rows"]]
    assert sorted(names) == ["hinge_loss (binary)", "hinge_loss (multiclass)", "softmax_cross_entropy"]


def test_bench_table_at_80_columns(narrow, monkeypatch, capsys):
    monkeypatch.setattr(harness, "QUICK", (("book", 0),))
    assert main(["bench", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert cell_width(out) <= 80, out
    assert "textbook loop" in out
    assert "scipy jacobian" in out
    assert "median" in out
    assert sum("textbook loop" in line for line in out.splitlines()) == 1


def test_train_and_sweep_titles_do_not_wrap_at_80(narrow, capsys):
    assert main(["train", *TINY, "--gradient", "backprop"]) == 0
    out = capsys.readouterr().out
    assert cell_width(out) <= 80, out
    title = out.strip().splitlines()[0]
    assert "TwoLayerNet(784, 4, 10)" in title
    assert "lr 2," in title
    assert "batch 10" in title
    assert "MNIST 4000/1000" in title
    assert main(["sweep", "--grid", "lr=0.5,2", "hidden=3", "--iters", "3"]) == 0
    out = capsys.readouterr().out
    assert cell_width(out) <= 80, out
    assert out.strip().splitlines()[0].startswith("sweep: 2 runs")
    assert "val acc" in out


def test_descend_table_at_80_columns(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["descend"]) == 0
    out = capsys.readouterr().out
    table = out.split("\n\n")[0]  # the lesson below the table is prose, wrapped by rich
    assert cell_width(table) <= 80, out
    assert "diverged" in out
    assert "converged" in out


def test_fit_table_abbreviates_then_drops_the_highest_drop_first():
    columns = [Column("name", justify="left"), Column("a long header", "a", drop=1), Column("b", drop=2)]
    rows = [[("a rather long cell", "short"), "1.0e-01", "2.0e-02"]]
    console = Console(width=200, file=io.StringIO())
    table, dropped = fit_table(console, columns, rows)
    assert dropped == []
    assert [c.header for c in table.columns] == ["name", "a long header", "b"]
    console = Console(width=30, file=io.StringIO())
    table, dropped = fit_table(console, columns, rows)
    assert [c.header for c in table.columns] == ["name", "a", "b"]
    assert list(table.columns[0].cells) == ["short"]
    console = Console(width=16, file=io.StringIO())
    table, dropped = fit_table(console, columns, rows)
    assert dropped == ["b"]


def test_print_table_title_picks_the_first_that_fits():
    out = io.StringIO()
    console = Console(width=20, file=out)
    print_table(console, ["a title far too long for twenty", "short title"], [Column("x")], [["1"]])
    assert out.getvalue().splitlines()[0] == "short title"
    assert str(fit_line(console, ["x" * 30])) == "x" * 19 + "…"


def test_console_width_rules(monkeypatch):
    monkeypatch.setenv("COLUMNS", "72")
    assert console_width() == 72
    assert console_width(wide=True, min_width=150) >= 150
    monkeypatch.delenv("COLUMNS")
    assert console_width(min_width=132) == 132  # not a terminal (pytest captures): the full table


def test_check_target_table_at_80_columns(tmp_path, monkeypatch, capsys):
    (tmp_path / "narrow_target.py").write_text(
        "import numpy as np\n\ndef f(x):\n    return float(np.sum(x ** 3))\n\ndef g(x):\n    return 3 * x ** 2\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["check", "narrow_target:f", "--shape", "3,4", "--grad", "narrow_target:g"]) == 0
    out = capsys.readouterr().out
    assert cell_width(out) <= 80, out
    assert sum("f64 #" in line for line in out.splitlines()) == 5
    assert "5 passed, 0 failed" in out


def test_a_title_with_brackets_is_printed_as_written():
    out = io.StringIO()
    console = Console(width=60, file=out)
    print_table(console, ["runs/[bold]x[1].py:f vs numgrad"], [Column("x")], [["1"]])
    assert out.getvalue().splitlines()[0] == "runs/[bold]x[1].py:f vs numgrad"


class _ClosedPipe(io.StringIO):
    """A stdout whose reader has gone away, as in `numgrad ... | head -1`."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("json_out", [False, True])
def test_output_into_a_closed_pipe_ends_quietly_with_141(json_out, monkeypatch, capsys):
    """rich's console turns a broken pipe into SystemExit(1), which the error path used to blame on the
    user's code ("the user's code called sys.exit(1)", exit 2); print() of --json raised BrokenPipeError."""
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    assert main(["descend", *(["--json"] if json_out else [])]) == 141
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_a_real_pipe_closed_by_its_reader(tmp_path):
    """`numgrad check ... | head -1`: the table (800 rows, more than a pipe's 64 KiB buffer) meets a closed pipe."""
    import subprocess
    import sys

    (tmp_path / "piped_target.py").write_text(
        "def f(x):\n    return float(x[0] ** 2)\n\ndef g(x):\n    return 2 * x\n"
    )
    command = [sys.executable, "-m", "numgrad", "check", "piped_target:f", "--shape", "1", "--grad",
               "piped_target:g", "--examples", "800", "--dtype", "float64"]  # fmt: skip
    with subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as run:
        assert run.stdout is not None
        assert run.stderr is not None
        assert b"piped_target:f" in run.stdout.readline()
        run.stdout.close()
        assert run.wait(timeout=300) == 141
        assert run.stderr.read() == b""


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--data", "runs/[bold]mnist[/bold]", *TINY],
        ["sweep", "--grid", "lr=0.5", "--data", "runs/[bold]mnist[/bold]"],
        ["sweep", "--random", "2", "--ranges", "lr=2:1"],
        ["sweep", "--bayes", "2", "--ranges", "lr=2:1"],
    ],
)
def test_train_and_sweep_errors_are_one_line_as_written(argv, monkeypatch, capsys):
    """Was rich markup: '[bold]' vanished from the path the message names, and at 40 columns the line
    wrapped onto three; the library's 'sweep:' came after the command's 'numgrad sweep:' ('sweep: sweep:')."""
    monkeypatch.setenv("COLUMNS", "40")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"numgrad {argv[0]}: ")
    assert "sweep: sweep:" not in err
    if "--data" in argv:
        assert "runs/[bold]mnist[/bold]" in err

"""`numgrad descend` through numgrad.commands.cli.main: the book's study by default, JSON, the picture, errors."""

import json
import re
import struct
import textwrap

import pytest

from numgrad.commands.cli import main

BOOK_X_LR_01 = [-6.111107928998789e-10, 8.148143905314271e-10]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SANE_PIXELS = (300, 2000)  # each side of the picture, in pixels


def _json(capsys, *argv):
    assert main(["descend", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def _png_size(data):
    """(width, height) from the IHDR chunk that follows the signature."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_default_is_the_books_study(capsys):
    report = _json(capsys)
    assert (report["function"], report["start"], report["step_num"], report["h"]) == (
        "book",
        [-3.0, 4.0],
        100,
        1e-4,
    )
    runs = {r["lr"]: r for r in report["runs"]}
    assert list(runs) == [0.1, 10.0, 1e-10]
    assert [runs[lr]["status"] for lr in runs] == ["converged", "diverged", "max_steps"]
    assert runs[0.1]["x"] == BOOK_X_LR_01
    assert runs[1e-10]["x"] == [-2.999999939999995, 3.9999999199999934]
    assert (runs[0.1]["steps"], runs[10.0]["steps"], runs[1e-10]["steps"]) == (100, 3, 100)


def test_table_has_a_row_per_rate(capsys):
    assert main(["descend"]) == 0
    out = capsys.readouterr().out
    for row in ("0.1 .*-6.1111079e-10.*converged.*100", "10 .*20577.*diverged.* 3 ", "1e-10 .*max_steps"):
        assert re.search(row, out), row


def test_options_choose_rates_steps_and_start(capsys):
    report = _json(capsys, "--lr", "0.5", "0.25", "--steps", "3", "--start", "1", "-2", "--h", "auto")
    assert report["h"] is None
    assert report["start"] == [1.0, -2.0]
    assert [(r["lr"], r["steps"]) for r in report["runs"]] == [(0.5, 3), (0.25, 3)]
    assert report["runs"][0]["x"] == [0.0, 0.0]  # lr = 1/L lands on the minimum in one step
    assert report["runs"][0]["status"] == "converged"


def test_tol_stops_early(capsys):
    report = _json(capsys, "--lr", "0.1", "--tol", "1e-3")
    assert report["runs"][0]["status"] == "converged"
    assert report["runs"][0]["steps"] < 100


@pytest.mark.parametrize(
    ("name", "statuses"),
    [
        ("elongated", ["max_steps", "diverged", "max_steps"]),
        ("rosenbrock", ["max_steps", "max_steps", "diverged"]),
    ],
)
def test_classics(capsys, name, statuses):
    report = _json(capsys, "--function", name)
    assert [r["status"] for r in report["runs"]] == statuses


def test_module_function_in_any_dimension(capsys, tmp_path, monkeypatch):
    (tmp_path / "userfuncs.py").write_text(
        textwrap.dedent(
            """
            import numpy as np

            def bowl(x):
                return float(np.sum((x - 1.0) ** 2))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    report = _json(capsys, "--function", "userfuncs:bowl", "--start", "0", "0", "0", "--lr", "0.5")
    run = report["runs"][0]
    assert run["x"] == pytest.approx([1.0, 1.0, 1.0])
    assert run["status"] == "converged"


def test_diverged_point_that_overflowed_is_null_in_json(capsys):
    report = _json(capsys, "--function", "rosenbrock", "--lr", "1e300", "--steps", "5")
    run = report["runs"][0]
    assert run["status"] == "diverged"
    assert run["f"] is None


def test_plot_writes_one_sane_png(capsys, tmp_path):
    out = tmp_path / "descent.png"
    assert main(["descend", "--plot", str(out)]) == 0
    assert f"picture written to {out}" in capsys.readouterr().out.replace("\n", "")
    data = out.read_bytes()
    width, height = _png_size(data)
    assert all(SANE_PIXELS[0] <= side <= SANE_PIXELS[1] for side in (width, height)), (width, height)
    assert len(data) > 20_000  # contours, arrows and paths, not an empty canvas
    assert list(tmp_path.iterdir()) == [out]


@pytest.mark.parametrize(("name", "aspect"), [("elongated", (0.5, 0.9)), ("rosenbrock", (0.9, 1.3))])
def test_plot_of_each_classic(tmp_path, capsys, name, aspect):
    out = tmp_path / f"{name}.png"
    report = _json(capsys, "--function", name, "--steps", "50", "--plot", str(out))
    assert report["plot"] == str(out)
    width, height = _png_size(out.read_bytes())
    # the picture follows the window: wide for the 16 x 8 bowl, about square for Rosenbrock's 4 x 4
    assert aspect[0] <= height / width <= aspect[1], (width, height)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--function", "nope"], "--function must be one of book, elongated, rosenbrock or MODULE:FUNC"),
        (["--function", "numgrad.book.classics:book"], "--start is needed"),
        (["--function", "no_such_module_xyz:f", "--start", "1"], "No module named 'no_such_module_xyz'"),
        (["--function", "numgrad.book.classics:missing", "--start", "1"], "has no attribute 'missing'"),
        (["--function", "numgrad.book.classics:CLASSICS", "--start", "1"], "is not callable"),
        (["--lr", "-1"], "descend: --lr must be a positive finite number"),
        (["--steps", "0", "--lr", "0.1"], "descend: --steps must be a positive integer"),
        (["--tol", "0"], "descend: --tol must be a positive finite number; got 0.0"),
        (["--h", "nan"], "descend: --h must be a positive finite number; got nan"),
        (["--function", "numgrad.book.classics:book", "--start", "1", "2", "3", "--plot", "p.png"], "--plot"),
        (["--start", "1", "2", "3"], "book is a function of 2 variables; --start has 3"),
        (["--plot", "/nonexistent-dir/p.png"], "directory '/nonexistent-dir' does not exist"),
    ],
    ids=[
        "unknown-function", "module-without-start", "missing-module", "missing-attribute", "not-callable",
        "negative-lr", "zero-steps", "zero-tol", "nan-h", "plot-needs-2d", "start-wrong-size", "plot-unwritable",
    ],
)  # fmt: skip
def test_input_validation(capsys, argv, match):
    assert main(["descend", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("numgrad descend: ")
    assert re.search(match, err), err


@pytest.mark.parametrize(
    "argv",
    [["--h", "tiny"], ["--steps", "many"], ["--lr"]],
    ids=["h-not-number", "steps-not-int", "lr-empty"],
)
def test_argparse_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit, match="2"):
        main(["descend", *argv])
    err = capsys.readouterr().err
    assert err.startswith("numgrad descend: error: argument --")
    assert err.count("\n") == 1  # one line, no usage block

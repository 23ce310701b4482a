"""`numgrad sweep --bayes`, `--storage/--study` and `--compare` through numgrad.commands.cli.main."""

from __future__ import annotations

import itertools
import json
import sqlite3
import sys

import numpy as np
import pytest
from matplotlib.colors import to_hex

from numgrad.book.data import load_mnist
from numgrad.book.search import compare_searches
from numgrad.book.tuning import Trial
from numgrad.commands._search import compare_figure
from numgrad.commands.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def tiny(mnist_dir, *extra):
    return ["sweep", *extra, "--iters", "16", "--data", str(mnist_dir)]


def one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--bayes", "2", "--ranges", "momentum=1:2"], "unknown hyperparameter 'momentum'"),
        (["--bayes", "2", "--ranges", "lr=1:0.1"], "sweep: range of lr must be 0 < low <= high; got (1.0, 0.1)"),
        (["--bayes", "0"], "sweep: trials must be a positive integer"),
        (["--bayes", "2", "--storage", "nosuchdialect://x"], "storage 'nosuchdialect://x' cannot be opened"),
        (["--bayes", "2", "--storage", "sqlite:////no/such/dir/s.db"], "cannot be opened"),
        (["--grid", "lr=1", "--study", "s"], "--storage and --study go with --bayes N"),
        (["--bayes", "2", "--compare"], "not allowed with argument"),
        (["--compare", "0"], "compare_searches: budget must be a positive integer"),
    ],
    ids=["unknown-axis", "empty-range", "no-trials", "unknown-dialect", "missing-directory", "study-with-grid",
         "bayes-and-compare", "zero-budget"],
)  # fmt: skip
def test_bad_input_gets_one_line_and_exit_2(mnist_dir, extra, match, capsys):
    try:
        code = main(tiny(mnist_dir, *extra))
    except SystemExit as exc:  # argparse's own checks
        code = exc.code
    assert code == 2
    assert match in one_line(capsys.readouterr().err)


def test_a_study_created_with_other_axes_gets_one_line_and_the_database_is_untouched(mnist_dir, tmp_path, capsys):
    db = tmp_path / "s.db"
    store = ["--storage", f"sqlite:///{db}", "--study", "s"]
    assert main(tiny(mnist_dir, "--bayes", "2", *store, "--json")) == 0
    before = db.read_bytes()
    capsys.readouterr()
    assert main(tiny(mnist_dir, "--bayes", "3", *store, "--ranges", "lr=0.1:1", "batch_size=10:50")) == 2
    line = one_line(capsys.readouterr().err)
    assert "study 's' in sqlite:///" in line
    assert "was created with other axes (lr=0.01:10 hidden=10:100); this run asks for lr=0.1:1 batch_size=10:50" in line
    assert db.read_bytes() == before


def test_without_optuna_bayes_names_the_extra(mnist_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)
    assert main(tiny(mnist_dir, "--bayes", "2")) == 2
    assert one_line(capsys.readouterr().err) == (
        "numgrad sweep: --bayes needs optuna, which is not installed: pip install 'numgrad[tune]'"
    )


def test_bayes_json_plot_and_a_study_that_continues(mnist_dir, tmp_path, capsys):
    db, png = tmp_path / "s.db", tmp_path / "bayes.png"
    store = ["--storage", f"sqlite:///{db}", "--study", "s", "--seed", "1"]
    assert main(tiny(mnist_dir, "--bayes", "3", *store, "--json", "--plot", str(png))) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["search"], first["study"], first["n_train"], first["n_validation"]) == ("bayes", "s", 160, 40)
    assert sorted(r["number"] for r in first["results"]) == [0, 1, 2]
    assert png.read_bytes().startswith(PNG)
    assert main(tiny(mnist_dir, "--bayes", "5", *store)) == 0
    out = capsys.readouterr().out
    assert "5 Bayesian trials" in out
    assert "study 's' in" in out
    with sqlite3.connect(db) as con:
        numbers = [n for (n,) in con.execute("SELECT number FROM trials WHERE state IN ('COMPLETE', 'PRUNED')")]
    assert sorted(numbers) == [0, 1, 2, 3, 4]


def test_storage_alone_is_sqlite_sweep_db_here(mnist_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(tiny(mnist_dir, "--bayes", "2", "--storage", "--json")) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["storage"], out["study"]) == ("sqlite:///sweep.db", "numgrad-sweep")
    assert (tmp_path / "sweep.db").is_file()


@pytest.fixture(scope="module")
def comparison():
    (x, t), _ = load_mnist()
    keep = np.concatenate([np.flatnonzero(t == d)[:20] for d in range(10)])
    return compare_searches(x[keep], t[keep], budget=6, base=Trial(iters=16, batch_size=20), seed=0)


def test_compare_runs_three_searches_at_one_budget(comparison):
    assert comparison.budget == 6
    assert [len(getattr(comparison, m).results) for m in ("grid", "random", "bayes")] == [6, 6, 6]
    for method, curve in comparison.curves().items():
        assert len(curve) == 6
        assert all(b >= a for a, b in itertools.pairwise(curve)), method  # best so far never drops
        assert curve[-1] == getattr(comparison, method).best.val_acc
    assert {r.trial.hidden for r in comparison.grid.results} == {10, 100}  # 3 lr x 2 hidden
    assert sorted({r.trial.lr for r in comparison.grid.results}) == pytest.approx([0.01, 0.31622776601683794, 10.0])


def test_the_compare_figure(comparison):
    fig = compare_figure(comparison)
    (ax,) = fig.axes
    assert ax.get_title().startswith("grid vs random vs Bayesian search: 6 trials each")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("trials", "best validation accuracy so far (%)")
    lines = ax.get_lines()
    assert len(lines) == 3
    labels = [line.get_label() for line in lines]
    assert [label.split(":")[0] for label in labels] == ["grid search", "random search", "Bayesian search (TPE)"]
    assert len({to_hex(line.get_color()) for line in lines}) == 3
    assert len({line.get_marker() for line in lines}) == 3
    assert all(list(line.get_xdata()) == [1, 2, 3, 4, 5, 6] for line in lines)
    # percent, as the legend and the table say it (was a fraction beside "best 91.1%")
    assert [list(line.get_ydata()) for line in lines] == [[100 * a for a in c] for c in comparison.curves().values()]
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if 0.5 <= t <= 6.5]
    assert ticks
    assert all(t == int(t) for t in ticks)  # whole trials (was 2.5, 7.5, ...)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == labels


def test_compare_cli_table_and_png(mnist_dir, tmp_path, capsys):
    png = tmp_path / "compare.png"
    assert main(tiny(mnist_dir, "--compare", "3", "--plot", str(png))) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("grid search", "random search", "Bayesian search (TPE)", "best val acc"))
    assert png.read_bytes().startswith(PNG)


def test_compare_as_json(comparison):
    data = json.loads(json.dumps(comparison.to_dict()))
    assert data["budget"] == 6
    assert sorted(data["curves"]) == ["bayes", "grid", "random"]
    assert data["curves"]["bayes"] == list(comparison.curves()["bayes"])
    assert len(data["bayes"]["results"]) == 6


def test_ctrl_c_says_how_to_continue(mnist_dir, tmp_path, monkeypatch, capsys):
    import numgrad.book.bayes

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(numgrad.book.bayes, "run_trial", interrupted)
    db = tmp_path / "s.db"
    assert main(tiny(mnist_dir, "--bayes", "2", "--storage", f"sqlite:///{db}", "--study", "s")) == 130
    assert one_line(capsys.readouterr().err) == (
        f"numgrad sweep: interrupted; the finished trials are in study 's' at sqlite:///{db}: "
        "run the same command to continue"
    )

"""`numgrad train` and `numgrad sweep` through numgrad.commands.cli.main, on tiny settings."""

from __future__ import annotations

import json

import pytest
from mnist_fixtures import tiny_mnist, write_idx

from numgrad.commands.cli import main

TINY = ["--iters", "3", "--hidden", "4", "--batch-size", "10"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["train", "--gradient", "adam"], "invalid choice: 'adam'"),
        (["train", "--iters", "many"], "invalid int value: 'many'"),
        (["sweep"], "one of the arguments --grid --random --bayes --compare is required"),
        (["sweep", "--grid", "momentum=0.9"], "unknown hyperparameter 'momentum'"),
        (["sweep", "--grid", "lr=fast"], "expected NAME=V1,V2,... with numbers"),
        (["sweep", "--grid", "hidden=10.5"], "expected NAME=V1,V2,... with numbers"),
        (["sweep", "--random", "2", "--ranges", "lr=0.1"], "expected NAME=LOW:HIGH"),
        (["sweep", "--grid", "lr=1", "--random", "2"], "not allowed with argument"),
    ],
    ids=["unknown-gradient", "iters-not-a-number", "sweep-without-search", "unknown-axis", "grid-not-numbers",
         "fractional-hidden", "range-without-colon", "grid-and-random"],
)  # fmt: skip
def test_input_validation(argv, match, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert match in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["train", *TINY, "--lr", "-1"], "train: lr must be a positive finite number"),
        (["train", *TINY, "--hidden", "0"], "train: --hidden must be a positive integer"),
        (["sweep", "--random", "2", "--ranges", "lr=1:0.1"], "range of lr must be 0 < low <= high"),
        (["sweep", "--grid", "lr=1", "--validation", "2"], "validation must be a fraction"),
    ],
    ids=["negative-lr", "zero-hidden", "reversed-range", "validation-two"],
)
def test_bad_values_exit_2_with_the_librarys_message(argv, match, capsys):
    assert main(argv) == 2
    assert match in capsys.readouterr().err


def test_train_json(capsys):
    assert main(["train", *TINY, "--json", "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["gradient"] == "numerical"
    assert out["sizes"] == [784, 4, 10]
    assert len(out["loss"]) == 3
    assert out["epoch"] == [0.0, 0.0075]  # 3 of the 400 batches of an epoch
    assert out["seed"] == 3
    assert 0 <= out["test_acc"][-1] <= 1


def test_train_table_and_plot(tmp_path, capsys):
    png = tmp_path / "train.png"
    assert main(["train", *TINY, "--gradient", "backprop", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out
    assert "backprop gradient" in out
    assert png.read_bytes().startswith(PNG)


def test_train_reads_a_data_directory(tmp_path, capsys):
    write_idx(tmp_path, tiny_mnist(n_train=20, n_test=10))
    assert main(["train", *TINY, "--data", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["iters_per_epoch"] == 2  # 20 images in batches of 10


def test_train_reports_a_missing_data_directory(tmp_path, capsys):
    assert main(["train", *TINY, "--data", str(tmp_path)]) == 2
    assert "no MNIST data in" in capsys.readouterr().err


def test_sweep_grid_json_and_plot(tmp_path, capsys):
    png = tmp_path / "sweep.png"
    argv = ["sweep", "--grid", "lr=0.5,2", "hidden=3", "--iters", "4", "--json", "--plot", str(png)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["trial"]["hidden"] for r in out["results"]] == [3, 3]
    assert {r["trial"]["lr"] for r in out["results"]} == {0.5, 2.0}
    assert (out["n_train"], out["n_validation"]) == (3200, 800)
    assert png.read_bytes().startswith(PNG)


def test_sweep_random_table(capsys):
    assert (
        main(["sweep", "--random", "2", "--ranges", "lr=0.1:3", "hidden=2:4", "--iters", "3", "--seed", "1"])
        == 0
    )
    out = capsys.readouterr().out
    assert "2 runs" in out
    assert "val acc" in out


def test_train_progress_starts_at_a_dash_not_nan():
    import io

    from rich.console import Console

    from numgrad.book.training import TrainStep
    from numgrad.commands import train

    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    progress = train._progress(console, disable=False)
    task = progress.add_task("training (numerical)", total=10, **train.START_FIELDS)
    console.print(progress.get_renderable())
    first = out.getvalue()
    assert "loss —" in first
    assert "train —  test —" in first
    assert "nan" not in first
    assert "0.0%" not in first
    progress.update(task, advance=1, **train.step_fields(TrainStep(1, 10, 2.30259, 0.1125, 0.098)))
    console.print(progress.get_renderable())
    assert "loss 2.303" in out.getvalue()
    assert "train 11.2%  test 9.8%" in out.getvalue()


@pytest.fixture(scope="module")
def tiny_history():
    from numgrad.book.data import load_mnist
    from numgrad.book.nets import TwoLayerNet
    from numgrad.book.training import train

    (x, t), (xt, tt) = load_mnist()
    net = TwoLayerNet(784, 4, 10, seed=0)
    return train(net, x, t, xt, tt, iters=3, batch_size=10, lr=0.5, gradient="backprop", seed=0)


def test_training_curves_title_names_the_settings_and_accuracy_is_in_percent(tiny_history, tmp_path):
    from numgrad.commands.train import plot_history

    fig = plot_history(tiny_history, tmp_path / "t.png", data="embedded MNIST 4000/1000")
    title = fig.get_suptitle()
    for part in ("TwoLayerNet(784, 4, 10)", "backprop gradient", "lr 0.5", "hidden 4", "batch 10",
                 "embedded MNIST 4000/1000"):  # fmt: skip
        assert part in title
    loss_ax, acc_ax = fig.axes
    assert acc_ax.get_ylabel() == "accuracy (%)"
    assert acc_ax.get_ylim() == (0.0, 100.0)
    train_line, test_line = acc_ax.get_lines()
    assert train_line.get_ydata().tolist() == pytest.approx([100 * a for a in tiny_history.train_acc])
    assert test_line.get_ydata().tolist() == pytest.approx([100 * a for a in tiny_history.test_acc])
    assert train_line.get_linestyle() != test_line.get_linestyle()
    assert train_line.get_marker() != test_line.get_marker()
    assert [t.get_text() for t in acc_ax.get_legend().get_texts()] == ["train accuracy", "test accuracy"]
    assert loss_ax.get_lines()[0].get_ydata().tolist() == pytest.approx(list(tiny_history.loss))


@pytest.mark.parametrize(("name", "magic"), [("t.svg", b"<?xml"), ("t.pdf", b"%PDF")])
def test_train_and_sweep_plots_follow_the_extension(tmp_path, capsys, name, magic):
    out = tmp_path / name
    assert main(["train", *TINY, "--gradient", "backprop", "--plot", str(out)]) == 0
    assert out.read_bytes().startswith(magic)
    swept = tmp_path / f"sweep{out.suffix}"
    assert main(["sweep", "--grid", "lr=0.5,2", "hidden=3", "--iters", "2", "--plot", str(swept)]) == 0
    assert swept.read_bytes().startswith(magic)


def test_plot_with_an_unknown_extension_is_rejected_before_any_work(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", *TINY, "--plot", "curves.txt"])
    assert info.value.code == 2
    assert "the extension must be one of .png, .svg, .pdf" in capsys.readouterr().err


def test_sweep_plot_shows_accuracy_in_percent_as_the_table(tmp_path):
    from numgrad.book.data import load_mnist
    from numgrad.book.tuning import grid_trials, sweep
    from numgrad.commands.sweep import plot_sweep

    (x, t), _ = load_mnist()
    result = sweep(x, t, grid_trials({"lr": [0.5, 2.0], "hidden": [3], "iters": [2]}), seed=0)
    fig = plot_sweep(result, tmp_path / "s.png")
    (ax,) = fig.axes
    assert ax.get_ylabel() == "validation accuracy (%)"
    assert ax.get_ylim() == (0.0, 100.0)
    (line,) = ax.get_lines()
    expected = sorted((r.trial.lr, 100 * r.val_acc) for r in result.results)
    assert line.get_ydata().tolist() == pytest.approx([a for _, a in expected])

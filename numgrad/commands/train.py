"""`numgrad train`: the book's TwoLayerNet trained on MNIST by numerical gradients (or backprop)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from numgrad.commands._options import add_command, add_wide_option, plot_path


def register(sub: Any) -> None:
    # the defaults and their reasons live in numgrad.book.training (NumPy is imported by numgrad already)
    from numgrad.book.training import DEFAULT_BATCH_SIZE, DEFAULT_HIDDEN, DEFAULT_ITERS, DEFAULT_LR

    p = add_command(
        sub,
        "train",
        examples=(
            "numgrad train --plot train.png                  # numerical gradients, the defaults",
            "numgrad train --gradient backprop --iters 2000 --lr 0.5 --hidden 100",
        ),
        help="train the book's two-layer net on MNIST by numerical gradients",
        description="Train TwoLayerNet(784, hidden, 10) by mini-batch SGD, as chapter 4 of the book, on the "
        "embedded 4,000/1,000 MNIST split (or --data DIR). The numerical gradient is a true central "
        "difference over all parameters, computed from the net's structure. The book's own settings are "
        "--lr 0.1 (and --iters 10000 on the full MNIST).",
    )
    p.add_argument(
        "--gradient",
        choices=("numerical", "backprop"),
        default="numerical",
        help="how to compute the gradient (default numerical)",
    )
    p.add_argument("--iters", type=int, default=DEFAULT_ITERS, help=f"iterations (default {DEFAULT_ITERS})")
    p.add_argument(
        "--hidden", type=int, default=DEFAULT_HIDDEN, help=f"hidden units (default {DEFAULT_HIDDEN})"
    )
    p.add_argument(
        "--lr", type=float, default=DEFAULT_LR, help=f"learning rate (default {DEFAULT_LR}; the book's: 0.1)"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"mini-batch size (default {DEFAULT_BATCH_SIZE})",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the initial weights and the batches (default 0)"
    )
    p.add_argument(
        "--data", metavar="DIR",
        help="MNIST directory: mnist.pkl or the four IDX .gz files (default: the embedded 5,000 images)",
    )  # fmt: skip
    p.add_argument(
        "--plot", metavar="PATH", type=plot_path,
        help="write the loss curve and accuracy per epoch to PATH, .png, .svg or .pdf (default: none)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the history as JSON")
    add_wide_option(p)
    p.set_defaults(run=run)  # fmt: skip


def settings_line(history: Any, data: str) -> str:
    """What the run was: net, gradient, lr, hidden size, batch, data (the picture's and table's title)."""
    return (
        f"TwoLayerNet{history.sizes}, {history.gradient} gradient, lr {history.lr:g}, "
        f"hidden {history.sizes[1]}, batch {history.batch_size}, {data}"
    )


def plot_history(history: Any, path: str | Path, *, data: str = "MNIST") -> Any:
    """The book's figures: batch loss per iteration, and train/test accuracy (%) per epoch; a title with
    the settings. Returns the matplotlib Figure (written in the format of `path`'s extension)."""
    from matplotlib.figure import Figure

    from numgrad.common.figures import save_figure

    fig = Figure(figsize=(11, 4.6), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(range(1, len(history.loss) + 1), history.loss, lw=0.8)
    loss_ax.set(xlabel="iteration", ylabel="loss (batch)", title="loss per iteration")
    train = [100 * a for a in history.train_acc]
    test = [100 * a for a in history.test_acc]
    acc_ax.plot(history.epoch, train, marker="o", ms=3, label="train accuracy")
    acc_ax.plot(history.epoch, test, marker="s", ms=3, ls="--", label="test accuracy")
    acc_ax.set(xlabel="epochs", ylabel="accuracy (%)", ylim=(0, 100), title="accuracy per epoch")
    acc_ax.legend(loc="lower right")
    fig.suptitle(settings_line(history, data))
    save_figure(fig, path, dpi=110)
    return fig


# before the first step there is no loss and no accuracy yet: a dash, not "loss nan" and "0.0%"
START_FIELDS = {"loss": "—", "train": "—", "test": "—"}


def step_fields(step: Any) -> dict[str, str]:
    """What the progress bar shows after a step: the batch loss, the latest accuracies in %."""
    return {"loss": f"{step.loss:.3f}", "train": f"{step.train_acc:.1%}", "test": f"{step.test_acc:.1%}"}


def _progress(console: Any, disable: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("train {task.fields[train]}  test {task.fields[test]}"),
        TimeElapsedColumn(), console=console, transient=True, disable=disable,
    )  # fmt: skip


def _validate(args: argparse.Namespace) -> None:
    from numgrad.commands import _errors

    _errors.seed(args.seed)
    _errors.output_file(args.plot)
    counts = ((args.hidden, "--hidden"), (args.batch_size, "--batch-size"), (args.iters, "--iters"))
    for value, flag in counts:  # in the flag's words, not the library's (hidden_size, ...)
        _errors.positive_count(value, flag)
    _errors.elements(args.hidden * 794, f"--hidden {args.hidden} (the weights W1, W2)")
    _errors.elements(args.batch_size * 784, f"--batch-size {args.batch_size} (one batch of images)")
    _errors.elements(args.iters, f"--iters {args.iters} (the loss of each iteration)")


def run(args: argparse.Namespace) -> int:
    from rich.text import Text

    from numgrad.book.data import load_mnist
    from numgrad.book.nets import TwoLayerNet
    from numgrad.book.training import train
    from numgrad.commands._console import (
        Column,
        make_console,
        print_error,
        print_json,
        print_table,
        progress_hidden,
    )

    _validate(args)
    console = make_console(stderr=args.json, wide=args.wide)
    try:
        (x_train, t_train), (x_test, t_test) = load_mnist(path=args.data)
        net = TwoLayerNet(x_train.shape[1], args.hidden, 10, seed=args.seed)
    except (OSError, ValueError, TypeError) as exc:
        print_error(make_console(stderr=True), "train", exc)
        return 2
    bar = make_console(stderr=True)  # progress on stderr, the table on stdout
    with _progress(bar, progress_hidden(bar, as_json=args.json)) as progress:
        task = progress.add_task(f"training ({args.gradient})", total=args.iters, **START_FIELDS)

        def show(step: Any) -> None:
            progress.update(task, advance=1, **step_fields(step))

        try:
            history = train(
                net, x_train, t_train, x_test, t_test, iters=args.iters, batch_size=args.batch_size,
                lr=args.lr, gradient=args.gradient, seed=args.seed, callback=show,
            )  # fmt: skip
        except (ValueError, TypeError) as exc:
            print_error(make_console(stderr=True), "train", exc)
            return 2
    data = f"{'embedded ' if args.data is None else ''}MNIST {len(x_train)}/{len(x_test)}"
    if args.plot:
        plot_history(history, args.plot, data=data)
    if args.json:
        print_json({**history.to_dict(), "plot": args.plot})
        return 0
    cells: list[list[Any]] = [
        [f"{row[0]:g}", f"{row[1]:.2%}", f"{row[2]:.2%}", f"{row[3]:.4f}", f"{row[4]:.4f}"]
        for row in zip(history.epoch, history.train_acc, history.test_acc, history.train_loss,
                       history.test_loss, strict=True)
    ]  # fmt: skip
    columns = [Column(h) for h in ("epoch", "train acc", "test acc", "train loss", "test loss")]
    short = f"TwoLayerNet{history.sizes}, {history.gradient}, lr {history.lr:g}, batch {history.batch_size}"
    print_table(console, [settings_line(history, data), f"{short}, {data}", short], columns, cells)
    per = 1000 * history.gradient_seconds / history.iters
    console.print(
        Text.assemble(
            "test accuracy ", (f"{history.final_test_acc:.2%}", "bold"), f" after {history.iters} iterations "
            f"in {history.seconds:.1f} s ({per:.1f} ms per {history.gradient} gradient)",
            f"; plot: {args.plot}" if args.plot else "",  # as written: a path may hold brackets
        )
    )  # fmt: skip
    return 0

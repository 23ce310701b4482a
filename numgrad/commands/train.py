"""`numgrad train`: the book's TwoLayerNet trained on MNIST by numerical gradients (or backprop)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    # the defaults and their reasons live in numgrad.book.training (NumPy is imported by numgrad already)
    from numgrad.book.training import DEFAULT_BATCH_SIZE, DEFAULT_HIDDEN, DEFAULT_ITERS, DEFAULT_LR

    p = sub.add_parser(
        "train",
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
    p.add_argument("--data", metavar="DIR", help="MNIST directory: mnist.pkl or the four IDX .gz files")
    p.add_argument("--plot", metavar="PATH", help="write the loss curve and accuracy per epoch to a PNG")
    p.add_argument("--json", action="store_true", help="print the history as JSON")
    p.set_defaults(run=run)  # fmt: skip


def plot_history(history: Any, path: str | Path) -> None:
    """The book's figures: batch loss per iteration, and train/test accuracy per epoch."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(range(1, len(history.loss) + 1), history.loss, lw=0.8)
    loss_ax.set(xlabel="iteration", ylabel="loss (batch)", title=f"loss, {history.gradient} gradient")
    acc_ax.plot(history.epoch, history.train_acc, marker="o", ms=3, label="train acc")
    acc_ax.plot(history.epoch, history.test_acc, marker="s", ms=3, ls="--", label="test acc")
    acc_ax.set(xlabel="epochs", ylabel="accuracy", ylim=(0, 1), title="accuracy per epoch")
    acc_ax.legend(loc="lower right")
    fig.savefig(path, dpi=110)


def _progress(console: Any, disable: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TextColumn("train {task.fields[train]:.1%}  test {task.fields[test]:.1%}"),
        TimeElapsedColumn(), console=console, transient=True, disable=disable,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from numgrad.book.data import load_mnist
    from numgrad.book.nets import TwoLayerNet
    from numgrad.book.training import train
    from numgrad.commands._console import make_console

    console = make_console(stderr=args.json)
    try:
        (x_train, t_train), (x_test, t_test) = load_mnist(path=args.data)
        net = TwoLayerNet(x_train.shape[1], args.hidden, 10, seed=args.seed)
    except (OSError, ValueError, TypeError) as exc:
        make_console(stderr=True).print(f"[red]numgrad train:[/] {exc}")
        return 2
    with _progress(console, args.json) as progress:
        task = progress.add_task(
            f"training ({args.gradient})", total=args.iters, loss=float("nan"), train=0, test=0
        )

        def show(step: Any) -> None:
            progress.update(task, advance=1, loss=step.loss, train=step.train_acc, test=step.test_acc)

        try:
            history = train(
                net, x_train, t_train, x_test, t_test, iters=args.iters, batch_size=args.batch_size,
                lr=args.lr, gradient=args.gradient, seed=args.seed, callback=show,
            )  # fmt: skip
        except (ValueError, TypeError) as exc:
            make_console(stderr=True).print(f"[red]numgrad train:[/] {exc}")
            return 2
    if args.plot:
        plot_history(history, args.plot)
    if args.json:
        print(json.dumps({**history.to_dict(), "plot": args.plot}, indent=2))
        return 0
    table = Table(title=f"TwoLayerNet{history.sizes}, {history.gradient} gradient, lr {history.lr}, "
                  f"batch {history.batch_size}")  # fmt: skip
    for col in ("epoch", "train acc", "test acc", "train loss", "test loss"):
        table.add_column(col, justify="right")
    for row in zip(history.epoch, history.train_acc, history.test_acc, history.train_loss, history.test_loss,
                   strict=True):  # fmt: skip
        table.add_row(f"{row[0]:g}", f"{row[1]:.2%}", f"{row[2]:.2%}", f"{row[3]:.4f}", f"{row[4]:.4f}")
    console.print(table)
    per = 1000 * history.gradient_seconds / history.iters
    console.print(
        f"test accuracy [bold]{history.final_test_acc:.2%}[/] after {history.iters} iterations in "
        f"{history.seconds:.1f} s ({per:.1f} ms per {history.gradient} gradient)"
        + (f"; plot: {args.plot}" if args.plot else "")
    )
    return 0

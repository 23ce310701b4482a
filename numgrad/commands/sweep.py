"""`numgrad sweep`: grid, random or Bayesian search over lr, hidden size, batch size and iterations."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from numgrad.commands._options import add_command, add_wide_option, plot_path

COUNT_AXES = ("hidden", "batch_size", "iters")
# numbers a run holds per unit of a count axis: a hidden unit's weights, an image, an iteration's loss
NUMBERS_PER = {"hidden": 794, "batch_size": 784, "iters": 1}
HELD = {
    "hidden": "the weights W1, W2",
    "batch_size": "one batch of images",
    "iters": "the loss of each iteration",
}


def _axis_name(text: str) -> str:
    name = text.strip().replace("-", "_")
    if name not in ("lr", *COUNT_AXES):
        raise argparse.ArgumentTypeError(
            f"unknown hyperparameter {text!r}; choose from lr, hidden, batch_size, iters"
        )
    return name


def grid_axis(text: str) -> tuple[str, list[float]]:
    """``lr=0.05,0.1,0.5`` → ("lr", [0.05, 0.1, 0.5]); counts (hidden, ...) must be integers."""
    name, sep, values = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=V1,V2,...; got {text!r}")
    axis = _axis_name(name)
    try:
        numbers = [float(v) if axis == "lr" else int(v) for v in values.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=V1,V2,... with numbers; got {text!r}") from None
    return axis, [float(v) for v in numbers]


def range_axis(text: str) -> tuple[str, tuple[float, float]]:
    """``lr=0.01:10`` → ("lr", (0.01, 10.0))."""
    name, sep, span = text.partition("=")
    lo, colon, hi = span.partition(":")
    try:
        bounds = (float(lo), float(hi))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=LOW:HIGH with numbers; got {text!r}") from None
    if not sep or not colon:
        raise argparse.ArgumentTypeError(f"expected NAME=LOW:HIGH; got {text!r}")
    return _axis_name(name), bounds


def register(sub: Any) -> None:
    from numgrad.book.bayes import DEFAULT_STORAGE, DEFAULT_STUDY
    from numgrad.book.search import COMPARE_BUDGET
    from numgrad.book.tuning import SWEEP_ITERS, VALIDATION_FRACTION

    p = add_command(
        sub,
        "sweep",
        examples=(
            "numgrad sweep --grid lr=0.5,1,2 hidden=20,50 --plot sweep.png",
            "numgrad sweep --random 12 --ranges lr=0.01:10 hidden=10:100",
            "numgrad sweep --bayes 20 --storage --study lr-hidden   # kept in sweep.db: resumable, shared",
            "numgrad sweep --compare --plot compare.png",
        ),
        help="search learning rate, hidden size, ... on a validation split",
        description="Train TwoLayerNet for each setting of a grid (--grid lr=0.05,0.1,0.5 hidden=20,50), "
        "of a seeded random search (--random N; lr log-uniform) or of a seeded Bayesian search (--bayes N: "
        "Optuna's TPE sampler, hopeless trials pruned; --storage/--study keep it in a database, to resume "
        "or share), with short runs, scored on a class-balanced validation split carved from the training "
        "data (never the test set).",
    )
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--grid", nargs="+", type=grid_axis, metavar="NAME=V1,V2",
        help="values of each axis (no default: --grid, --random, --bayes or --compare is needed)",
    )  # fmt: skip
    how.add_argument(
        "--random", type=int, metavar="N", help="N random settings from --ranges (no default: or --grid)"
    )  # fmt: skip
    how.add_argument(
        "--bayes", type=int, metavar="N",
        help="N trials of a Bayesian search over --ranges, with the tune extra (no default: or --grid)",
    )  # fmt: skip
    how.add_argument(
        "--compare", type=int, nargs="?", const=COMPARE_BUDGET, metavar="N",
        help=f"grid, random and Bayesian search at N trials each (default {COMPARE_BUDGET}); --plot draws it",
    )  # fmt: skip
    p.add_argument(
        "--storage", nargs="?", const=DEFAULT_STORAGE, metavar="URL",
        help=f"keep the --bayes study in a database: any SQLAlchemy URL (default {DEFAULT_STORAGE})",
    )  # fmt: skip
    p.add_argument(
        "--study", metavar="NAME", help=f"name of the --bayes study in --storage (default {DEFAULT_STUDY})"
    )
    p.add_argument(
        "--ranges",
        nargs="+",
        type=range_axis,
        metavar="NAME=LOW:HIGH",
        help="ranges of --random, --bayes and --compare (default lr=0.01:10 hidden=10:100)",
    )
    p.add_argument(
        "--iters",
        type=int,
        default=SWEEP_ITERS,
        help=f"iterations of each run unless an axis (default {SWEEP_ITERS})",
    )
    p.add_argument(
        "--gradient",
        choices=("backprop", "numerical"),
        default="backprop",
        help="backprop (default; same ranking, far faster) or numerical",
    )
    p.add_argument(
        "--validation",
        type=float,
        default=VALIDATION_FRACTION,
        help=f"share of each class held out (default {VALIDATION_FRACTION})",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the split, the nets, the batches, --random, --bayes"
    )
    p.add_argument(
        "--data", metavar="DIR",
        help="MNIST directory: mnist.pkl or the four IDX .gz files (default: the embedded 5,000 images)",
    )  # fmt: skip
    p.add_argument(
        "--plot", metavar="PATH", type=plot_path,
        help="write validation accuracy against lr (--compare: best so far against trials) to PATH, .png, "
        ".svg or .pdf (default: none)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the ranked results as JSON")
    add_wide_option(p)
    p.set_defaults(run=run)  # fmt: skip


def _trials(args: argparse.Namespace) -> Sequence[Any]:
    from dataclasses import replace

    from numgrad.book.tuning import grid_trials, random_trials

    if args.grid is not None:
        axes = dict(args.grid)
        axes.setdefault("iters", [args.iters])
        return grid_trials(axes)
    ranges = dict(args.ranges) if args.ranges else None
    trials = random_trials(args.random, ranges=ranges, seed=args.seed)
    return trials if ranges and "iters" in ranges else [replace(t, iters=args.iters) for t in trials]


MAX_LEGEND_SERIES = 6  # more hidden sizes than this (a random search) get a colour scale instead


def plot_sweep(result: Any, path: str | Path) -> Any:
    """Validation accuracy against learning rate (log scale): one line per hidden size, or dots coloured
    by hidden size when there are many."""
    from matplotlib.figure import Figure

    rows = result.results
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    sizes = sorted({r.trial.hidden for r in rows})
    if len(sizes) <= MAX_LEGEND_SERIES:
        for hidden in sizes:
            mine = sorted((r.trial.lr, 100 * r.val_acc) for r in rows if r.trial.hidden == hidden)
            ax.plot(*zip(*mine, strict=True), marker="o", label=f"hidden {hidden}")
        ax.legend(loc="lower right")
    else:
        lr, acc, hidden = (
            [r.trial.lr for r in rows],
            [100 * r.val_acc for r in rows],
            [r.trial.hidden for r in rows],
        )
        dots = ax.scatter(lr, acc, c=hidden, cmap="viridis", s=40, edgecolors="k", linewidths=0.5)
        fig.colorbar(dots, ax=ax, label="hidden units")
    for rank, r in enumerate(rows[:3], start=1):
        ax.annotate(f"#{rank}", (r.trial.lr, 100 * r.val_acc), textcoords="offset points", xytext=(5, 5))
    title = f"sweep: {len(rows)} runs, {result.gradient} gradient, {result.n_validation} validation images"
    # accuracy in percent, as in the table
    ax.set(xscale="log", xlabel="learning rate", ylabel="validation accuracy (%)", ylim=(0, 100), title=title)
    from numgrad.common.figures import save_figure

    save_figure(fig, path, dpi=110)
    return fig


def _validate(args: argparse.Namespace) -> None:
    """The options, before any work: one value per axis, finite positive values, sizes that fit."""
    from numgrad.commands import _errors
    from numgrad.commands._errors import TRIAL_NUMBERS, BadInputError

    _errors.seed(args.seed)
    _errors.output_file(args.plot)
    _errors.non_empty(args.storage, "--storage", "a URL")  # "" meant the default, silently
    _errors.non_empty(args.study, "--study", "a name")
    if args.grid is not None and args.ranges is not None:
        raise BadInputError("--ranges goes with --random, --bayes and --compare; --grid takes the values "
                            "themselves (--grid lr=0.1,1 hidden=20,50)")  # fmt: skip
    for flag, axes in (("--grid", args.grid or ()), ("--ranges", args.ranges or ())):
        names = [axis for axis, _ in axes]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise BadInputError(f"{flag} gives {', '.join(twice)} more than once; give each axis once")
    for axis, numbers in args.grid or ():
        if not all(math.isfinite(v) and v > 0 for v in numbers):
            raise BadInputError(f"--grid {axis} values must be positive and finite; got {numbers}")
        if axis in NUMBERS_PER:
            top = int(max(numbers))
            _errors.elements(top * NUMBERS_PER[axis], f"--grid {axis}={top} ({HELD[axis]})")
    for axis, (lo, hi) in args.ranges or ():
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise BadInputError(f"--ranges {axis} bounds must be finite; got {lo:g}:{hi:g}")
        if axis in NUMBERS_PER:
            top = int(max(lo, hi))
            _errors.elements(top * NUMBERS_PER[axis], f"--ranges {axis}={lo:g}:{hi:g} ({HELD[axis]})")
    _errors.elements(args.iters, f"--iters {args.iters} ({HELD['iters']})")
    for flag, trials in (("--random", args.random), ("--bayes", args.bayes), ("--compare", args.compare)):
        searches = 3 if flag == "--compare" else 1  # --compare runs grid, random and Bayesian search
        if trials is not None:
            _errors.elements(trials * searches * TRIAL_NUMBERS, f"{flag} {trials} (the trials and results)")


def run(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from numgrad.book.data import load_mnist
    from numgrad.book.tuning import sweep
    from numgrad.commands._console import make_console, print_error, print_json, print_plain, progress_hidden
    from numgrad.commands._search import print_ranked

    _validate(args)
    console, errors = make_console(stderr=args.json, wide=args.wide), make_console(stderr=True)
    if args.bayes is not None or args.compare is not None or args.storage or args.study:
        from numgrad.commands._search import run_search

        return run_search(args, console, errors, plot=plot_sweep)
    try:
        trials = _trials(args)
        (x_train, t_train), _ = load_mnist(path=args.data)  # the test set is never looked at
    except (OSError, ValueError, TypeError) as exc:
        print_error(errors, "sweep", exc)
        return 2
    total = sum(t.iters for t in trials)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    hidden = progress_hidden(errors, as_json=args.json)  # progress on stderr, the table on stdout
    with Progress(*columns, console=errors, transient=True, disable=hidden) as progress:
        task = progress.add_task(f"{len(trials)} runs", total=total)

        def show(index: int, step: Any) -> None:
            progress.update(task, advance=1, description=f"run {index + 1}/{len(trials)}")

        try:
            result = sweep(x_train, t_train, trials, validation=args.validation, gradient=args.gradient,
                           seed=args.seed, callback=show)  # fmt: skip
        except (ValueError, TypeError) as exc:
            print_error(errors, "sweep", exc)
            return 2
    if args.plot:
        plot_sweep(result, args.plot)
    if args.json:
        search = "grid" if args.grid is not None else "random"
        print_json({**result.to_dict(), "search": search, "plot": args.plot})
        return 0
    titles = [
        f"sweep: {len(trials)} runs, {result.gradient} gradient, scored on {result.n_validation} validation "
        f"images (trained on {result.n_train})",
        f"sweep: {len(trials)} runs, {result.gradient}, {result.n_validation} validation images",
        f"sweep: {len(trials)} runs",
    ]
    print_ranked(console, result, titles)
    if args.plot:
        print_plain(console, f"plot: {args.plot}")
    return 0

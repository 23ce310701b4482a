"""`numgrad sweep --bayes N` (with --storage/--study) and `numgrad sweep --compare`: printing only."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from rich.console import Console

from numgrad.commands._console import make_console, print_error, print_json, print_plain, progress_hidden

COMPARE_STYLE = {  # method: (label, colour, marker) — told apart by colour, marker and line style
    "grid": ("grid search", "tab:blue", "s"),
    "random": ("random search", "tab:orange", "o"),
    "bayes": ("Bayesian search (TPE)", "tab:green", "^"),
}
LINE_STYLES = {"grid": ":", "random": "--", "bayes": "-"}
FIGURE_DPI = 110  # as the sweep's own figure


def compare_figure(comparison: Any) -> Any:
    """Best validation accuracy so far (%, as the table and the legend give it) against trials (whole
    numbers on the axis), one series per search method."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for method, curve in comparison.curves().items():
        label, colour, marker = COMPARE_STYLE[method]
        trials = range(1, len(curve) + 1)
        best = getattr(comparison, method).best.val_acc
        percent = [100 * acc for acc in curve]
        ax.plot(trials, percent, color=colour, marker=marker, linestyle=LINE_STYLES[method],
                label=f"{label}: best {best:.1%}")  # fmt: skip
    res = comparison.grid
    ax.set(
        xlabel="trials", ylabel="best validation accuracy so far (%)", xlim=(0.5, comparison.budget + 0.5),
        title=f"grid vs random vs Bayesian search: {comparison.budget} trials each, "
        f"{res.n_validation} validation images",
    )  # fmt: skip
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def print_ranked(console: Console, result: Any, titles: list[str]) -> None:
    """The ranked trials, fitted to the console; a pruned trial shows the iteration it was stopped at."""
    from numgrad.commands._console import Column, print_table

    columns = [
        Column("rank"), Column("lr"), Column("hidden"), Column("batch"), Column("iters", drop=2),
        Column("val acc"), Column("val loss", drop=3), Column("train acc", drop=1), Column("time", drop=4),
    ]  # fmt: skip
    cells: list[list[Any]] = []
    for rank, r in enumerate(result.results, start=1):
        t = r.trial
        cut = (f"pruned at {r.pruned_at}/{t.iters}", f"p{r.pruned_at}")  # (full, narrow terminal)
        iters: Any = str(t.iters) if r.pruned_at is None else cut
        cells.append([
            str(rank), f"{t.lr:.4g}", str(t.hidden), str(t.batch_size), iters,
            f"{r.val_acc:.2%}", f"{r.val_loss:.4f}", f"{r.train_acc:.2%}", f"{r.seconds:.1f}s",
        ])  # fmt: skip
    print_table(console, titles, columns, cells)


def _where(args: argparse.Namespace) -> tuple[str, str] | None:
    from numgrad.book.bayes import DEFAULT_STORAGE, DEFAULT_STUDY

    if args.storage is None and args.study is None:
        return None
    return args.storage or DEFAULT_STORAGE, args.study or DEFAULT_STUDY


def run_search(
    args: argparse.Namespace, console: Console, errors: Console, *, plot: Callable[[Any, str], None]
) -> int:
    """--bayes or --compare; `plot` draws a ranked result (the figure of --grid and --random)."""
    from numgrad.book.bayes import INSTALL, quiet_optuna, require_optuna
    from numgrad.book.data import load_mnist
    from numgrad.book.tuning import Trial

    if args.bayes is None and (args.storage or args.study):
        _fail(errors, "--storage and --study go with --bayes N")
        return 2
    try:
        require_optuna("numgrad sweep")
    except ImportError:
        flag = "--bayes" if args.bayes is not None else "--compare"
        _fail(errors, f"{flag} needs optuna, which is not installed: {INSTALL}")
        return 2
    quiet_optuna()
    try:
        base = Trial(iters=args.iters)
        ranges = dict(args.ranges) if args.ranges else None
        (x_train, t_train), _ = load_mnist(path=args.data)  # the test set is never looked at
        if args.compare is not None:
            return _compare(args, console, x_train, t_train, ranges, base)
        return _bayes(args, console, (x_train, t_train), ranges, base, plot)
    except BrokenPipeError:  # the reader of the output went away: run_command ends quietly
        raise
    except (OSError, ValueError, TypeError) as exc:
        _fail(errors, str(exc))
        return 2
    except KeyboardInterrupt:
        where = _where(args)
        if where is None:  # nothing was kept: a rerun starts again
            _fail(errors, "interrupted (the trials are not kept without --storage)")
        else:
            _fail(errors, f"interrupted; the finished trials are in study {where[1]!r} at {where[0]}: "
                          f"run the same command to continue")  # fmt: skip
        return 130


def _fail(errors: Console, message: str) -> None:
    """One line on stderr, however long (no wrapping) and whatever brackets it holds (no markup)."""
    print_error(errors, "sweep", message)


def _progress(console: Console, as_json: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    bar = make_console(stderr=True)  # progress on stderr, the table on `console` (stdout)
    hidden = progress_hidden(bar, as_json=as_json)
    return Progress(*columns, console=bar, transient=True, disable=hidden)


def _bayes(
    args: argparse.Namespace, console: Console, data: Any, ranges: Any, base: Any,
    plot: Callable[[Any, str], None],
) -> int:  # fmt: skip
    from numgrad.book.search import sweep

    where = _where(args)
    with _progress(console, args.json) as progress:
        task = progress.add_task("trial", total=None)

        def show(number: int, step: Any) -> None:
            progress.update(task, total=step.iters, completed=step.iteration, description=f"trial {number}")

        result = sweep(
            data[0], data[1], args.bayes, search="bayes", ranges=ranges, base=base,
            storage=None if where is None else where[0], study=None if where is None else where[1],
            validation=args.validation, gradient=args.gradient, seed=args.seed, callback=show,
        )  # fmt: skip
    if args.plot:
        plot(result, args.plot)
    kept = {"storage": None, "study": None} if where is None else {"storage": where[0], "study": where[1]}
    if args.json:
        print_json({**result.to_dict(), "search": "bayes", **kept, "plot": args.plot})
        return 0
    pruned, runs = sum(r.pruned_at is not None for r in result.results), len(result.results)
    study = "" if where is None else f", study {where[1]!r} in {where[0]}"
    print_ranked(console, result, [
        f"sweep: {runs} Bayesian trials ({pruned} pruned){study}, {result.gradient} gradient, scored on "
        f"{result.n_validation} validation images (trained on {result.n_train})",
        f"sweep: {runs} Bayesian trials ({pruned} pruned){study}",
        f"sweep: {runs} Bayesian trials ({pruned} pruned)",
    ])  # fmt: skip
    if args.plot:
        print_plain(console, f"plot: {args.plot}")
    return 0


def _compare(args: argparse.Namespace, console: Console, x: Any, t: Any, ranges: Any, base: Any) -> int:
    from numgrad.book.search import compare_searches
    from numgrad.commands._console import Column, print_table
    from numgrad.common.figures import save_figure

    with _progress(console, args.json) as progress:
        task = progress.add_task("grid", total=None)

        def show(method: str, number: int, step: Any) -> None:
            progress.update(task, total=step.iters, completed=step.iteration,
                            description=f"{method} trial {number + 1}/{args.compare}")  # fmt: skip

        comparison = compare_searches(
            x, t, budget=args.compare, ranges=ranges, base=base, validation=args.validation,
            gradient=args.gradient, seed=args.seed, callback=show,
        )  # fmt: skip
    if args.plot:
        save_figure(compare_figure(comparison), args.plot, dpi=FIGURE_DPI)
    if args.json:
        print_json({**comparison.to_dict(), "plot": args.plot})
        return 0
    columns = [
        Column("search", justify="left"), Column("trials"), Column("best val acc", "best"),
        Column("reached at trial", "at", drop=1), Column("best lr", "lr"), Column("best hidden", "hidden"),
        Column("time", drop=2),
    ]  # fmt: skip
    cells: list[list[Any]] = []
    for method, curve in comparison.curves().items():
        res = getattr(comparison, method)
        best = res.best
        reached = next(i for i, v in enumerate(curve, start=1) if not math.isnan(v) and v >= best.val_acc)
        cells.append([
            (COMPARE_STYLE[method][0], method), str(len(res.results)), f"{best.val_acc:.2%}", str(reached),
            f"{best.trial.lr:.4g}", str(best.trial.hidden), f"{sum(r.seconds for r in res.results):.1f}s",
        ])  # fmt: skip
    print_table(console, [
        f"grid, random and Bayesian search: {comparison.budget} trials each, scored on "
        f"{comparison.grid.n_validation} validation images",
        f"grid, random and Bayesian search: {comparison.budget} trials each",
    ], columns, cells)  # fmt: skip
    if args.plot:
        print_plain(console, f"plot: {args.plot}")
    return 0

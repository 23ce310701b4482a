"""`numgrad descend`: the learning-rate study of chapter 4 — gradient descent at several rates, a table of
how each ended, and optionally the picture (contours, −∇f arrows, the paths)."""

from __future__ import annotations

import argparse
from typing import Any

from numgrad.commands._options import add_command, add_wide_option, plot_path

BOOK_STEP = 1e-4  # the book's h: the default, so the printed numbers reproduce digit for digit
DEFAULT_LRS = (0.1,)  # for MODULE:FUNC: the book's rate that converges
DEFAULT_STEPS = 100  # for MODULE:FUNC: the book's number of steps
SHOWN_COORDINATES = 4  # final points with more coordinates are shortened in the table


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "descend",
        examples=(
            "numgrad descend --plot descent.png              # the book's three rates, with the picture",
            "numgrad descend --function mymod:f --start 1 2 --lr 0.05 0.2 --steps 200",
        ),
        help="gradient descent at several learning rates, with the picture",
        description="Run gradient descent from one start at several learning rates and print how each "
        "ended. The defaults are the book's: f = x0² + x1² from (-3, 4), 100 steps, lr = 0.1, 10, 1e-10.",
    )
    p.add_argument(
        "--function", default="book", metavar="NAME|MODULE:FUNC",
        help="book (x0² + x1²), elongated (x0²/20 + x1²), rosenbrock, or MODULE:FUNC (default book)",
    )  # fmt: skip
    p.add_argument(
        "--start", type=float, nargs="+", metavar="X",
        help="starting point, e.g. --start -3 4 (default: the function's; needed for MODULE:FUNC)",
    )  # fmt: skip
    p.add_argument(
        "--lr", type=float, nargs="+", metavar="LR",
        help="learning rates (default: the function's; book 0.1 10 1e-10; MODULE:FUNC 0.1)",
    )  # fmt: skip
    p.add_argument(
        "--steps", type=int, metavar="N",
        help="steps per run (default: the function's; 100 for book and MODULE:FUNC)",
    )  # fmt: skip
    p.add_argument(
        "--h", type=_step, default=BOOK_STEP, metavar="H|auto",
        help="step of the numerical gradient (default 1e-4, the book's; auto: numgrad chooses)",
    )  # fmt: skip
    p.add_argument(
        "--tol", type=float, help="stop a run once a step is shorter than this (default: none, every step)"
    )
    p.add_argument(
        "--plot", metavar="PATH", type=plot_path,
        help="write the picture to PATH, .png, .svg or .pdf (2-D functions; default: none)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    add_wide_option(p)
    p.set_defaults(run=run)


def _step(text: str) -> float | None:
    if text == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto'; got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from numgrad.book.optimize import gradient_descent
    from numgrad.commands import _errors

    _errors.output_file(args.plot)
    _errors.positive_count(args.steps, "--steps")  # in the flag's words, not gradient_descent's (step_num)
    for value, flag in ((args.tol, "--tol"), (args.h, "--h"), *((lr, "--lr") for lr in args.lr or ())):
        _errors.positive_number(value, flag)
    try:
        name, f, formula, classic = _function(args.function)
        start = np.array(args.start if args.start is not None else classic.start if classic else ())
        if start.size == 0:
            raise ValueError(f"--start is needed for --function {name}")
        if classic and start.size != len(classic.start):
            raise ValueError(
                f"{name} is a function of {len(classic.start)} variables; --start has {start.size}"
            )
        if args.plot and start.size != 2:
            raise ValueError(f"--plot draws functions of two variables; the start has {start.size}")
        lrs = args.lr or (classic.lrs if classic else DEFAULT_LRS)
        steps = args.steps if args.steps is not None else classic.steps if classic else DEFAULT_STEPS
        # each run records its path, (steps + 1) points and values: refused before it could not fit
        _errors.elements(len(lrs) * (steps + 1) * (start.size + 1), f"--steps {steps} (the recorded paths)")
        runs = [(lr, gradient_descent(f, start, lr, steps, h=args.h, tol=args.tol)) for lr in lrs]
    except (ValueError, TypeError, ImportError, AttributeError) as exc:
        return _errors.fail("descend", str(exc) or type(exc).__name__)
    title = f"Gradient descent on f = {formula} from {_point(start)}"
    if args.plot:
        from numgrad.book.descent_plot import descent_figure

        try:
            descent_figure(
                f, runs, args.plot, title=title, h=args.h,
                window=classic.window if classic else None, minimum=classic.minimum if classic else None,
            )  # fmt: skip
        except OSError as exc:
            return _errors.fail("descend", f"cannot write the picture: {exc}")
    if args.json:
        from numgrad.commands._console import print_json

        print_json(_report(name, formula, start, steps, args, runs))
    else:
        own = classic is not None and args.lr is None and args.start is None  # the lesson's own runs
        _table(title, steps, args, runs, classic.lesson if own else None)
    return 0


def _function(spec: str) -> tuple[str, Any, str, Any]:
    """(name, f, formula, Classic or None) for a classic's name or MODULE:FUNC."""
    from numgrad.book.classics import CLASSICS
    from numgrad.commands._targets import load

    if spec in CLASSICS:
        c = CLASSICS[spec]
        return spec, c.f, c.formula, c
    if ":" not in spec:
        raise ValueError(f"--function must be one of {', '.join(CLASSICS)} or MODULE:FUNC; got {spec!r}")
    return spec, load(spec, "--function"), spec, None  # the loader `numgrad check` uses


def _point(x: Any) -> str:
    vals = [f"{v:.8g}" for v in x.reshape(-1)[:SHOWN_COORDINATES].tolist()]
    more = ", …" if x.size > SHOWN_COORDINATES else ""
    return f"({', '.join(vals)}{more})"


def _report(name: str, formula: str, start: Any, steps: int, args: Any, runs: Any) -> dict[str, Any]:
    return {
        "function": name,
        "formula": formula,
        "start": start.tolist(),
        "step_num": steps,
        "h": args.h,
        "tol": args.tol,
        "plot": args.plot,
        "runs": [
            {
                "lr": lr,
                "x": r.x.reshape(-1).tolist(),
                "f": float(r.values[-1]),  # NaN and ±inf: null, as in every command's --json
                "status": r.status,
                "steps": r.steps,
            }
            for lr, r in runs
        ],
    }


def _table(title: str, steps: int, args: Any, runs: Any, lesson: str | None) -> None:
    from numgrad.commands._console import Column, make_console, print_plain, print_table

    colour = {"converged": "green", "max_steps": "yellow", "diverged": "red"}
    h = "auto" if args.h is None else f"{args.h:g}"
    caption = f"at most {steps} steps each, numerical gradient with h = {h}"
    columns = [
        Column("lr"), Column("final x", justify="left"), Column("f(final x)", "f"),
        Column("status", justify="left"), Column("steps", drop=1),
    ]  # fmt: skip
    cells = [
        [f"{lr:g}", _point(r.x), f"{r.values[-1]:.8g}", f"[{colour[r.status]}]{r.status}[/]", str(r.steps)]
        for lr, r in runs
    ]
    console = make_console(wide=args.wide)
    print_table(console, [title], columns, cells, caption=[caption, f"≤ {steps} steps, h = {h}"])
    if lesson:
        console.print(lesson)
    if args.plot:
        print_plain(console, f"picture written to {args.plot}")

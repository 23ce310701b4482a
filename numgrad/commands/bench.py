"""`numgrad bench`: speed and accuracy of gradient methods, as ratios measured in one run."""

from __future__ import annotations

import argparse
import math
from typing import Any

from numgrad.commands._options import add_command, add_wide_option, plot_path


def register(sub: Any) -> None:
    from numgrad.bench.harness import FAMILIES

    p = add_command(
        sub,
        "bench",
        examples=(
            "numgrad bench                                   # the quick subset, about a minute",
            "numgrad bench --family scaling --plot scaling.svg",
        ),
        help="time gradient methods against the textbook loop and jax.grad",
        description="Time numgrad, the textbook loop, SciPy and JAX on the same workloads, in one run; "
        "report time, ratios, error against jax.grad and function evaluations.",
    )
    p.add_argument("--full", action="store_true", help="every workload (minutes) instead of the quick subset")
    p.add_argument(
        "--family", action="append", choices=FAMILIES, metavar="FAMILY",
        help=f"only this workload family, repeatable: {', '.join(FAMILIES)} (default: all)",
    )  # fmt: skip
    p.add_argument("--repeats", type=int, default=3, help="timing samples per row; the median is shown")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    add_wide_option(p)
    p.add_argument(
        "--plot", metavar="PATH", type=plot_path,
        help="write time against n of the scaling family to PATH, .png, .svg or .pdf; with --family, one "
        "of them must be scaling (default: none)",
    )  # fmt: skip
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from numgrad.bench import measure
    from numgrad.bench.harness import _chosen, machine_info, run_benchmarks, scaling_exponent
    from numgrad.commands._console import (
        Column,
        fit_line,
        make_console,
        print_json,
        print_table,
        progress_hidden,
    )
    from numgrad.commands._errors import BadInputError, elements, output_file, positive_count
    from numgrad.common.extras import require

    families = tuple(args.family) if args.family else None
    positive_count(args.repeats, "--repeats")
    elements(args.repeats, f"--repeats {args.repeats} (the timing samples of a row)")
    output_file(args.plot)  # before minutes of timing, not after them
    if args.plot and families is not None and "scaling" not in families:
        raise BadInputError(
            f"--plot draws time against n of the scaling family, which --family {' '.join(families)} "
            "leaves out: add --family scaling, or drop --plot"
        )
    if families is not None:  # a family only the full run has (net-784): say so, not an empty table
        quick = {fam for fam, _ in _chosen(args.full, None)}
        missing = [fam for fam in families if fam not in quick]
        if missing:
            raise BadInputError(
                f"--family {' '.join(missing)} runs only with --full (the quick run has "
                f"{', '.join(sorted(quick))}): add --full"
            )
    require("scipy", needed_by="numgrad bench")  # before minutes of timing, not after them
    console = make_console(stderr=args.json, wide=args.wide, min_width=170)
    rows = []
    total = len(_chosen(args.full, families))
    bar = make_console(stderr=True)  # progress on stderr, the table on stdout
    hidden = progress_hidden(bar, as_json=args.json)
    with Progress(console=bar, transient=True, disable=hidden) as progress:
        task = progress.add_task("benchmarking", total=total)
        seen: set[str] = set()
        budget = measure.TIME_BUDGET if args.full else measure.QUICK_TIME_BUDGET
        for row in run_benchmarks(full=args.full, families=families, repeats=args.repeats, budget=budget):
            rows.append(row)
            if row.workload not in seen:
                seen.add(row.workload)
                progress.update(task, completed=len(seen) - 1, description=row.workload)
        progress.update(task, completed=total)
    if args.plot:
        from numgrad.bench.plot import plot_scaling

        plot_scaling(rows, args.plot)
    if args.json:
        print_json({"machine": machine_info(), "rows": [r.to_dict() for r in rows]})
        return 0
    columns = (
        Column("workload", justify="left"), Column("method", justify="left"), Column("median"),
        Column("× textbook", "× book", drop=2), Column("× jax.grad", "× jax", drop=4),
        Column("error vs jax", "error", drop=3), Column("f evals", "evals", drop=5),
        Column("note", justify="left", drop=6),
    )  # fmt: skip
    cells: list[list[Any]] = [
        [
            (r.workload, "" if i and rows[i - 1].workload == r.workload else r.workload),
            (r.method, _short_method(r.method)), _seconds(r.seconds), f"{r.vs_textbook:.1f}",
            f"{r.vs_jax:.0f}", "—" if math.isnan(r.error) else f"{r.error:.1e}", str(r.nfev), r.note,
        ]
        for i, r in enumerate(rows)
    ]  # fmt: skip
    print_table(console, [f"numgrad bench — {machine_info()}", "numgrad bench"], columns, cells)
    console.print(
        fit_line(console, [
            "× textbook: times faster than the book's loop; × jax.grad: times slower than autodiff (jit).",
            "× book: times faster than the book's loop; × jax: times slower than jax.grad",
        ])
    )  # fmt: skip
    slope = scaling_exponent(rows, "numgrad batched")
    if not math.isnan(slope):  # the scaling family ran
        console.print(f"time grows as n^{slope:.2f} for numgrad batched over the scaling family")
    return 0


def _seconds(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


SHORT_NAMES = {
    "scipy.differentiate.jacobian": "scipy jacobian",
    "scipy.optimize.approx_fprime": "approx_fprime",
}


def _short_method(name: str) -> str:
    """The method's name on a narrow terminal: SciPy's by their function, numgrad's without "numgrad "."""
    return SHORT_NAMES.get(name, name.removeprefix("numgrad "))

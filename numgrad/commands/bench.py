"""`numgrad bench`: speed and accuracy of gradient methods, as ratios measured in one run."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="time gradient methods against the textbook loop and jax.grad",
        description="Time numgrad, the textbook loop, SciPy and JAX on the same workloads, in one run; "
        "report time, ratios, error against jax.grad and function evaluations.",
    )
    p.add_argument("--full", action="store_true", help="every workload (minutes) instead of the quick subset")
    p.add_argument("--family", action="append", help="only this workload family (repeatable)")
    p.add_argument("--repeats", type=int, default=3, help="timing samples per row; the median is shown")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--plot", metavar="PATH", help="write time against n (scaling family) as a PNG")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rich.progress import Progress
    from rich.table import Table

    from numgrad.bench import measure
    from numgrad.bench.harness import _chosen, machine_info, run_benchmarks, scaling_exponent
    from numgrad.commands._console import make_console
    from numgrad.common.extras import require

    require("scipy", needed_by="numgrad bench")  # before minutes of timing, not after them
    families = tuple(args.family) if args.family else None
    console = make_console(stderr=args.json, min_width=170)
    rows = []
    total = len(_chosen(args.full, families))
    with Progress(console=console, transient=True, disable=args.json) as progress:
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
        print(json.dumps({"machine": machine_info(), "rows": [r.to_dict() for r in rows]}, indent=2))
        return 0
    table = Table(title=f"numgrad bench — {machine_info()}")
    for col in (
        "workload",
        "method",
        "median",
        "× textbook",
        "× jax.grad",
        "error vs jax",
        "f evals",
        "note",
    ):
        table.add_column(col, justify="left" if col in ("workload", "method", "note") else "right")
    for r in rows:
        table.add_row(
            r.workload, r.method, _seconds(r.seconds), f"{r.vs_textbook:.1f}", f"{r.vs_jax:.0f}",
            "—" if math.isnan(r.error) else f"{r.error:.1e}", str(r.nfev), r.note,
        )  # fmt: skip
    console.print(table)
    console.print(
        "× textbook: times faster than the book's loop; × jax.grad: times slower than autodiff (jit)."
    )
    slope = scaling_exponent(rows, "numgrad batched")
    if not math.isnan(slope):  # the scaling family ran
        console.print(f"time grows as n^{slope:.2f} for numgrad batched over the scaling family")
    return 0


def _seconds(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"

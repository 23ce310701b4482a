"""`numgrad check`: every built-in function and loss against its JAX twin (values and gradients)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="check numgrad against its JAX twins (the main job)",
        description="Compare every built-in function and loss with its JAX twin: values, and the "
        "numerical gradient against jax.grad, at seeded random shapes in float64 and float32.",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--dtype", choices=("float64", "float32"), action="append", help="only this dtype")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from numgrad._catalog import CASES
    from numgrad._twincheck import DTYPES, check_builtins

    dtypes = tuple(args.dtype) if args.dtype else DTYPES
    console = Console(stderr=args.json)
    rows = []
    with Progress(console=console, transient=True, disable=args.json) as progress:
        task = progress.add_task("checking against JAX", total=len(CASES) * len(dtypes))
        for row in check_builtins(seed=args.seed, dtypes=dtypes):
            rows.append(row)
            progress.advance(task)
    failed = [r for r in rows if not r.passed]
    if args.json:
        print(json.dumps({"passed": not failed, "rows": [r.to_dict() for r in rows]}, indent=2))
        return 1 if failed else 0
    table = Table(title="numgrad vs JAX twins (values, and numerical gradient vs jax.grad)")
    for col in ("function", "dtype", "cases", "value err", "grad err", "tolerance", "status", "time"):
        table.add_column(col, justify="left" if col in ("function", "dtype", "status") else "right")
    for r in rows:
        status = "[green]ok[/]" if r.passed else "[red]FAIL[/]"
        table.add_row(
            r.function, r.dtype, str(r.cases), f"{r.value_error:.1e}", f"{r.gradient_error:.1e}",
            f"{r.gradient_tolerance:.1e}", status, f"{r.seconds:.2f}s",
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0

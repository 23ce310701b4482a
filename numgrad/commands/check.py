"""`numgrad check`: the built-ins against their JAX twins, or a user's function and gradient.

numgrad check                                   every built-in vs its JAX twin (values, gradients)
numgrad check mymod:loss --shape 100,10 --grad mymod:loss_grad [--dtype float32] [--mode fast]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

DEFAULT_EXAMPLES = 5  # random inputs per dtype in target mode: enough to meet an input-dependent bug
TARGET_ONLY = ("shape", "grad", "mode", "examples", "plot")


class TargetError(Exception):
    """A target that cannot be checked: the message is the one line the user sees."""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="check numgrad against its JAX twins, or your gradient against numgrad (the main job)",
        description="Without a target: compare every built-in function and loss with its JAX twin — "
        "values, and the numerical gradient against jax.grad — at seeded random shapes in float64 and "
        "float32. With MODULE:FUNC: check FUNC's gradient (from --grad, else jax.grad of FUNC) against "
        "numgrad's numerical gradient at random inputs of --shape.",
    )
    p.add_argument("target", nargs="?", help="MODULE:FUNC or path/to/file.py:FUNC, a scalar function f(x)")
    p.add_argument("--shape", help="shape of x, e.g. 100,10 (target mode)")
    p.add_argument("--grad", help="MODULE:GRAD returning the analytic gradient at x (default: jax.grad)")
    p.add_argument(
        "--mode", choices=("full", "fast"), help="full: every element (default); fast: 6 evaluations"
    )
    p.add_argument("--examples", type=int, help=f"random inputs per dtype (default {DEFAULT_EXAMPLES})")
    p.add_argument("--plot", help="write the error heatmap of the worst example to this PNG")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--dtype", choices=("float64", "float32"), action="append", help="only this dtype")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.target is None:
        given = [f"--{name}" for name in TARGET_ONLY if getattr(args, name) is not None]
        if given:
            return _fail(f"{', '.join(given)} need a target: numgrad check MODULE:FUNC --shape ...")
        return _run_builtins(args)
    try:
        return _run_target(args)
    except TargetError as exc:
        return _fail(str(exc))


def _fail(line: str) -> int:
    print(f"numgrad check: {line}", file=sys.stderr)
    return 2


# --------------------------------------------------------------------------------------------------
# Built-ins against their JAX twins


def _run_builtins(args: argparse.Namespace) -> int:
    from rich.progress import Progress
    from rich.table import Table

    from numgrad.checking.catalog import CASES
    from numgrad.checking.twins import DTYPES, check_builtins
    from numgrad.commands._console import make_console
    from numgrad.common.extras import require

    require("jax", needed_by="numgrad check")  # before the progress bar starts
    dtypes = tuple(args.dtype) if args.dtype else DTYPES
    console = make_console(stderr=args.json)
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
    columns = ("function", "dtype", "cases", "value err", "max abs err", "max rel err", "tolerance")
    for col in (*columns, "status", "time"):
        table.add_column(col, justify="left" if col in ("function", "dtype", "status") else "right")
    for r in rows:
        status = "[green]ok[/]" if r.passed else "[red]FAIL[/]"
        table.add_row(
            r.function, r.dtype, str(r.cases), f"{r.value_error:.1e}", f"{r.gradient_abs_error:.1e}",
            f"{r.gradient_error:.1e}", f"{r.gradient_tolerance:.1e}", status, f"{r.seconds:.2f}s",
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


# --------------------------------------------------------------------------------------------------
# A user's function


def _run_target(args: argparse.Namespace) -> int:
    import numpy as np

    f = load(args.target, "target")
    grad = load(args.grad, "--grad") if args.grad else None
    shape, mode = parse_shape(args.shape), args.mode or "full"
    examples = DEFAULT_EXAMPLES if args.examples is None else args.examples
    if examples < 1:
        raise TargetError(f"--examples must be at least 1; got {examples}")
    if args.plot and (mode == "fast" or not shape):
        raise TargetError("--plot draws one cell per element: it needs --mode full and a non-scalar --shape")
    dtypes = tuple(args.dtype) if args.dtype else ("float64",)
    rng = np.random.default_rng(args.seed)
    points = [(d, k, rng.standard_normal(shape).astype(d)) for d in dtypes for k in range(examples)]
    analytic = grad if grad is not None else jax_gradient(f, args.target, points[0][2])
    reports = _check_all(f, analytic, points, mode, args)
    worst = max(reports, key=lambda r: (not r[2].passed, r[2].max_rel_error))
    plotted = _plot(worst[2], args.plot) if args.plot else None
    passed = all(r.passed for _, _, r in reports)
    if args.json:
        print(json.dumps(_json(args, shape, mode, reports, passed, plotted), indent=2))
    else:
        _print_target(args, reports, worst, plotted)
    return 0 if passed else 1


def load(spec: str, what: str) -> Callable[..., Any]:
    """The callable named by ``MODULE:NAME`` or ``path/to/file.py:NAME`` (the current directory first)."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise TargetError(f"{what} must look like MODULE:FUNC or path/to/file.py:FUNC; got {spec!r}")
    module = _import(module_name)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise TargetError(f"{what} {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise TargetError(f"{what} {spec!r} is not callable (it is a {type(obj).__name__})")
    return obj  # type: ignore[no-any-return]


def _import(name: str) -> Any:
    try:
        if name.endswith(".py"):
            spec = importlib.util.spec_from_file_location(os.path.basename(name)[:-3], name)
            if spec is None or spec.loader is None or not os.path.isfile(name):
                raise TargetError(f"cannot load {name!r}: no such file")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
        with _cwd_on_path():
            return importlib.import_module(name)
    except TargetError:
        raise
    except ImportError as exc:
        raise TargetError(f"cannot import module {name!r} ({exc})") from None
    except Exception as exc:
        raise TargetError(f"importing {name!r} raised {type(exc).__name__}: {_first_line(exc)}") from None


@contextlib.contextmanager
def _cwd_on_path() -> Iterator[None]:
    """`numgrad check mymod:f` finds mymod.py in the current directory, as `python -m` would."""
    added = os.getcwd() not in sys.path
    if added:
        sys.path.insert(0, os.getcwd())
    try:
        yield
    finally:
        if added:
            sys.path.remove(os.getcwd())


def parse_shape(text: str | None) -> tuple[int, ...]:
    if text is None:
        raise TargetError("target mode needs --shape, the shape of x (e.g. --shape 100,10)")
    parts = [p.strip() for p in text.strip("()[] ").split(",") if p.strip()]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise TargetError(f"--shape must be comma-separated sizes like 100,10; got {text!r}") from None
    if any(s < 1 for s in shape):
        raise TargetError(f"--shape sizes must be positive; got {text!r}")
    return shape


def jax_gradient(f: Callable[..., Any], target: str, x: Any) -> Callable[[Any], Any]:
    """``jax.grad(f)`` as a NumPy function, when f is traceable by JAX (tried once at x)."""
    import jax
    import jax.numpy as jnp
    import numgrad_reference  # noqa: F401  (float64 in JAX)
    import numpy as np

    g = jax.grad(f)
    try:
        g(jnp.asarray(x))
    except Exception as exc:
        raise TargetError(
            f"{target} is not differentiable by JAX ({type(exc).__name__}: {_first_line(exc)}); "
            f"give its gradient with --grad MODULE:GRAD"
        ) from None
    return lambda point: np.asarray(g(jnp.asarray(point)))


def _check_all(
    f: Callable[..., Any], grad: Callable[..., Any], points: list[Any], mode: str, args: argparse.Namespace
) -> list[Any]:
    from rich.progress import Progress

    from numgrad.checking.check import check_gradient
    from numgrad.commands._console import make_console

    reports = []
    with Progress(console=make_console(stderr=True), transient=True, disable=args.json) as progress:
        task = progress.add_task(f"checking {args.target}", total=len(points))
        for dtype, k, x in points:
            try:
                report = check_gradient(f, x, grad, mode=mode, seed=args.seed + k)
            except Exception as exc:
                where = f"{args.target} at x of shape {x.shape} ({dtype})"
                raise TargetError(f"{where}: {type(exc).__name__}: {_first_line(exc)}") from None
            reports.append((dtype, k, report))
            progress.advance(task)
    return reports


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def _plot(report: Any, path: str) -> str:
    from numgrad.checking.check import plot_gradient_errors

    return str(plot_gradient_errors(report, path))


def _json(
    args: argparse.Namespace, shape: tuple[int, ...], mode: str, reports: list[Any], passed: bool, plot: Any
) -> dict[str, Any]:
    return {
        "target": args.target,
        "grad": args.grad or "jax.grad",
        "shape": list(shape),
        "mode": mode,
        "seed": args.seed,
        "passed": passed,
        "examples": [{"dtype": d, "example": k, **r.to_dict()} for d, k, r in reports],
        "plot": plot,
    }


def _print_target(args: argparse.Namespace, reports: list[Any], worst: Any, plotted: str | None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from numgrad.commands._console import make_console

    console = make_console()
    grad = args.grad or "jax.grad"
    table = Table(title=f"{args.target}: {grad} vs numgrad's numerical gradient")
    for col in ("input", "abs err", "rel err", "tolerance", "worst at", "kinks", "evals", "status", "time"):
        table.add_column(col, justify="left" if col in ("input", "worst at", "status") else "right")
    for dtype, k, r in reports:
        status = "[green]ok[/]" if r.passed else "[red]WRONG[/]"
        table.add_row(
            f"{dtype} #{k}", f"{r.max_abs_error:.1e}", f"{r.max_rel_error:.1e}", f"{r.tolerance:.1e}",
            str(r.worst_index), str(r.kink_count), str(r.nfev), status, f"{r.seconds:.2f}s",
        )  # fmt: skip
    console.print(table)
    dtype, k, report = worst
    if not report.passed:
        console.print(f"example {k} ({dtype}):")
        console.print(escape(str(report)), highlight=False)
    failed = sum(not r.passed for _, _, r in reports)
    console.print(f"{len(reports) - failed} passed, {failed} failed")
    if plotted:
        console.print(f"heatmap: {plotted}")

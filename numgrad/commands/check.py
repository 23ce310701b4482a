"""`numgrad check`: the built-ins against their JAX twins, or a user's function and gradient.

numgrad check                                   every built-in vs its JAX twin (values, gradients)
numgrad check mymod:loss --shape 100,10 --grad mymod:loss_grad [--dtype float32] [--mode fast]
numgrad check mymod:layer --shapes '{"W": [3, 4], "b": [4]}' --vjp mymod:backward     (or --jvp mymod:jvp)
numgrad check mymod:loss --shape 5 --hessian mymod:loss_hessian   HESS(x) -> array of shape x.shape * 2
numgrad check mymod:loss --shapes '{"W": [3, 4], "b": [4]}' --hvp mymod:loss_hvp   HVP(x, v) -> H·v
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from numgrad.commands._options import add_command, add_wide_option, plot_path
from numgrad.commands._targets import TargetError, first_line, load

DEFAULT_EXAMPLES = 5  # random inputs per dtype in target mode: enough to meet an input-dependent bug
TARGET_ONLY = ("shape", "grad", "mode", "examples", "plot", "vjp", "jvp", "shapes", "hessian", "hvp")
SECOND_ORDER = ("hessian", "hvp")  # a Hessian has no heatmap of x's shape
# Warnings of numgrad's own that tell a user of the CLI nothing (the report and the picture say it all):
# (message, category, module). A user's f and gradient keep every warning of theirs.
QUIET = (
    ("constrained_layout not applied", UserWarning, ""),  # a long title on a small heatmap: laid out anyway
)


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "check",
        examples=(
            "numgrad check                                   # every built-in vs its JAX twin",
            "numgrad check mymod:loss --shape 100,10 --grad mymod:loss_grad --plot errors.svg",
            "numgrad check mymod:loss --shape 5 --hessian mymod:loss_hessian",
            'numgrad check mymod:loss --shapes \'{"W": [3, 4], "b": [4]}\' --hvp mymod:loss_hvp',
        ),
        help="check numgrad against its JAX twins, or your gradient against numgrad (the main job)",
        description="Without a target: compare every built-in function and loss with its JAX twin — "
        "values, and the numerical gradient against jax.grad — at seeded random shapes in float64 and "
        "float32. With MODULE:FUNC: check FUNC's gradient (from --grad, else jax.grad of FUNC) against "
        "numgrad's numerical gradient at random inputs of --shape.",
    )
    p.add_argument(
        "target", nargs="?",
        help="MODULE:FUNC or path/to/file.py:FUNC, a scalar function f(x); MODULE is looked for in the "
        "current directory first (default: every built-in against its JAX twin)",
    )  # fmt: skip
    p.add_argument("--shape", help="shape of x, e.g. 100,10 (no default: needed with a target)")
    p.add_argument("--grad", help="MODULE:GRAD returning the analytic gradient at x (default: jax.grad)")
    p.add_argument(
        "--vjp", help="MODULE:BACKWARD, backward(x, dout) or a layer-style backward(dout): check FUNC's "
        "vector-Jacobian product instead of a gradient (default: none)",
    )  # fmt: skip
    p.add_argument(
        "--jvp", help="MODULE:JVP, jvp(x, v) returning J·v: check FUNC's forward-mode rule (default: none)"
    )
    p.add_argument(
        "--shapes", help='x as a pytree from a JSON spec of shapes, e.g. \'{"W": [3, 4], "b": [4]}\' '
        "(default: one array of --shape)",
    )  # fmt: skip
    p.add_argument(
        "--hessian",
        help="MODULE:HESS returning the analytic Hessian at x (shape x.shape + x.shape; for --shapes the "
        "tree of trees of jax.hessian, HESS(x)[p][q]): check it instead of a gradient (default: none)",
    )
    p.add_argument(
        "--hvp",
        help="MODULE:HVP, HVP(x, v) returning the Hessian-vector product H·v in x's shape or structure: "
        "check the Hessian it applies, column by column (default: none)",
    )
    p.add_argument(
        "--mode", choices=("full", "fast"),
        help="full: every element (default); fast: 6 evaluations (7 for a float32 x)",
    )  # fmt: skip
    p.add_argument("--examples", type=int, help=f"random inputs per dtype (default {DEFAULT_EXAMPLES})")
    p.add_argument(
        "--plot", metavar="PATH", type=plot_path,
        help="write the error heatmap of the worst example to PATH, .png, .svg or .pdf (default: none)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument(
        "--dtype", choices=("float64", "float32"), action="append",
        help="only this dtype, repeatable (default: both for the built-ins, float64 for a target)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    add_wide_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from numgrad.commands import _errors

    _errors.seed(args.seed)
    _errors.output_file(args.plot)
    for name in ("grad", "vjp", "jvp", "hessian", "hvp"):  # "" would mean "none given", silently
        _errors.non_empty(getattr(args, name, None), f"--{name}", "MODULE:FUNC")
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
    from numgrad.commands._errors import fail

    return fail("check", line)


# --------------------------------------------------------------------------------------------------
# Built-ins against their JAX twins


def _run_builtins(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from numgrad.checking.catalog import CASES
    from numgrad.checking.twins import DTYPES, check_builtins
    from numgrad.commands._console import Column, make_console, print_json, print_table, progress_hidden
    from numgrad.common.extras import require

    require("jax", needed_by="numgrad check")  # before the progress bar starts
    dtypes = tuple(dict.fromkeys(args.dtype)) if args.dtype else DTYPES  # (a repeated --dtype: once)
    console = make_console(stderr=args.json, wide=args.wide)
    rows = []
    bar = make_console(stderr=True)  # progress on stderr, the table on stdout
    hidden = progress_hidden(bar, as_json=args.json)
    with Progress(console=bar, transient=True, disable=hidden) as progress:
        task = progress.add_task("checking against JAX", total=len(CASES) * len(dtypes))
        for row in check_builtins(seed=args.seed, dtypes=dtypes):
            rows.append(row)
            progress.advance(task)
    failed = [r for r in rows if not r.passed]
    if args.json:
        print_json({"passed": not failed, "rows": [r.to_dict() for r in rows]})
        return 1 if failed else 0
    titles = ("numgrad vs JAX twins (values, and numerical gradient vs jax.grad)", "numgrad vs JAX twins")
    cells: list[list[Any]] = [
        [
            r.function, (r.dtype, r.dtype.replace("float", "f")), str(r.cases), f"{r.value_error:.1e}",
            f"{r.gradient_abs_error:.1e}", f"{r.gradient_error:.1e}", f"{r.gradient_tolerance:.1e}",
            "[green]ok[/]" if r.passed else "[red]FAIL[/]", f"{r.seconds:.2f}s",
        ]
        for r in rows
    ]  # fmt: skip
    columns = (
        Column("function", justify="left"), Column("dtype", justify="left"), Column("cases", drop=5),
        Column("value err", "val err", drop=3), Column("max abs err", "abs err", drop=4),
        Column("max rel err", "rel err"), Column("tolerance", "tol"), Column("status", justify="left"),
        Column("time", drop=2),
    )  # fmt: skip
    print_table(console, titles, columns, cells)
    console.print(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


# --------------------------------------------------------------------------------------------------
# A user's function


def _run_target(args: argparse.Namespace) -> int:
    import numpy as np

    from numgrad.commands._console import print_json
    from numgrad.commands._errors import elements

    f = load(args.target, "target")
    kind = _kind(args)
    grad = load(getattr(args, kind), f"--{kind}") if getattr(args, kind) else None
    spec = _spec(args)
    shape, mode = (parse_shape(args.shape) if spec is None else ()), args.mode or "full"
    if kind in SECOND_ORDER and args.plot:
        raise TargetError(
            f"--{kind} checks a Hessian, whose entries have no heatmap of x's shape: drop --plot"
        )
    examples = DEFAULT_EXAMPLES if args.examples is None else args.examples
    if examples < 1:
        raise TargetError(f"--examples must be at least 1; got {examples}")
    if args.plot and (mode == "fast" or not shape):
        raise TargetError("--plot draws one cell per element: it needs --mode full and a non-scalar --shape")
    dtypes = tuple(dict.fromkeys(args.dtype)) if args.dtype else ("float64",)  # (repeated: once)
    size = _size(spec) if spec is not None else math.prod(shape)
    per = f"{size:,} numbers" + (f" in each of {len(dtypes)} dtypes" if len(dtypes) > 1 else "")
    elements(examples * len(dtypes) * size, f"--examples {examples} of x ({per})")  # drawn up front
    rng = np.random.default_rng(args.seed)
    points = [(d, k, _draw(rng, spec, shape, d)) for d in dtypes for k in range(examples)]
    analytic = grad if grad is not None else jax_gradient(f, args.target, points[0][2])
    reports = _check_all(f, analytic, points, mode, args, kind)
    worst = max(reports, key=lambda r: (not r[2].passed, r[2].max_rel_error))
    plotted = _plot(worst, args, kind) if args.plot else None
    passed = all(r.passed for _, _, r in reports)
    if args.json:
        print_json(_json(args, kind, shape, mode, reports, passed, plotted))
    else:
        _print_target(args, reports, worst, plotted)
    return 0 if passed else 1


def _kind(args: argparse.Namespace) -> str:
    """What is checked: the gradient (--grad, or jax.grad), a VJP (--vjp), a JVP (--jvp) or a Hessian (as
    an array or tree, --hessian, or as products, --hvp)."""
    given = [k for k in ("grad", "vjp", "jvp", *SECOND_ORDER) if getattr(args, k, None)]
    if len(given) > 1:
        named = ", ".join("--" + k for k in given)
        raise TargetError(f"give one of --grad, --vjp, --jvp, --hessian, --hvp; got {named}")
    return given[0] if given else "grad"


def _spec(args: argparse.Namespace) -> Any:
    """The --shapes JSON spec: a dict or list whose leaves are shapes (lists of sizes), or None."""
    text = getattr(args, "shapes", None)
    if text is None:
        return None
    if args.shape is not None:
        raise TargetError("give --shape (one array) or --shapes (a pytree), not both")
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        example = '{"W": [3, 4], "b": [4]}'
        raise TargetError(f"--shapes must be JSON like '{example}'; got {text!r} ({exc.msg})") from None
    _check_spec(spec, "--shapes")
    from numgrad.commands._errors import elements

    elements(_size(spec), f"--shapes {text} (all its leaves)")  # the cap of --shape, on their total
    return spec


def _size(spec: Any) -> int:
    """The number of elements of all the leaves of a checked --shapes spec."""
    if _is_shape(spec):
        return math.prod(spec)
    return sum(_size(v) for v in (spec.values() if isinstance(spec, dict) else spec))


def _is_shape(node: Any) -> bool:
    return isinstance(node, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in node)


def _check_spec(node: Any, where: str) -> None:
    if _is_shape(node):
        if any(v < 1 for v in node):
            raise TargetError(f"{where}: sizes must be positive; got {node}")
        return
    if isinstance(node, dict) and node:
        for key, value in node.items():
            _check_spec(value, f"{where}[{key!r}]")
        return
    if isinstance(node, list) and node:
        for i, value in enumerate(node):
            _check_spec(value, f"{where}[{i}]")
        return
    raise TargetError(
        f"{where} must be a shape (a list of sizes), or a non-empty dict or list of them; got {node!r}"
    )


def _draw(rng: Any, spec: Any, shape: tuple[int, ...], dtype: str) -> Any:
    """A random point: one array of `shape`, or the pytree of `spec` (its leaves in spec order)."""
    if spec is None:
        return rng.standard_normal(shape).astype(dtype)
    if _is_shape(spec):
        return rng.standard_normal(tuple(spec)).astype(dtype)
    if isinstance(spec, dict):
        return {k: _draw(rng, v, (), dtype) for k, v in spec.items()}
    return [_draw(rng, v, (), dtype) for v in spec]


def _with_x(fn: Callable[..., Any], x: Any) -> Callable[[Any], Any]:
    """backward(x, dout) / jvp(x, v) at x; a one-argument layer-style backward(dout) as it is."""
    import inspect

    try:
        params = [
            p for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]  # fmt: skip
    except (TypeError, ValueError):
        params = []
    return (lambda w: fn(x, w)) if len(params) >= 2 else fn


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
    from numgrad.commands._errors import BadInputError, elements

    try:
        elements(math.prod(shape), f"--shape {text}")
    except BadInputError as exc:
        raise TargetError(str(exc)) from None
    return shape


def jax_gradient(f: Callable[..., Any], target: str, x: Any) -> Callable[[Any], Any]:
    """``jax.grad(f)`` as a NumPy function, when f is traceable by JAX (tried once at x)."""
    import jax
    import jax.numpy as jnp
    import numgrad_reference  # noqa: F401  (float64 in JAX)
    import numpy as np

    g = jax.grad(f)
    try:
        g(jax.tree_util.tree_map(jnp.asarray, x))
    except Exception as exc:
        raise TargetError(
            f"{target} is not differentiable by JAX ({type(exc).__name__}: {first_line(exc)}); "
            f"give its gradient with --grad MODULE:GRAD"
        ) from None
    return lambda point: jax.tree_util.tree_map(np.asarray, g(jax.tree_util.tree_map(jnp.asarray, point)))


def _check_all(
    f: Callable[..., Any],
    grad: Callable[..., Any],
    points: list[Any],
    mode: str,
    args: argparse.Namespace,
    kind: str = "grad",
) -> list[Any]:
    from rich.markup import escape
    from rich.progress import Progress

    from numgrad.checking.check import check_gradient
    from numgrad.checking.hessian import check_hessian
    from numgrad.checking.vector import check_jvp, check_vjp
    from numgrad.commands._console import make_console, progress_hidden

    def checked(x: Any, seed: int) -> Any:
        if kind == "grad":
            return check_gradient(f, x, grad, mode=mode, seed=seed)
        if kind == "hessian":
            return check_hessian(f, x, grad(x), mode=mode, seed=seed)
        if kind == "hvp":
            return check_hessian(f, x, lambda v: grad(x, v), mode=mode, seed=seed)
        check = check_vjp if kind == "vjp" else check_jvp
        return check(f, x, _with_x(grad, x), mode=mode, seed=seed)

    reports, failure = [], None
    errors = make_console(stderr=True)  # off a terminal a transient display would leave a blank line
    hidden = progress_hidden(errors, as_json=args.json)
    with Progress(console=errors, transient=True, disable=hidden) as progress:
        task = progress.add_task(f"checking {escape(args.target)}", total=len(points))
        for dtype, k, x in points:
            try:
                with _quiet():
                    report = checked(x, args.seed + k)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # SystemExit, GeneratorExit too: the user's code, in one line
                shown = f"shape {x.shape}" if hasattr(x, "shape") else f"shapes {args.shapes}"
                where = f"{args.target} at x of {shown} ({dtype})"
                what = f"called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else type(exc).__name__
                failure = TargetError(f"{where}: {what}: {first_line(exc)}")
                break
            reports.append((dtype, k, report))
            progress.advance(task)
    if failure is not None:  # raised once the progress display is gone: one clean line on stderr
        raise failure
    return reports


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The warnings of QUIET off while numgrad checks and draws; every other warning as it was."""
    with warnings.catch_warnings():
        for message, category, module in QUIET:
            warnings.filterwarnings("ignore", message, category, module)
        yield


def _checked(args: argparse.Namespace, kind: str) -> str:
    """What was checked against numgrad: ``jax.grad``, the --grad target, or ``vjp MOD:VJP`` and the like."""
    if kind == "grad":
        return str(args.grad or "jax.grad")
    return f"{kind} {getattr(args, kind)}"


def _plot(worst: Any, args: argparse.Namespace, kind: str) -> str:
    """The heatmap of the worst example; its title names the function, what was checked and the example."""
    from numgrad.checking.check import plot_gradient_errors

    _, k, report = worst
    title = f"{args.target} against {_checked(args, kind)}, example {k} (seed {args.seed + k})"
    with _quiet():
        return str(plot_gradient_errors(report, args.plot, title=title))


def _json(
    args: argparse.Namespace,
    kind: str,
    shape: tuple[int, ...],
    mode: str,
    reports: list[Any],
    passed: bool,
    plot: Any,
) -> dict[str, Any]:
    return {
        "target": args.target,
        "grad": _checked(args, kind) if kind == "grad" else None,  # the gradient checked, if one was
        "vjp": getattr(args, "vjp", None),
        "jvp": getattr(args, "jvp", None),
        "hessian": getattr(args, "hessian", None),
        "hvp": getattr(args, "hvp", None),
        "shape": list(shape),
        "shapes": json.loads(args.shapes) if getattr(args, "shapes", None) else None,
        "mode": mode,
        "seed": args.seed,
        "passed": passed,
        "examples": [{"dtype": d, "example": k, **r.to_dict()} for d, k, r in reports],
        "plot": plot,
    }


def _print_target(args: argparse.Namespace, reports: list[Any], worst: Any, plotted: str | None) -> None:
    from rich.markup import escape

    from numgrad.commands._console import Column, make_console, print_plain, print_table

    console = make_console(wide=args.wide)
    grad = args.grad or "jax.grad"
    if getattr(args, "vjp", None) or getattr(args, "jvp", None):
        grad = f"{'vjp' if args.vjp else 'jvp'} {args.vjp or args.jvp}"
    titles = (f"{args.target}: {grad} vs numgrad's numerical gradient", f"{args.target} vs numgrad")
    second = getattr(args, "hessian", None) or getattr(args, "hvp", None)
    if second:
        titles = (f"{args.target}: {second} vs numgrad's numerical Hessian", titles[1])
    columns = (
        Column("input", justify="left"), Column("abs err", drop=3), Column("rel err"),
        Column("tolerance", "tol"),
        Column("worst at", "worst", justify="left", drop=4), Column("kinks", drop=5), Column("evals", drop=6),
        Column("status", justify="left"), Column("time", drop=2),
    )  # fmt: skip
    cells: list[list[Any]] = [
        [
            (f"{dtype} #{k}", f"{dtype.replace('float', 'f')} #{k}"), f"{r.max_abs_error:.1e}",
            f"{r.max_rel_error:.1e}", f"{r.tolerance:.1e}", escape(f"{r.worst_leaf} {r.worst_index}".strip()),
            str(r.kink_count), str(r.nfev), "[green]ok[/]" if r.passed else "[red]WRONG[/]",
            f"{r.seconds:.2f}s",
        ]
        for dtype, k, r in reports
    ]  # fmt: skip
    print_table(console, titles, columns, cells)
    dtype, k, report = worst
    if not report.passed:
        console.print(f"example {k} ({dtype}):")
        console.print(escape(str(report)), highlight=False)
    failed = sum(not r.passed for _, _, r in reports)
    console.print(f"{len(reports) - failed} passed, {failed} failed")
    if plotted:
        print_plain(console, f"heatmap: {plotted}")

"""JAX adapter: check ``jax.jvp`` / ``jax.vjp`` of a function with numgrad, in jax's calling convention.

``numgrad.jax.check_grads(f, args, order)`` is a drop-in for ``jax.test_util.check_grads``: it checks
the derivatives JAX computes for ``f`` (your ``custom_jvp`` / ``custom_vjp`` rules) against numgrad's
differences of ``f`` itself, with tolerances from numgrad's error estimates. ``args`` is a tuple of
pytrees. Whatever the x64 flag, the differences are taken in float64 when ``f`` computes in float64
for float64 input (x64 is enabled for the duration of the check and restored), so a float32 rule is
checked almost as finely as a float64 one; the analytic side runs at the user's dtypes and flag.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import keystr, tree_flatten, tree_flatten_with_path, tree_map, tree_unflatten
from numpy.typing import NDArray

from numgrad.checking import projected
from numgrad.checking.projected import Finding, FrameworkReport
from numgrad.common.validate import callable_arg, choice

__all__ = ["FrameworkReport", "check_grads"]

FUNC = "numgrad.jax.check_grads"
MODES = ("full", "fast")
KINDS = ("fwd", "rev")
WHAT = {"fwd": "JVP", "rev": "VJP"}


def check_grads(
    f: Callable[..., Any],
    args: Sequence[Any],
    order: int = 1,
    modes: Sequence[str] = ("fwd", "rev"),
    *,
    mode: str = "full",
    method: str = "auto",
    rtol: float | None = None,
    atol: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> FrameworkReport:
    """Check the JVPs and VJPs of ``f(*args)`` up to `order`, as ``jax.test_util.check_grads`` does.

    Parameters
    ----------
    f : callable
        ``f(*args)`` returning an array or a pytree of floating arrays.
    args : tuple of pytrees
        The point; every leaf is a float32 or float64 array and is checked.
    order : int
        1 checks first derivatives; 2 also the derivative of the derivative (fwd over fwd, rev over
        rev, as jax does), and so on.
    modes : sequence of {"fwd", "rev"}
        ``"fwd"`` checks ``jax.jvp`` (a ``custom_vjp`` function has none: pass ``modes=("rev",)``),
        ``"rev"`` checks ``jax.vjp``.
    mode : {"full", "fast"}
        ``"full"`` checks every element of every leaf; ``"fast"`` random directions through all the
        leaves together (six evaluations of f per check, seven for float32 leaves).
    method, rtol, atol
        As in :func:`numgrad.check_gradient` (tolerances from numgrad's error estimates unless
        `rtol`/`atol` are given).
    seed : int or numpy.random.Generator, optional
        Draws the cotangents, tangents and fast mode's directions (default: a fixed seed, so results
        repeat).

    Returns
    -------
    FrameworkReport
        Every check that ran, when all passed.

    Raises
    ------
    AssertionError
        When a check fails; the message is numgrad's report (which mode and order, which output, which
        leaf of args, which element, analytic vs numerical, the tolerance and why).

    Examples
    --------
    >>> x = jnp.linspace(0.1, 1.0, 5)
    >>> check_grads(jnp.sin, (x,), order=2).passed
    True
    """
    fn = callable_arg(f, FUNC)
    md = choice(mode, MODES, FUNC, "mode")
    kinds = _modes(modes)
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"{FUNC}: order must be a positive int; got {order!r}")
    given = projected.seed_of(seed, FUNC)  # numgrad's one seed check
    point = _args(args)
    rng = projected.stream(given)
    opts = {"mode": md, "method": method, "rtol": rtol, "atol": atol, "seed": given}
    reports = []
    for kind in kinds:
        g = fn
        for level in range(1, order + 1):
            reports.append(_level(g, point, kind, level, rng, opts))
            if level < order:
                g = _derivative(g, point, kind, rng)
    report = _combined(reports, md)
    if not report.passed:
        raise AssertionError(str(report))
    return report


# --------------------------------------------------------------------------------------------------
# One level: the JVPs or VJPs of g at the point


def _level(
    g: Callable[..., Any],
    point: tuple[Any, ...],
    kind: str,
    level: int,
    rng: np.random.Generator,
    opts: dict[str, Any],
) -> FrameworkReport:
    paths, treedef = _flatten_paths(point)
    leaves = [leaf for _, leaf in paths]
    calls = [0]

    def flat(*ls: Any) -> tuple[Any, ...]:
        out = g(*tree_unflatten(treedef, list(ls)))
        return tuple(tree_flatten(out)[0])

    out_paths, outs, us, vjps = _analytic(g, treedef, leaves, kind, rng)  # one evaluation of f
    calls[0] += 1
    # full mode's ~n evaluations run compiled (measured 6x faster than op by op on the 64-element
    # layers of benchmarks/bench_frameworks.py); fast mode's six are cheaper than compiling
    evaluate = _evaluator(flat, tuple(outs), calls, jit=opts["mode"] == "full")
    problem = projected.Problem(
        func=FUNC,
        inputs=tuple(np.asarray(leaf).copy() for leaf in leaves),
        input_names=tuple("args" + keystr(p) for p, _ in paths),
        output_names=tuple(p or "0" for p in out_paths) if len(outs) > 1 else ("0",),
        evaluate=evaluate,
        cotangents=tuple(np.asarray(u, dtype=np.float64) for u in us),
        vjps=vjps,
        what=_what(kind, level),
    )
    with _x64():
        # second derivatives are checked as one vector (see numgrad.checking.projected.run)
        together = opts["mode"] == "fast" or level > 1
        return projected.run_apart(problem, together=together, count=lambda: calls[0], **opts)


def _analytic(
    g: Callable[..., Any], treedef: Any, leaves: list[Any], kind: str, rng: np.random.Generator
) -> tuple[list[str], list[Any], list[Any], tuple[tuple[NDArray[Any], ...], ...]]:
    """The output paths and shapes (seen while JAX traces g: no extra evaluation), seeded cotangents
    u_k in the outputs' dtypes, and vjps[k][j], output k's VJP with cotangent u_k w.r.t. leaf j: by
    jax.vjp ("rev"), or from the Jacobian columns jax.jvp gives ("fwd", contracted with u_k)."""
    seen: dict[str, Any] = {}

    def flat(*ls: Any) -> tuple[Any, ...]:
        paths = tree_flatten_with_path(g(*tree_unflatten(treedef, list(ls))))[0]
        seen["paths"], seen["outs"] = [keystr(p) for p, _ in paths], _outputs(tuple(v for _, v in paths))
        return tuple(v for _, v in paths)

    try:
        if kind == "rev":
            _, pull = jax.vjp(flat, *leaves)
        else:
            jac = jax.jacfwd(flat, argnums=tuple(range(len(leaves))))(*leaves)  # jac[k][j]
    except TypeError as exc:
        if "custom_vjp" not in str(exc):
            raise
        raise TypeError(
            f"{FUNC}: f has no forward mode (it is a jax.custom_vjp function, whose JVP is undefined); "
            f"pass modes=('rev',) to check its VJP"
        ) from exc
    outs = [_Shape(tuple(o.shape), o.dtype) for o in seen["outs"]]
    us = [_cotangent(o, rng) for o in outs]
    if kind == "rev":
        rows = []
        for k in range(len(outs)):
            cts = tuple(
                u if i == k else jnp.zeros(o.shape, o.dtype)
                for i, (o, u) in enumerate(zip(outs, us, strict=True))
            )
            rows.append(tuple(np.asarray(v) for v in pull(cts)))
        return seen["paths"], outs, us, tuple(rows)

    def contract(u: Any, block: Any, leaf: Any) -> NDArray[Any]:
        a, b = np.asarray(u, dtype=np.float64), np.asarray(block, dtype=np.float64)
        return np.tensordot(a, b, axes=a.ndim).astype(np.asarray(leaf).dtype)

    vjps = tuple(
        tuple(contract(u, block, leaf) for block, leaf in zip(jac[k], leaves, strict=True))
        for k, u in enumerate(us)
    )
    return seen["paths"], outs, us, vjps


def _evaluator(
    flat: Callable[..., tuple[Any, ...]], outs: tuple[Any, ...], calls: list[int], jit: bool
) -> projected.Evaluate:
    """f at NumPy points (x64 on, so float64 points stay float64); with `jit`, compiled once per dtype
    when f traces (a function that does not is called as it is)."""
    compiled: list[Callable[..., tuple[Any, ...]]] = [jax.jit(flat) if jit else flat]

    def evaluate(values: tuple[NDArray[Any], ...]) -> tuple[NDArray[Any], ...]:
        calls[0] += 1
        args = [jnp.asarray(v) for v in values]
        try:
            got = compiled[0](*args)
        except (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError):
            compiled[0] = flat
            got = flat(*args)
        if len(got) != len(outs):
            raise projected.StructureError(
                f"{FUNC}: f returned {len(outs)} output leaves at args and {len(got)} at a perturbed point; "
                f"its output structure must not change"
            )
        return tuple(np.asarray(o).copy() for o in got)

    return evaluate


def _derivative(
    g: Callable[..., Any], point: tuple[Any, ...], kind: str, rng: np.random.Generator
) -> Callable[..., Any]:
    """The next order's function: ``x ↦ VJP(g, x, u)`` ("rev") or ``x ↦ JVP(g, x, t)`` ("fwd"), with u
    or t seeded random, drawn at the point (and cast to the dtypes of wherever they are applied)."""
    if kind == "rev":
        u = tree_map(lambda o: np.asarray(_cotangent(o, rng)), jax.eval_shape(g, *point))

        def rev(*xs: Any) -> Any:
            o, pull = jax.vjp(g, *xs)
            return pull(tree_map(lambda oi, ui: jnp.asarray(ui, dtype=jnp.asarray(oi).dtype), o, u))

        return rev
    t = tree_map(lambda x: np.asarray(_cotangent(jnp.asarray(x), rng)), point)

    def fwd(*xs: Any) -> Any:
        tangents = tree_map(lambda xi, ti: jnp.asarray(ti, dtype=jnp.asarray(xi).dtype), xs, t)
        return jax.jvp(g, tuple(xs), tuple(tangents))[1]

    return fwd


# --------------------------------------------------------------------------------------------------
# Validation, x64 and the combined report


def _modes(modes: object) -> tuple[str, ...]:
    given = (modes,) if isinstance(modes, str) else modes
    if not isinstance(given, Sequence) or not given or any(m not in KINDS for m in given):
        raise ValueError(f"{FUNC}: modes must be a non-empty sequence of 'fwd' and 'rev'; got {modes!r}")
    return tuple(dict.fromkeys(given))


def _args(args: object) -> tuple[Any, ...]:
    if not isinstance(args, tuple | list):
        raise TypeError(
            f"{FUNC}: args must be a tuple of the arguments of f (pytrees of arrays), as in "
            f"jax.test_util.check_grads; got {type(args).__name__}. For one argument x pass (x,)"
        )
    paths, _ = tree_flatten_with_path(tuple(args))
    if not paths:
        raise ValueError(f"{FUNC}: args hold no array leaf; got {args!r}")
    for path, leaf in paths:
        a = np.asarray(leaf) if not isinstance(leaf, jax.Array) else leaf
        kind = getattr(getattr(a, "dtype", None), "kind", "O")
        if kind != "f" or a.dtype not in (np.float32, np.float64):
            raise TypeError(
                f"{FUNC}: every leaf of args is differentiated and must be a float32 or float64 array; "
                f"args{keystr(path)} is {getattr(a, 'dtype', type(leaf).__name__)}. Pass integer data "
                f"(labels) through a closure: check_grads(lambda x: f(x, labels), (x,))"
            )
    return tuple(args)


def _flatten_paths(point: tuple[Any, ...]) -> tuple[list[tuple[Any, Any]], Any]:
    paths, treedef = tree_flatten_with_path(point)
    return [(p, jnp.asarray(leaf)) for p, leaf in paths], treedef


@dataclass(frozen=True)
class _Shape:
    """An output leaf's shape and dtype, as seen while JAX traced f."""

    shape: tuple[int, ...]
    dtype: Any


def _outputs(outs: tuple[Any, ...]) -> tuple[Any, ...]:
    if not outs:
        raise TypeError(f"{FUNC}: f returned no array (an empty pytree); there is nothing to differentiate")
    arrays = []
    for k, o in enumerate(outs):
        if not isinstance(o, jax.Array | np.ndarray | float):
            raise TypeError(
                f"{FUNC}: f must return an array or a pytree of arrays; output leaf {k} is {type(o).__name__}"
            )
        a = jnp.asarray(o)
        if a.dtype.kind != "f":
            raise TypeError(
                f"{FUNC}: f must return floating arrays; output leaf {k} is {a.dtype} (return integer "
                f"results from a separate function)"
            )
        arrays.append(a)
    return tuple(arrays)


def _cotangent(o: Any, rng: np.random.Generator) -> Any:
    return jnp.asarray(projected.cotangent(tuple(o.shape), rng), dtype=o.dtype)


@contextmanager
def _x64() -> Iterator[None]:
    """x64 on for the numerical side (float64 points stay float64); the user's flag restored."""
    config: Any = jax.config  # its flags are attributes set at run time
    before = bool(config.jax_enable_x64)
    config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        config.update("jax_enable_x64", before)


def _what(kind: str, level: int) -> str:
    if level == 1:
        return f"{WHAT[kind]} ({kind})"
    return f"order-{level} {WHAT[kind]} ({' over '.join([kind] * level)})"


def _combined(reports: list[FrameworkReport], mode: str) -> FrameworkReport:
    findings = tuple(
        Finding(f"{r.what}: {f.outputs}", f.input, f.report) for r in reports for f in r.findings
    )
    notes = tuple(dict.fromkeys(n for r in reports for n in r.notes))
    what = " and ".join(r.what for r in reports)
    return replace(
        reports[0],
        what=what,
        mode=mode,
        passed=all(r.passed for r in reports),
        findings=findings,
        nfev=sum(r.nfev for r in reports),
        seconds=sum(r.seconds for r in reports),
        notes=notes,
    )

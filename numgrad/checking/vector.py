"""Checks of derivatives of vector-valued functions: VJPs (a layer's backward), JVPs and Jacobians.

Each is the gradient check of a scalar: for a seeded random cotangent u of f(x)'s shape,
``g(x) = ⟨u, f(x)⟩`` has the gradient ``uᵀJ``. So a VJP check compares ``vjp(u)`` with numgrad's
differences of g, element by element in full mode (which input element is wrong) and along random
directions in fast mode, with check_gradient's tolerances from the engine's error estimates, its kinks,
and its float64 differencing of float32 code. A JVP check compares ``⟨u, jvp(e_j)⟩`` (full) or
``⟨u, jvp(v)⟩`` (fast); a Jacobian check ``uᵀ·jac``, and then names the output of the worst pair.

The cotangent's entries are ``sign(f_i(x))·s_i`` with ``s_i`` uniform in [0.5, 1.5]: every output
counts, none cancels another in ⟨u, f(x)⟩ (whose rounding the tolerance must cover), and a bug in any
output's derivative moves uᵀJ. A scalar output takes the cotangent 1, as ``backward(dout=1)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad.checking import check as _check
from numgrad.checking.core import Checked, check_flat
from numgrad.checking.fast import Linear
from numgrad.checking.report import GradientReport
from numgrad.common.guard import unchanged_tree
from numgrad.common.trees import Flat, match
from numgrad.common.validate import callable_arg
from numgrad.differences.engine import make_problem
from numgrad.differences.steps import difference

__all__ = ["assert_jvp_close", "assert_vjp_close", "check_jacobian", "check_jvp", "check_vjp"]

COTANGENT_RANGE = (0.5, 1.5)  # |u_i|: every output weighs, none by more than three times another


@dataclass(frozen=True)
class Projected:
    """``g(x) = ⟨u, f(x)⟩``, summed in float64 and returned in f's dtype (so check_gradient's test of
    whether f computes in float64 sees f's own dtype). Picklable when f is."""

    f: Callable[..., Any]
    u: NDArray[Any]
    func: str

    def __call__(self, x: Any) -> Any:
        out = _output(self.f(x), self.func)
        if out.shape != self.u.shape:
            raise ValueError(
                f"{self.func}: f must return the same shape at every point; got {out.shape} at a perturbed "
                f"point, {self.u.shape} at x"
            )
        total = np.sum(self.u * out)
        return np.float32(total) if out.dtype == np.float32 else total


def _output(value: Any, func: str, who: str = "f") -> NDArray[Any]:
    out = np.asarray(value)
    if out.dtype.kind not in "fc":
        got = type(value).__name__ if out.dtype.kind == "O" else f"{out.dtype} of shape {out.shape}"
        raise TypeError(f"{func}: {who} must return a floating array; got {got}")
    return out


def cotangent(y: NDArray[Any], rng: np.random.Generator) -> NDArray[Any]:
    """The seeded cotangent for f(x) = y, in y's dtype (1 for a scalar output)."""
    if y.size == 1 and y.ndim == 0:
        return np.ones((), dtype=y.dtype)
    magnitude = rng.uniform(*COTANGENT_RANGE, size=y.shape)
    return np.asarray(np.where(np.real(y) < 0, -magnitude, magnitude), dtype=np.real(y).dtype)


@dataclass(frozen=True)
class _Setup:
    fn: Callable[..., Any]
    flat: Flat
    method: str
    mode: str
    rtol: float | None
    atol: float | None
    rng: np.random.Generator
    y: NDArray[Any]
    u: NDArray[Any]  # in y's dtype: what the user's vjp / jvp receives


def _setup(func: str, f: object, x: Any, other: object, arg: str, opts: dict[str, Any]) -> _Setup:
    fn, flat, meth, md = _check._validated(f, x, opts["method"], opts["mode"], func)
    if arg != "jac" or callable(other):
        callable_arg(other, func, arg)
    low, high = _check._bound(opts["rtol"], "rtol", func), _check._bound(opts["atol"], "atol", func)
    rng = _check._generator(opts["seed"], func)
    with _guard(func, flat, "f"):
        y = _output(fn(flat.unflatten(flat.leaves)), func)
    if y.dtype.kind == "c":
        raise TypeError(f"{func}: f must return a real floating array; got {y.dtype}")
    return _Setup(fn, flat, meth, md, low, high, rng, y, cotangent(y, rng))


def _guard(func: str, flat: Flat, who: str) -> Any:
    """Every call of the user's f, vjp, jvp or jac outside the core check: the caller's leaves bitwise
    unchanged afterwards, restored and a MutatedArgumentError naming `who` if they were not."""
    return unchanged_tree(func, flat.leaves, flat.paths, who=who)


def _run(s: _Setup, func: str, kind: str, analytic: list[NDArray[Any]], start: float, extra: int,
         linear: Linear | None = None) -> GradientReport:  # fmt: skip
    g = Projected(s.fn, s.u.astype(np.float64), func)
    report = check_flat(
        Checked(func, g, s.flat, analytic, kind), method=s.method, mode=s.mode, rtol=s.rtol, atol=s.atol,
        rng=s.rng, executor=None, seconds=lambda: time.perf_counter() - start, linear=linear,
    )  # fmt: skip
    return replace(report, nfev=report.nfev + extra)


def _leaves(
    flat: Flat, value: Any, func: str, arg: str, shape_of: Callable[[int], tuple[int, ...]] | None = None
) -> list[NDArray[Any]]:
    if flat.single and not isinstance(value, dict | list | tuple):
        want = shape_of(0) if shape_of else flat.leaves[0].shape
        a = np.asarray(value)
        if a.dtype.kind not in "fiu":
            raise TypeError(f"{func}: {arg} must be a real numeric array of shape {want}; got {a.dtype}")
        if a.shape != want:
            hint = ": it is the transpose (dW.T?)" if a.ndim == 2 and a.shape == want[::-1] else ""
            raise ValueError(f"{func}: {arg} must have shape {want}; got shape {a.shape}{hint}")
        return [a if a.dtype.kind == "f" else a.astype(np.float64)]
    if flat.single:
        raise ValueError(f"{func}: {arg} must be an array of shape {flat.leaves[0].shape} like x; got a "
                         f"{type(value).__name__}")  # fmt: skip
    return match(flat, value, func, arg, shape_of=shape_of)


# --------------------------------------------------------------------------------------------------
# VJP


def check_vjp(
    f: Callable[..., Any],
    x: Any,
    vjp: Callable[..., Any],
    *,
    method: str = "auto",
    mode: str = "full",
    rtol: float | None = None,
    atol: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> GradientReport:
    """Check a vector-Jacobian product (a layer's ``backward(dout)``) against numgrad's differences.

    Parameters
    ----------
    f : callable
        ``f(x) -> array`` of any shape (a layer's ``forward``).
    x : array or pytree (nested dict / list / tuple) of float arrays
        The point. Leaves are perturbed in place, so f may read them from a closure.
    vjp : callable
        ``vjp(u) -> gradient of ⟨u, f⟩`` in x's structure: a layer's ``backward``, or the function
        ``jax.vjp`` returns (for a single x, ``lambda u: pullback(u)[0]``). Called once, at x, before
        any perturbation, with a copy of u.
    method, mode, rtol, atol, seed
        As in :func:`numgrad.check_gradient`; `seed` also draws the cotangent u.

    Returns
    -------
    GradientReport
        ``kind="vjp"``; full mode names the input element (``worst_leaf``, ``worst_index``).

    Raises
    ------
    TypeError, ValueError
        If f or vjp is not callable, x is not a pytree of float arrays, or vjp returns another
        structure or shape than x (the message names the leaf).

    Examples
    --------
    >>> W = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> x = np.array([0.5, -1.0, 2.0])
    >>> check_vjp(lambda v: v @ W, x, lambda u: W @ u).passed
    True
    >>> check_vjp(lambda v: v @ W, x, lambda u: W @ u * [1, 1, 2]).worst_index
    (2,)
    """
    start = time.perf_counter()
    opts = {"method": method, "mode": mode, "rtol": rtol, "atol": atol, "seed": seed}
    s = _setup("check_vjp", f, x, vjp, "vjp", opts)
    with _guard("check_vjp", s.flat, "vjp"):
        value = vjp(s.u.copy())
    analytic = _leaves(s.flat, value, "check_vjp", "vjp(u)")
    return _run(s, "check_vjp", "vjp", analytic, start, extra=1)


def assert_vjp_close(
    f: Callable[..., Any],
    x: Any,
    vjp: Callable[..., Any],
    *,
    method: str = "auto",
    mode: str = "full",
    rtol: float | None = None,
    atol: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> GradientReport:
    """:func:`check_vjp`, raising ``AssertionError`` with the report's table when it fails.

    Examples
    --------
    >>> x = np.array([1.0, 2.0])
    >>> assert_vjp_close(np.sin, x, lambda u: u * np.cos(x)).passed
    True
    """
    report = check_vjp(f, x, vjp, method=method, mode=mode, rtol=rtol, atol=atol, seed=seed)
    if not report.passed:
        raise AssertionError(f"vjp check failed\n{report}")
    return report


# --------------------------------------------------------------------------------------------------
# JVP


def check_jvp(
    f: Callable[..., Any],
    x: Any,
    jvp: Callable[..., Any],
    *,
    method: str = "auto",
    mode: str = "full",
    rtol: float | None = None,
    atol: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> GradientReport:
    """Check a Jacobian-vector product (a forward-mode rule) against numgrad's differences.

    Parameters
    ----------
    f : callable
        ``f(x) -> array`` of any shape.
    x : array or pytree of float arrays
    jvp : callable
        ``jvp(v) -> J·v``, an array of f(x)'s shape, for a tangent v in x's structure (float64 leaves).
        Full mode calls it once per input element (with the unit tangents), fast mode twice; each
        call gets a tangent of its own.
    method, mode, rtol, atol, seed
        As in :func:`check_vjp`.

    Returns
    -------
    GradientReport
        ``kind="jvp"``: the checks compare ``⟨u, jvp(v)⟩`` with the derivative of ``⟨u, f⟩`` along v.

    Examples
    --------
    >>> x = np.array([0.5, -1.0, 2.0])
    >>> check_jvp(np.sin, x, lambda v: np.cos(x) * v).passed
    True
    >>> check_jvp(np.sin, x, lambda v: np.cos(x) * v * [1, 1, 2]).worst_index
    (2,)
    """
    start = time.perf_counter()
    opts = {"method": method, "mode": mode, "rtol": rtol, "atol": atol, "seed": seed}
    s = _setup("check_jvp", f, x, jvp, "jvp", opts)
    u = s.u.astype(np.float64)
    flat = s.flat

    def along(v: NDArray[np.float64]) -> float:
        tangent = flat.unflatten(flat.views(v.copy()))  # jvp's own copy: it may write into it
        with _guard("check_jvp", flat, "jvp"):
            out = _output(jvp(tangent), "check_jvp", "jvp(v)")
        if out.shape != s.y.shape:
            raise ValueError(f"check_jvp: jvp(v) must have f(x)'s shape {s.y.shape}; got shape {out.shape}")
        return float(np.sum(u * out))

    if s.mode == "fast":
        zeros = [np.zeros(leaf.shape) for leaf in flat.leaves]
        return _run(s, "check_jvp", "jvp", zeros, start, extra=1, linear=Linear(along, None))
    analytic = flat.split(_units(along, sum(flat.sizes)))
    return _run(s, "check_jvp", "jvp", analytic, start, extra=1)


def _units(along: Callable[[NDArray[np.float64]], float], n: int) -> NDArray[np.float64]:
    """``⟨u, jvp(e_j)⟩`` for every unit tangent e_j (one at a time: n tangents of size n in memory
    would be n² numbers)."""
    e, out = np.zeros(n), np.empty(n)
    for j in range(n):
        e[j] = 1.0
        out[j] = along(e)
        e[j] = 0.0
    return out


def assert_jvp_close(
    f: Callable[..., Any],
    x: Any,
    jvp: Callable[..., Any],
    *,
    method: str = "auto",
    mode: str = "full",
    rtol: float | None = None,
    atol: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> GradientReport:
    """:func:`check_jvp`, raising ``AssertionError`` with the report's table when it fails.

    Examples
    --------
    >>> x = np.array([1.0, 2.0])
    >>> assert_jvp_close(np.exp, x, lambda v: np.exp(x) * v).passed
    True
    """
    report = check_jvp(f, x, jvp, method=method, mode=mode, rtol=rtol, atol=atol, seed=seed)
    if not report.passed:
        raise AssertionError(f"jvp check failed\n{report}")
    return report


# --------------------------------------------------------------------------------------------------
# Jacobian


def check_jacobian(
    f: Callable[..., Any],
    x: Any,
    jac: ArrayLike | Any | Callable[..., Any],
    *,
    method: str = "auto",
    mode: str = "full",
    rtol: float | None = None,
    atol: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> GradientReport:
    """Check a Jacobian against numgrad's differences, and name the worst (output, input) pair.

    Parameters
    ----------
    f : callable
        ``f(x) -> array`` of any shape.
    x : array or pytree of float arrays
    jac : array of shape ``f(x).shape + x.shape``, or callable ``jac(x)`` returning it
        For a pytree x, a pytree of x's structure whose leaves have shape ``f(x).shape + leaf.shape``
        (what ``jax.jacfwd`` returns).
    method, mode, rtol, atol, seed
        As in :func:`check_vjp`.

    Returns
    -------
    GradientReport
        ``kind="jacobian"``. The checks compare ``uᵀ·jac`` with the gradient of ``⟨u, f⟩``, so
        ``worst_index`` is the input; when full mode fails, that input's column of the Jacobian is
        differenced (central, steps h and h/2) and ``worst_output`` names the output where jac is
        furthest from it, with ``pair_analytic`` and ``pair_numerical``.

    Examples
    --------
    >>> x = np.array([2.0, 3.0])
    >>> f = lambda v: np.array([v[0] * v[1], v[0]])
    >>> check_jacobian(f, x, np.array([[3.0, 2.0], [1.0, 0.0]])).passed
    True
    >>> r = check_jacobian(f, x, np.array([[3.0, 2.0], [1.0, 1.0]]))
    >>> r.worst_output, r.worst_index
    ((1,), (1,))
    """
    start = time.perf_counter()
    opts = {"method": method, "mode": mode, "rtol": rtol, "atol": atol, "seed": seed}
    s = _setup("check_jacobian", f, x, jac, "jac", opts)
    if callable(jac):
        with _guard("check_jacobian", s.flat, "jac"):
            value = jac(s.flat.unflatten(s.flat.leaves))
    else:
        value = jac
    out = s.y.shape
    arg = "jac(x)" if callable(jac) else "jac"
    full = _leaves(s.flat, value, "check_jacobian", arg, lambda k: (*out, *s.flat.leaves[k].shape))
    u = s.u.astype(np.float64)
    analytic = [np.tensordot(u, j.astype(np.float64), axes=len(out)) for j in full]
    report = _run(s, "check_jacobian", "jacobian", analytic, start, extra=1)
    if report.passed or report.mode == "fast":
        return report
    return _locate_output(s, report, full, start)


def _locate_output(
    s: _Setup, report: GradientReport, full: list[NDArray[Any]], start: float
) -> GradientReport:
    """Difference the worst input's column of the Jacobian and name the output furthest from jac."""
    k = s.flat.paths.index(report.worst_leaf)
    leaf, j = s.flat.leaves[k], report.worst_index
    work = np.dtype(report.leaves[k].working_dtype if report.leaves else report.working_dtype)
    fn, flat = s.fn, s.flat

    def column(t: NDArray[Any]) -> Any:
        moved = leaf.astype(work)
        moved[j] = t[()]
        return fn(flat.replaced(k, moved))

    p = make_problem(
        "check_jacobian", column, np.array(leaf[j], dtype=work), out_shape=s.y.shape, method="central",
        batched=False, chunk_size=None, executor=None,
    )  # fmt: skip
    with _guard("check_jacobian", flat, "f"):  # the other leaves are the caller's own arrays
        d = difference(p, None)
    numerical = d.derivative.reshape(s.y.shape)
    where: tuple[Any, ...] = (Ellipsis, *j)
    analytic = full[k][where].astype(np.float64)
    gap = np.abs(analytic - numerical)
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(gap)), gap.shape)) if gap.shape else ()
    return replace(
        report,
        worst_output=worst,
        pair_analytic=float(analytic[worst]),
        pair_numerical=float(numerical[worst]),
        nfev=report.nfev + d.nfev,
        seconds=time.perf_counter() - start,
        message=f"{report.message}; worst pair: output {worst}, input {report.worst_leaf}{j}".replace(
            "; worst at", "; worst input at", 1
        ),
    )

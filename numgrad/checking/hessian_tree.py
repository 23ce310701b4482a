"""check_hessian for a pytree x: the leaves joined into one vector, the report naming both leaves.

The analytic Hessian is the tree of trees ``jax.hessian`` returns (``hess[p][q]`` of shape
``x[p].shape + x[q].shape``), or a callable ``hvp(v)`` taking and returning x's structure. numgrad's
Hessian (or, with `grad`, its Jacobian of grad) is taken over the joined vector
(:mod:`numgrad.differences.joined`); float32 leaves are differenced in float64 when f computes in
float64, as for one array. The report's ``worst_leaf`` is the pair of key paths, ``"['W']['b']"`` for
``hess['W']['b']``, and ``worst_index`` the row index in ``x['W']`` then the column index in ``x['b']``;
``leaves`` holds one summary per block.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.checking.core import point
from numgrad.checking.hessian_fast import grad_leaves, value_dtypes
from numgrad.checking.hessian_report import Judged, judge, report
from numgrad.checking.measure import promotable
from numgrad.checking.report import GradientReport, LeafSummary, index_of, ratio_to_tolerance
from numgrad.common import numerics as nm
from numgrad.common.guard import unchanged_tree
from numgrad.common.trees import Flat, match
from numgrad.differences.estimate import Estimate, estimate_jacobian, hessian_estimate
from numgrad.differences.joined import joined, joined_dtype, matched_square, tree_index, tree_name

__all__ = ["check_tree", "numerical"]

FUNC = "check_hessian"


def check_tree(
    f: Callable[..., Any],
    grad: Callable[..., Any] | None,
    x: Any,
    hess: Any,
    rtol: float | None,
    atol: float | None,
    start: float,
) -> GradientReport:
    flat = point(x, FUNC)
    with unchanged_tree(FUNC, flat.leaves, flat.paths, who="hess" if callable(hess) else "f"):
        analytic, analytic_dtype = _analytic(hess, flat)
    est, working, nfev = numerical(f, grad, flat, analytic)
    dtype = joined_dtype(flat)
    judged = judge(analytic, est, x_dtype=dtype, analytic_dtype=analytic_dtype, working=working,
                   gradgrad=grad is not None, rtol=rtol, atol=atol)  # fmt: skip
    vector = np.empty(analytic.shape[0], dtype=dtype)  # the joined coordinates: the report's index space
    base = report(judged, est, vector, working, nfev, time.perf_counter() - start)
    return _named(base, flat, judged)


def _analytic(hess: Any, flat: Flat) -> tuple[NDArray[Any], Any]:
    """The analytic Hessian as an (N, N) matrix over the joined coordinates, and its coarsest dtype."""
    if not callable(hess):
        matrix, coarsest = matched_square(flat, hess, FUNC, "hess")
        return matrix.astype(np.float64) if matrix.dtype.kind != "f" else matrix, coarsest
    n, dtypes = flat.offsets[-1], [leaf.dtype for leaf in flat.leaves]
    columns, kinds = [], set[np.dtype[Any]]()
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1
        out = hess(flat.unflatten(flat.split(e, dtypes)))
        leaves = match(flat, out, FUNC, "hess(v)")
        kinds.update(leaf.dtype for leaf in leaves)
        columns.append(flat.concatenate(leaves))
    coarsest = max(kinds, key=lambda d: float(np.finfo(d).eps))
    return np.stack(columns, axis=1), coarsest


def numerical(
    f: Callable[..., Any], grad: Callable[..., Any] | None, flat: Flat, analytic: NDArray[Any]
) -> tuple[Estimate, str, int]:
    """numgrad's Hessian over the joined coordinates (of f, or the Jacobian of grad), where it was
    differenced, and nfev: in float64 when every leaf is narrower and f (or grad) computes in float64.
    One array x takes this path too with `grad` (grad is differenced on copies of x)."""
    nfev = 0
    if all(promotable(leaf, "central") for leaf in flat.leaves):
        kinds = value_dtypes(f, grad, flat, [leaf.astype(np.float64) for leaf in flat.leaves])
        nfev += 1
        if all(k == np.float64 for k in kinds):
            est = _estimate(f, grad, flat, np.float64)
            if np.any(est.derivative) or not np.any(analytic):
                return est, "float64", nfev + est.nfev
            # nothing moved when float64 copies moved: f reads x from a closure. Difference in place.
    est = _estimate(f, grad, flat, None)
    return est, est.working_dtype or str(joined_dtype(flat)), nfev + est.nfev  # float32 where f casts


def _estimate(f: Callable[..., Any], grad: Callable[..., Any] | None, flat: Flat, dtype: Any) -> Estimate:
    if grad is None:
        with joined(FUNC, f, flat, dtype=dtype) as p:
            return hessian_estimate(p, None, tree_name(flat))
    return _jacobian_of_grad(grad, flat, dtype)


def _jacobian_of_grad(grad: Callable[..., Any], flat: Flat, dtype: Any) -> Estimate:
    """numgrad's Jacobian of grad over the joined vector, each value checked as fast mode checks it. The
    engine shrinks steps whose points give non-finite values; where it gives up (or grad is not finite at
    x itself), the error names grad, the element of grad(x) and the point."""
    vector = flat.concatenate(flat.leaves, dtype or joined_dtype(flat))
    kinds = None if dtype is not None else [leaf.dtype for leaf in flat.leaves]
    x0 = vector.copy()
    bad: list[tuple[NDArray[Any], NDArray[Any]]] = []  # the last point where grad was not finite, and grad

    def joined_grad(v: NDArray[Any]) -> NDArray[Any]:
        leaves = grad_leaves(grad, flat, flat.split(v, kinds))
        out = flat.concatenate(leaves, np.result_type(*leaves))
        if not np.all(np.isfinite(out)):
            if np.array_equal(v, x0):  # no step can avoid x itself
                raise FloatingPointError(_not_finite(flat, x0, v, out))
            bad[:] = [(np.array(v), out)]
        return out

    try:
        return _unit_retry(joined_grad, vector, estimate_jacobian(joined_grad, vector))
    except FloatingPointError as exc:
        if not bad or str(exc).startswith(f"{FUNC}:"):  # nothing to add, or ours (grad at x itself)
            raise
        raise FloatingPointError(_not_finite(flat, x0, *bad[0])) from exc


def _unit_retry(g: Callable[[NDArray[Any]], NDArray[Any]], x0: NDArray[Any], est: Estimate) -> Estimate:
    """The Jacobian of g with its flagged columns of coordinates far from 0 (or within (0, 1)) taken again
    at the unit scale (:func:`~numgrad.common.numerics.relative_steps`), as numerical_gradient retries its
    elements: at x = 1e8 the step 6e2 spans a hundred of cos's periods, and the exact Hessian of
    sin(x0)·sin(x1) was called WRONG. A column replaces the first where the retry is reliable there."""
    x = np.ravel(x0).astype(np.float64)
    cols = np.flatnonzero(np.asarray(est.unreliable).reshape(-1, x.size).any(axis=0) & nm.below_unit(x))
    if cols.size == 0:
        return est
    work = est.working_dtype or str(x0.dtype)

    calls = [0]

    def on_cols(v: NDArray[Any]) -> NDArray[Any]:
        point = x0.copy()
        point[cols] = v
        calls[0] += 1
        return g(point)

    try:
        again = estimate_jacobian(on_cols, x0[cols], h=nm.relative_steps(x[cols], "central", work))
    except FloatingPointError:  # the retry left grad's domain: the first columns stand, flagged
        return replace(est, nfev=est.nfev + calls[0])
    settled = ~np.asarray(again.unreliable).reshape(-1, cols.size).any(axis=0)
    taken = cols[settled]
    fields: dict[str, Any] = {}
    for name in ("derivative", "error", "unreliable"):
        whole = np.array(getattr(est, name)).reshape(-1, x.size)
        whole[:, taken] = np.asarray(getattr(again, name)).reshape(-1, cols.size)[:, settled]
        fields[name] = whole.reshape(np.shape(getattr(est, name)))
    step = np.array(est.step).reshape(-1)
    step[taken] = np.asarray(again.step).reshape(-1)[settled]
    return replace(est, **fields, step=step.reshape(np.shape(est.step)), nfev=est.nfev + calls[0])


def _not_finite(flat: Flat, x0: NDArray[Any], at: NDArray[Any], value: NDArray[Any]) -> str:
    name = tree_name(flat)
    i = int(np.flatnonzero(~np.isfinite(value))[0])
    where = f"grad(x){name(i)[1:]}"
    moved = np.flatnonzero(at != x0)
    if moved.size == 0:
        return (
            f"{FUNC}: grad returned a non-finite value ({value[i]}) at x itself, in {where}; the second "
            f"derivative there is undefined"
        )
    j = int(moved[0])
    return (
        f"{FUNC}: grad returned a non-finite value ({value[i]}) near x, in {where} at a step of "
        f"{float(at[j] - x0[j]):.1e} along {name(j)}, and the steps shrunk toward x did not avoid it: "
        f"the second derivative there is undefined. Check grad's domain near x"
    )


def _named(base: GradientReport, flat: Flat, j: Judged) -> GradientReport:
    """The joined-vector report with the worst entry, the message and the per-block summaries named by
    the leaves' key paths."""
    n, m = j.analytic.shape[0], len(flat.leaves)
    worst = int(np.argmax(ratio_to_tolerance(j.err, j.tol, np.zeros(j.err.shape, dtype=bool))))
    (row_path, row), (col_path, col) = tree_index(flat, worst // n), tree_index(flat, worst % n)
    pair = row_path + col_path
    if base.passed:
        text = base.message
    else:
        asymmetric = not np.allclose(j.analytic, j.analytic.T, rtol=1e-12, atol=0.0)
        note = (
            f"; the analytic Hessian is not symmetric (a true Hessian is): compare hess{pair}"
            f"{list(row + col)} with hess{col_path + row_path}{list(col + row)}"
            if asymmetric
            else ""
        )
        text = (
            f"Hessian WRONG at {base.failures} of {j.err.size} entries; worst at hess{pair}"
            f"{list(row + col)} (d²f / dx{row_path}{list(row)} dx{col_path}{list(col)}){note}"
        )
    return replace(
        base,
        dtype="/".join(dict.fromkeys(str(leaf.dtype) for leaf in flat.leaves)),
        worst_leaf=pair,
        worst_index=row + col,
        message=text,
        leaves=tuple(_block(flat, j, a, b, base.working_dtype) for a, b in np.ndindex(m, m)),
    )


def _block(flat: Flat, j: Judged, a: int, b: int, working: str) -> LeafSummary:
    o = flat.offsets
    rows, cols = slice(o[a], o[a + 1]), slice(o[b], o[b + 1])
    err, tol = j.err[rows, cols].reshape(-1), j.tol[rows, cols].reshape(-1)
    worst = int(np.argmax(ratio_to_tolerance(err, tol, np.zeros(err.shape, dtype=bool))))
    shape = tuple(np.shape(flat.leaves[a])) + tuple(np.shape(flat.leaves[b]))
    return LeafSummary(
        path=flat.paths[a] + flat.paths[b],
        shape=shape,
        dtype=str(np.result_type(flat.leaves[a].dtype, flat.leaves[b].dtype)),
        working_dtype=working,
        checks=int(err.size),
        failures=int((~(err <= tol)).sum()),
        kinks=0,
        max_abs_error=float(np.max(err, initial=0.0)),
        worst_index=index_of(worst, shape),
        analytic=float(j.analytic[rows, cols].reshape(-1)[worst]),
        numerical=float(j.numerical[rows, cols].reshape(-1)[worst]),
        tolerance=float(tol[worst]),
    )

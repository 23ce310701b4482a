"""Fast mode of check_hessian: the bilinear form ``uᵀHw`` along a few seeded random direction pairs.

A full check costs ``2·(n² + n) + 10`` evaluations; this one a fixed ``8·HESSIAN_FAST_PAIRS`` (24) whatever
n: for each pair (u, w), the mixed second difference

    uᵀHw ≈ (f(x+su+sw) − f(x+su−sw) − f(x−su+sw) + f(x−su−sw)) / (4s²)

at the steps s and 2s, whose Richardson value and change give the error estimate the tolerance comes from.
With `grad` (the gradgradcheck case) it is ``uᵀ(grad(x+tw) − grad(x−tw)) / (2t)`` at t and 2t: four calls
of grad per pair. u ≠ w, so a Hessian wrong only in its antisymmetric part is caught too. The analytic side
needs only ``H·w`` (an hvp is called once per pair). The scale a pair is judged against is ``‖u‖·‖H·w‖``,
which bounds ``|uᵀHw|``. Where f (or grad) returns float32 values for a float64 x (it casts its argument),
the first value says so: the steps, points and rounding then follow float32, one evaluation more.
Every value of grad, in either mode, is checked by :func:`grad_leaves`.

The directions move x_i by up to ``max(1, |x_i|)`` per unit step. Where a pair's mixed difference is a
sizable share of f (the step is not small against f's length scale: sin at x = 1e8), the pairs are taken
again with the moves at the unit scale (and at least a few of x's spacings, which far out are larger),
rounded to whole multiples of x's spacing so that the corners are exact; a pair whose two steps still
disagree there has no error estimate and is judged by the floor alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.checking.measure import promotable
from numgrad.checking.report import GradientReport, ratio_to_tolerance
from numgrad.common import numerics as nm
from numgrad.common.guard import unchanged_tree
from numgrad.common.trees import Flat, match
from numgrad.differences.engine import (
    Problem,
    coarser_than,
    coarser_values,
    evaluate_points,
    evaluate_points_typed,
    float32_numbers,
    make_problem,
    on_grid,
)
from numgrad.differences.joined import joined, joined_dtype

__all__ = ["fast_hessian", "grad_leaves", "value_dtypes"]

FUNC = "check_hessian"


@dataclass(frozen=True)
class Pairs:
    """The numerical side along the pairs: values, error estimates, the step, nfev, the dtype used."""

    value: NDArray[np.float64]
    error: NDArray[np.float64]
    step: float
    nfev: int
    working: str
    bent: NDArray[np.bool_] | None = None  # pairs whose step is not small against f's length scale
    coarse: NDArray[np.bool_] | None = None  # ... and whose two steps disagree: no error estimate


def grad_leaves(grad: Callable[..., Any], flat: Flat, parts: list[NDArray[Any]]) -> list[NDArray[Any]]:
    """grad at the point whose leaves are `parts` (fresh arrays), checked as both modes check it: grad
    only reads its argument (else a MutatedArgumentError), and returns x's structure and leaf shapes in
    real numbers (else a ValueError or TypeError naming ``grad(x)`` and the path). Its leaves, floating."""
    with unchanged_tree(FUNC, parts, flat.paths, who="grad"):
        out = grad(flat.unflatten(parts))
    return match(flat, out, FUNC, "grad(x)")


def value_dtypes(
    f: Callable[..., Any], grad: Callable[..., Any] | None, flat: Flat, parts: list[NDArray[Any]]
) -> list[np.dtype[Any]]:
    """The dtypes f's value (or grad's leaves) come in at the point whose leaves are `parts`: one call."""
    if grad is None:
        return [np.asarray(f(flat.unflatten(parts))).dtype]
    return [leaf.dtype for leaf in grad_leaves(grad, flat, parts)]


def directions(
    n: int, x0: NDArray[np.float64], rng: np.random.Generator
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Gaussian u and w, scaled so that no x_i moves by more than ``max(1, |x_i|)`` per unit step."""
    v = rng.standard_normal((2, nm.HESSIAN_FAST_PAIRS, n))
    v = v * np.maximum(1.0, np.abs(x0)) / np.max(np.abs(v), axis=2, keepdims=True)
    return v[0], v[1]


SIGNS = ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1))  # (along u, along w, weight)


def _power_of_two(h: float) -> float:
    return float(np.exp2(np.round(np.log2(h))))


def _corners(p: Problem, x0: NDArray[np.float64], u: NDArray[Any], w: NDArray[Any], s: float) -> NDArray[Any]:
    """The 8 points of each pair, ``x ± c·u ± c·w`` for c = s, 2s, as f sees them: (8·k, n)."""
    rows = np.stack([x0 + c * (a * u + b * w) for c in (s, 2 * s) for a, b, _ in SIGNS])  # (8, k, n)
    return on_grid(p, rows.reshape(-1, p.n).astype(p.x.dtype))


def _of_f(p: Problem, u: NDArray[Any], w: NDArray[Any]) -> Pairs:
    """The mixed differences at s and 2s. f's value at the first point says which precision its values
    carry: where it is coarser than x (f casts a float64 x to float32), the step and points follow it,
    and the points are taken again (that first value is spent); else the other points follow it, and
    where they are all float32 numbers (f returns float32's values as float64) they are spent."""
    x0 = np.ravel(p.x).astype(np.float64)
    s = _power_of_two(nm.hessian_base_step(p.x.dtype))
    rows = _corners(p, x0, u, w, s)
    head, dtype = evaluate_points_typed(p, rows[:1])
    grid, spent = coarser_values(p, dtype), 1
    if grid is None:
        raw = np.concatenate([head, evaluate_points(p, rows[1:])])
        grid, spent = coarser_values(p, dtype, raw), len(raw)  # f's float64 values float32 numbers?
    if grid is None:
        spent = 0
    else:
        p = replace(p, grid=grid)
        s = _power_of_two(nm.hessian_base_step(p.work_dtype))
        raw = evaluate_points(p, _corners(p, x0, u, w, s))
    vals = np.real(raw).astype(np.float64)
    if not np.all(np.isfinite(vals)):
        raise FloatingPointError(
            f"{FUNC}: f returned a non-finite value at x ± s·u ± s·w (fast mode, s = {s:.1e}): f's domain "
            f"ends near x. Use mode='full', whose steps shrink where f is undefined"
        )
    v = vals.reshape(2, 4, -1)
    weights = np.array([wt for *_, wt in SIGNS], dtype=np.float64)
    small, large = (np.tensordot(weights, v[i], axes=1) / (4 * c * c) for i, c in enumerate((s, 2 * s)))
    rounding = (nm.ESTIMATE_ROUNDING_ULPS * nm.eps(p.work_dtype) * np.max(np.abs(v), axis=(0, 1)) / (s * s)
                * nm.HESSIAN_EXTRAPOLATION_ROUNDING)  # fmt: skip
    value, truncation = (4 * small - large) / 3, np.abs(small - large) / 3
    # as second._bends and _coarse: a mixed difference a sizable share of f; and a pair that disagrees
    bent = 4 * s * s * np.abs(small) > nm.HESSIAN_COARSE_BEND * np.max(np.abs(v), axis=(0, 1))
    coarse = bent & (np.abs(small - large) > nm.UNRELIABLE_FRACTION * np.abs(value))
    return Pairs(value, nm.ESTIMATE_TRUNCATION_SAFETY * truncation + rounding, s, len(vals) + spent,
                 str(p.work_dtype), bent, coarse)  # fmt: skip


def _of_grad(
    g: Callable[[NDArray[Any]], tuple[NDArray[Any], np.dtype[Any]]],
    x: NDArray[Any],
    u: NDArray[Any],
    w: NDArray[Any],
) -> Pairs:
    """The differences of grad at t and 2t. `g(point)`: grad there (flat, float64) and the coarsest dtype
    it came in. Where its first value is coarser than x (grad casts a float64 x to float32, or returns
    float32 numbers as float64), the step and points follow that precision and the first point is taken
    again (that call is spent)."""
    x0 = np.ravel(x).astype(np.float64)
    work, t = x.dtype, _power_of_two(nm.base_step("central", x.dtype))
    head, dtype = g((x0 + t * w[0]).astype(x.dtype))
    spent = 0
    grid = coarser_than(dtype, x.dtype) or float32_numbers(head, x.dtype)
    if grid is not None:
        work, t, spent = grid, _power_of_two(nm.base_step("central", grid)), 1
        head, _ = g((x0 + t * w[0]).astype(grid).astype(x.dtype))

    def at(point: NDArray[np.float64]) -> NDArray[Any]:
        return g(point.astype(work).astype(x.dtype) if work != x.dtype else point.astype(x.dtype))[0]

    quotients, size, first = [], np.zeros(len(u)), np.zeros(len(u))
    for c in (t, 2 * t):
        plus = np.stack([head if c == t and k == 0 else at(x0 + c * wk) for k, wk in enumerate(w)])
        minus = np.stack([at(x0 - c * wk) for wk in w])
        if not (np.all(np.isfinite(plus)) and np.all(np.isfinite(minus))):
            raise FloatingPointError(f"{FUNC}: grad returned a non-finite value at x ± t·w (fast mode)")
        quotients.append(np.einsum("kn,kn->k", u, plus - minus) / (2 * c))
        size = np.maximum(size, np.einsum("kn,kn->k", np.abs(u), np.abs(plus) + np.abs(minus)))
        first = size if c == t else first
    small, large = quotients
    rounding = nm.ESTIMATE_ROUNDING_ULPS * nm.eps(work) * size / t
    value, truncation = (4 * small - large) / 3, np.abs(small - large) / 3
    # as _of_f's: grad changing by a sizable share across x ± t·w; and a pair that disagrees
    bent = 2 * t * np.abs(small) > nm.GRADIENT_COARSE_BEND * first
    coarse = bent & (np.abs(small - large) > nm.UNRELIABLE_FRACTION * np.abs(value))
    return Pairs(value, nm.ESTIMATE_TRUNCATION_SAFETY * truncation + rounding, t, 4 * len(u) + spent,
                 str(work), bent, coarse)  # fmt: skip


def _numerical(
    f: Callable[..., Any],
    grad: Callable[..., Any] | None,
    flat: Flat,
    u: NDArray[Any],
    w: NDArray[Any],
    analytic: NDArray[np.float64],
) -> Pairs:
    """In float64 when every leaf is narrower and f (or grad) computes in float64 (probe: one call),
    else in place on the caller's leaves (the closure idiom)."""
    extra = 0
    if all(promotable(leaf, "central") for leaf in flat.leaves):
        kinds = value_dtypes(f, grad, flat, [leaf.astype(np.float64) for leaf in flat.leaves])
        extra = 1
        if all(k == np.float64 for k in kinds):
            pairs = _pairs(f, grad, flat, u, w, np.dtype(np.float64))
            if np.any(pairs.value) or not np.any(analytic):
                return _spent(pairs, extra, "float64")
    return _spent(_pairs(f, grad, flat, u, w, None), extra, None)


def _spent(p: Pairs, extra: int, working: str | None) -> Pairs:
    return replace(p, nfev=p.nfev + extra, working=working or p.working)


def _pairs(
    f: Callable[..., Any], grad: Callable[..., Any] | None, flat: Flat, u: Any, w: Any, dtype: Any
) -> Pairs:
    vdtype = dtype or joined_dtype(flat)
    if grad is not None:
        vector = flat.concatenate(flat.leaves, vdtype)

        def g(v: NDArray[Any]) -> tuple[NDArray[Any], np.dtype[Any]]:
            leaves = grad_leaves(grad, flat, flat.split(v))
            return flat.concatenate(leaves), max((leaf.dtype for leaf in leaves), key=nm.eps)

        return _of_grad(g, vector, u, w)
    if flat.single:
        x = flat.leaves[0]
        target = x.astype(vdtype) if vdtype != x.dtype else x
        p = make_problem(FUNC, f, target, out_shape=None, method="central", batched=False, chunk_size=None,
                         executor=None)  # fmt: skip
        return _of_f(p, u, w)
    with joined(FUNC, f, flat, dtype=dtype) as p:
        return _of_f(p, u, w)


def fast_hessian(
    f: Callable[..., Any],
    grad: Callable[..., Any] | None,
    flat: Flat,
    times_w: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    analytic_dtype: Callable[[], Any],
    rng: np.random.Generator,
    rtol: float | None,
    atol: float | None,
    seconds: Callable[[], float],
) -> GradientReport:
    """The fast check. `times_w(w)`: the analytic ``H·w`` over the joined coordinates (flat, float64);
    `analytic_dtype()`: the coarsest dtype it came in (known once it has been called)."""
    x0 = flat.concatenate(flat.leaves)
    u, w = directions(x0.size, x0, rng)
    hw = np.stack([times_w(wk) for wk in w])
    analytic = np.einsum("kn,kn->k", u, hw)
    pairs = _numerical(f, grad, flat, u, w, analytic)
    length = np.maximum(1.0, np.abs(x0))
    if pairs.bent is not None and pairs.bent.any() and np.any(length >= nm.UNIT_RETRY):
        # f varies on a scale shorter than max(1, |x_i|) (sin at x = 1e8): the same pairs at the unit
        # scale, every x_i moving by at most 1 per unit step; H·w again for the new w
        u, w = (_exact(x0, v / length, pairs.step, pairs.working) for v in (u, w))
        hw = np.stack([times_w(wk) for wk in w])
        analytic = np.einsum("kn,kn->k", u, hw)
        first, pairs = pairs, _numerical(f, grad, flat, u, w, analytic)
        pairs = replace(pairs, nfev=pairs.nfev + first.nfev)
    if pairs.coarse is not None:  # still coarse: no estimate, the floor alone judges the pair
        pairs = replace(pairs, error=np.where(pairs.coarse, 0.0, pairs.error))
    x_dtype = joined_dtype(flat)
    coarser = analytic_dtype() if nm.eps(analytic_dtype()) > nm.eps(x_dtype) else x_dtype
    accuracy = (
        nm.accuracy("central", pairs.working) if grad is not None else nm.hessian_accuracy(pairs.working)
    )
    floor = max(accuracy, nm.analytic_floor(coarser))
    scale = np.linalg.norm(u, axis=1) * np.linalg.norm(hw, axis=1)
    explicit = rtol is not None or atol is not None
    if explicit:
        tol = (atol or 0.0) + (rtol or 0.0) * np.abs(pairs.value)
    else:
        tol = np.maximum(nm.ESTIMATE_SAFETY * pairs.error, floor * scale)
    err = np.abs(analytic - pairs.value)
    err = np.where(np.isnan(err), np.inf, err)
    return _report(
        analytic, pairs, err, np.asarray(tol), scale, flat, seconds(), explicit, floor, grad is not None
    )


def _exact(x0: NDArray[np.float64], v: NDArray[Any], s: float, dtype: str) -> NDArray[Any]:
    """Unit-scale directions (rows of `v`, no x_i moving by more than 1 per unit step) for steps c = s, 2s:
    every component moves by half to all of the largest move (random signs and sizes, none lost: at
    x = 1e12 a unit move of a small component rounded to none, and a Hessian wrong in that entry passed),
    the largest at least 2·FAST_LEAST_SPACINGS spacings of the coarsest x_i (beyond 1e12 the unit step is
    below x's spacing), and every move a whole multiple of x_i's spacing in `dtype`, so that each corner
    x ± c·u ± c·w is the point the difference assumes (at x = 1e8 a unit-scale move of 1e-4 is only 7e3
    ulps, and rounding the corners would cost a relative 1e-4 of the result)."""
    size = np.abs(v) / np.max(np.abs(v), axis=-1, keepdims=True)
    far, largest = np.maximum(1.0, np.abs(x0)), 0.0
    for _ in range(2):  # x_i's spacing, then the spacing where its farthest corner (4 moves out) lies
        q = np.spacing((far + 4 * largest).astype(dtype)).astype(np.float64)
        largest = max(s * float(np.max(np.abs(v))), 2 * nm.FAST_LEAST_SPACINGS * float(np.max(q)))
    moves = np.round(largest * np.clip(size, 0.5, 1.0) / q) * q
    return np.asarray(np.where(v < 0, -1.0, 1.0) * moves / s)


def _report(
    analytic: NDArray[np.float64],
    pairs: Pairs,
    err: NDArray[np.float64],
    tol: NDArray[np.float64],
    scale: NDArray[np.float64],
    flat: Flat,
    seconds: float,
    explicit: bool,
    floor: float,
    gradgrad: bool,
) -> GradientReport:
    k = len(analytic)
    kinks = np.zeros(k, dtype=bool)
    worst = int(np.argmax(ratio_to_tolerance(err, tol, kinks)))
    beyond = ~(err <= tol)
    how = "differences of grad at t and 2t" if gradgrad else "second differences at s and 2s"
    if explicit:
        source = "atol + rtol·|numerical| (given)"
    elif nm.ESTIMATE_SAFETY * pairs.error[worst] >= floor * scale[worst]:
        source = f"{nm.ESTIMATE_SAFETY:g} × the error estimate from {how} along the pair"
    else:
        source = f"floor {floor:.1e} × ‖u‖·‖H·w‖ ({how} in {pairs.working})"
    passed = not beyond.any()
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(scale > 0, err / scale, np.where(err > 0, np.inf, 0.0))
    text = (
        f"Hessian ok along {k} random direction pairs (uᵀHw)"
        if passed
        else f"Hessian WRONG along {int(beyond.sum())} of {k} random direction pairs (uᵀHw), worst pair "
        f"{worst}; run mode='full' to locate the entry"
    )
    return GradientReport(
        passed=passed,
        mode="fast",
        method="gradient differences" if gradgrad else "central second differences",
        dtype="/".join(dict.fromkeys(str(leaf.dtype) for leaf in flat.leaves)),
        working_dtype=pairs.working,
        max_abs_error=float(err.max(initial=0.0)),
        max_rel_error=float(rel.max(initial=0.0)),
        worst_index=(worst,),
        analytic=float(analytic[worst]),
        numerical=float(pairs.value[worst]),
        tolerance=float(tol[worst]),
        tolerance_source=source,
        step=pairs.step,
        nfev=pairs.nfev,
        seconds=seconds,
        failures=int(beyond.sum()),
        message=text,
        analytic_values=analytic,
        numerical_values=pairs.value,
        abs_errors=err,
        tolerances=tol,
        steps=np.full(k, pairs.step),
        kinks=kinks,
    )

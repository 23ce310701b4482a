"""Hessian-vector products by finite differences, of one array x or a pytree: no Hessian is formed.

With the gradient: ``(grad(x + t·v) − grad(x − t·v)) / (2t)``, two calls of grad. Without: the mixed second
differences ``(f(x+tv+h_i e_i) − f(x+tv−h_i e_i) − f(x−tv+h_i e_i) + f(x−tv−h_i e_i)) / (4·t·h_i)``, 4n
evaluations of f. A pytree x (with v, and grad's result, in its structure) is differenced as its leaves
joined into one vector (:mod:`numgrad.differences.joined`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad.common import numerics as nm
from numgrad.common.guard import NumericalWarning, unchanged
from numgrad.common.trees import Flat, is_tree, match
from numgrad.common.validate import callable_arg, real_floating_array
from numgrad.differences import sanity
from numgrad.differences.engine import (
    Problem,
    coarser_than,
    coarser_values,
    confirmed_float32,
    evaluate_points,
    evaluate_points_typed,
    float32_numbers,
    make_problem,
    on_grid,
)
from numgrad.differences.joined import joined, joined_dtype, tree_argument, tree_name
from numgrad.differences.second import block_rows, blocks

__all__ = ["hessian_vector_product"]

FUNC = "hessian_vector_product"


def hessian_vector_product(
    f: Callable[..., Any],
    x: ArrayLike,
    v: ArrayLike,
    *,
    grad: Callable[..., Any] | None = None,
    h: float | None = None,
    batched: bool = False,
) -> NDArray[np.floating[Any]]:
    """The Hessian of scalar `f` at `x` times `v`, without forming the Hessian.

    With `grad` (``grad(x) -> array of x's shape``): ``(grad(x + t·v) − grad(x − t·v)) / (2t)``, two
    calls of `grad` and none of `f`. Without: the mixed second differences
    ``(f(x+tv+h_i e_i) − f(x+tv−h_i e_i) − f(x−tv+h_i e_i) + f(x−tv−h_i e_i)) / (4·t·h_i)``, 4n
    evaluations of f. Where f (or `grad`) returns float32 values for a float64 x, the first value says
    so and the steps and points follow float32: one evaluation more (a batched f: its first stack).

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar`` (batched: ``f(stack) -> (k,)``); not called when `grad` is given.
    x, v : array_like of the same shape, float32 or float64; or pytrees of the same structure
        A pytree x (nested dict / list / tuple of float arrays) takes v of its structure and shapes.
    grad : callable, optional
        The gradient of f, called point by point (for a pytree x: returning x's structure).
    h : float, optional
        Step along v, in units of ``max(1, max|x|) / max|v|``, rounded to a power of two (default:
        cbrt(eps) with `grad`, eps**(1/4) without).
    batched : bool
        `f` takes a stack of points (ignored with `grad`; a single array x only).

    Returns
    -------
    ndarray of x's shape and dtype (a pytree x: x's structure)

    Examples
    --------
    >>> f = lambda x: x[0] ** 2 * x[1]
    >>> hessian_vector_product(f, np.array([1.0, 2.0]), np.array([1.0, 0.0])).round(6)
    array([4., 2.])
    >>> g = lambda x: np.array([2 * x[0] * x[1], x[0] ** 2])
    >>> hessian_vector_product(f, np.array([1.0, 2.0]), np.array([1.0, 0.0]), grad=g).round(6)
    array([4., 2.])
    """
    if grad is not None:
        callable_arg(grad, FUNC, "grad")
    if h is not None and (isinstance(h, bool) or not isinstance(h, int | float) or not 0 < h < np.inf):
        raise ValueError(f"{FUNC}: h must be a positive finite number or None; got {h!r}")
    if is_tree(x):
        return _tree(f, x, v, grad, h, batched)  # type: ignore[no-any-return]
    xa = real_floating_array(x, FUNC, "x")
    va = real_floating_array(v, FUNC, "v")
    if va.shape != xa.shape:
        raise ValueError(f"{FUNC}: v must have x's shape {xa.shape}; got {va.shape}")
    _nonzero(va.reshape(-1), "v")
    if h is not None:  # a given step that moves no coordinate along v: the product would be 0
        base, unit, _ = _direction(xa, va)
        sanity.step_moves_along(FUNC, base, unit, _power_of_two(h), xa.dtype, h)
    with unchanged(FUNC, xa), unchanged(FUNC, va, arg="v"):  # f and grad may write into them from a closure
        if grad is not None:
            at = lambda point: _gradient_at(grad, point.reshape(xa.shape), xa.shape, "")  # noqa: E731
            out = _with_grad(at, xa, va, h)
        else:
            p = make_problem(FUNC, f, np.array(xa), out_shape=None, method="central", batched=batched,
                             chunk_size=None, executor=None)  # fmt: skip
            out = _with_values(p, va.reshape(-1), h, lambda i: f"x{list(p.index(i))}")
    return out.reshape(xa.shape).astype(xa.dtype)


def _nonzero(v: NDArray[Any], arg: str) -> None:
    if not np.all(np.isfinite(v)) or not np.any(v):
        raise ValueError(f"{FUNC}: {arg} must be finite and non-zero; got {v[:4]}...")


def _direction(x: NDArray[Any], v: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """Flat x, the unit direction and its scale: t moves each x_i by at most t·max(1, max|x|), so the step
    rule for t matches the scale of x."""
    base = np.ravel(x).astype(np.float64)
    scale = float(np.max(np.abs(v))) / max(1.0, float(np.max(np.abs(base), initial=0.0)))
    return base, np.ravel(v).astype(np.float64) / scale, scale


def _power_of_two(h: float) -> float:
    return float(np.exp2(np.round(np.log2(h))))


Gradient = Callable[[NDArray[Any]], tuple[NDArray[np.float64], np.dtype[Any]]]


def _with_grad(grad_at: Gradient, x: NDArray[Any], v: NDArray[Any], h: float | None) -> NDArray[np.float64]:
    """`grad_at(point)`: grad there, flat float64, and the coarsest dtype it came in. Where the default
    step is taken and grad's first value is coarser than x (float32 for a float64 x), the step and the
    points follow that precision and the first point is taken again (one call spent)."""
    base, unit, scale = _direction(x, v)
    t = _power_of_two(h if h is not None else nm.base_step("central", x.dtype))
    g_plus, dtype = grad_at((base + t * unit).astype(x.dtype))
    grid = coarser_than(dtype, x.dtype) if h is None else None
    if h is None and grid is None and float32_numbers(g_plus, x.dtype) is not None:  # and at an irregular
        grid = float32_numbers(grad_at(nm.irregular_point(base, x.dtype))[0], x.dtype)  # point too
    if grid is not None:
        t = _power_of_two(nm.base_step("central", grid))
        g_plus, _ = grad_at((base + t * unit).astype(grid).astype(x.dtype))
    g_minus, _ = grad_at((base - t * unit).astype(x.dtype if grid is None else grid).astype(x.dtype))
    return np.asarray((g_plus - g_minus) / (2 * t) * scale)


SIGNS = ((1, 1), (1, -1), (-1, 1), (-1, -1))  # (along v, along e_i)


def _blocks(
    p: Problem, base: NDArray[np.float64], unit: NDArray[np.float64], t: float, s: NDArray[np.float64]
) -> Iterator[tuple[int, NDArray[np.intp], NDArray[Any]]]:
    """(weight, coordinates i, the points ``x ± t·v ± h_i·e_i``) in blocks, on f's grid."""
    for sign_t, sign_s in SIGNS:
        along = base + sign_t * t * unit
        for (i,) in blocks((np.arange(p.n),), block_rows(p)):
            rows = np.broadcast_to(along, (len(i), p.n)).copy()
            rows[np.arange(len(i)), i] += sign_s * s[i]
            yield sign_t * sign_s, i, on_grid(p, rows.astype(p.x.dtype))


def _with_values(
    p: Problem, v: NDArray[Any], h: float | None, name: Callable[[int], str]
) -> NDArray[np.float64]:
    """The mixed differences. f's value at the first point (element by element; a batched f: at its first
    block) says which precision its values carry: where it is coarser than x (f casts a float64 x to
    float32), the steps and points follow it and are taken again (that value is spent); so where the
    first block's values are float32 numbers (f returns them as float64: the block is spent)."""
    base, unit, scale = _direction(p.x, v)

    def steps(q: Problem) -> tuple[float, NDArray[np.float64]]:
        t = _power_of_two(h if h is not None else nm.hessian_base_step(q.work_dtype))
        return t, nm.hessian_steps(base, q.work_dtype)

    t, s = steps(p)
    points = _blocks(p, base, unit, t, s)
    first = next(points)
    head, dtype = evaluate_points_typed(p, first[2] if p.batched else first[2][:1])
    grid = coarser_values(p, dtype)
    if grid is None:  # float64 values: the rest of the first block, which may be float32 numbers
        head = _rest(p, first[2], head)
        grid, _ = confirmed_float32(p, np.ravel(p.x).astype(np.float64), dtype, head)
    if grid is None:
        points = iter([first, *points])
    else:
        p = replace(p, grid=grid)
        t, s = steps(p)
        points, head = _blocks(p, base, unit, t, s), head[:0]
    mixed = np.zeros(p.n)
    size = 0.0  # the largest |f| at the points: its rounding bounds what the differences resolve
    for weight, i, rows in points:
        vals = np.real(_rest(p, rows, head)).astype(np.float64)
        head = head[:0]
        size = max(size, float(np.max(np.abs(vals), initial=0.0)))
        bad = ~np.isfinite(vals)
        if bad.any():
            raise FloatingPointError(
                f"{FUNC}: f returned a non-finite value ({vals[bad][0]}) at x ± t·v ± h·e_j for "
                f"{name(int(i[bad][0]))} ({int(bad.sum())} of {vals.size} points); the product there "
                f"is undefined. Pass a smaller h, a shorter v, or check f's domain"
            )
        mixed[i] += weight * vals
    out = np.asarray(mixed / (4 * t * s) * scale)
    _warn_if_rounding(p, out, _value_unit(p, dtype, size) / (t * s) * scale, name)
    return out


def _value_unit(p: Problem, dtype: np.dtype[Any], size: float) -> float:
    """The rounding of one of f's values near x: its precision's (f's grid where coarser than x's) at the
    largest |f| seen, and 1 where f returns integers (its values move by whole units)."""
    unit = nm.eps(p.work_dtype) * size
    return max(unit, 1.0) if dtype.kind in "biu" else unit


def _warn_if_rounding(
    p: Problem, out: NDArray[np.float64], rounding: NDArray[np.float64], name: Callable[[int], str]
) -> None:
    """No product that f's own rounding swamps goes back without a word: where the rounding of the four
    values over ``t·h_i`` is above UNRELIABLE_FRACTION of the largest |(Hv)_i| (an integer-valued f, a
    float16 f, a given h far below the default)."""
    top = float(np.max(np.abs(out), initial=0.0))
    swamped = np.flatnonzero(~(rounding <= nm.UNRELIABLE_FRACTION * top))
    if swamped.size:
        warnings.warn(
            f"{FUNC}: {swamped.size} of {out.size} elements are unreliable by f's own rounding, first at "
            f"{name(int(swamped[0]))}: f's values resolve changes of {float(rounding[swamped[0]]):.3g} there "
            f"against |Hv| of at most {top:.3g}. f may return integers or a coarse dtype; pass grad=, or a "
            f"larger h",
            NumericalWarning,
            stacklevel=4,
        )


def _rest(p: Problem, rows: NDArray[Any], head: NDArray[Any]) -> NDArray[Any]:
    """f at the rows, the first ``len(head)`` of which were evaluated already (their values: head)."""
    if len(head) == len(rows):
        return head
    if not len(head):
        return evaluate_points(p, rows)
    return np.concatenate([head, evaluate_points(p, rows[len(head) :])])


def _gradient_at(
    grad: Callable[..., Any], point: Any, shape: tuple[int, ...], path: str
) -> tuple[NDArray[np.float64], np.dtype[Any]]:
    try:
        out = np.asarray(grad(point))
    except Exception as exc:
        exc.add_note(f"{FUNC}: raised by grad at x ± t·v")
        raise
    if out.dtype.kind not in "fiu":
        raise TypeError(f"{FUNC}: grad must return a real numeric array of x's shape; got {out.dtype}")
    if out.shape != shape:
        raise ValueError(f"{FUNC}: grad must return an array of x{path}'s shape {shape}; got {out.shape}")
    if not np.all(np.isfinite(out)):
        raise FloatingPointError(f"{FUNC}: grad returned a non-finite value at x ± t·v")
    return out.astype(np.float64).reshape(-1), out.dtype


def _tree(f: Any, x: Any, v: Any, grad: Any, h: float | None, batched: bool) -> Any:
    flat = tree_argument(x, FUNC)
    vector_v = flat.concatenate(match(flat, v, FUNC, "v"))
    _nonzero(vector_v, "v")
    dtypes = [leaf.dtype for leaf in flat.leaves]
    if grad is not None:
        vector_x = flat.concatenate(flat.leaves, joined_dtype(flat))

        def grad_at(point: NDArray[Any]) -> tuple[NDArray[np.float64], np.dtype[Any]]:
            out = grad(flat.unflatten(flat.split(point)))  # in the joined dtype, as f sees it
            return _tree_gradient(flat, out)

        return flat.unflatten(flat.split(_with_grad(grad_at, vector_x, vector_v, h), dtypes))
    with joined(FUNC, f, flat, batched=batched) as p:
        out = _with_values(p, vector_v, h, tree_name(flat))
    return flat.unflatten(flat.split(out, dtypes))


def _tree_gradient(flat: Flat, out: Any) -> tuple[NDArray[np.float64], np.dtype[Any]]:
    """grad's result as one float64 vector, and the coarsest dtype among its leaves."""
    try:
        leaves = match(flat, out, FUNC, "grad(x)")
    except (TypeError, ValueError) as exc:
        exc.add_note(f"{FUNC}: grad must return x's structure")
        raise
    vector = flat.concatenate(leaves)
    if not np.all(np.isfinite(vector)):
        raise FloatingPointError(f"{FUNC}: grad returned a non-finite value at x ± t·v")
    return vector, max((leaf.dtype for leaf in leaves), key=nm.eps)

"""Derivatives with their error: gradients, Jacobians and Hessians as one small frozen record.

Each estimate takes the engine's difference at its step h and again at h/2 (the Hessian: h and 2h). The
change between the two is the truncation error (Richardson), the amplified rounding of f is
``Σ|w|·r / h`` with r a few ulps of |f| or, where larger, f's noise measured on a line through x
(:mod:`numgrad.differences.noise`); each gets a safety factor (:mod:`numgrad.common.numerics`), so that
the reported error bounds the true one. An element whose error is a large share of its value, and is not
mere rounding, comes back flagged ``unreliable``: the step was too coarse for the length scale of f there.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad.common import numerics as nm
from numgrad.common.guard import unchanged, unchanged_tree
from numgrad.common.trees import Flat, WithLeaf, is_tree
from numgrad.common.validate import callable_arg, real_floating_array
from numgrad.differences.engine import Difference, Problem, evaluate_points, make_problem
from numgrad.differences.joined import joined, refuse_batched, square, tree_argument, tree_name, tree_step
from numgrad.differences.noise import measured_rounding, noise_level
from numgrad.differences.second import second_difference
from numgrad.differences.steps import difference

__all__ = ["Estimate", "estimate_gradient", "estimate_hessian", "estimate_jacobian"]


@dataclass(frozen=True, eq=False)
class Estimate:
    """A derivative with its error: the same fields whatever the function or options.

    For a pytree x every field has the structure of the derivative: the gradient's and the step's are x's
    structure, the Jacobian's leaves have shape ``f(x).shape + leaf.shape`` (as ``jax.jacrev``), the
    Hessian's is the tree of trees of ``jax.hessian`` (``H[p][q]`` of shape ``x[p].shape + x[q].shape``).

    Attributes
    ----------
    derivative : ndarray (or pytree of them)
        The gradient (x's shape), Jacobian (``f(x).shape + x.shape``) or Hessian (``x.shape * 2``).
    error : ndarray of derivative's shape (or pytree of derivative's structure)
        Estimated bound on ``|derivative − exact|`` per element: truncation from two steps plus rounding.
    step : ndarray of x's shape (or pytree of x's structure)
        The difference step of each coordinate of x (the Hessian: the smaller of its pair h, 2h).
    nfev : int
        Evaluations of f.
    unreliable : ndarray of bool, derivative's shape
        Where the estimate says the value cannot be trusted: the error is above
        ``UNRELIABLE_FRACTION`` of the value and is truncation, not rounding (the step is too coarse for
        f's length scale there), or a value is not finite. There ``error`` is only a lower bound.
    working_dtype : str or None
        The precision the differences resolve: x's dtype, or float32 where x is float64 but f's values
        are float32 (f casts its argument); None where leaves of a pytree differ, or for the JAX twin.
    """

    derivative: Any  # NDArray[np.float64], or a pytree of them
    error: Any
    step: Any
    nfev: int
    unreliable: Any  # NDArray[np.bool_], or a pytree of them
    working_dtype: str | None = None

    @property
    def reliable(self) -> bool:
        """No element flagged."""
        if isinstance(self.unreliable, np.ndarray):
            return not bool(self.unreliable.any())
        return not any(np.any(leaf) for leaf in _leaves(self.unreliable))


def _leaves(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in _leaves(v)]
    if isinstance(tree, list | tuple):
        return [leaf for v in tree for leaf in _leaves(v)]
    return [tree]


def estimate_gradient(
    f: Callable[..., Any],
    x: ArrayLike,
    *,
    h: float | ArrayLike | None = None,
    method: str = "central",
    batched: bool = False,
    chunk_size: int | None = None,
    executor: Executor | None = None,
) -> Estimate:
    """The gradient of scalar `f` at `x` with a per-element error estimate and reliability flags.

    Options as in :func:`numgrad.numerical_gradient`. Costs two passes (steps h and h/2) and nine
    evaluations that measure f's noise: about twice the evaluations of :func:`numgrad.numerical_gradient`.

    Returns
    -------
    Estimate
        ``derivative`` of x's shape; the first pass's value, without re-measuring short length scales
        (the second pass's step says where that was needed: those elements are flagged).

    Examples
    --------
    >>> e = estimate_gradient(lambda v: np.sum(v**3), np.array([1.0, 2.0]))
    >>> e.derivative.round(6), bool(e.error.max() < 1e-6), e.reliable
    (array([ 3., 12.]), True, True)
    >>> tiny = estimate_gradient(lambda v: np.sum(np.log1p((v / 1e-8) ** 2)), np.array([1e-8]))
    >>> tiny.unreliable
    array([ True])
    """
    if is_tree(x):
        return _per_leaf("estimate_gradient", f, x, h, batched, lambda fk, leaf: estimate_gradient(
            fk, leaf, h=h, method=method, chunk_size=chunk_size, executor=executor))  # fmt: skip
    p = make_problem(
        "estimate_gradient", f, x, out_shape=None, method=method, batched=batched,
        chunk_size=chunk_size, executor=executor,
    )  # fmt: skip
    with unchanged(p.func, p.x):  # f may write into the caller's x from a closure (batched too)
        return _first_order(p, h, ())


def estimate_jacobian(
    f: Callable[..., Any],
    x: ArrayLike,
    *,
    h: float | ArrayLike | None = None,
    method: str = "central",
    batched: bool = False,
    chunk_size: int | None = None,
    executor: Executor | None = None,
) -> Estimate:
    """The Jacobian of array-valued `f` at `x` (shape ``f(x).shape + x.shape``) with its error.

    Examples
    --------
    >>> e = estimate_jacobian(lambda v: np.array([v[0] * v[1], v[0]]), np.array([2.0, 3.0]))
    >>> e.derivative.round(6), e.reliable
    (array([[3., 2.],
           [1., 0.]]), True)
    """
    func = "estimate_jacobian"
    if is_tree(x):
        return _per_leaf(func, f, x, h, batched, lambda fk, leaf: estimate_jacobian(
            fk, leaf, h=h, method=method, chunk_size=chunk_size, executor=executor))  # fmt: skip
    callable_arg(f, func)
    xa = real_floating_array(x, func, "x")
    sample = np.asarray(f(xa[None] if batched else np.array(xa)))
    out_shape = tuple(sample.shape[1:] if batched else sample.shape)
    p = make_problem(
        func, f, x, out_shape=out_shape, method=method, batched=batched, chunk_size=chunk_size,
        executor=executor,
    )  # fmt: skip
    size = np.abs(np.real(sample[0] if batched else sample)).astype(np.float64)
    return _first_order(p, h, out_shape, size)


def estimate_hessian(
    f: Callable[..., Any],
    x: ArrayLike,
    *,
    h: float | ArrayLike | None = None,
    batched: bool = False,
    chunk_size: int | None = None,
    executor: Executor | None = None,
) -> Estimate:
    """The Hessian of scalar `f` at `x` (as :func:`numgrad.hessian`, the same evaluations) with its error.

    Examples
    --------
    >>> e = estimate_hessian(lambda v: v[0] ** 2 * v[1], np.array([1.0, 2.0]))
    >>> e.derivative.round(6), e.reliable
    (array([[4., 2.],
           [2., 0.]]), True)
    """
    func = "estimate_hessian"
    if is_tree(x):
        flat = tree_argument(x, func)
        tree_step(func, h)
        with joined(func, f, flat, batched=batched, chunk_size=chunk_size, executor=executor) as p:
            e = hessian_estimate(p, h, tree_name(flat))
        return Estimate(square(flat, e.derivative), square(flat, e.error), flat.unflatten(flat.split(e.step)),
                        e.nfev, square(flat, e.unreliable), e.working_dtype)  # fmt: skip
    p = make_problem(
        func, f, x, out_shape=None, method="central", batched=batched, chunk_size=chunk_size,
        executor=executor,
    )  # fmt: skip
    with unchanged(p.func, p.x):
        e = hessian_estimate(p, h)
    shape = p.x.shape * 2
    return Estimate(e.derivative.reshape(shape), e.error.reshape(shape), e.step.reshape(p.x.shape), e.nfev,
                    e.unreliable.reshape(shape), e.working_dtype)  # fmt: skip


def hessian_estimate(p: Problem, h: object, name: Callable[[int], str] | None = None) -> Estimate:
    """The Hessian of p's f with its error as flat arrays: (n, n) fields, step (n,)."""
    sigma, spent = noise_level(p)
    d = second_difference(p, h, float(sigma), name)
    working = p.x.dtype if d.grid is None else d.grid
    accuracy = nm.hessian_accuracy(working)
    flags = nm.unreliable(d.value, d.error, d.truncation, d.model_rounding, accuracy)
    return Estimate(d.value, d.error, d.h, d.nfev + spent, flags, str(working))


def _per_leaf(
    func: str, f: object, x: Any, h: object, batched: object, one: Callable[[Any, Any], Estimate]
) -> Estimate:
    """`one(f_k, leaf_k)` for each leaf of the pytree x, in place on the caller's leaf (as
    :func:`numgrad.numerical_gradient` does), joined into one record of x's structure."""
    fn = callable_arg(f, func)
    flat = tree_argument(x, func)
    refuse_batched(func, flat, batched)
    tree_step(func, h)
    parts = []
    with unchanged_tree(func, flat.leaves, flat.paths):
        for k, leaf in enumerate(flat.leaves):
            try:
                parts.append(one(WithLeaf(fn, flat, k), leaf))
            except Exception as exc:
                exc.add_note(f"{func}: while differencing the leaf x{flat.paths[k]}")
                raise
    return _joined_record(flat, parts)


def _joined_record(flat: Flat, parts: list[Estimate]) -> Estimate:
    def tree(field: str) -> Any:
        return flat.unflatten([getattr(e, field) for e in parts])

    working = {e.working_dtype for e in parts}
    return Estimate(tree("derivative"), tree("error"), tree("step"), sum(e.nfev for e in parts),
                    tree("unreliable"), working.pop() if len(working) == 1 else None)  # fmt: skip


def _first_order(
    p: Problem, h: object, out_shape: tuple[int, ...], f_at_x: NDArray[np.float64] | None = None
) -> Estimate:
    """Passes at h and h/2; derivative (n, *out) rearranged to ``out + x.shape``. `f_at_x`: |f(x)|
    when the caller has it (one evaluation, counted)."""
    first = difference(p, h, refine=False)
    if first.grid is not None:  # f's values are coarser than x (it casts to float32): steps and rounding
        p = replace(p, grid=first.grid)  # of the second pass and the noise line follow them
    if p.method == "complex":
        value = first.derivative
        err = nm.COMPLEX_ERROR_ULPS * nm.eps(p.x.dtype) * np.abs(value)
        nfev = first.nfev + (f_at_x is not None)
        return _record(p, first, value, err, np.zeros_like(err), err, nfev, out_shape)
    second = difference(p, (first.h / 2).reshape(p.x.shape), refine=False)
    stencil = nm.STENCILS[p.method]
    gain = 2.0**stencil.order
    truncation = np.abs(first.derivative - second.derivative) * gain / (gain - 1)
    f_size, extra = (f_at_x, 1) if f_at_x is not None else _f_size(p, first)
    h_col = first.h.reshape(p.n, *([1] * len(out_shape)))
    # the values differenced are about |f(x)| + |f'|·h in size; each rounds to a few ulps of that, or to
    # the measured noise of f where f is a small difference of large terms
    size = f_size + np.abs(first.derivative) * h_col
    sigma, spent = noise_level(p)
    model = nm.ESTIMATE_ROUNDING_ULPS * nm.eps(p.work_dtype) * size
    rounding = stencil.rounding_gain * measured_rounding(model, sigma) / h_col
    error = nm.ESTIMATE_TRUNCATION_SAFETY * truncation + rounding
    nfev = first.nfev + second.nfev + extra + spent
    # flags compare the truncation with the ulp model, not the measured noise: a length scale shorter
    # than the noise line's spacing also reads as noise, and must not hide the truncation it causes
    return _record(p, first, first.derivative, error, truncation, stencil.rounding_gain * model / h_col, nfev,
                   out_shape)  # fmt: skip


def _f_size(p: Problem, d: Difference) -> tuple[NDArray[np.float64], int]:
    """|f(x)| (per output), from the pass when it evaluated f(x), else one more evaluation."""
    if d.f0 is not None:
        return np.asarray(abs(d.f0)), 0
    x0 = np.ravel(p.x).astype(p.x.dtype)
    return np.abs(np.real(evaluate_points(p, x0[None])[0])).astype(np.float64), 1


def _record(
    p: Problem,
    first: Difference,
    value: NDArray[Any],
    error: NDArray[Any],
    truncation: NDArray[Any],
    rounding: NDArray[Any],
    nfev: int,
    out_shape: tuple[int, ...],
) -> Estimate:
    accuracy = nm.accuracy(p.method, p.work_dtype)
    flags = nm.unreliable(value, error, truncation, rounding, accuracy)

    def arranged(a: NDArray[Any]) -> NDArray[Any]:  # (n, *out) -> (*out, *x.shape)
        return np.moveaxis(a.reshape(p.n, -1), 0, -1).reshape((*out_shape, *p.x.shape))

    return Estimate(
        arranged(np.asarray(value, dtype=np.float64)), arranged(np.asarray(error, dtype=np.float64)),
        first.h.reshape(p.x.shape).copy(), nfev, arranged(flags), str(p.work_dtype),
    )  # fmt: skip

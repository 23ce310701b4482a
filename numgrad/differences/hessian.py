"""Second derivatives by finite differences: the Hessian of a scalar f, and Hessian-vector products.

The Hessian takes central second differences at the steps h and 2h (:mod:`numgrad.differences.second`):
``2·(n² + n) + 1`` evaluations, symmetric by construction, with a Richardson error estimate; the
Hessian-vector product lives in :mod:`numgrad.differences.hvp`. A pytree x is differenced as its leaves
joined into one vector and its Hessian returned as ``jax.hessian`` does, a tree of trees
(:mod:`numgrad.differences.joined`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad.common import numerics as nm
from numgrad.common.guard import NumericalWarning, unchanged
from numgrad.common.trees import is_tree
from numgrad.differences.engine import Problem, make_problem
from numgrad.differences.hvp import hessian_vector_product
from numgrad.differences.joined import joined, square, tree_argument, tree_name, tree_step
from numgrad.differences.second import SecondDifference, flat_name, second_difference

__all__ = ["hessian", "hessian_vector_product"]


def hessian(
    f: Callable[..., Any],
    x: ArrayLike,
    *,
    h: float | ArrayLike | None = None,
    batched: bool = False,
    chunk_size: int | None = None,
    executor: Executor | None = None,
) -> NDArray[np.floating[Any]]:
    """Hessian of a scalar function `f` at `x` by central second differences: shape ``x.shape + x.shape``.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``; with ``batched=True``, ``f(stack) -> (k,)`` for a stack ``(k, *x.shape)``.
    x : array_like, float32 or float64, any shape; or a pytree of float arrays
        Perturbed in place and restored bitwise in element-by-element mode, as in
        :func:`numgrad.numerical_gradient`. A pytree's leaves are differenced together, as one vector.
    h : float or array of x's shape, optional
        The smaller step of the Richardson pair (h, 2h); by default ``eps**(1/4)·max(1, |x_i|)`` as a
        power of two. A default step whose points leave f's domain is shrunk; a given one never is.
    batched, chunk_size, executor
        As in :func:`numgrad.numerical_gradient` (batched: a single array x only).

    Returns
    -------
    ndarray of shape ``x.shape + x.shape`` and x's dtype, exactly symmetric
        For a pytree x, a tree of trees as ``jax.hessian`` returns: ``H[p][q]`` of shape
        ``x[p].shape + x[q].shape`` for key paths p, q (``H["w"]["b"]`` for a dict x).

    Raises
    ------
    TypeError, ValueError
        As :func:`numgrad.numerical_gradient` for bad input.
    FloatingPointError
        If f is not finite at x, or not finite (or raises a domain error) near x even with the steps
        shrunk: the message names the coordinate.

    Notes
    -----
    ``2·(n² + n) + 1`` evaluations of f (20,201 for n = 100), more only where a step was shrunk.

    Examples
    --------
    >>> hessian(lambda v: v[0] ** 2 * v[1], np.array([1.0, 2.0])).round(8)
    array([[4., 2.],
           [2., 0.]])
    >>> H = hessian(lambda p: p["a"][0] ** 2 * p["b"][0], {"a": np.array([1.0]), "b": np.array([2.0])})
    >>> H["a"]["b"].round(8)
    array([[2.]])
    """
    if is_tree(x):
        return _tree_hessian(f, x, h, batched, chunk_size, executor)  # type: ignore[no-any-return]
    p = make_problem(
        "hessian", f, x, out_shape=None, method="central", batched=batched, chunk_size=chunk_size,
        executor=executor,
    )  # fmt: skip
    with unchanged(p.func, p.x):  # f may write into the caller's x from a closure (batched too)
        d = second_difference(p, h)
    _warn_unreliable(p, d)
    return d.value.reshape(p.x.shape * 2).astype(p.x.dtype)


def _warn_unreliable(p: Problem, d: SecondDifference, name: Callable[[int], str] | None = None) -> None:
    """No value the pass's own error estimate says is wrong goes back without a word."""
    flags = nm.unreliable(d.value, d.error, d.truncation, d.model_rounding, nm.hessian_accuracy(p.x.dtype))
    if flags.any():
        i, j = (int(k) for k in np.argwhere(flags)[0])
        label = name or flat_name(p)
        warnings.warn(
            f"hessian: {int(flags.sum())} of {flags.size} entries are unreliable by numgrad's own error "
            f"estimate, first at d²f / d{label(i)} d{label(j)}: f varies on a shorter scale than the step "
            f"there. estimate_hessian(f, x) returns each entry's error and flag; a smaller h may help",
            NumericalWarning,
            stacklevel=3,
        )


def _tree_hessian(f: Any, x: Any, h: object, batched: object, chunk_size: Any, executor: Any) -> Any:
    flat = tree_argument(x, "hessian")
    tree_step("hessian", h)
    name = tree_name(flat)
    with joined("hessian", f, flat, batched=batched, chunk_size=chunk_size, executor=executor) as p:
        d = second_difference(p, None if h is None else float(h), name=name)  # type: ignore[arg-type]
        _warn_unreliable(p, d, name)
    dtypes = [leaf.dtype for leaf in flat.leaves]
    return square(flat, d.value, lambda a, b: np.result_type(dtypes[a], dtypes[b]))

"""JAX twin of numgrad.differences.hessian: ``jax.hessian`` and ``jax.jvp`` of ``jax.grad``, exact.

Same names and signatures as numgrad's; the step and evaluation options have no meaning for autodiff and
are accepted and ignored, so that tests pair the two by name.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numgrad_reference.gradient import autodiff
from numpy.typing import ArrayLike, NDArray

from numgrad.common.trees import is_tree

__all__ = ["hessian", "hessian_vector_product"]


def hessian(
    f: Callable[..., Any],
    x: ArrayLike,
    *,
    h: float | ArrayLike | None = None,
    batched: bool = False,
    chunk_size: int | None = None,
    executor: Executor | None = None,
) -> NDArray[Any]:
    """``jax.hessian(f)(x)``: shape ``x.shape + x.shape``, x's dtype (a batched f is called on x[None]).

    A pytree x: the tree of trees of ``jax.hessian``, block ``[p][q]`` in the two leaves' result dtype."""
    if is_tree(x):
        leaves, tree = jax.tree_util.tree_flatten(x)
        H = autodiff(jax.hessian, f, jax.tree_util.tree_map(jnp.asarray, x))
        rows = [jax.tree_util.tree_leaves(r) for r in tree.flatten_up_to(H)]
        dt = [np.asarray(leaf).dtype for leaf in leaves]
        blocks = [[np.asarray(b).astype(np.result_type(dt[i], dt[j])) for j, b in enumerate(r)]
                  for i, r in enumerate(rows)]  # fmt: skip
        return jax.tree_util.tree_unflatten(tree, [jax.tree_util.tree_unflatten(tree, r) for r in blocks])
    xa = np.asarray(x)
    g = (lambda z: f(z[None])[0]) if batched else f
    return np.asarray(autodiff(jax.hessian, g, jnp.asarray(xa))).astype(xa.dtype)


def hessian_vector_product(
    f: Callable[..., Any],
    x: ArrayLike,
    v: ArrayLike,
    *,
    grad: Callable[..., Any] | None = None,
    h: float | None = None,
    batched: bool = False,
) -> NDArray[Any]:
    """``jax.jvp(jax.grad(f), (x,), (v,))[1]`` (with `grad`: ``jax.jvp(grad, ...)``, grad written in JAX).

    A pytree x takes v of its structure and returns it (each leaf in its own dtype)."""
    if is_tree(x):
        xs = jax.tree_util.tree_map(jnp.asarray, x)
        vs = jax.tree_util.tree_map(lambda a, b: jnp.asarray(b, dtype=jnp.asarray(a).dtype), x, v)
        out = _hvp(f, grad, xs, vs)
        return jax.tree_util.tree_map(lambda a, o: np.asarray(o).astype(np.asarray(a).dtype), x, out)
    xa, va = np.asarray(x), np.asarray(v)
    scalar = (lambda z: f(z[None])[0]) if batched else f
    return np.asarray(_hvp(scalar, grad, jnp.asarray(xa), jnp.asarray(va, dtype=xa.dtype))).astype(xa.dtype)


def _jvp_of(g: Callable[..., Any]) -> Callable[..., Any]:
    return lambda x, v: jax.jvp(g, (x,), (v,))[1]


def _jvp_of_grad(f: Callable[..., Any]) -> Callable[..., Any]:
    return _jvp_of(jax.grad(f))


def _hvp(f: Callable[..., Any], grad: Callable[..., Any] | None, x: Any, v: Any) -> Any:
    """The forward derivative of ``grad`` (else ``jax.grad(f)``) at x along v, compiled once per callable."""
    return autodiff(_jvp_of, grad, x, v) if grad is not None else autodiff(_jvp_of_grad, f, x, v)

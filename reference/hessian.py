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
from numpy.typing import ArrayLike, NDArray

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
    """``jax.hessian(f)(x)``: shape ``x.shape + x.shape``, x's dtype (a batched f is called on x[None])."""
    xa = np.asarray(x)
    g = (lambda z: f(z[None])[0]) if batched else f
    return np.asarray(jax.hessian(g)(jnp.asarray(xa))).astype(xa.dtype)


def hessian_vector_product(
    f: Callable[..., Any],
    x: ArrayLike,
    v: ArrayLike,
    *,
    grad: Callable[..., Any] | None = None,
    h: float | None = None,
    batched: bool = False,
) -> NDArray[Any]:
    """``jax.jvp(jax.grad(f), (x,), (v,))[1]`` (with `grad`: ``jax.jvp(grad, ...)``, grad written in JAX)."""
    xa, va = np.asarray(x), np.asarray(v)
    g = grad if grad is not None else jax.grad((lambda z: f(z[None])[0]) if batched else f)
    return np.asarray(jax.jvp(g, (jnp.asarray(xa),), (jnp.asarray(va, dtype=xa.dtype),))[1]).astype(xa.dtype)

"""JAX twin of numgrad.book.functions."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from numpy.typing import ArrayLike

__all__ = ["identity_function", "relu", "sigmoid", "softmax", "step_function"]


def _float(x: ArrayLike) -> jax.Array:
    a = jnp.asarray(x)
    return a.astype(jnp.float64) if not jnp.issubdtype(a.dtype, jnp.inexact) else a


def identity_function(x: ArrayLike) -> Any:
    return _float(x)


def step_function(x: ArrayLike) -> Any:
    a = _float(x)
    return (jnp.real(a) > 0).astype(a.dtype)


def relu(x: ArrayLike) -> Any:
    a = _float(x)
    return jnp.where(jnp.real(a) > 0, a, jnp.zeros_like(a))


def sigmoid(x: ArrayLike) -> Any:
    a = _float(x)
    return jax.nn.sigmoid(a) if not jnp.iscomplexobj(a) else 1 / (1 + jnp.exp(-a))


def softmax(x: ArrayLike) -> Any:
    a = _float(x)
    shifted = a - jax.lax.stop_gradient(jnp.max(jnp.real(a), axis=-1, keepdims=True))
    e = jnp.exp(shifted)
    return e / jnp.sum(e, axis=-1, keepdims=True)

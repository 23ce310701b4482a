"""JAX twin of numgrad.book.losses: the same formulas in jax.numpy, differentiable by jax.grad."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numgrad_reference.functions import _float
from numpy.typing import ArrayLike

__all__ = [
    "binary_cross_entropy",
    "cross_entropy_error",
    "hinge_loss",
    "huber_loss",
    "mean_squared_error",
    "softmax_cross_entropy",
    "sum_squared_error",
]

LOG_DELTA = 1e-7


def _weights(y: jax.Array, t: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Scores as (N, C) and one-hot-like weights (N, C); labels are concrete NumPy integers."""
    y2 = jnp.atleast_2d(y)
    if np.shape(t) == y.shape:
        return y2, jnp.atleast_2d(_float(t))
    labels = np.asarray(t).reshape(-1)
    return y2, jax.nn.one_hot(labels, y2.shape[1], dtype=jnp.real(y2).dtype)


def mean_squared_error(y: ArrayLike, t: ArrayLike) -> Any:
    return 0.5 * jnp.sum((_float(y) - _float(t)) ** 2)


sum_squared_error = mean_squared_error


def cross_entropy_error(y: ArrayLike, t: ArrayLike) -> Any:
    y2, w = _weights(_float(y), t)
    return -jnp.sum(w * jnp.log(y2 + LOG_DELTA)) / y2.shape[0]


def softmax_cross_entropy(logits: ArrayLike, t: ArrayLike) -> Any:
    z, w = _weights(_float(logits), t)
    shifted = z - jax.lax.stop_gradient(jnp.max(jnp.real(z), axis=-1, keepdims=True))
    log_prob = shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True))
    return -jnp.sum(jnp.where(w != 0, w * log_prob, 0)) / z.shape[0]  # masked (−inf) classes: 0·log 0 = 0


def binary_cross_entropy(y: ArrayLike, t: ArrayLike) -> Any:
    ya, ta = _float(y), _float(t)
    return -jnp.mean(ta * jnp.log(ya + LOG_DELTA) + (1 - ta) * jnp.log(1 - ya + LOG_DELTA))


def hinge_loss(y: ArrayLike, t: ArrayLike) -> Any:
    ya = _float(y)
    if np.shape(t) == ya.shape and np.all(np.isin(np.asarray(t), (-1, 1))):
        margin = 1 - _float(t) * ya
        return jnp.mean(jnp.where(jnp.real(margin) > 0, margin, 0))
    y2, w = _weights(ya, t)
    margins = y2 - jnp.sum(w * y2, axis=-1, keepdims=True) + 1
    active = (jnp.real(margins) > 0) & (w == 0)
    return jnp.sum(jnp.where(active, margins, 0)) / y2.shape[0]


def huber_loss(y: ArrayLike, t: ArrayLike, *, delta: float = 1.0) -> Any:
    r = _float(y) - _float(t)
    re = jnp.real(r)
    return jnp.mean(jnp.where(jnp.abs(re) <= delta, 0.5 * r * r, delta * (jnp.sign(re) * r - 0.5 * delta)))

"""JAX twin of numgrad.differences.estimate: the same :class:`Estimate` record, from autodiff.

The derivative is exact to rounding, so the error is a few ulps of it, the step is 0, nfev counts no
evaluations of f, and nothing is flagged unreliable.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from numgrad.common import numerics as nm
from numgrad.differences.estimate import Estimate

__all__ = ["Estimate", "estimate_gradient", "estimate_hessian", "estimate_jacobian"]


def _record(x: Any, derivative: Any) -> Estimate:
    d = np.asarray(derivative, dtype=np.float64)
    error = nm.COMPLEX_ERROR_ULPS * nm.eps(np.asarray(x).dtype) * np.abs(d)
    return Estimate(d, error, np.zeros(np.shape(x)), 0, np.zeros(d.shape, dtype=bool))


def _scalar(f: Callable[..., Any], batched: bool) -> Callable[..., Any]:
    return (lambda z: f(z[None])[0]) if batched else f


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
    """``jax.grad(f)(x)`` as an :class:`Estimate`."""
    return _record(x, jax.grad(_scalar(f, batched))(jnp.asarray(x)))


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
    """``jax.jacrev(f)(x)`` as an :class:`Estimate`."""
    return _record(x, jax.jacrev(_scalar(f, batched))(jnp.asarray(x)))


def estimate_hessian(
    f: Callable[..., Any],
    x: ArrayLike,
    *,
    h: float | ArrayLike | None = None,
    batched: bool = False,
    chunk_size: int | None = None,
    executor: Executor | None = None,
) -> Estimate:
    """``jax.hessian(f)(x)`` as an :class:`Estimate`."""
    return _record(x, jax.hessian(_scalar(f, batched))(jnp.asarray(x)))

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
from numgrad_reference.gradient import autodiff
from numpy.typing import ArrayLike

from numgrad.common import numerics as nm
from numgrad.differences.estimate import Estimate

__all__ = ["Estimate", "estimate_gradient", "estimate_hessian", "estimate_jacobian"]


def _record(x: Any, derivative: Any) -> Estimate:
    """Exact to a few ulps of the coarsest leaf's dtype; a pytree x gives fields of the derivative's
    structure (the step: x's)."""
    tu = jax.tree_util
    eps = max(nm.eps(np.asarray(leaf).dtype) for leaf in tu.tree_leaves(x))
    d = tu.tree_map(lambda a: np.asarray(a, dtype=np.float64), derivative)
    error = tu.tree_map(lambda a: nm.COMPLEX_ERROR_ULPS * eps * np.abs(a), d)
    flags = tu.tree_map(lambda a: np.zeros(a.shape, dtype=bool), d)
    return Estimate(d, error, tu.tree_map(lambda a: np.zeros(np.shape(a)), x), 0, flags)


def _jax(x: Any) -> Any:
    return jax.tree_util.tree_map(jnp.asarray, x)


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
    return _record(x, autodiff(jax.grad, _scalar(f, batched), _jax(x)))


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
    return _record(x, autodiff(jax.jacrev, _scalar(f, batched), _jax(x)))


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
    return _record(x, autodiff(jax.hessian, _scalar(f, batched), _jax(x)))

"""Activation functions of chapters 3 and 4: stable, dtype-preserving and complex-step safe.

Every branch is chosen on the real part and each branch is analytic, so ``x + i·h`` flows through
(the complex-step method of :func:`numgrad.numerical_gradient` relies on it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad.common.validate import as_float_array

__all__ = ["identity_function", "relu", "sigmoid", "softmax", "step_function"]


def identity_function(x: ArrayLike) -> NDArray[Any]:
    """Return a copy of `x` as a floating array (the output layer of regression).

    Examples
    --------
    >>> identity_function([1, 2])
    array([1., 2.])
    """
    return np.array(as_float_array(x, "identity_function", "x"))


def step_function(x: ArrayLike) -> NDArray[Any]:
    """1 where ``x > 0``, else 0, in the floating dtype of `x` (the book returns ints).

    Examples
    --------
    >>> step_function([-1.0, 0.0, 2.0])
    array([0., 0., 1.])
    """
    a = as_float_array(x, "step_function", "x")
    return (np.real(a) > 0).astype(a.dtype)


def relu(x: ArrayLike) -> NDArray[Any]:
    """``max(0, x)`` elementwise.

    Examples
    --------
    >>> relu([-1.0, 2.0])
    array([0., 2.])
    """
    a = as_float_array(x, "relu", "x")
    return np.where(np.real(a) > 0, a, np.zeros_like(a))


def sigmoid(x: ArrayLike) -> NDArray[Any]:
    """Logistic function ``1 / (1 + exp(-x))``, with no overflow for any finite `x`.

    Notes
    -----
    For ``x >= 0`` it computes ``1 / (1 + exp(-x))``, otherwise ``exp(x) / (1 + exp(x))``: the exponent is
    never positive, so ``sigmoid(-1000)`` is 0 without a warning.

    Examples
    --------
    >>> sigmoid([-1000.0, 0.0, 1000.0])
    array([0. , 0.5, 1. ])
    """
    a = as_float_array(x, "sigmoid", "x")
    nonneg = np.real(a) >= 0
    e = np.exp(np.where(nonneg, -a, a))
    return np.where(nonneg, 1 / (1 + e), e / (1 + e))


def softmax(x: ArrayLike) -> NDArray[Any]:
    """Softmax over the last axis (any ndim), shifted by the maximum so that large inputs do not overflow.

    Examples
    --------
    >>> softmax([0.3, 2.9, 4.0]).round(4)
    array([0.0182, 0.2451, 0.7367])
    """
    a = as_float_array(x, "softmax", "x")
    if a.ndim and a.shape[-1] == 0:
        raise ValueError(f"softmax: x's last axis (the classes) is empty; got shape {a.shape}")
    shifted = a - np.max(np.real(a), axis=-1, keepdims=True)
    e = np.exp(shifted)
    out: NDArray[Any] = e / np.sum(e, axis=-1, keepdims=True)
    return out

"""JAX twin of numgrad.book.nets: each net's loss as a pure function of its parameters, under jax.grad.

The classes mirror numgrad's (same constructors, so the same seed gives the same weights); their
``gradient`` is ``jax.grad`` of the pure loss and their ``numerical_gradient`` is the JAX finite-difference
twin (``jit(vmap(loss))`` over every perturbed parameter) at numgrad's steps.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numgrad_reference.functions import sigmoid, softmax
from numgrad_reference.gradient import numerical_gradient as _fd_gradient
from numgrad_reference.losses import cross_entropy_error
from numpy.typing import ArrayLike, NDArray

from numgrad.common import numerics as nm

__all__ = ["SimpleNet", "TwoLayerNet", "simple_net_loss", "two_layer_loss", "two_layer_predict"]

Params = dict[str, Any]


def two_layer_predict(params: Params, x: ArrayLike) -> Any:
    """``softmax(sigmoid(x·W1 + b1)·W2 + b2)``."""
    z = sigmoid(jnp.asarray(x, dtype=jnp.float64) @ params["W1"] + params["b1"])
    return softmax(z @ params["W2"] + params["b2"])


def two_layer_loss(params: Params, x: ArrayLike, t: ArrayLike) -> Any:
    """The book's ``cross_entropy_error(predict(x), t)`` as a pure function of the parameters."""
    return cross_entropy_error(two_layer_predict(params, x), t)


def simple_net_loss(W: Any, x: ArrayLike, t: ArrayLike) -> Any:
    return cross_entropy_error(softmax(jnp.asarray(x, dtype=jnp.float64) @ W), t)


class SimpleNet:
    def __init__(self, W: ArrayLike | None = None, *, seed: int | None = None) -> None:
        if W is None:
            W = np.random.default_rng(seed).standard_normal((2, 3))
        self.W = np.array(W, dtype=np.float64)

    def predict(self, x: ArrayLike) -> NDArray[np.float64]:
        return np.asarray(jnp.asarray(x, dtype=jnp.float64) @ self.W)

    def loss(self, x: ArrayLike, t: ArrayLike) -> float:
        return float(simple_net_loss(self.W, x, t))

    def numerical_gradient(
        self, x: ArrayLike, t: ArrayLike, *, h: float | None = None
    ) -> NDArray[np.float64]:
        return np.asarray(_fd_gradient(lambda w: simple_net_loss(w, x, t), self.W, h=h))

    def gradient(self, x: ArrayLike, t: ArrayLike) -> NDArray[np.float64]:
        return np.asarray(jax.grad(simple_net_loss)(jnp.asarray(self.W), x, t))


class TwoLayerNet:
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        *,
        seed: int | None = None,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.params: dict[str, NDArray[np.float64]] = {
            "W1": weight_init_std * rng.standard_normal((input_size, hidden_size)),
            "b1": np.zeros(hidden_size),
            "W2": weight_init_std * rng.standard_normal((hidden_size, output_size)),
            "b2": np.zeros(output_size),
        }

    def predict(self, x: ArrayLike) -> NDArray[np.float64]:
        return np.asarray(two_layer_predict(self.params, x))

    def loss(self, x: ArrayLike, t: ArrayLike) -> float:
        return float(two_layer_loss(self.params, x, t))

    def accuracy(self, x: ArrayLike, t: ArrayLike) -> float:
        labels = np.argmax(t, axis=1) if np.ndim(t) == 2 else np.asarray(t)
        return float(np.mean(np.argmax(self.predict(x), axis=1) == labels))

    def numerical_gradient(
        self, x: ArrayLike, t: ArrayLike, *, h: float | None = None, mode: str = "structured"
    ) -> dict[str, NDArray[np.float64]]:
        """The JAX finite-difference twin over each parameter (`mode` has one meaning here: vmap)."""

        def along(key: str) -> Any:
            return lambda p: two_layer_loss({**self.params, key: p}, x, t)

        step = nm.net_step(np.float64) if h is None else h  # numgrad's step
        return {k: np.asarray(_fd_gradient(along(k), p, h=step)) for k, p in self.params.items()}

    def gradient(self, x: ArrayLike, t: ArrayLike) -> dict[str, NDArray[np.float64]]:
        grads = jax.grad(two_layer_loss)({k: jnp.asarray(v) for k, v in self.params.items()}, x, t)
        return {k: np.asarray(v) for k, v in grads.items()}

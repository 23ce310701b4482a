"""The layers of tests/adapters/layers.py as jax.custom_vjp rules (correct, or with a planted bug)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from layers import Layer, Ops

OPS = Ops(
    sum=lambda a, axis: jnp.sum(a, axis=axis, keepdims=True),
    max=lambda a, axis: jnp.max(a, axis=axis, keepdims=True),
    amax=lambda a: jnp.max(jnp.abs(a)),
    exp=jnp.exp,
    sqrt=jnp.sqrt,
    stack=lambda items: jnp.stack(items, axis=-1),
    pad=lambda a, left, right: jnp.pad(a, ((0, 0), (left, right))),
)


def function(layer: Layer, delta: float = 0.0) -> Callable[..., Any]:
    """``layer`` as a jax.custom_vjp function; its VJP rule carries a bug of size `delta`."""

    @jax.custom_vjp
    def hand(*xs: Any) -> Any:
        return layer.forward(OPS, *xs)

    def fwd(*xs: Any) -> tuple[Any, tuple[Any, ...]]:
        return layer.forward(OPS, *xs), xs

    def bwd(xs: tuple[Any, ...], g: Any) -> tuple[Any, ...]:
        return layer.gradients(OPS, delta, g, *xs)

    hand.defvjp(fwd, bwd)
    return hand


def inputs(layer: Layer, dtype: Any, seed: int = 0) -> tuple[Any, ...]:
    return tuple(jnp.asarray(x, dtype=dtype) for x in layer.inputs(np.random.default_rng(seed)))


def second_order(layer: Layer, delta: float) -> Callable[..., Any]:
    """``layer`` with the right VJP rule whose own derivative is ``1 − delta`` times the right one: the
    rule returns ``(1 − delta)·c + delta·stop_gradient(c)``, the value c, its derivative scaled."""

    @jax.custom_vjp
    def hand(*xs: Any) -> Any:
        return layer.forward(OPS, *xs)

    def fwd(*xs: Any) -> tuple[Any, tuple[Any, ...]]:
        return layer.forward(OPS, *xs), xs

    def bwd(xs: tuple[Any, ...], g: Any) -> tuple[Any, ...]:
        grads = layer.backward(OPS, g, *xs)
        return tuple((1 - delta) * c + delta * jax.lax.stop_gradient(c) for c in grads)

    hand.defvjp(fwd, bwd)
    return hand

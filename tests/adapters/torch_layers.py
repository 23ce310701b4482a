"""The layers of tests/adapters/layers.py as torch.autograd.Functions (correct, or with a planted bug)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from layers import Layer, Ops

OPS = Ops(
    sum=lambda a, axis: a.sum(dim=axis, keepdim=True),
    max=lambda a, axis: a.amax(dim=axis, keepdim=True),
    amax=lambda a: a.abs().amax(),
    exp=torch.exp,
    sqrt=torch.sqrt,
    stack=lambda items: torch.stack(items, dim=-1),
    pad=lambda a, left, right: torch.nn.functional.pad(a, (left, right)),
)


def function(layer: Layer, delta: float = 0.0) -> Callable[..., Any]:
    """``layer`` as a torch.autograd.Function's apply; its backward carries a bug of size `delta`."""

    class Hand(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, *xs: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(*xs)
            return layer.forward(OPS, *xs)

        @staticmethod
        def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return layer.gradients(OPS, delta, g, *ctx.saved_tensors)

    return Hand.apply


def inputs(layer: Layer, dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, ...]:
    import numpy as np

    return tuple(
        torch.tensor(x, dtype=dtype, requires_grad=True) for x in layer.inputs(np.random.default_rng(seed))
    )


def second_order(layer: Layer, delta: float) -> Callable[..., Any]:
    """``layer`` with the right backward whose own derivative (the double backward) is ``1 − delta`` times
    the right one: the backward returns ``(1 − delta)·c + delta·c.detach()``, the value c, its graph scaled."""

    class Hand(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, *xs: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(*xs)
            return layer.forward(OPS, *xs)

        @staticmethod
        def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, ...]:
            grads = layer.backward(OPS, g, *ctx.saved_tensors)
            return tuple((1 - delta) * c + delta * c.detach() for c in grads)

    return Hand.apply

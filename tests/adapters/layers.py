"""Five hand-written layers, each with its backward written out, in one text for torch and for JAX.

Every layer's formulas are written once against a small table of array operations (:class:`Ops`), so the
torch ``autograd.Function`` and the ``jax.custom_vjp`` rule built from them compute the same thing. A
planted bug of relative size ``delta`` moves one input's gradient towards a plausible wrong formula:
``grad + delta·max|grad|·(wrong − grad) / max|wrong − grad|``, so its largest error is ``delta`` times
the largest entry of that gradient whatever the cotangent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

BUG_SIZES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


@dataclass(frozen=True)
class Ops:
    """The array operations the formulas use (keepdims reductions over one axis)."""

    sum: Callable[[Any, int], Any]
    max: Callable[[Any, int], Any]
    amax: Callable[[Any], Any]  # largest |entry|, a 0-d array
    exp: Callable[[Any], Any]
    sqrt: Callable[[Any], Any]
    stack: Callable[[list[Any]], Any]  # along a new last axis
    pad: Callable[[Any, int, int], Any]  # zero columns on the left and right of a 2-d array


@dataclass(frozen=True)
class Layer:
    name: str
    shapes: tuple[tuple[int, ...], ...]
    forward: Callable[..., Any]  # forward(ops, *xs)
    backward: Callable[..., tuple[Any, ...]]  # backward(ops, g, *xs) -> one gradient per input
    wrong: Callable[..., tuple[int, Any]]  # wrong(ops, g, *xs) -> (input, a plausible wrong gradient)
    mistake: str

    def gradients(self, ops: Ops, delta: float, g: Any, *xs: Any) -> tuple[Any, ...]:
        grads = list(self.backward(ops, g, *xs))
        if delta:
            j, w = self.wrong(ops, g, *xs)
            c = grads[j]
            grads[j] = c + delta * ops.amax(c) * (w - c) / ops.amax(w - c)
        return tuple(grads)

    def inputs(self, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        xs = [rng.standard_normal(s) for s in self.shapes]
        if self.name == "layer norm":
            xs[1] = 1.0 + 0.1 * xs[1]  # gamma near one
        return tuple(xs)


def _softmax(ops: Ops, s: Any) -> Any:
    e = ops.exp(s - ops.max(s, -1))
    return e / ops.sum(e, -1)


def _softmax_back(ops: Ops, p: Any, g: Any) -> Any:
    return p * (g - ops.sum(p * g, -1))


# affine: y = x W + b
def _affine(ops: Ops, x: Any, w: Any, b: Any) -> Any:
    return x @ w + b


def _affine_back(ops: Ops, g: Any, x: Any, w: Any, b: Any) -> tuple[Any, ...]:
    return g @ w.T, x.T @ g, ops.sum(g, 0)[0]


def _affine_wrong(ops: Ops, g: Any, x: Any, w: Any, b: Any) -> tuple[int, Any]:
    return 1, x[:-1].T @ g[:-1]  # dW summed over all samples but the last (an off-by-one batch loop)


# softmax over the last axis
def _softmax_fwd(ops: Ops, x: Any) -> Any:
    return _softmax(ops, x)


def _softmax_bwd(ops: Ops, g: Any, x: Any) -> tuple[Any, ...]:
    return (_softmax_back(ops, _softmax(ops, x), g),)


def _softmax_wrong(ops: Ops, g: Any, x: Any) -> tuple[int, Any]:
    return 0, _softmax(ops, x) * g  # the −p·Σ(p·g) term forgotten


# layer norm over the last axis: y = gamma·(x − mean)/sqrt(var + eps) + beta
EPS = 1e-5


def _normed(ops: Ops, x: Any) -> tuple[Any, Any]:
    n = x.shape[-1]
    mu = ops.sum(x, -1) / n
    var = ops.sum((x - mu) * (x - mu), -1) / n
    inv = 1.0 / ops.sqrt(var + EPS)
    return (x - mu) * inv, inv


def _layernorm(ops: Ops, x: Any, gamma: Any, beta: Any) -> Any:
    return _normed(ops, x)[0] * gamma + beta


def _layernorm_back(ops: Ops, g: Any, x: Any, gamma: Any, beta: Any) -> tuple[Any, ...]:
    xhat, inv = _normed(ops, x)
    n = x.shape[-1]
    gh = g * gamma
    dx = inv * (gh - ops.sum(gh, -1) / n - xhat * ops.sum(gh * xhat, -1) / n)
    return dx, ops.sum(g * xhat, 0)[0], ops.sum(g, 0)[0]


def _layernorm_wrong(ops: Ops, g: Any, x: Any, gamma: Any, beta: Any) -> tuple[int, Any]:
    _, inv = _normed(ops, x)
    gh = g * gamma
    return 0, inv * (gh - ops.sum(gh, -1) / x.shape[-1])  # the variance's term forgotten


# attention: softmax(q kᵀ / sqrt(d)) v
def _attention(ops: Ops, q: Any, k: Any, v: Any) -> Any:
    return _softmax(ops, q @ k.T / np.sqrt(q.shape[-1])) @ v


def _attention_parts(ops: Ops, g: Any, q: Any, k: Any, v: Any) -> tuple[Any, Any, float]:
    scale = 1.0 / np.sqrt(q.shape[-1])
    p = _softmax(ops, q @ k.T * scale)
    return p, _softmax_back(ops, p, g @ v.T), scale


def _attention_back(ops: Ops, g: Any, q: Any, k: Any, v: Any) -> tuple[Any, ...]:
    p, ds, scale = _attention_parts(ops, g, q, k, v)
    return ds @ k * scale, ds.T @ q * scale, p.T @ g


def _attention_wrong(ops: Ops, g: Any, q: Any, k: Any, v: Any) -> tuple[int, Any]:
    _, ds, _ = _attention_parts(ops, g, q, k, v)
    return 1, ds.T @ q  # dK without the 1/sqrt(d) of the scores


# conv1d, valid cross-correlation: y[o, t] = Σ_c Σ_j w[o, c, j] x[c, t + j]
def _conv1d(ops: Ops, x: Any, w: Any) -> Any:
    width, out = w.shape[-1], x.shape[-1] - w.shape[-1] + 1
    return sum(w[:, :, j] @ x[:, j : j + out] for j in range(width))


def _conv1d_dx(ops: Ops, g: Any, w: Any, width: int) -> Any:
    return sum(ops.pad(w[:, :, j].T @ g, j, width - 1 - j) for j in range(width))


def _conv1d_back(ops: Ops, g: Any, x: Any, w: Any) -> tuple[Any, ...]:
    width, out = w.shape[-1], g.shape[-1]
    dw = ops.stack([g @ x[:, j : j + out].T for j in range(width)])
    return _conv1d_dx(ops, g, w, width), dw


def _conv1d_wrong(ops: Ops, g: Any, x: Any, w: Any) -> tuple[int, Any]:
    width = w.shape[-1]
    return 0, sum(ops.pad(w[:, :, width - 1 - j].T @ g, j, width - 1 - j) for j in range(width))  # flipped


LAYERS = (
    Layer("affine", ((8, 5), (5, 4), (4,)), _affine, _affine_back, _affine_wrong, "dW skips the last sample"),
    Layer("softmax", ((6, 7),), _softmax_fwd, _softmax_bwd, _softmax_wrong, "−p·Σ(p·g) forgotten"),
    Layer("layer norm", ((6, 8), (8,), (8,)), _layernorm, _layernorm_back, _layernorm_wrong, "variance term forgotten"),
    Layer("attention", ((5, 4), (6, 4), (6, 3)), _attention, _attention_back, _attention_wrong, "dK without 1/sqrt(d)"),
    Layer("conv1d", ((3, 12), (4, 3, 3)), _conv1d, _conv1d_back, _conv1d_wrong, "dx with the kernel flipped"),
)

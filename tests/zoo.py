"""A zoo of realistic hand-written backprop bugs, each beside the correct gradient it breaks.

Every entry builds, from a seeded generator and a dtype, a scalar loss of one parameter array, the point,
the correct gradient and the buggy one. Shared by tests/test_check.py and benchmarks/bench_check.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Problem = tuple[Callable[[Any], Any], Any, Any, Any]  # loss, x, correct grad, buggy grad


def sigmoid(a: Any) -> Any:
    return 1 / (1 + np.exp(-a))


def softmax(z: Any) -> Any:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def one_hot(labels: Any, classes: int, dtype: Any) -> Any:
    return np.eye(classes, dtype=dtype)[labels]


def _normal(rng: np.random.Generator, dtype: Any, *shape: int, scale: float = 1.0) -> Any:
    return (scale * rng.standard_normal(shape)).astype(dtype)


@dataclass(frozen=True)
class Bug:
    name: str
    what: str  # the bug in one line
    build: Callable[[np.random.Generator, Any], Problem]


# --------------------------------------------------------------------------------------------------
# Models with their correct backward passes


def _linear_mse(rng: np.random.Generator, dtype: Any, n: int = 8, d: int = 4, k: int = 3) -> tuple[Any, ...]:
    """loss(W) = 0.5·Σ(XW − Y)² / N."""
    X, Y, W = _normal(rng, dtype, n, d), _normal(rng, dtype, n, k), _normal(rng, dtype, d, k)
    return X, Y, W, (lambda w: 0.5 * np.sum((X @ w - Y) ** 2) / n)


def _softmax_ce(rng: np.random.Generator, dtype: Any, n: int = 6, c: int = 4) -> tuple[Any, ...]:
    """loss(Z) = −Σ log softmax(Z)[n, t_n] / N on logits."""
    Z, t = _normal(rng, dtype, n, c, scale=2.0), rng.integers(0, c, n)

    def loss(z: Any) -> Any:
        shifted = z - z.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -np.sum(logp[np.arange(n), t]) / n

    return Z, t, loss


def _two_layer(rng: np.random.Generator, dtype: Any, n: int = 5, i: int = 4, h: int = 4, c: int = 3) -> Any:
    """The book's two-layer net (sigmoid hidden, softmax-CE output); returns data, params and grads."""
    X, t = _normal(rng, dtype, n, i), rng.integers(0, c, n)
    p = {
        "W1": _normal(rng, dtype, i, h),
        "b1": _normal(rng, dtype, h, scale=0.5),
        "W2": _normal(rng, dtype, h, c),
        "b2": _normal(rng, dtype, c, scale=0.5),
    }

    def loss(q: dict[str, Any]) -> Any:
        z = sigmoid(X @ q["W1"] + q["b1"]) @ q["W2"] + q["b2"]
        shifted = z - z.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -np.sum(logp[np.arange(n), t]) / n

    return X, t, p, loss


def _backward(X: Any, t: Any, q: dict[str, Any], bug: str = "") -> dict[str, Any]:
    """Backprop through the two-layer net, with one named bug planted (or none)."""
    n, c = X.shape[0], q["W2"].shape[1]
    a1 = X @ q["W1"] + q["b1"]
    z1 = sigmoid(a1)
    y = softmax(z1 @ q["W2"] + q["b2"])
    dy = (y - one_hot(t, c, y.dtype)) / n
    g = {"W2": z1.T @ dy, "b2": dy.sum(axis=0)}
    dz1 = dy @ q["W2"].T
    if bug == "sigmoid_at_x":
        da1 = dz1 * a1 * (1 - a1)  # derivative formula applied to the pre-activation
    elif bug == "forgot_activation":
        da1 = dz1  # chain rule stops at the activation
    else:
        da1 = dz1 * z1 * (1 - z1)
    g["W1"] = X.T @ da1
    g["b1"] = da1.sum(axis=0)
    if bug == "transposed_w2":
        g["W2"] = (z1.T @ dy).T.copy()  # square W2: the shape cannot catch it
    if bug == "missing_bias":
        g["b2"] = np.zeros_like(q["b2"])  # forgot db
    if bug == "bias_mean":
        g["b1"] = da1.mean(axis=0)  # mean over the batch where the loss already divided by N
    return g


def _param(name: str, key: str, rng: np.random.Generator, dtype: Any, **sizes: int) -> Problem:
    X, t, q, loss = _two_layer(rng, dtype, **sizes)

    def f(w: Any) -> Any:
        return loss({**q, key: w})

    return f, q[key], _backward(X, t, q)[key], _backward(X, t, q, name)[key]


# --------------------------------------------------------------------------------------------------
# The bugs


def wrong_sign(rng: np.random.Generator, dtype: Any) -> Problem:
    X, Y, W, f = _linear_mse(rng, dtype)
    g = X.T @ (X @ W - Y) / X.shape[0]
    return f, W, g, -g


def missing_1_over_n(rng: np.random.Generator, dtype: Any) -> Problem:
    Z, t, f = _softmax_ce(rng, dtype)
    d = softmax(Z) - one_hot(t, Z.shape[1], Z.dtype)
    return f, Z, d / Z.shape[0], d


def softmax_ce_forgot_target(rng: np.random.Generator, dtype: Any) -> Problem:
    Z, t, f = _softmax_ce(rng, dtype)
    y = softmax(Z)
    return f, Z, (y - one_hot(t, Z.shape[1], Z.dtype)) / Z.shape[0], y / Z.shape[0]


def off_by_one_label(rng: np.random.Generator, dtype: Any) -> Problem:
    Z, t, f = _softmax_ce(rng, dtype)
    c = Z.shape[1]
    y = softmax(Z)
    return f, Z, (y - one_hot(t, c, Z.dtype)) / len(t), (y - one_hot((t + 1) % c, c, Z.dtype)) / len(t)


def softmax_jacobian_missing_term(rng: np.random.Generator, dtype: Any) -> Problem:
    """MSE on softmax outputs: the backward pass through softmax drops the −p·Σ(p·g) term."""
    Z, T = _normal(rng, dtype, 5, 4, scale=1.5), _normal(rng, dtype, 5, 4)

    def f(z: Any) -> Any:
        return 0.5 * np.sum((softmax(z) - T) ** 2)

    p = softmax(Z)
    dp = p - T
    good = p * (dp - np.sum(p * dp, axis=1, keepdims=True))
    return f, Z, good, p * dp


def sigmoid_derivative_at_x(rng: np.random.Generator, dtype: Any) -> Problem:
    return _param("sigmoid_at_x", "W1", rng, dtype)


def forgot_activation_derivative(rng: np.random.Generator, dtype: Any) -> Problem:
    return _param("forgot_activation", "W1", rng, dtype)


def transposed_matrix(rng: np.random.Generator, dtype: Any) -> Problem:
    return _param("transposed_w2", "W2", rng, dtype, h=3, c=3)


def missing_bias_gradient(rng: np.random.Generator, dtype: Any) -> Problem:
    return _param("missing_bias", "b2", rng, dtype)


def bias_gradient_averaged(rng: np.random.Generator, dtype: Any) -> Problem:
    return _param("bias_mean", "b1", rng, dtype)


def bias_summed_on_wrong_axis(rng: np.random.Generator, dtype: Any) -> Problem:
    """Batch size equals the number of outputs, so db = dY.sum(axis=1) has the right shape."""
    n = k = 4
    X, Y = _normal(rng, dtype, n, 3), _normal(rng, dtype, n, k)
    W, b = _normal(rng, dtype, 3, k), _normal(rng, dtype, k)

    def f(v: Any) -> Any:
        return 0.5 * np.sum((X @ W + v - Y) ** 2)

    dy = X @ W + b - Y
    return f, b, dy.sum(axis=0), dy.sum(axis=1)


def embedding_row_overwritten(rng: np.random.Generator, dtype: Any) -> Problem:
    """A bug touching one row: dE[ids] = dY overwrites where np.add.at accumulates (ids repeat once)."""
    ids = np.array([0, 3, 1, 3, 4])
    E, T = _normal(rng, dtype, 6, 3), _normal(rng, dtype, 5, 3)

    def f(e: Any) -> Any:
        return 0.5 * np.sum((e[ids] - T) ** 2)

    dy = E[ids] - T
    good = np.zeros_like(E)
    np.add.at(good, ids, dy)
    bad = np.zeros_like(E)
    bad[ids] = dy
    return f, E, good, bad


def forgot_weight_decay(rng: np.random.Generator, dtype: Any) -> Problem:
    """A bug of relative size 1e-4: the L2 penalty 0.5·λ‖W‖² (λ = 1e-4) left out of the gradient."""
    lam = 1e-4
    X, Y, W, data = _linear_mse(rng, dtype)

    def f(w: Any) -> Any:
        return data(w) + 0.5 * lam * np.sum(w * w)

    g = X.T @ (X @ W - Y) / X.shape[0]
    return f, W, g + lam * W, g


def relu_mask_inverted(rng: np.random.Generator, dtype: Any) -> Problem:
    A = _normal(rng, dtype, 4, 5)
    A = np.where(np.abs(A) < 0.1, A + np.sign(A) * 0.2 + 0.2, A).astype(dtype)  # off the kink
    W = _normal(rng, dtype, 5)

    def f(a: Any) -> Any:
        return np.sum(np.maximum(a, 0) @ W)

    up = np.broadcast_to(W, A.shape)
    return f, A, up * (A > 0), up * (A < 0)


def tanh_derivative_unsquared(rng: np.random.Generator, dtype: Any) -> Problem:
    A = _normal(rng, dtype, 3, 4)
    return (lambda a: np.sum(np.tanh(a))), A, 1 - np.tanh(A) ** 2, 1 - np.tanh(A)


def mse_mean_missing_2(rng: np.random.Generator, dtype: Any) -> Problem:
    Y, T = _normal(rng, dtype, 4, 3), _normal(rng, dtype, 4, 3)
    return (lambda y: np.mean((y - T) ** 2)), Y, 2 * (Y - T) / Y.size, (Y - T) / Y.size


def stale_forward_pass(rng: np.random.Generator, dtype: Any) -> Problem:
    """The gradient comes from a cached forward pass made before the last parameter update."""
    X, Y, W, f = _linear_mse(rng, dtype)
    before = (W + 0.05 * _normal(rng, dtype, *W.shape)).astype(dtype)
    return f, W, X.T @ (X @ W - Y) / X.shape[0], X.T @ (X @ before - Y) / X.shape[0]


def huber_wrong_delta(rng: np.random.Generator, dtype: Any) -> Problem:
    """Huber loss with delta = 1; the gradient clips the residual at 0.5."""
    R = _normal(rng, dtype, 4, 4, scale=1.5)
    R = np.where(np.abs(np.abs(R) - 1) < 0.1, R * 1.3, R).astype(dtype)

    def f(r: Any) -> Any:
        a = np.abs(r)
        return np.sum(np.where(a <= 1, 0.5 * r * r, a - 0.5))

    return f, R, np.clip(R, -1, 1), np.clip(R, -0.5, 0.5)


def matmul_order_swapped(rng: np.random.Generator, dtype: Any) -> Problem:
    """dW = dY·Xᵀ-style order slip on a square layer: (Xᵀ dY)ᵀ computed as dYᵀ X."""
    X, Y, W = _normal(rng, dtype, 6, 3), _normal(rng, dtype, 6, 3), _normal(rng, dtype, 3, 3)

    def f(w: Any) -> Any:
        return 0.5 * np.sum((X @ w - Y) ** 2)

    dy = X @ W - Y
    return f, W, X.T @ dy, dy.T @ X


ZOO: tuple[Bug, ...] = (
    Bug("wrong_sign", "gradient of the loss with the sign flipped", wrong_sign),
    Bug("missing_1_over_n", "softmax-CE gradient without the 1/N of the batch mean", missing_1_over_n),
    Bug("transposed_matrix", "dW2 transposed (square, so the shape matches)", transposed_matrix),
    Bug("missing_bias_gradient", "db2 left at zero", missing_bias_gradient),
    Bug(
        "sigmoid_derivative_at_x", "σ' as a·(1 − a) on the pre-activation, not σ(a)", sigmoid_derivative_at_x
    ),
    Bug("softmax_missing_term", "softmax backward without −p·Σ(p·g)", softmax_jacobian_missing_term),
    Bug("off_by_one_label", "the one-hot target at label + 1", off_by_one_label),
    Bug("one_row", "dE[ids] = dY: a repeated id's row keeps only one update", embedding_row_overwritten),
    Bug("relative_1e-4", "the weight decay λ·W (λ = 1e-4) left out", forgot_weight_decay),
    Bug("forgot_activation", "chain rule stops before the sigmoid", forgot_activation_derivative),
    Bug("bias_averaged", "db1 averaged over a batch the loss already divided by", bias_gradient_averaged),
    Bug("bias_wrong_axis", "db summed over the wrong axis (N = outputs)", bias_summed_on_wrong_axis),
    Bug("forgot_target", "softmax-CE gradient y/N, the −t forgotten", softmax_ce_forgot_target),
    Bug("relu_mask_inverted", "ReLU backward masks with a < 0", relu_mask_inverted),
    Bug("tanh_unsquared", "tanh' as 1 − tanh(a)", tanh_derivative_unsquared),
    Bug("mse_missing_2", "d mean((y − t)²) without the factor 2", mse_mean_missing_2),
    Bug("stale_forward", "gradient from the forward pass before the last update", stale_forward_pass),
    Bug("huber_wrong_delta", "Huber gradient clipped at 0.5 for delta = 1", huber_wrong_delta),
    Bug("matmul_order", "dW = dYᵀ·X instead of Xᵀ·dY on a square layer", matmul_order_swapped),
)

"""Fast mode's power: scalar losses that compute in float32, with planted bugs of sizes 1e-3..1e-1.

Shared by tests/checking/test_fast_power.py (a fixed seeded subset, counts asserted) and
benchmarks/fast_power.py (the whole grid, the README table). Each loss casts its argument's leaves to
the working dtype, so with ``work=np.float32`` it computes in float32 even at a float64 point: numgrad
cannot difference it in float64, and the checks stand at float32's accuracy floor. With
``work=np.float64`` the same loss computes in whatever precision its argument has (the no-false-alarm
side: promoted float32 points, float64 points).

The correct gradient is numgrad's Richardson differences of the loss in float64 (data upcast exactly),
accurate to ~1e-10 relative: far below anything a float32 check resolves. A bug is planted as a
single element off by ``rel·max|g|`` (random element, random sign), or dense: every element times
``1 + rel·z`` with z standard normal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from numgrad import cross_entropy_error, mean_squared_error, numerical_gradient, softmax_cross_entropy
from numgrad.common.trees import flatten

KINDS = ("single", "dense")
SIZES = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


@dataclass(frozen=True)
class Case:
    """A loss at a point, with its correct gradient (x's structure, x's dtype)."""

    name: str
    f: Callable[[Any], Any]
    x: Any
    grad: Any


def _cast(value: Any, work: Any) -> Any:
    if isinstance(value, dict):
        return {k: _cast(v, work) for k, v in value.items()}
    return np.asarray(value, dtype=work if work == np.float32 else np.result_type(value, np.float32))


def _as(value: Any, dtype: Any) -> Any:
    if isinstance(value, dict):
        return {k: _as(v, dtype) for k, v in value.items()}
    return np.asarray(value, dtype=dtype)


def _sigmoid(a: Any) -> Any:
    return 1 / (1 + np.exp(-a))


def _data(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> Any:
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def _mse(rng: np.random.Generator) -> tuple[Any, Callable[[Any, Any], Any]]:
    t = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 8)]
    return _data(rng, 8, 10, scale=0.5), lambda y, dt: mean_squared_error(y, t.astype(dt))


def _cross_entropy(rng: np.random.Generator) -> tuple[Any, Callable[[Any, Any], Any]]:
    labels = rng.integers(0, 5, 6)
    y = rng.uniform(0.1, 1.0, (6, 5)).astype(np.float32)  # scores kept away from log's singularity
    return y, lambda v, dt: cross_entropy_error(v, labels)


def _softmax_ce(rng: np.random.Generator) -> tuple[Any, Callable[[Any, Any], Any]]:
    labels = rng.integers(0, 5, 8)
    return _data(rng, 8, 5, scale=2.0), lambda z, dt: softmax_cross_entropy(z, labels)


def _softmax_regression(rng: np.random.Generator) -> tuple[Any, Callable[[Any, Any], Any]]:
    X, labels = _data(rng, 40, 12), rng.integers(0, 6, 40)
    return _data(rng, 12, 6, scale=0.3), lambda w, dt: softmax_cross_entropy(X.astype(dt) @ w, labels)


def _linear_mse(rng: np.random.Generator) -> tuple[Any, Callable[[Any, Any], Any]]:
    X, Y = _data(rng, 16, 4), _data(rng, 16, 3)
    return _data(rng, 4, 3), lambda w, dt: 0.5 * np.sum((X.astype(dt) @ w - Y.astype(dt)) ** 2) / 16


def _two_layer(rng: np.random.Generator) -> tuple[Any, Callable[[Any, Any], Any]]:
    X, labels = _data(rng, 10, 6), rng.integers(0, 4, 10)
    p = {"W1": _data(rng, 6, 5, scale=0.5), "b1": _data(rng, 5, scale=0.3),
         "W2": _data(rng, 5, 4, scale=0.5), "b2": _data(rng, 4, scale=0.3)}  # fmt: skip

    def loss(q: Any, dt: Any) -> Any:
        hidden = _sigmoid(X.astype(dt) @ q["W1"] + q["b1"])
        return softmax_cross_entropy(hidden @ q["W2"] + q["b2"], labels)

    return p, loss


LOSSES: dict[str, Callable[[np.random.Generator], tuple[Any, Callable[[Any, Any], Any]]]] = {
    "mean_squared_error": _mse,
    "cross_entropy_error": _cross_entropy,
    "softmax_cross_entropy": _softmax_ce,
    "softmax regression (12, 6)": _softmax_regression,
    "linear MSE": _linear_mse,
    "two-layer net (dict)": _two_layer,
}


def case(name: str, seed: int, work: Any = np.float32, dtype: Any = np.float32) -> Case:
    """Loss `name` at its seeded point in `dtype`, computing in `work` (float32: always; float64: in
    the argument's own precision)."""
    x32, loss = LOSSES[name](np.random.default_rng(seed))

    def f(v: Any) -> Any:
        q = _cast(v, work)
        return loss(q, np.float32 if work == np.float32 else np.result_type(*flatten(q, "f", "x").leaves))

    x = _as(x32, dtype)
    flat = flatten(x, "case", "x")
    exact = [
        numerical_gradient(lambda v, k=k: loss(flat.replaced(k, v) if not flat.single else v, np.float64),
                           leaf.astype(np.float64), method="richardson")
        for k, leaf in enumerate(_as_float64(flat).leaves)
    ]  # fmt: skip
    grad = flat.unflatten([g.astype(leaf.dtype) for g, leaf in zip(exact, flat.leaves, strict=True)])
    return Case(name, f, x, grad)


def _as_float64(flat: Any) -> Any:
    return flatten(flat.unflatten([leaf.astype(np.float64) for leaf in flat.leaves]), "case", "x")


def planted(c: Case, kind: str, rel: float, seed: int) -> Any:
    """c's gradient with one bug planted: `kind` "single" or "dense", of relative size `rel`."""
    rng = np.random.default_rng([seed, KINDS.index(kind), round(float(-np.log10(rel)) * 100)])
    flat = flatten(c.grad, "planted", "grad")
    g = np.concatenate([leaf.astype(np.float64).ravel() for leaf in flat.leaves])
    if kind == "single":
        k = int(rng.integers(g.size))
        g[k] += rel * float(np.max(np.abs(g))) * (1 if rng.random() < 0.5 else -1)
    else:
        g = g * (1 + rel * rng.standard_normal(g.size))
    parts = np.split(g, np.cumsum(flat.sizes)[:-1])
    return flat.unflatten(
        [p.reshape(leaf.shape).astype(leaf.dtype) for p, leaf in zip(parts, flat.leaves, strict=True)]
    )

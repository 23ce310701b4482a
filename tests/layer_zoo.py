"""A zoo of hand-written layers in the book's chapter-5 protocol, each with planted-bug backwards.

Every layer keeps its parameters and their gradients as attributes (``W``/``dW``), has ``forward(x)``
and ``backward(dout)`` returning dx, and takes ``bug=None`` or the name of one of its planted bugs. Each
bug names the leaf of ``check_vjp``'s tree ``{"x": ..., "W": ..., ...}`` that it makes wrong. Shared by
tests/checking/test_layers.py and benchmarks/bench_vjp.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

SUBTLE = 1e-3  # relative size of the "subtle" bugs: one entry off by 0.1% of the gradient's scale


def _n(rng: np.random.Generator, dtype: Any, *shape: int, scale: float = 1.0) -> Any:
    return (scale * rng.standard_normal(shape)).astype(dtype)


def _nudge(g: Any) -> Any:
    """One entry moved by SUBTLE times the largest |entry| (a typo in one index of a loop)."""
    out = np.array(g, copy=True)
    flat = out.reshape(-1)
    flat[len(flat) // 2] += SUBTLE * np.max(np.abs(flat))
    return out


class Layer:
    bug: str | None = None

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if isinstance(v, np.ndarray) and hasattr(self, f"d{k}")}


class Affine(Layer):
    def __init__(self, rng: np.random.Generator, dtype: Any, bug: str | None = None, d: int = 4, k: int = 4):
        self.W, self.b = _n(rng, dtype, d, k, scale=0.5), _n(rng, dtype, k)
        self.dW = self.db = None
        self.x: Any = None
        self.bug = bug

    def forward(self, x: Any) -> Any:
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout: Any) -> Any:
        self.dW = self.x.T @ dout
        self.db = dout.mean(axis=0) if self.bug == "db-mean" else dout.sum(axis=0)
        if self.bug == "dW-subtle":
            self.dW = _nudge(self.dW)
        return dout @ self.W if self.bug == "dx-no-transpose" else dout @ self.W.T


class Sigmoid(Layer):
    def __init__(self, rng: np.random.Generator, dtype: Any, bug: str | None = None):
        self.out: Any = None
        self.bug = bug

    def forward(self, x: Any) -> Any:
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout: Any) -> Any:
        if self.bug == "dx-no-one-minus":
            return dout * self.out
        dx = dout * self.out * (1 - self.out)
        return _nudge(dx) if self.bug == "dx-subtle" else dx


class Softmax(Layer):
    def __init__(self, rng: np.random.Generator, dtype: Any, bug: str | None = None):
        self.y: Any = None
        self.bug = bug

    def forward(self, x: Any) -> Any:
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        self.y = e / e.sum(axis=-1, keepdims=True)
        return self.y

    def backward(self, dout: Any) -> Any:
        y = self.y
        if self.bug == "dx-diagonal-only":
            return dout * y * (1 - y)
        return y * (dout - np.sum(dout * y, axis=-1, keepdims=True))


class LayerNorm(Layer):
    EPS = 1e-5

    def __init__(self, rng: np.random.Generator, dtype: Any, bug: str | None = None, d: int = 5):
        self.gamma = (1 + 0.3 * rng.standard_normal(d)).astype(dtype)
        self.beta = _n(rng, dtype, d, scale=0.3)
        self.dgamma = self.dbeta = None
        self.bug = bug
        self.xhat: Any = None
        self.std: Any = None

    def forward(self, x: Any) -> Any:
        mu = x.mean(axis=-1, keepdims=True)
        self.std = np.sqrt(x.var(axis=-1, keepdims=True) + self.EPS)
        self.xhat = (x - mu) / self.std
        return self.gamma * self.xhat + self.beta

    def backward(self, dout: Any) -> Any:
        self.dbeta = dout.sum(axis=0)
        self.dgamma = dout.sum(axis=0) if self.bug == "dgamma-no-xhat" else (dout * self.xhat).sum(axis=0)
        dxhat = dout * self.gamma
        if self.bug == "dx-no-centering":
            return dxhat / self.std
        m = dxhat.mean(axis=-1, keepdims=True)
        mx = (dxhat * self.xhat).mean(axis=-1, keepdims=True)
        return (dxhat - m - self.xhat * mx) / self.std


class Conv1d(Layer):
    """Valid 1-d convolution (cross-correlation), stride 1: x (N, C_in, L) -> (N, C_out, L − K + 1)."""

    def __init__(
        self,
        rng: np.random.Generator,
        dtype: Any,
        bug: str | None = None,
        c_in: int = 2,
        c_out: int = 3,
        k: int = 3,
    ):
        self.W, self.b = _n(rng, dtype, c_out, c_in, k, scale=0.5), _n(rng, dtype, c_out)
        self.dW = self.db = None
        self.bug = bug
        self.x: Any = None

    def forward(self, x: Any) -> Any:
        self.x = x
        k = self.W.shape[2]
        length = x.shape[2] - k + 1
        out = np.einsum("ncl,oc->nol", x[:, :, 0:length], self.W[:, :, 0])
        for j in range(1, k):
            out = out + np.einsum("ncl,oc->nol", x[:, :, j : j + length], self.W[:, :, j])
        return out + self.b[None, :, None]

    def backward(self, dout: Any) -> Any:
        k, length = self.W.shape[2], dout.shape[2]
        self.db = dout.sum(axis=(0, 2))
        self.dW = np.stack(
            [np.einsum("nol,ncl->oc", dout, self.x[:, :, j : j + length]) for j in range(k)], axis=2
        )
        if self.bug == "dW-flipped":
            self.dW = self.dW[:, :, ::-1]
        dx = np.zeros_like(self.x, dtype=np.result_type(self.x, dout, self.W))
        for j in range(k):
            dx[:, :, j : j + length] += np.einsum("nol,oc->ncl", dout, self.W[:, :, j])
        if self.bug == "dx-off-by-one":
            dx[:, :, :-1] = dx[:, :, 1:].copy()
        return dx


class Embedding(Layer):
    """out = x + W[idx] (a token embedding added to its input), with repeated indices in idx."""

    def __init__(
        self,
        rng: np.random.Generator,
        dtype: Any,
        bug: str | None = None,
        vocab: int = 4,
        d: int = 3,
        n: int = 6,
    ):
        self.W = _n(rng, dtype, vocab, d)
        self.dW = None
        self.idx = np.array([0, 2, 0, 3, 2, 0])[:n]  # 0 three times, 2 twice
        self.bug = bug

    def forward(self, x: Any) -> Any:
        return x + self.W[self.idx]

    def backward(self, dout: Any) -> Any:
        dW = np.zeros(self.W.shape, dtype=np.result_type(self.W, dout))
        if self.bug == "dW-overwrites-repeats":
            dW[self.idx] = dout
        else:
            np.add.at(dW, self.idx, dout)
        self.dW = dW
        return dout


class Attention(Layer):
    """Single-head self-attention over x (T, D): softmax(x Wq (x Wk)ᵀ / √D) x Wv."""

    def __init__(self, rng: np.random.Generator, dtype: Any, bug: str | None = None, d: int = 3):
        self.Wq, self.Wk, self.Wv = (_n(rng, dtype, d, d, scale=0.6) for _ in range(3))
        self.dWq = self.dWk = self.dWv = None
        self.bug = bug
        self.cache: Any = None

    def forward(self, x: Any) -> Any:
        q, k, v = x @ self.Wq, x @ self.Wk, x @ self.Wv
        s = q @ k.T / np.sqrt(x.shape[1])
        e = np.exp(s - s.max(axis=1, keepdims=True))
        a = e / e.sum(axis=1, keepdims=True)
        self.cache = (x, q, k, v, a)
        return a @ v

    def backward(self, dout: Any) -> Any:
        x, q, k, v, a = self.cache
        scale = np.sqrt(x.shape[1])
        dv = a.T @ dout
        da = dout @ v.T
        ds = a * (da - np.sum(da * a, axis=1, keepdims=True))
        dq = ds @ k / scale
        dk = ds.T @ q if self.bug == "dk-unscaled" else ds.T @ q / scale
        self.dWq, self.dWk, self.dWv = x.T @ dq, x.T @ dk, x.T @ dv
        return dq @ self.Wq.T + dk @ self.Wk.T + dv @ self.Wv.T


class RNNCell(Layer):
    """h = tanh(x Wx + h_prev Wh + b), h_prev fixed."""

    def __init__(
        self,
        rng: np.random.Generator,
        dtype: Any,
        bug: str | None = None,
        d: int = 3,
        hidden: int = 4,
        n: int = 2,
    ):
        self.Wx, self.Wh, self.b = (
            _n(rng, dtype, d, hidden, scale=0.5),
            _n(rng, dtype, hidden, hidden, scale=0.5),
            _n(rng, dtype, hidden),
        )
        self.h_prev = _n(rng, dtype, n, hidden)
        self.dWx = self.dWh = self.db = None
        self.bug = bug
        self.cache: Any = None

    def forward(self, x: Any) -> Any:
        h = np.tanh(x @ self.Wx + self.h_prev @ self.Wh + self.b)
        self.cache = (x, h)
        return h

    def backward(self, dout: Any) -> Any:
        x, h = self.cache
        dt = dout * (1 - h) if self.bug == "dtanh-not-squared" else dout * (1 - h**2)
        self.dWx, self.db = x.T @ dt, dt.sum(axis=0)
        self.dWh = (self.h_prev.T @ dt).T if self.bug == "dWh-transposed" else self.h_prev.T @ dt
        return dt @ self.Wx.T


class Residual(Layer):
    """y = x + tanh(x W + b)."""

    def __init__(self, rng: np.random.Generator, dtype: Any, bug: str | None = None, d: int = 4):
        self.W, self.b = _n(rng, dtype, d, d, scale=0.5), _n(rng, dtype, d)
        self.dW = self.db = None
        self.bug = bug
        self.cache: Any = None

    def forward(self, x: Any) -> Any:
        t = np.tanh(x @ self.W + self.b)
        self.cache = (x, t)
        return x + t

    def backward(self, dout: Any) -> Any:
        x, t = self.cache
        dz = dout * (1 - t**2)
        self.dW, self.db = x.T @ dz, dz.sum(axis=0)
        branch = dz @ self.W.T
        return branch if self.bug == "dx-no-skip" else dout + branch


class Dropout(Layer):
    """A fixed mask (drawn once, as a layer whose train-time mask is frozen for checking)."""

    P = 0.3

    def __init__(
        self, rng: np.random.Generator, dtype: Any, bug: str | None = None, shape: tuple[int, ...] = (3, 4)
    ):
        self.mask = rng.random(shape) >= self.P
        self.bug = bug

    def forward(self, x: Any) -> Any:
        return x * self.mask / (1 - self.P)

    def backward(self, dout: Any) -> Any:
        return dout * self.mask if self.bug == "dx-unscaled" else dout * self.mask / (1 - self.P)


@dataclass(frozen=True)
class Entry:
    name: str
    make: Callable[[np.random.Generator, Any, str | None], Any]
    input_shape: tuple[int, ...]
    bugs: dict[str, tuple[str, ...]]  # planted bug -> the leaves it makes wrong (the first: where it is)


ZOO: tuple[Entry, ...] = (
    Entry(
        "affine",
        Affine,
        (3, 4),
        {"db-mean": ("['b']",), "dx-no-transpose": ("['x']",), "dW-subtle": ("['W']",)},
    ),
    Entry("sigmoid", Sigmoid, (3, 4), {"dx-no-one-minus": ("['x']",), "dx-subtle": ("['x']",)}),
    Entry("softmax", Softmax, (3, 4), {"dx-diagonal-only": ("['x']",)}),
    Entry("layer-norm", LayerNorm, (3, 5), {"dx-no-centering": ("['x']",), "dgamma-no-xhat": ("['gamma']",)}),
    Entry("conv1d", Conv1d, (2, 2, 6), {"dW-flipped": ("['W']",), "dx-off-by-one": ("['x']",)}),
    Entry("embedding", Embedding, (6, 3), {"dW-overwrites-repeats": ("['W']",)}),
    Entry("attention", Attention, (4, 3), {"dk-unscaled": ("['Wk']", "['x']")}),
    Entry(
        "rnn-cell",
        RNNCell,
        (2, 3),
        {"dtanh-not-squared": ("['Wx']", "['Wh']", "['b']", "['x']"), "dWh-transposed": ("['Wh']",)},
    ),
    Entry("residual", Residual, (3, 4), {"dx-no-skip": ("['x']",)}),
    Entry("dropout", Dropout, (3, 4), {"dx-unscaled": ("['x']",)}),
)

BUGS = [(e, bug, leaves) for e in ZOO for bug, leaves in e.bugs.items()]


def build(entry: Entry, dtype: Any, bug: str | None = None, seed: int = 0) -> tuple[Any, Any]:
    """The layer (with `bug`) and an input for it, from a seeded generator."""
    rng = np.random.default_rng(seed)
    layer = entry.make(rng, dtype, bug)
    return layer, _n(rng, dtype, *entry.input_shape)


def tree_of(layer: Any, x: Any) -> dict[str, Any]:
    """``{"x": x, "W": layer.W, ...}``: the point of the layer's VJP check (parameters are its own)."""
    return {"x": x, **layer.params()}


def as_function(layer: Any) -> tuple[Callable[[dict[str, Any]], Any], Callable[[Any], dict[str, Any]]]:
    """The layer as f(tree) and its backward as the VJP of f, for check_vjp."""
    names = list(layer.params())

    def f(tree: dict[str, Any]) -> Any:
        saved = {k: getattr(layer, k) for k in names}
        try:
            for k in names:
                setattr(layer, k, tree[k])
            return layer.forward(tree["x"])
        finally:
            for k, v in saved.items():
                setattr(layer, k, v)

    def vjp(dout: Any) -> dict[str, Any]:  # check_vjp calls f(x) just before: the caches are at x
        dx = layer.backward(dout)
        return {"x": dx, **{k: getattr(layer, f"d{k}") for k in names}}

    return f, vjp

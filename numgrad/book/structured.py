"""The structured central difference of a two-layer net: every perturbed loss in a few array passes.

Perturbing ``W1[i, j]`` by ±h moves one pre-activation column, hidden unit j's, by ±h·x[:, i], and moves
nothing for the samples whose ``x[:, i]`` is 0 (four pixels in five of an MNIST image); perturbing
``W2[j, k]`` moves one logit, k's, by ±h·z[:, j]. Biases are weights of an input that is always 1. So the
loss at every perturbed point follows from the unperturbed forward pass and a few per-sample quantities:

* output weights: ``S' = S + E_k·expm1(δ)`` and ``y_t' = E_t·exp(δ·[k = t]) / S'`` with
  ``δ = ±h·z_j``, ``E = exp(a2 − max a2)`` and ``S = Σ_c E_c``;
* hidden weights: the hidden unit moves by ``u = σ(a + d) − σ(a) = z(1 − z)·g / (1 − (1 − z)·g)``
  with ``g = −expm1(−d)``, ``d = ±h·x_i``; then ``S' = Σ_c E_c·exp(u·W2[j, c]) = Σ_k u^k·M_k`` with
  moments ``M_k = E·(W2^k)ᵀ / k!`` (one matrix product each), summed to as many terms as make the series
  exact to rounding (:func:`numgrad.common.numerics.series_terms`; direct exponentials when u is not small).

Each perturbed loss is therefore the loss the net would compute at the perturbed parameters, within
rounding, and the gradient is the central difference ``Σ_n (ℓ_n⁺ − ℓ_n⁻) / (2hN)`` of those losses.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.book.functions import sigmoid
from numgrad.book.losses import LOG_DELTA
from numgrad.common import numerics as nm

F64 = NDArray[np.float64]
SIGNS = np.array([1.0, -1.0])  # index 0: the +h point, index 1: the −h point


def _blocks(total: int, per_item: int) -> Iterator[tuple[int, int]]:
    size = max(1, nm.NET_BLOCK_ELEMENTS // max(1, per_item))
    for a in range(0, total, size):
        yield a, min(a + size, total)


def _append_one(a: F64) -> F64:
    """``[a, 1]``: the bias is the weight of an input that is always 1."""
    return np.concatenate([a, np.ones((a.shape[0], 1))], axis=1)


def _loss_difference(y: F64) -> F64:
    """``ℓ⁺ − ℓ⁻`` from the target probabilities at the +h and −h points: ``ℓ = −log(y_t + 1e-7)``."""
    return np.asarray(np.log((y[1] + LOG_DELTA) / (y[0] + LOG_DELTA)))


def output_layer(z: F64, E: F64, labels: NDArray[np.intp], h2: float) -> F64:
    """Central differences of the mean loss over ``[W2; b2]``, shape (H+1, C), at step `h2`."""
    n = z.shape[0]
    za = _append_one(z).T  # (H+1, N)
    sums, e_t = E.sum(axis=1), E[np.arange(n), labels]
    target = np.arange(E.shape[1])[:, None] == labels  # (C, N): the perturbed logit is the label's
    total = np.zeros((za.shape[0], E.shape[1]))
    for a, b in _blocks(n, 2 * total.size):
        d = SIGNS[:, None, None, None] * h2 * za[None, :, None, a:b]  # (2, H+1, 1, n)
        moved = sums[a:b] + E[a:b].T * np.expm1(d)
        y = e_t[a:b] * np.where(target[:, a:b], np.exp(d), 1.0) / moved
        total += _loss_difference(y).sum(axis=-1)
    return np.asarray(total / (2 * h2 * n), dtype=np.float64)


def _horner(coeffs: F64, u: F64) -> F64:
    out = np.asarray(coeffs[-1] * np.ones_like(u), dtype=np.float64)
    for c in coeffs[-2::-1]:
        out *= u
        out += c
    return out


def hidden_layer(x: F64, a1: F64, E: F64, labels: NDArray[np.intp], W2: F64, h1: float) -> F64:
    """Central differences of the mean loss over ``[W1; b1]``, shape (D+1, H), at step `h1`.

    Only the entries ``x[n, i] != 0`` are visited: the others leave sample n's loss bitwise unchanged.
    """
    n = x.shape[0]
    xa = _append_one(x)
    cols, rows = np.nonzero(xa.T)  # the entries that move a loss, sorted by input i
    vals = xa[rows, cols]
    z_slope, z_rest = sigmoid(a1) * sigmoid(-a1), sigmoid(-a1)  # z(1 − z) and 1 − z, without cancellation
    # |u| <= |d| / 4 (and <= 1) bounds every exponent u·W2[j, c] of the perturbed softmax sum
    r = min(1.0, nm.SIGMOID_SLOPE_BOUND * h1 * float(np.max(np.abs(vals)))) * float(np.max(np.abs(W2)))
    terms = nm.series_terms(r, np.float64)
    powers = range((terms or 0) + 1)
    moments = np.stack([E @ (W2**k).T / math.factorial(k) for k in powers])  # (K+1, N, H)
    exp_coeffs = np.array([1 / math.factorial(k) for k in powers])
    w_t, e_t = W2[:, labels].T, E[np.arange(n), labels]  # (N, H), (N,)
    total = np.zeros((xa.shape[1], a1.shape[1]))
    for a, b in _blocks(rows.size, 2 * total.shape[1] * (1 if terms else E.shape[1])):
        rr, cc = rows[a:b], cols[a:b]
        g = -np.expm1(-SIGNS[:, None, None] * h1 * vals[a:b, None])  # (2, e, 1): 1 − exp(−d), d = ±h·x
        u = z_slope[rr] * g / (1 - z_rest[rr] * g)  # (2, e, H): the moved hidden unit, minus its value
        if terms:
            sums, lifted = _horner(moments[:, rr], u), _horner(exp_coeffs[:, None, None], u * w_t[rr])
        else:  # a large step or large weights: exponentiate every perturbed logit
            sums = np.einsum("ec,sehc->seh", E[rr], np.exp(u[..., None] * W2))
            lifted = np.exp(u * w_t[rr])
        diff = _loss_difference(e_t[rr, None] * lifted / sums)  # (e, H)
        starts = np.flatnonzero(np.r_[True, cc[1:] != cc[:-1]])
        total[cc[starts]] += np.add.reduceat(diff, starts, axis=0)
    return np.asarray(total / (2 * h1 * n), dtype=np.float64)


def two_layer_differences(
    params: dict[str, F64], x: F64, labels: NDArray[np.intp], h: float
) -> dict[str, F64]:
    """The central difference of ``TwoLayerNet.loss`` over every parameter, at step h."""
    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    a1 = x @ W1 + b1
    a2 = sigmoid(a1) @ W2 + b2
    E = np.exp(a2 - np.max(a2, axis=1, keepdims=True))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # reported below, not as warnings
        g1 = hidden_layer(x, a1, E, labels, W2, h)
        g2 = output_layer(sigmoid(a1), E, labels, h)
    out: dict[str, Any] = {"W1": g1[:-1], "b1": g1[-1], "W2": g2[:-1], "b2": g2[-1]}
    return out

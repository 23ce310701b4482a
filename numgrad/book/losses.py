"""Loss functions of chapter 4 and their common relatives, with the book's exact semantics.

Scores ``y`` are one sample of shape ``(C,)`` or a batch ``(N, C)``; targets ``t`` are integer labels
(shape ``()`` or ``(N,)``) or one-hot rows of ``y``'s shape. All are complex-step safe.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad.common import numerics as nm
from numgrad.common.validate import as_float_array, class_labels

__all__ = [
    "binary_cross_entropy",
    "cross_entropy_error",
    "hinge_loss",
    "huber_loss",
    "mean_squared_error",
    "softmax_cross_entropy",
    "sum_squared_error",
]

LOG_DELTA = 1e-7  # the book's delta inside log(y + delta): keeps log(0) finite


def _pair(y: ArrayLike, t: ArrayLike, func: str) -> tuple[NDArray[Any], NDArray[Any]]:
    ya = as_float_array(y, func, "y")
    ta = as_float_array(t, func, "t")
    if ya.shape != ta.shape:
        raise ValueError(f"{func}: y and t must have the same shape; got {ya.shape} and {ta.shape}")
    return ya, ta


def _target_rows(w: NDArray[Any], func: str, *, strict: bool) -> None:
    """Rows of t of y's shape are probability distributions (one-hot, or soft labels summing to 1); with
    `strict`, exactly one-hot (a 1 and zeros)."""
    sums = w.sum(axis=-1)
    tol = nm.ROW_SUM_ULPS * w.shape[-1] * nm.eps(w.dtype if w.dtype.kind == "f" else np.float64)
    bad = np.flatnonzero(np.abs(sums - 1) > tol)
    if strict and not bad.size:
        bad = np.flatnonzero(~np.all((w == 0) | (w == 1), axis=-1))
    if bad.size:
        r = int(bad[0])
        kind = (
            "one-hot (a single 1, zeros elsewhere)"
            if strict
            else "a probability distribution (one-hot, or soft labels summing to 1)"
        )
        raise ValueError(
            f"{func}: each row of t must be {kind}; row {r} sums to {sums[r]:.6g}: "
            f"{np.round(w[r], 6).tolist()[:10]}"
        )


def _scores_and_targets(
    y: ArrayLike, t: ArrayLike, func: str, *, strict: bool = False
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Scores as (N, C) and targets as one-hot-like (N, C) weights, validated."""
    ya = as_float_array(y, func, "y")
    if ya.ndim not in (1, 2) or ya.shape[-1] == 0:
        raise ValueError(f"{func}: y must have shape (C,) or (N, C) with C >= 1; got shape {ya.shape}")
    ta = np.asarray(t)
    if ta.shape == ya.shape:
        weights = as_float_array(ta, func, "t")
        if not np.all(np.isfinite(weights)) or np.any(np.real(weights) < 0):
            raise ValueError(f"{func}: one-hot t must be finite and non-negative")
        _target_rows(np.atleast_2d(np.real(weights)), func, strict=strict)
        return np.atleast_2d(ya), np.atleast_2d(weights)
    y2 = np.atleast_2d(ya)
    expected = (y2.shape[0],) if ya.ndim == 2 else ()
    if ta.shape != expected:
        raise ValueError(
            f"{func}: t must be integer labels of shape {expected} or one-hot of shape {ya.shape}; "
            f"got shape {ta.shape}"
        )
    labels = class_labels(ta, y2.shape[1], func).reshape(-1)
    weights = np.zeros(y2.shape, dtype=np.real(y2).dtype)
    weights[np.arange(y2.shape[0]), labels] = 1
    return y2, weights


def mean_squared_error(y: ArrayLike, t: ArrayLike) -> Any:
    """The book's mean squared error: ``0.5 · Σ (y − t)²`` over all elements (no batch mean).

    Examples
    --------
    >>> t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    >>> y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    >>> float(mean_squared_error(y, t))
    0.09750000000000003
    """
    ya, ta = _pair(y, t, "mean_squared_error")
    return 0.5 * np.sum((ya - ta) ** 2)


sum_squared_error = mean_squared_error  # the book's name in chapter 4's first edition


def cross_entropy_error(y: ArrayLike, t: ArrayLike) -> Any:
    """The book's cross-entropy: ``−Σ t·log(y + 1e-7) / N`` for probabilities `y`.

    `t` holds integer labels or one-hot rows; a single sample counts as N = 1.

    Raises
    ------
    TypeError
        If integer-shaped labels are floats.
    ValueError
        If a label lies outside ``[0, C)`` or the shapes do not match.

    Examples
    --------
    >>> y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    >>> float(cross_entropy_error(y, 2))
    0.510825457099338
    """
    y2, w = _scores_and_targets(y, t, "cross_entropy_error")
    return -np.sum(w * np.log(y2 + LOG_DELTA)) / y2.shape[0]


def softmax_cross_entropy(logits: ArrayLike, t: ArrayLike) -> Any:
    """Cross-entropy of ``softmax(logits)`` computed by log-sum-exp: stable for any finite logits.

    Examples
    --------
    >>> round(float(softmax_cross_entropy([[1000.0, 0.0]], [1])), 6)
    1000.0
    """
    z, w = _scores_and_targets(logits, t, "softmax_cross_entropy")
    _masked_logits(np.real(z))
    shifted = z - np.max(np.real(z), axis=-1, keepdims=True)
    log_prob = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    # a masked class (logit −inf) has probability 0: its term is 0·log 0 = 0 unless it is the target
    with np.errstate(invalid="ignore"):
        return -np.sum(np.where(w != 0, w * log_prob, 0)) / z.shape[0]


def _masked_logits(z: NDArray[Any]) -> None:
    """−inf logits mask a class; +inf, nan and rows with every class masked have no softmax."""
    if np.isnan(z).any() or np.isposinf(z).any():
        r, c = (int(i) for i in np.argwhere(np.isnan(z) | np.isposinf(z))[0])
        raise ValueError(
            f"softmax_cross_entropy: logits must be finite or -inf (a masked class); got {z[r, c]} "
            f"at {(r, c)}"
        )
    dead = np.flatnonzero(np.all(np.isneginf(z), axis=-1))
    if dead.size:
        raise ValueError(
            f"softmax_cross_entropy: row {int(dead[0])} of logits masks every class (all -inf): its "
            f"softmax is undefined"
        )


def binary_cross_entropy(y: ArrayLike, t: ArrayLike) -> Any:
    """Log loss ``−mean(t·log(y + δ) + (1 − t)·log(1 − y + δ))`` with the book's δ = 1e-7.

    Examples
    --------
    >>> round(float(binary_cross_entropy([0.9, 0.2], [1.0, 0.0])), 6)
    0.164252
    """
    ya, ta = _pair(y, t, "binary_cross_entropy")
    outside = np.flatnonzero(~((np.real(ta) >= 0) & (np.real(ta) <= 1)).reshape(-1))
    if outside.size:
        j = int(outside[0])
        raise ValueError(
            f"binary_cross_entropy: t must hold probabilities in [0, 1] (labels 0/1, or soft targets); got "
            f"{np.real(ta).reshape(-1)[j]} at position {j}"
        )
    return -np.mean(ta * np.log(ya + LOG_DELTA) + (1 - ta) * np.log(1 - ya + LOG_DELTA))


def hinge_loss(y: ArrayLike, t: ArrayLike) -> Any:
    """Hinge loss. Targets of y's shape in {−1, +1}: binary, ``mean(max(0, 1 − t·y))``. Scores (N, C)
    with integer labels (N,) or one-hot rows: multiclass SVM loss ``Σ_{j≠t} max(0, y_j − y_t + 1) / N``.

    Examples
    --------
    >>> float(hinge_loss([2.0, -0.5], [1.0, 1.0]))
    0.75
    >>> float(hinge_loss([[3.0, 1.0, 2.5]], [0]))
    0.5
    """
    ya = as_float_array(y, "hinge_loss", "y")
    ta = np.asarray(t)
    if ta.shape == ya.shape and np.all(np.isin(ta, (-1, 1))):
        margin = 1 - ta * ya
        return np.mean(np.where(np.real(margin) > 0, margin, 0))
    if ta.shape == ya.shape and not np.all(np.isin(ta, (0, 1))):
        raise ValueError(
            "hinge_loss: t of y's shape must hold binary targets -1/+1 or one-hot rows 0/1; got other values"
        )
    y2, w = _scores_and_targets(ya, ta, "hinge_loss", strict=True)
    true_score = np.sum(w * y2, axis=-1, keepdims=True)
    margins = y2 - true_score + 1
    active = (np.real(margins) > 0) & (w == 0)
    return np.sum(np.where(active, margins, 0)) / y2.shape[0]


def huber_loss(y: ArrayLike, t: ArrayLike, *, delta: float = 1.0) -> Any:
    """Huber loss, mean over elements: ``r²/2`` for ``|r| ≤ delta``, else ``delta·(|r| − delta/2)``.

    Examples
    --------
    >>> float(huber_loss([0.5, 3.0], [0.0, 0.0]))
    1.3125
    """
    if not (isinstance(delta, int | float) and delta > 0):
        raise ValueError(f"huber_loss: delta must be a positive number; got {delta!r}")
    ya, ta = _pair(y, t, "huber_loss")
    r = ya - ta
    re = np.real(r)
    inner = np.abs(re) <= delta
    return np.mean(np.where(inner, 0.5 * r * r, delta * (np.sign(re) * r - 0.5 * delta)))

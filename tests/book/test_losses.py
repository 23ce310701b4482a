"""Losses: the book's semantics, label handling, validation."""

import numpy as np
import pytest

from numgrad.book.losses import (
    binary_cross_entropy,
    cross_entropy_error,
    hinge_loss,
    huber_loss,
    mean_squared_error,
    softmax_cross_entropy,
    sum_squared_error,
)
from numgrad.common import numerics as nm

RTOL = nm.value_rtol(np.float64)


def test_sum_squared_error_is_the_same_function():
    assert sum_squared_error is mean_squared_error


def test_mse_sums_over_all_elements_without_batch_mean():
    y, t = np.ones((4, 3)), np.zeros((4, 3))
    assert mean_squared_error(y, t) == 0.5 * 12


@pytest.mark.parametrize("loss", [cross_entropy_error, softmax_cross_entropy, hinge_loss])
def test_labels_and_one_hot_agree(loss):
    rng = np.random.default_rng(0)
    y = rng.dirichlet(np.ones(5), size=8)
    labels = rng.integers(0, 5, 8)
    one_hot = np.eye(5)[labels]
    np.testing.assert_allclose(loss(y, labels), loss(y, one_hot), rtol=RTOL)
    np.testing.assert_allclose(loss(y[0], labels[0]), loss(y[:1], labels[:1]), rtol=RTOL)


def test_cross_entropy_adds_the_books_delta():
    assert cross_entropy_error(np.array([0.0, 1.0]), 0) == pytest.approx(-np.log(1e-7), rel=RTOL)


def test_softmax_cross_entropy_is_stable_and_equals_ce_of_softmax():
    z = np.array([[1000.0, 0.0, -1000.0]])
    assert softmax_cross_entropy(z, [0]) == 0.0
    assert softmax_cross_entropy(z, [2]) == pytest.approx(2000.0, rel=RTOL)
    z = np.random.default_rng(1).normal(size=(6, 4))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    t = np.arange(6) % 4
    assert softmax_cross_entropy(z, t) == pytest.approx(-np.mean(np.log(p[np.arange(6), t])), rel=1e-12)


def test_binary_cross_entropy_and_hinge_and_huber_values():
    assert binary_cross_entropy(np.array([0.9, 0.2]), np.array([1.0, 0.0])) == pytest.approx(
        -(np.log(0.9 + 1e-7) + np.log(0.8 + 1e-7)) / 2, rel=RTOL
    )
    assert hinge_loss(np.array([2.0, -0.5, 0.3]), np.array([1.0, 1.0, -1.0])) == pytest.approx(
        (0 + 1.5 + 1.3) / 3
    )
    assert hinge_loss(np.array([[3.0, 1.0, 2.5]]), np.array([0])) == pytest.approx(0.5)
    assert huber_loss(np.array([0.5, 3.0]), np.zeros(2)) == pytest.approx((0.125 + 2.5) / 2)
    assert huber_loss(np.array([3.0]), np.zeros(1), delta=2.0) == pytest.approx(2.0 * (3.0 - 1.0))


def test_caller_arrays_are_unchanged():
    y = np.random.default_rng(2).dirichlet(np.ones(4), size=3)
    t = np.array([0, 3, 1])
    y0, t0 = y.copy(), t.copy()
    for loss in (cross_entropy_error, softmax_cross_entropy, hinge_loss):
        loss(y, t)
    assert np.array_equal(y, y0)
    assert np.array_equal(t, t0)


Y = np.full((3, 10), 0.1)
BAD = [
    ("ce-label-too-large", cross_entropy_error, (Y, np.array([1, 12, 3])), ValueError, r"cross_entropy_error: labels must lie in \[0, 10\); got 12 at position 1"),
    ("ce-negative-label", cross_entropy_error, (Y, np.array([-1, 0, 0])), ValueError, r"labels must lie in \[0, 10\); got -1 at position 0"),
    ("ce-float-labels", cross_entropy_error, (Y, np.array([1.0, 2.0, 3.0])), TypeError, r"t must hold integer class labels.*got float64"),
    ("ce-label-shape", cross_entropy_error, (Y, np.array([1, 2])), ValueError, r"t must be integer labels of shape \(3,\) or one-hot of shape \(3, 10\); got shape \(2,\)"),
    ("ce-3d-scores", cross_entropy_error, (np.ones((2, 2, 2)), np.array([0, 1])), ValueError, r"y must have shape \(C,\) or \(N, C\)"),
    ("ce-negative-one-hot", cross_entropy_error, (Y, -np.ones((3, 10))), ValueError, r"one-hot t must be finite and non-negative"),
    ("sce-label-too-large", softmax_cross_entropy, (Y, np.array([0, 0, 10])), ValueError, r"softmax_cross_entropy: labels must lie in \[0, 10\); got 10 at position 2"),
    ("mse-shapes", mean_squared_error, (np.ones(3), np.ones(4)), ValueError, r"mean_squared_error: y and t must have the same shape; got \(3,\) and \(4,\)"),
    ("mse-text", mean_squared_error, (np.array(["a"]), np.array(["b"])), TypeError, r"mean_squared_error: y must be numeric"),
    ("bce-shapes", binary_cross_entropy, (np.ones(2), np.ones(3)), ValueError, r"binary_cross_entropy: y and t must have the same shape"),
    ("hinge-targets", hinge_loss, (np.ones(2), np.array([0.5, 1.0])), ValueError, r"hinge_loss: t of y's shape must hold binary targets -1/\+1 or one-hot rows 0/1"),
    ("huber-delta", huber_loss, (np.ones(2), np.ones(2)), ValueError, None),
]  # fmt: skip


@pytest.mark.parametrize(("fn", "args", "error", "match"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_input_validation(fn, args, error, match):
    if fn is huber_loss:
        with pytest.raises(ValueError, match=r"huber_loss: delta must be a positive number; got -1"):
            huber_loss(*args, delta=-1)
        return
    with pytest.raises(error, match=match):
        fn(*args)

"""numgrad.book.training: the book's SGD loop, its history record, seeding, and numerical = backprop training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from numgrad.book.data import load_mnist, one_hot
from numgrad.book.nets import TwoLayerNet
from numgrad.book.training import TrainHistory, TrainStep, train

RNG = np.random.default_rng(0)
X, T = RNG.random((30, 6)), np.arange(30) % 3
XT, TT = RNG.random((9, 6)), np.arange(9) % 3


def _net(seed=0):
    return TwoLayerNet(6, 4, 3, 0.5, seed=seed)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"net": object()}, TypeError, "train: net must be a TwoLayerNet; got object"),
        ({"x_train": np.ones((30, 5))}, ValueError, r"x_train must be \(N, 6\) with N > 0"),
        ({"t_test": np.arange(8) % 3}, ValueError, r"one-hot \(N, 3\); got \(9, 6\) and \(8,\)"),
        ({"iters": 0}, ValueError, "train: iters must be a positive integer"),
        ({"batch_size": 2.5}, ValueError, "train: batch_size must be a positive integer"),
        ({"lr": -0.1}, ValueError, "train: lr must be a positive finite number"),
        ({"lr": float("nan")}, ValueError, "train: lr must be a positive finite number"),
        ({"gradient": "adam"}, ValueError, "train: gradient must be one of 'numerical', 'backprop'"),
        ({"callback": 3}, TypeError, "train: callback must be callable or None"),
        ({"t_train": T + 0.5}, TypeError, "integer class labels"),
    ],
    ids=["not-a-net", "x-wrong-width", "t-wrong-length", "zero-iters", "fractional-batch", "negative-lr",
         "nan-lr", "unknown-gradient", "callback-not-callable", "float-labels"],
)  # fmt: skip
def test_input_validation(kwargs, error, match):
    data = {"net": _net(), "x_train": X, "t_train": T, "x_test": XT, "t_test": TT}
    positional = [kwargs.pop(k, v) for k, v in data.items()]
    with pytest.raises(error, match=match):
        train(*positional, **{"iters": 3, **kwargs})


def test_history_is_the_books_record():
    steps = []
    net = _net()
    h = train(net, X, T, XT, TT, iters=7, batch_size=10, lr=0.5, seed=1, callback=steps.append)
    assert isinstance(h, TrainHistory)
    assert h.iters_per_epoch == 3  # 30 samples, batches of 10
    assert len(h.loss) == 7
    assert h.epoch == (0.0, 1.0, 2.0, 7 / 3)  # before training, each epoch, and the end
    assert len(h.train_acc) == len(h.test_acc) == len(h.train_loss) == len(h.test_loss) == 4
    assert [s.iteration for s in steps] == list(range(1, 8))
    assert all(isinstance(s, TrainStep) and s.iters == 7 for s in steps)
    assert steps[-1].test_acc == h.final_test_acc
    assert h.test_acc[-1] == net.accuracy(XT, TT)  # the net was trained in place
    assert h.test_loss[-1] == pytest.approx(net.loss(XT, TT), rel=1e-15)
    assert h.loss[-1] == steps[-1].loss
    assert h.sizes == (6, 4, 3)
    assert json.loads(json.dumps(h.to_dict()))["loss"] == list(h.loss)
    with pytest.raises(AttributeError):
        h.lr = 1.0  # frozen


def test_training_is_seeded():
    a = train(_net(), X, T, XT, TT, iters=5, batch_size=8, lr=1.0, seed=3)
    b = train(_net(), X, T, XT, TT, iters=5, batch_size=8, lr=1.0, seed=3)
    c = train(_net(), X, T, XT, TT, iters=5, batch_size=8, lr=1.0, seed=4)
    assert a.loss == b.loss
    assert a.loss != c.loss


def test_numerical_and_backprop_training_follow_the_same_path():
    """The gradients agree to ~1e-10, so ten SGD steps end at the same weights to ~1e-9."""
    num_net, bp_net = _net(), _net()
    hn = train(num_net, X, T, XT, TT, iters=10, batch_size=10, lr=1.0, seed=0, gradient="numerical")
    hb = train(bp_net, X, T, XT, TT, iters=10, batch_size=10, lr=1.0, seed=0, gradient="backprop")
    np.testing.assert_allclose(hn.loss, hb.loss, rtol=0, atol=1e-9)
    for k in num_net.params:
        np.testing.assert_allclose(num_net.params[k], bp_net.params[k], rtol=0, atol=1e-8)
    assert (hn.gradient, hb.gradient) == ("numerical", "backprop")


def test_one_hot_targets_train_the_same():
    a, b = _net(), _net()
    ha = train(a, X, T, XT, TT, iters=4, batch_size=10, seed=0, gradient="backprop")
    hb = train(b, X, one_hot(T, 3), XT, one_hot(TT, 3), iters=4, batch_size=10, seed=0, gradient="backprop")
    assert ha.test_acc == hb.test_acc
    np.testing.assert_allclose(ha.loss, hb.loss, rtol=1e-14)


def test_training_on_the_embedded_mnist_learns():
    (x, t), (xt, tt) = load_mnist()
    h = train(TwoLayerNet(784, 10, 10, seed=0), x, t, xt, tt, iters=80, lr=2.0, gradient="backprop", seed=0)
    assert h.test_acc[0] < 0.2  # chance before training
    assert h.final_test_acc > 0.75
    assert h.loss[-1] < h.loss[0]

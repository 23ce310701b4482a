"""numgrad.book.nets: the book's nets, the structured numerical gradient against the textbook loop, backprop and
jax.grad of the JAX twin's pure loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numgrad_reference.nets as rn
import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from numgrad.book.data import one_hot
from numgrad.book.nets import BOOK_SIMPLE_W, SimpleNet, TwoLayerNet
from numgrad.checking.twins import normwise_error
from numgrad.common import numerics as nm

BOOK_X, BOOK_T = np.array([0.6, 0.9]), np.array([0, 0, 1])
BOOK_P = [1.05414809, 0.63071653, 1.1328074]  # the book's printed net.predict(x)
# The book prints 0.92806853663411326 and these dW: the values of −log(y_t), without the 1e-7 that its own
# cross_entropy_error adds. With it the loss is lower by log(1 + 1e-7 / y_t) = 2.5e-7 (y_t = 0.395).
BOOK_LOSS = 0.92806853663411326
BOOK_DW = [[0.21924763, 0.14356247, -0.36281009], [0.32887144, 0.2153437, -0.54421514]]
BOOK_DELTA_GAP = 3e-7  # what the 1e-7 inside the log moves: 2.5e-7 on the loss, at most 1.4e-7 on dW


def _net(d=4, h=3, c=2, std=0.5):
    return TwoLayerNet(d, h, c, std, seed=0)


def _batch(n=5, d=4, c=2):
    rng = np.random.default_rng(1)
    return rng.random((n, d)), rng.integers(0, c, n)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: TwoLayerNet(0, 5, 3), ValueError, "TwoLayerNet: input_size must be a positive integer"),
        (lambda: TwoLayerNet(4, 2.5, 3), ValueError, "hidden_size must be a positive integer"),
        (lambda: TwoLayerNet(4, 5, 3, -1.0), ValueError, "weight_init_std must be a non-negative number"),
        (lambda: _net().predict(np.ones((5, 3))), ValueError, r"x must be a batch of shape \(N, 4\); got"),
        (lambda: _net().predict(np.ones(4)), ValueError, r"Pass x\[None\] for one sample"),
        (lambda: _net().predict(np.array([["a"] * 4])), TypeError, "x must be numeric"),
        (lambda: _net().loss(np.ones((2, 4)), np.array([0.0, 1.0])), TypeError, "integer class labels"),
        (lambda: _net().loss(np.ones((2, 4)), np.array([0, 2])), ValueError, r"labels must lie in \[0, 2\)"),
        (lambda: _net().loss(np.ones((2, 4)), np.array([0, 1, 1])), ValueError, r"labels of shape \(2,\)"),
        (lambda: _net().accuracy(np.ones((2, 4)), np.array([[1, 1], [0, 1]])), ValueError, "row 0 does not"),
        (lambda: _net().numerical_gradient(*_batch(), mode="fast"), ValueError, "mode must be one of"),
        (lambda: _net().numerical_gradient(*_batch(), h=-1.0), ValueError, "h must be a positive finite"),
        (lambda: _net().numerical_gradient(*_batch(), h=1e300), FloatingPointError, "overflowed at step"),
        (lambda: _net().gradient(np.ones((2, 4)), np.array([0, 5])), ValueError, "labels must lie in"),
        (lambda: SimpleNet([1.0, 2.0]), ValueError, "SimpleNet: W must be a non-empty matrix"),
        (lambda: SimpleNet().predict(np.ones(3)), ValueError, r"x must have shape \(2,\) or \(N, 2\)"),
    ],
    ids=[
        "zero-input-size", "fractional-hidden", "negative-std", "x-wrong-width", "x-one-sample",
        "x-strings", "float-labels", "label-out-of-range", "labels-wrong-length", "one-hot-two-ones",
        "unknown-mode", "negative-step", "overflowing-step", "backprop-label-range", "simple-vector-W",
        "simple-wrong-x",
    ],
)  # fmt: skip
def test_input_validation(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------------------------------------
# The book's numbers


def test_simple_net_reproduces_the_book():
    net = SimpleNet(BOOK_SIMPLE_W)
    np.testing.assert_allclose(net.predict(BOOK_X), BOOK_P, atol=1e-8)
    assert int(np.argmax(net.predict(BOOK_X))) == 2
    assert net.loss(BOOK_X, BOOK_T) == pytest.approx(BOOK_LOSS, abs=BOOK_DELTA_GAP)
    without_delta = -np.log(np.exp(BOOK_P[2]) / np.sum(np.exp(BOOK_P)))
    assert net.loss(BOOK_X, BOOK_T) == pytest.approx(without_delta - 1e-7 / np.exp(-without_delta), abs=1e-8)
    np.testing.assert_allclose(net.numerical_gradient(BOOK_X, BOOK_T, h=1e-4), BOOK_DW, atol=BOOK_DELTA_GAP)


def test_simple_net_gradients_agree_with_jax():
    net, twin = SimpleNet(seed=3), rn.SimpleNet(seed=3)
    np.testing.assert_array_equal(net.W, twin.W)
    exact = twin.gradient(BOOK_X, BOOK_T)
    assert normwise_error(net.gradient(BOOK_X, BOOK_T), exact) <= nm.value_rtol(np.float64)
    assert normwise_error(net.numerical_gradient(BOOK_X, BOOK_T), exact) <= nm.accuracy("central", np.float64)
    x2, t2 = np.array([[0.6, 0.9], [0.1, -2.0]]), np.array([2, 0])
    assert normwise_error(net.gradient(x2, t2), twin.gradient(x2, t2)) <= nm.value_rtol(np.float64)


def test_two_layer_net_is_the_books():
    net = TwoLayerNet(784, 50, 10, seed=0)
    assert {k: v.shape for k, v in net.params.items()} == {
        "W1": (784, 50),
        "b1": (50,),
        "W2": (50, 10),
        "b2": (10,),
    }
    assert all(v.dtype == np.float64 for v in net.params.values())
    assert not net.params["b1"].any()
    assert not net.params["b2"].any()
    assert 0.009 < net.params["W1"].std() < 0.011  # weight_init_std = 0.01
    x = np.random.default_rng(0).random((3, 784))
    assert net.predict(x).sum(axis=1) == pytest.approx(1.0)
    assert net.loss(x, np.array([0, 1, 2])) == pytest.approx(np.log(10), abs=0.01)  # near-uniform output
    np.testing.assert_array_equal(TwoLayerNet(784, 50, 10, seed=0).params["W1"], net.params["W1"])
    np.testing.assert_array_equal(rn.TwoLayerNet(784, 50, 10, seed=0).params["W1"], net.params["W1"])


# ---------------------------------------------------------------------------------------------------
# The structured numerical gradient, the textbook loop, backprop and jax.grad


JAX_SHAPES = [(1, 1, 2, 1), (5, 3, 4, 7), (12, 8, 6, 20)]  # (D, H, C, N): JAX compiles once per shape


@st.composite
def net_problems(draw, shapes=None):
    """A random TwoLayerNet and batch: sizes, weight scale (weights beyond 1 give per-weight steps),
    sparse inputs (zeros are skipped by the structured pass), labels or one-hot targets."""
    if shapes is None:
        sizes = st.tuples(st.integers(1, 12), st.integers(1, 8), st.integers(2, 6), st.integers(1, 20))
        d, h, c, n = draw(sizes)
    else:
        d, h, c, n = draw(st.sampled_from(shapes))
    std, scale = draw(st.sampled_from([0.01, 0.5, 3.0])), draw(st.sampled_from([1.0, 5.0]))
    seed, sparsity, hot = (
        draw(st.integers(0, 2**16)),
        draw(st.sampled_from([0.0, 0.5, 0.9])),
        draw(st.booleans()),
    )
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(d, h, c, std, seed=seed)
    x = scale * rng.standard_normal((n, d)) * (rng.random((n, d)) >= sparsity)
    labels = rng.integers(0, c, n)
    note(f"TwoLayerNet({d}, {h}, {c}, {std}), N={n}, x scale {scale}, sparsity {sparsity}, one-hot {hot}")
    return net, x, one_hot(labels, c) if hot else labels


# jax.grad of the twin's pure loss, compiled once per shape (one-hot targets: the same loss as labels)
_jax_gradient = jax.jit(jax.grad(rn.two_layer_loss))


def _exact(net, x, t):
    hot = t if np.ndim(t) == 2 else one_hot(t, net.sizes[2])
    params = {k: jnp.asarray(v) for k, v in net.params.items()}
    return {k: np.asarray(v) for k, v in _jax_gradient(params, jnp.asarray(x), jnp.asarray(hot)).items()}


def _rounding(net, x, t):
    """How far two central differences at net's default steps may differ by rounding alone."""
    return nm.central_rounding(max(1.0, net.loss(x, t)), nm.net_step(np.float64), np.float64)


@given(net_problems())
def test_structured_gradient_is_the_textbook_central_difference(problem):
    """The same numbers as perturbing each parameter in place and re-evaluating the loss, within rounding."""
    net, x, t = problem
    fast, loop = net.numerical_gradient(x, t), net.numerical_gradient(x, t, mode="generic")
    worst = max(float(np.max(np.abs(fast[k] - loop[k]))) for k in fast)
    note(f"max |structured - generic| = {worst:.2e}")
    assert worst <= _rounding(net, x, t)


@given(net_problems(shapes=JAX_SHAPES))
def test_numerical_gradient_and_backprop_agree_with_jax_grad(problem):
    net, x, t = problem
    exact = _exact(net, x, t)
    numerical, backprop = net.numerical_gradient(x, t), net.gradient(x, t)
    scale = max(float(np.max(np.abs(g))) for g in exact.values())
    for k, g in exact.items():
        assert numerical[k].shape == backprop[k].shape == g.shape
        assert np.max(np.abs(numerical[k] - g)) <= nm.accuracy("central", np.float64) * scale + _rounding(
            net, x, t
        )
        assert np.max(np.abs(backprop[k] - g)) <= nm.value_rtol(np.float64) * max(scale, 1e-300)


@pytest.mark.parametrize(("h", "direct"), [(1e-4, False), (0.5, True)], ids=["book-step", "large-step"])
def test_explicit_steps_agree_with_the_generic_loop(h, direct):
    """h = 0.5 with weights of scale 3 is too large for the series: direct exponentials take over."""
    net = TwoLayerNet(6, 4, 3, 3.0, seed=2)
    x, t = 3 * np.random.default_rng(2).standard_normal((7, 6)), np.arange(7) % 3
    r = min(1.0, nm.SIGMOID_SLOPE_BOUND * np.abs(x).max() * h) * np.abs(net.params["W2"]).max()
    assert (nm.series_terms(r, np.float64) is None) == direct
    fast, loop = net.numerical_gradient(x, t, h=h), net.numerical_gradient(x, t, h=h, mode="generic")
    tolerance = nm.central_rounding(max(1.0, net.loss(x, t)), h, np.float64)
    for k in fast:
        np.testing.assert_allclose(fast[k], loop[k], rtol=0, atol=tolerance)


def test_labels_and_one_hot_give_the_same_gradients():
    net, (x, t) = _net(c=3), _batch(c=3)
    hot = one_hot(t, 3)
    for method in (net.numerical_gradient, net.gradient):
        a, b = method(x, t), method(x, hot)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    assert net.loss(x, t) == pytest.approx(net.loss(x, hot), rel=1e-15)
    assert net.accuracy(x, t) == net.accuracy(x, hot)


def test_inputs_that_are_zero_everywhere_get_an_exact_zero():
    net, (x, t) = _net(), _batch()
    x[:, 1] = 0.0
    fast, loop = net.numerical_gradient(x, t), net.numerical_gradient(x, t, mode="generic")
    assert not fast["W1"][1].any()
    assert not loop["W1"][1].any()


def test_numerical_gradient_leaves_the_parameters_bitwise_unchanged():
    net, (x, t) = _net(), _batch()
    before = {k: v.copy() for k, v in net.params.items()}
    for mode in ("structured", "generic"):
        net.numerical_gradient(x, t, mode=mode)
        for k, v in net.params.items():
            np.testing.assert_array_equal(v, before[k])


def test_jax_finite_difference_twin_agrees():
    net, twin, (x, t) = _net(), rn.TwoLayerNet(4, 3, 2, 0.5, seed=0), _batch()
    theirs, ours = twin.numerical_gradient(x, t), net.numerical_gradient(x, t)
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=0, atol=_rounding(net, x, t))
    assert twin.accuracy(x, t) == net.accuracy(x, t)
    np.testing.assert_allclose(twin.predict(x), net.predict(x), rtol=nm.value_rtol(np.float64))


def test_mnist_sized_gradient_matches_backprop():
    """The benchmark's shape, smaller batch: TwoLayerNet(784, 50, 10) on sparse image-like inputs."""
    rng = np.random.default_rng(5)
    net = TwoLayerNet(784, 50, 10, seed=5)
    x = rng.random((8, 784)) * (rng.random((8, 784)) < 0.2)
    t = rng.integers(0, 10, 8)
    fast, exact = net.numerical_gradient(x, t), net.gradient(x, t)
    assert max(float(np.max(np.abs(fast[k] - exact[k]))) for k in fast) <= 1e-9

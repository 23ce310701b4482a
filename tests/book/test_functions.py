"""Activations: stability, dtypes, any ndim, validation."""

import warnings

import numpy as np
import pytest

from numgrad.book.functions import identity_function, relu, sigmoid, softmax, step_function
from numgrad.common import numerics as nm


def test_sigmoid_has_no_overflow_warning_at_extremes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sigmoid(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]))
    assert out[0] == 0.0
    assert out[2] == 0.5
    assert out[4] == 1.0
    np.testing.assert_allclose(out[1], np.exp(-50.0), rtol=nm.value_rtol(np.float64))


@pytest.mark.parametrize("shape", [(5,), (2, 5), (2, 3, 5), (1, 2, 3, 5)], ids=str)
def test_softmax_last_axis_any_ndim_and_stable(shape):
    x = np.random.default_rng(0).normal(size=shape) * 1e4
    p = softmax(x)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=nm.value_rtol(np.float64))
    np.testing.assert_array_equal(p.argmax(axis=-1), x.argmax(axis=-1))


def test_softmax_is_shift_invariant():
    x = np.array([[0.3, 2.9, 4.0]])
    np.testing.assert_allclose(softmax(x), softmax(x + 1000), rtol=nm.value_rtol(np.float64))


@pytest.mark.parametrize("fn", [sigmoid, softmax, relu, identity_function, step_function])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(fn, dtype):
    assert fn(np.ones(3, dtype=dtype)).dtype == dtype


def test_integer_input_becomes_float64_and_caller_unchanged():
    x = np.array([-1, 0, 2])
    assert step_function(x).tolist() == [0.0, 0.0, 1.0]
    assert relu(x).dtype == np.float64
    out = identity_function(x)
    out[0] = 99
    assert x.tolist() == [-1, 0, 2]


def test_complex_step_flows_through_activations():
    h = 1e-20
    for fn, dfn in [(sigmoid, lambda v: sigmoid(v) * (1 - sigmoid(v))), (relu, lambda v: (v > 0) * 1.0)]:
        x = np.array([-2.0, 0.5, 3.0])
        np.testing.assert_allclose(np.imag(fn(x + 1j * h)) / h, dfn(x), rtol=1e-14)


@pytest.mark.parametrize(
    ("fn", "arg", "match"),
    [
        (sigmoid, np.array(["a"]), r"sigmoid: x must be numeric; got <U1 array"),
        (softmax, np.array([None]), r"softmax: x must be numeric; got object array"),
        (relu, "text", r"relu: x must be numeric"),
        (step_function, np.array([b"x"]), r"step_function: x must be numeric"),
        (identity_function, np.array([{}]), r"identity_function: x must be numeric"),
    ],
    ids=["sigmoid-str", "softmax-object", "relu-str", "step-bytes", "identity-dict"],
)
def test_input_validation(fn, arg, match):
    with pytest.raises(TypeError, match=match):
        fn(arg)

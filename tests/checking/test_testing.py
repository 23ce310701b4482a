"""numgrad.testing: the strategies draw what they promise, and a planted bug shrinks to a small input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

import numgrad.testing as nt
from numgrad import softmax, softmax_cross_entropy


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: nt.logits(0, 3), ValueError, "batch must be a positive int or a strategy; got 0"),
        (lambda: nt.labels(2, -1), ValueError, "classes must be a positive int or a strategy; got -1"),
        (lambda: nt.two_layer_params(2, True, 3), ValueError, "hidden_size must be a positive int"),
        (
            lambda: nt.float_arrays((2,), dtype=np.int32),
            TypeError,
            "dtype must be float16, float32 or float64; got int32",
        ),
        (
            lambda: nt.classification_batches(targets="soft"),
            ValueError,
            "targets must be 'labels' or 'one_hot'; got 'soft'",
        ),
    ],
    ids=[
        "logits-zero-batch",
        "labels-negative-classes",
        "params-bool-size",
        "arrays-int-dtype",
        "batches-targets",
    ],
)
def test_input_validation(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_public_names():
    assert sorted(nt.__all__) == sorted(
        ["assert_gradient_close", "assert_hessian_close", "batch_sizes", "check_gradient", "check_hessian",
         "classification_batches", "float_arrays", "labels", "logits", "one_hot_targets", "probabilities",
         "shapes", "two_layer_params", "assert_jvp_close", "assert_vjp_close", "check_jvp", "check_vjp",
         "pytree_of", "pytrees"]
    )  # fmt: skip
    for name in nt.__all__:
        assert callable(getattr(nt, name))


@given(nt.shapes(min_dims=1, max_dims=3, max_side=5))
def test_shapes_respect_bounds(shape):
    assert 1 <= len(shape) <= 3
    assert all(1 <= s <= 5 for s in shape)


@given(st.data(), st.sampled_from([np.float16, np.float32, np.float64]))
def test_float_arrays_are_finite_and_bounded(data, dtype):
    a = data.draw(nt.float_arrays((3, 4), dtype=dtype, bound=2.5))
    assert a.dtype == dtype
    assert a.shape == (3, 4)
    assert np.all(np.isfinite(a))
    assert np.all(np.abs(a) <= 2.5)
    tiny = np.finfo(dtype).tiny
    assert np.all((a == 0) | (np.abs(a) >= tiny))  # no subnormals


@given(nt.probabilities(nt.batch_sizes(max_size=5), st.integers(2, 6), dtype=np.float32))
def test_probabilities_are_rows_that_sum_to_one(p):
    note(repr(p))
    assert p.dtype == np.float32
    assert np.allclose(p.sum(axis=-1), 1.0, atol=1e-6)
    assert np.all(p >= 1e-4)


@given(nt.labels(4, 3), nt.one_hot_targets(5, 7))
def test_labels_and_one_hot(labels, one_hot):
    assert labels.shape == (4,)
    assert labels.dtype == np.int64
    assert np.all((labels >= 0) & (labels < 3))
    assert one_hot.shape == (5, 7)
    assert np.all(one_hot.sum(axis=1) == 1)


@given(nt.classification_batches(max_batch=6, max_classes=5, targets="one_hot", dtype=np.float32))
def test_classification_batches_match_in_shape(batch):
    z, t = batch
    assert z.shape == t.shape
    assert z.dtype == t.dtype == np.float32
    assert np.all(np.abs(z) <= nt.LOGIT_BOUND)


@given(nt.two_layer_params(3, st.integers(1, 4), 2, scale=0.5))
def test_two_layer_params_have_the_books_shapes(params):
    h = params["b1"].shape[0]
    assert {k: v.shape for k, v in params.items()} == {"W1": (3, h), "b1": (h,), "W2": (h, 2), "b2": (2,)}
    assert all(np.all(np.abs(v) <= 0.5) for v in params.values())


# --------------------------------------------------------------------------------------------------
# The README's example: a planted bug shrinks to the smallest batch that shows it


def forgot_one_over_n(z, labels):
    """softmax-CE gradient without the 1/N of the batch mean: right for a batch of 1, wrong after."""
    p = softmax(z)
    p[np.arange(len(labels)), labels] -= 1
    return p


def test_planted_bug_shrinks_to_a_small_failing_input():
    failing = []

    @settings(database=None, derandomize=True, max_examples=100)
    @given(nt.classification_batches())
    def test_softmax_ce_gradient(batch):
        z, labels = batch
        try:
            nt.assert_gradient_close(
                lambda v: softmax_cross_entropy(v, labels), z, forgot_one_over_n(z, labels)
            )
        except AssertionError:
            failing.append(batch)
            raise

    with pytest.raises(AssertionError, match="gradient check failed") as info:
        test_softmax_ce_gradient()
    z, labels = failing[-1]  # hypothesis replays the shrunk example last
    assert z.shape == (2, 2)
    assert np.all(z == 0)
    assert labels.tolist() == [0, 0]
    assert "analytic        -0.5" in str(info.value)
    assert "numerical       -0.25" in str(info.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: nt.batch_sizes(min_size=0), "batch_sizes' min_size must be a positive int; got 0"),
        (lambda: nt.batch_sizes(min_size=4, max_size=2), "batch_sizes needs min_size <= max_size"),
        (lambda: nt.probabilities(2, 3, min_probability=-2), "min_probability must be a finite number >= 0"),
        (lambda: nt.float_arrays((2,), bound=-1), "float_arrays' bound must be a positive finite number"),
        (lambda: nt.float_arrays((2,), bound=float("nan")), "float_arrays' bound must be a positive finite"),
        (
            lambda: nt.float_arrays((2,), dtype=np.float32, bound=1e39),
            r"float32's range \(at most 3.4e\+38\)",
        ),
    ],
)
def test_a_strategys_bad_argument_is_named_when_it_is_built(make, message):
    # before: batch sizes of 0 or below drawn, -0.0 probabilities, or hypothesis' own InvalidArgument
    with pytest.raises(ValueError, match=message):
        make()

"""numgrad.testing's pytree strategies and VJP / JVP assertions: they draw what they promise, and a wrong
backward shrinks to the smallest batch that shows it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import find, given, note, settings
from hypothesis import strategies as st

import numgrad.testing as nt
from numgrad.common.trees import flatten, is_tree


def sin_sum(tree):
    return sum(float(np.sum(np.sin(leaf.astype(np.float64)))) for leaf in flatten(tree, "t").leaves)


def cos_of(tree):
    flat = flatten(tree, "t")
    return flat.unflatten([np.cos(leaf) for leaf in flat.leaves])


@settings(max_examples=20)
@given(nt.pytrees(max_leaves=5, bound=3.0))
def test_random_pytrees_check_in_any_structure_and_dtypes(tree):
    flat = flatten(tree, "t")
    note(f"paths {flat.paths}, dtypes {[leaf.dtype.name for leaf in flat.leaves]}")
    assert 1 <= len(flat.leaves) <= 5
    assert all(leaf.dtype.kind == "f" for leaf in flat.leaves)
    report = nt.check_gradient(sin_sum, tree, cos_of(tree))
    assert report.passed, str(report)
    assert len(report.leaves) == (0 if flat.single else len(flat.leaves))


def test_pytree_of_draws_the_given_structure():
    spec = {"W": (3, 4), "b": [(4,), (2, 2)], "c": ((1,),), "s": st.just((2,))}
    tree = find(nt.pytree_of(spec, dtype=np.float32), lambda t: True)
    assert list(tree) == ["W", "b", "c", "s"]
    assert isinstance(tree["b"], list)
    assert isinstance(tree["c"], tuple)
    assert tree["W"].shape == (3, 4)
    assert tree["b"][1].shape == (2, 2)
    assert tree["W"].dtype == np.float32
    assert is_tree(tree)


def affine(p):
    return p["x"] @ p["W"] + p["b"]


def backward_first_row_only(p):
    """db = dout[0]: right for a batch of one only."""
    return lambda u: {"x": u @ p["W"].T, "W": p["x"].T @ u, "b": u[0]}


def _point(rng, batch):
    return {
        "x": rng.standard_normal((batch, 3)),
        "W": rng.standard_normal((3, 2)),
        "b": rng.standard_normal(2),
    }


def params(batch):
    return nt.pytree_of({"x": (batch, 3), "W": (3, 2), "b": (2,)}, bound=2.0)


def test_a_wrong_backward_shrinks_to_the_smallest_batch_that_shows_it():
    def fails(p):
        try:
            nt.assert_vjp_close(affine, p, backward_first_row_only(p))
        except AssertionError:
            return True
        return False

    def seeded(batch):  # values from a seed: hypothesis shrinks the batch, not every float
        return st.integers(0, 2**16).map(lambda s: _point(np.random.default_rng(s), batch))

    smallest = find(nt.batch_sizes(max_size=8).flatmap(seeded), fails, settings=settings(database=None))
    assert smallest["x"].shape == (2, 3)


@settings(max_examples=10)
@given(nt.batch_sizes(max_size=6).flatmap(params))
def test_assert_vjp_and_jvp_close_pass_on_a_correct_layer(p):
    nt.assert_vjp_close(affine, p, lambda u: {"x": u @ p["W"].T, "W": p["x"].T @ u, "b": u.sum(axis=0)})
    nt.assert_jvp_close(affine, p, lambda v: v["x"] @ p["W"] + p["x"] @ v["W"] + v["b"])


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: nt.pytrees(max_leaves=0), ValueError, "pytrees: max_leaves must be a positive int; got 0"),
        (lambda: nt.pytrees(dtypes=()), ValueError, "pytrees: dtypes must name at least one float dtype"),
        (lambda: nt.pytree_of({"W": "3x4"}), TypeError, "pytree_of: spec must be a shape .*; got str"),
    ],
    ids=["zero-leaves", "no-dtypes", "bad-spec"],
)
def test_input_validation(make, error, match):
    with pytest.raises(error, match=match):
        make()

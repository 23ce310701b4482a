"""check_hessian and assert_hessian_close on pytrees: right Hessians pass in any structure and both dtypes,
wrong ones are located by both leaves, hvp callables and the gradgradcheck case, bad input named by path."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numgrad_reference.hessian as ref_hessian
import numpy as np
import pytest
from hypothesis import given, settings

import numgrad.testing as nt
from numgrad.checking.hessian import check_hessian
from numgrad.common.guard import MutatedArgumentError

tu = jax.tree_util


def loss(p, xp=np):
    return xp.sum(p["W"] ** 2 * p["b"][0]) + xp.sin(p["b"][0]) * xp.sum(p["W"]) + xp.sum(p["b"] ** 3)


def jloss(p):
    return loss(p, jnp)


def point(dtype=np.float64):
    return {"W": np.array([[0.5, -1.0], [0.3, 2.0]], dtype=dtype), "b": np.array([0.7, -0.4], dtype=dtype)}


def exact(x):
    return ref_hessian.hessian(jloss, x)


def hvp_of(x):
    return lambda v: ref_hessian.hessian_vector_product(jloss, x, v)


def numpy_grad(p):
    return tu.tree_map(np.asarray, jax.grad(jloss)(tu.tree_map(jnp.asarray, p)))


def coupled(p, xp=np):
    leaves = [xp.reshape(v, (-1,)) for v in tu.tree_leaves(p)]
    return sum(xp.sum(xp.cos(v) * v) for v in leaves) + 0.5 * sum(xp.sum(v) for v in leaves) ** 2


@settings(max_examples=8, deadline=None)
@given(nt.pytrees(max_leaves=3, max_side=3, bound=2.0))
def test_the_exact_hessian_of_random_pytrees_passes_in_both_dtypes(x):
    before = tu.tree_map(lambda a: a.copy(), x)
    H = ref_hessian.hessian(lambda p: coupled(p, jnp), x)
    report = check_hessian(coupled, x, H)
    assert report.passed, str(report)
    for a, b in zip(tu.tree_leaves(x), tu.tree_leaves(before), strict=True):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_array_hvp_and_gradgrad_forms_pass(dtype):
    x = point(dtype)
    assert check_hessian(loss, x, exact(x)).passed
    assert check_hessian(loss, x, hvp_of(x)).passed
    assert check_hessian(loss, x, exact(x), grad=numpy_grad).passed


def test_a_missing_cross_term_is_located_by_both_leaves():
    x = point()
    H = exact(x)
    H["W"]["b"] = np.zeros_like(H["W"]["b"])  # d²f / dW db forgotten (only one side: not symmetric)
    report = check_hessian(loss, x, H)
    assert not report.passed
    assert report.worst_leaf == "['W']['b']"
    assert len(report.worst_index) == 3  # (i, j) into W, then k into b
    assert "hess['W']['b']" in report.message
    assert "not symmetric" in report.message
    blocks = {s.path: s for s in report.leaves}
    assert not blocks["['W']['b']"].passed
    assert blocks["['b']['W']"].passed
    assert blocks["['W']['W']"].passed


def test_an_hvp_with_a_factor_of_two_on_one_leaf_fails():
    x = point()
    right = hvp_of(x)

    def wrong(v):
        out = right(v)
        return {"W": out["W"], "b": 2 * out["b"]}

    report = check_hessian(loss, x, wrong)
    assert not report.passed
    assert report.worst_leaf.startswith("['b']")


def test_gradgradcheck_catches_a_wrong_gradient_function():
    x = point()

    def bad_grad(p):  # right at x's b, but its derivative in W is wrong: the W-part is not dW of f
        g = numpy_grad(p)
        return {"W": g["W"] + p["W"] ** 2, "b": g["b"]}

    report = check_hessian(loss, x, exact(x), grad=bad_grad)
    assert not report.passed
    assert report.worst_leaf == "['W']['W']"


def test_assert_hessian_close_with_pytrees():
    x = point()
    assert nt.assert_hessian_close(loss, x, exact(x)).passed
    H = exact(x)
    H["b"]["b"] = H["b"]["b"] * 2
    with pytest.raises(AssertionError, match=r"Hessian check failed\n.*hess\['b'\]\['b'\]"):
        nt.assert_hessian_close(loss, x, H)


def test_the_closure_idiom_and_the_callers_leaves_are_unchanged():
    params = point()
    before = {k: v.copy() for k, v in params.items()}
    report = check_hessian(lambda _: loss(params), params, exact(params))
    assert report.passed
    for k in params:
        assert params[k].tobytes() == before[k].tobytes()


def _without(tree, *path):
    out = tu.tree_map(lambda a: a, exact(point()))
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


def _reshaped(path, shape):
    out = exact(point())
    out[path[0]][path[1]] = np.zeros(shape)
    return out


@pytest.mark.parametrize(
    ("hess", "error", "match"),
    [
        (lambda: _without(None, "b"), ValueError, r"check_hessian: hess is missing the key 'b' at \['b'\]"),
        (lambda: _without(None, "W", "b"), ValueError, r"check_hessian: hess is missing the key 'b' at \['W'\]\['b'\]"),
        (lambda: _reshaped(("W", "b"), (2, 2)), ValueError, r"check_hessian: hess\['W'\]\['b'\] must have shape \(2, 2, 2\); got shape \(2, 2\)"),
        (lambda: np.eye(6), ValueError, r"check_hessian: hess must be a dict like x; got float64 array"),
        (lambda: (lambda v: {"W": v["W"]}), ValueError, r"check_hessian: hess\(v\) is missing the key 'b'"),
        (lambda: (lambda v: {"W": v["W"], "b": np.ones(3)}), ValueError, r"check_hessian: hess\(v\)\['b'\] must have shape \(2,\)"),
    ],
    ids=["missing-row", "missing-block", "block-shape", "array-for-tree", "hvp-missing-key", "hvp-leaf-shape"],
)  # fmt: skip
def test_input_validation(hess, error, match):
    x = point()
    before = {k: v.copy() for k, v in x.items()}
    with pytest.raises(error, match=match):
        check_hessian(loss, x, hess())
    for k in x:
        assert x[k].tobytes() == before[k].tobytes()


def loss_grad(p):
    b0 = p["b"][0]
    gb = 3 * p["b"] ** 2
    gb[0] += np.sum(p["W"] ** 2) + np.cos(b0) * np.sum(p["W"])
    return {"W": 2 * p["W"] * b0 + np.sin(b0), "b": gb}


def _grad_with(**leaves):
    return lambda p: {**loss_grad(p), **{k: v(p) for k, v in leaves.items()}}


def _grad_writing_into_b(p):
    g = loss_grad(p)
    p["b"][1] = 5.0
    return g


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize(
    ("grad", "error", "match"),
    [
        (_grad_with(W=lambda p: np.ones((2, 1))), ValueError, r"check_hessian: grad\(x\)\['W'\] must have shape \(2, 2\); got shape \(2, 1\)"),
        (lambda p: {"W": loss_grad(p)["W"]}, ValueError, r"check_hessian: grad\(x\) is missing the key 'b' at \['b'\]"),
        (_grad_with(b=lambda p: None), TypeError, r"check_hessian: grad\(x\)\['b'\] must be a real numeric array of shape \(2,\); got NoneType"),
        (lambda p: None, ValueError, r"check_hessian: grad\(x\) must be a dict like x; got NoneType"),
        (_grad_with(b=lambda p: np.array([0.0, np.nan])), FloatingPointError, "check_hessian: grad returned a non-finite value"),
        (_grad_writing_into_b, MutatedArgumentError, r"check_hessian: grad wrote into its argument \(element \(1,\) of x\['b'\]"),
    ],
    ids=["leaf-shape", "missing-key", "none-leaf", "none", "nan", "writes"],
)  # fmt: skip
def test_a_bad_result_of_grad_is_named_by_path_in_both_modes(grad, error, match, mode):
    x = point()
    before = {k: v.copy() for k, v in x.items()}
    assert check_hessian(loss, x, exact(x), grad=loss_grad, mode=mode).passed
    with pytest.raises(error, match=match):
        check_hessian(loss, x, exact(x), grad=grad, mode=mode)
    for k in x:
        assert x[k].tobytes() == before[k].tobytes()


def test_a_non_finite_grad_at_x_is_located_in_full_mode():
    x = point(np.float32)
    bad = _grad_with(b=lambda p: np.array([0.0, np.inf]))
    with pytest.raises(
        FloatingPointError,
        match=r"check_hessian: grad returned a non-finite value \(inf\) at x itself, in grad\(x\)\['b'\]\[1\]",
    ):
        check_hessian(loss, x, exact(x), grad=bad)

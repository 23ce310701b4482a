"""hessian, hessian_vector_product and the estimates on pytrees, against their JAX twins; steps shrunk at
the edge of f's domain; the closure idiom; bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numgrad_reference.estimate as ref_estimate
import numgrad_reference.hessian as ref_hessian
import numpy as np
import pytest
from hypothesis import given, note, settings

import numgrad.testing as nt
from numgrad import MutatedArgumentError, NumericalWarning
from numgrad.checking.twins import normwise_error
from numgrad.common import numerics as nm
from numgrad.common.trees import float_leaves
from numgrad.differences.estimate import estimate_gradient, estimate_hessian, estimate_jacobian
from numgrad.differences.hessian import hessian, hessian_vector_product
from numgrad.differences.joined import joined_dtype


def coupled(p, xp=np):
    """Every leaf of the pytree p, coupled to every other by the squared total (leaves of any nesting)."""
    leaves = jax.tree_util.tree_leaves(p)
    flat = [xp.reshape(v, (-1,)) for v in leaves]
    total = sum(xp.sum(v) for v in flat)
    return (
        sum(xp.sum(xp.sin(v) * v**2) for v in flat)
        + 0.5 * total**2
        + xp.log(1 + sum(xp.sum(v * v) for v in flat))
    )


def jcoupled(p):
    return coupled(p, jnp)


def joined_matrix(tree_of_trees, x):
    """A tree-of-trees Hessian of x as one (N, N) float64 matrix (rows and columns in JAX's leaf order)."""
    rows = jax.tree_util.tree_structure(x).flatten_up_to(tree_of_trees)  # JAX's leaf order (sorted keys)
    sizes = [np.size(v) for v in jax.tree_util.tree_leaves(x)]
    return np.block([[np.asarray(b, dtype=np.float64).reshape(sizes[i], sizes[j])
                      for j, b in enumerate(jax.tree_util.tree_leaves(r))] for i, r in enumerate(rows)])  # fmt: skip


def vector(tree):
    return np.concatenate(
        [np.ravel(np.asarray(v, dtype=np.float64)) for v in jax.tree_util.tree_leaves(tree)]
    )


def accuracy(x):
    return nm.hessian_accuracy(joined_dtype(float_leaves(x, "test")))


@settings(max_examples=10, deadline=None)
@given(nt.pytrees(max_leaves=4, max_side=3, bound=2.0))
def test_hessian_of_random_pytrees_matches_jax(x):
    H = hessian(coupled, x)
    exact = ref_hessian.hessian(jcoupled, x)
    note(f"leaves: {[(np.shape(v), np.asarray(v).dtype) for v in jax.tree_util.tree_leaves(x)]}")
    assert jax.tree_util.tree_structure(H) == jax.tree_util.tree_structure(exact)
    for ours, theirs in zip(jax.tree_util.tree_leaves(H), jax.tree_util.tree_leaves(exact), strict=True):
        assert ours.shape == theirs.shape
        assert ours.dtype == theirs.dtype
    M = joined_matrix(H, x)
    np.testing.assert_array_equal(M, M.T)
    assert normwise_error(M, joined_matrix(exact, x)) <= accuracy(x)


@settings(max_examples=10, deadline=None)
@given(nt.pytrees(max_leaves=4, max_side=3, bound=2.0))
def test_hessian_vector_product_of_random_pytrees_matches_jvp_of_grad(x):
    v = jax.tree_util.tree_map(lambda a: np.cos(np.arange(a.size) + 1.0).reshape(a.shape).astype(a.dtype), x)
    exact = vector(ref_hessian.hessian_vector_product(jcoupled, x, v))
    ours = hessian_vector_product(coupled, x, v)
    assert jax.tree_util.tree_structure(ours) == jax.tree_util.tree_structure(x)
    assert normwise_error(vector(ours), exact) <= accuracy(x)
    grad = jax.grad(jcoupled)

    def g(p):
        return jax.tree_util.tree_map(np.asarray, grad(jax.tree_util.tree_map(jnp.asarray, p)))

    with_grad = hessian_vector_product(coupled, x, v, grad=g)
    flat = float_leaves(x, "test")
    coarsest = max((leaf.dtype for leaf in flat.leaves), key=nm.eps)  # each leaf comes back in its dtype
    tol = max(nm.accuracy("central", joined_dtype(flat)), nm.analytic_floor(coarsest))
    assert normwise_error(vector(with_grad), exact) <= tol


@settings(max_examples=8, deadline=None)
@given(nt.pytrees(max_leaves=3, max_side=3, bound=2.0))
def test_estimates_of_random_pytrees_bound_their_error_and_keep_the_structure(x):
    exact_g = ref_estimate.estimate_gradient(jcoupled, x).derivative
    g = estimate_gradient(coupled, x)
    assert jax.tree_util.tree_structure(g.derivative) == jax.tree_util.tree_structure(x)
    assert jax.tree_util.tree_structure(g.step) == jax.tree_util.tree_structure(x)
    # the reported error bounds the true one on every element (float32 leaves are differenced in float32)
    true = np.abs(vector(g.derivative) - vector(exact_g))
    assert np.all(true <= vector(g.error))
    e = estimate_hessian(coupled, x)
    exact_h = ref_hessian.hessian(jcoupled, x)
    true_h = np.abs(joined_matrix(e.derivative, x) - joined_matrix(exact_h, x))
    assert np.all(true_h <= joined_matrix(e.error, x))


def test_estimate_jacobian_leaves_have_shape_out_plus_leaf():
    x = {"a": np.array([1.0, 2.0]), "B": np.ones((2, 3))}
    e = estimate_jacobian(lambda p: p["a"] @ p["B"], x)
    assert e.derivative["a"].shape == e.error["a"].shape == e.unreliable["a"].shape == (3, 2)
    assert e.derivative["B"].shape == (3, 2, 3)
    np.testing.assert_allclose(e.derivative["a"], np.ones((3, 2)), atol=e.error["a"].max())
    assert e.step["B"].shape == (2, 3)


def test_the_closure_idiom_over_a_params_dict():
    params = {"w": np.array([0.3, -0.7]), "b": np.array([0.2])}
    before = {k: v.copy() for k, v in params.items()}

    def loss(_):  # reads the dict it closes over, not its argument
        return np.sum(params["w"] ** 2 * params["b"][0]) + np.sin(params["b"][0])

    H = hessian(loss, params)
    np.testing.assert_allclose(H["w"]["w"], np.diag([0.4, 0.4]), atol=1e-7)
    np.testing.assert_allclose(H["w"]["b"][:, 0], 2 * params["w"], atol=1e-7)
    np.testing.assert_allclose(H["b"]["b"], [[-np.sin(0.2)]], atol=1e-7)
    for k, value in params.items():
        assert value.tobytes() == before[k].tobytes()


def test_an_f_that_writes_into_a_leaf_is_named_and_the_leaf_restored():
    x = {"a": np.array([1.0, 2.0]), "b": np.array([3.0])}
    before = x["b"].copy()

    def f(p):
        p["b"][0] = 7.0
        return np.sum(p["a"] ** 2)

    with pytest.raises(MutatedArgumentError, match=r"x\['b'\]"):
        hessian(f, x)
    assert x["b"].tobytes() == before.tobytes()


def test_mixed_dtypes_are_joined_in_float64_and_blocks_keep_the_leaves_dtypes():
    x = {"a": np.array([0.5, 1.0], dtype=np.float32), "b": np.array([2.0])}
    seen = []

    def f(p):
        seen.append(p["a"].dtype)
        return np.sum(p["a"] ** 2) * p["b"][0]

    H = hessian(f, x)
    assert set(seen) == {np.dtype(np.float64)}
    assert H["a"]["a"].dtype == np.float32  # each block in result_type of its two leaves, as JAX's twin
    assert H["a"]["b"].dtype == H["b"]["a"].dtype == np.float64
    np.testing.assert_allclose(H["a"]["b"][:, 0], [1.0, 2.0], rtol=nm.hessian_accuracy(np.float64))


# --------------------------------------------------------------------------------------------------
# Domain shrinking


def sqrt_log(x, xp=np):
    return xp.sum(xp.sqrt(x)) + xp.log(x[0]) * x[-1]


@pytest.mark.parametrize("x0", [1e-7, 1e-5, 2e-4], ids=["1e-7", "1e-5", "2e-4"])
def test_steps_that_leave_the_domain_are_shrunk(x0):
    x = np.array([x0, 0.5])
    H = hessian(sqrt_log, x)  # the default step, eps**(1/4) ≈ 1.2e-4, reaches below 0 from x0
    exact = ref_hessian.hessian(lambda z: sqrt_log(z, jnp), x)
    assert normwise_error(H, exact) <= nm.hessian_accuracy(np.float64)
    e = estimate_hessian(sqrt_log, x)
    assert e.step[0] < nm.hessian_base_step(np.float64)
    assert np.all(np.abs(e.derivative - exact) <= e.error)


def test_a_step_that_stays_inside_but_is_too_coarse_is_flagged_not_shrunk():
    x = np.array([3e-4, 0.5])  # x - 2h > 0: no point leaves the domain, but sqrt varies on the scale 3e-4
    with pytest.warns(NumericalWarning, match=r"hessian: .* unreliable .* first at d²f / dx\[0\] dx\[0\]"):
        hessian(sqrt_log, x)
    assert estimate_hessian(sqrt_log, x).unreliable[0, 0]


def test_a_domain_error_raised_by_f_shrinks_the_step_too():
    def strict(x):
        with np.errstate(all="raise"):
            return float(np.sum(np.sqrt(x)))

    x = np.array([1e-5, 0.5])
    H = hessian(strict, x)
    np.testing.assert_allclose(np.diag(H), -0.25 * x**-1.5, rtol=nm.hessian_accuracy(np.float64))


def test_a_pytree_leaf_near_the_edge_of_the_domain_is_shrunk():
    x = {"near": np.array([2e-5]), "far": np.array([1.0, 2.0])}
    H = hessian(lambda p: np.sum(np.sqrt(p["near"])) * np.sum(p["far"]), x)
    np.testing.assert_allclose(H["near"]["near"], [[-0.25 * 2e-5**-1.5 * 3.0]], rtol=1e-6)
    np.testing.assert_allclose(H["near"]["far"], [[0.5 / np.sqrt(2e-5)] * 2], rtol=1e-6)


def test_a_given_step_is_not_shrunk_and_the_error_names_the_coordinate():
    with pytest.raises(
        FloatingPointError, match=r"hessian: .* first x\[0\] = 1e-05; the given step h is not shrunk"
    ):
        hessian(sqrt_log, np.array([1e-5, 0.5]), h=1e-3)


def test_a_domain_that_ends_at_x_is_a_clear_error_naming_the_leaf():
    def edge(p):  # defined for a >= 1 only: no step keeps x - h inside
        return np.sum(np.sqrt(p["a"] - 1.0)) + np.sum(p["b"] ** 2)

    x = {"b": np.array([0.5]), "a": np.array([2.0, 1.0])}
    with pytest.raises(
        FloatingPointError, match=r"hessian: .* first x\['a'\]\[1\] = 1; even after shrinking"
    ):
        hessian(edge, x)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: hessian(coupled, {"a": np.ones(2)}, batched=True), ValueError, "hessian: batched=True needs x to be a single array"),
        (lambda: hessian(coupled, {"a": np.ones(2)}, h=np.ones(2)), ValueError, "hessian: h must be a number or None when x is a pytree"),
        (lambda: hessian(coupled, {"a": np.array([1, 2])}), TypeError, r"hessian: every leaf of x must be a float array .* at \['a'\]"),
        (lambda: hessian(coupled, {"a": np.array([1.0, np.nan])}), ValueError, r"hessian: x\['a'\] must be finite"),
        (lambda: hessian_vector_product(coupled, {"a": np.ones(2)}, {"b": np.ones(2)}), ValueError, "hessian_vector_product: v is missing the key 'a'"),
        (lambda: hessian_vector_product(coupled, {"a": np.ones(2)}, {"a": np.ones(3)}), ValueError, r"hessian_vector_product: v\['a'\] must have shape \(2,\); got shape \(3,\)"),
        (lambda: hessian_vector_product(coupled, [np.ones(2)], [np.zeros(2)]), ValueError, "v must be finite and non-zero"),
        (lambda: hessian_vector_product(coupled, {"a": np.ones(2)}, {"a": np.ones(2)}, grad=lambda p: {"a": np.ones(3)}), ValueError, r"grad\(x\)\['a'\] must have shape \(2,\)"),
        (lambda: estimate_gradient(coupled, {"a": np.ones(2)}, batched=True), ValueError, "estimate_gradient: batched=True needs x"),
        (lambda: estimate_hessian(coupled, [np.ones(2), np.ones(1, dtype=int)]), TypeError, r"estimate_hessian: every leaf of x must be a float array .* at \[1\]"),
    ],
    ids=["batched", "h-array", "int-leaf", "nan-leaf", "v-missing-key", "v-leaf-shape", "v-zero", "grad-structure",
         "estimate-batched", "estimate-int-leaf"],
)  # fmt: skip
def test_input_validation(call, error, match):
    with pytest.raises(error, match=match):
        call()

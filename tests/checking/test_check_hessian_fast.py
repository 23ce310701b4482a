"""check_hessian(mode="fast"): uᵀHw along seeded random direction pairs, 24 evaluations whatever n; right
Hessians pass in both dtypes (no false alarms), wrong ones (a missing mixed term, a factor of 2, an
antisymmetric error) fail; the same for hvp callables, the gradgradcheck case and pytrees."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numgrad_reference.hessian as ref_hessian
import numpy as np
import pytest
from hypothesis import given, settings

import numgrad.testing as nt
from numgrad.checking.hessian import check_hessian
from numgrad.common import numerics as nm

tu = jax.tree_util
PAIRS_COST = 8 * nm.HESSIAN_FAST_PAIRS  # 4 points at s and at 2s per pair


def smooth(x, xp=np):
    v = xp.reshape(x, (-1,))
    return xp.sum(xp.sin(v) * v**2) + 0.5 * xp.sum(v) ** 2 + v[0] * v[-1]


def jsmooth(x):
    return smooth(x, jnp)


def exact(x):
    return np.asarray(jax.hessian(jsmooth)(jnp.asarray(x, dtype=jnp.float64)))


def numpy_grad(x):
    return np.asarray(jax.grad(jsmooth)(jnp.asarray(x))).astype(x.dtype)


@pytest.fixture
def x():
    return np.random.default_rng(3).standard_normal(40)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_right_hessians_pass_at_a_fixed_cost(x, dtype):
    xd = x.astype(dtype)
    H = exact(xd)
    probe = int(dtype == np.float32)  # a float32 x: one call to see that f computes in float64
    r = check_hessian(smooth, xd, H, mode="fast")
    assert r.passed, str(r)
    assert r.mode == "fast"
    assert r.nfev == PAIRS_COST + probe
    assert r.abs_errors.shape == (nm.HESSIAN_FAST_PAIRS,)
    assert check_hessian(smooth, xd, lambda v: H @ v, mode="fast").passed
    with_grad = check_hessian(smooth, xd, H, grad=numpy_grad, mode="fast")
    assert with_grad.passed, str(with_grad)
    assert with_grad.nfev == 4 * nm.HESSIAN_FAST_PAIRS + probe  # calls of grad


def _missing_mixed(H):
    H = H.copy()
    H[0, -1] = H[-1, 0] = 0.0
    return H


def _antisymmetric(H):
    A = np.triu(np.full(H.shape, 0.05), 1)
    return H + A - A.T  # the same symmetric part: uᵀHu cannot see it, uᵀHw can


@pytest.mark.parametrize(
    "wrong",
    [_missing_mixed, lambda H: 2 * H, _antisymmetric, lambda H: H + np.diag(np.full(len(H), 1e-3))],
    ids=["missing-mixed-term", "factor-2", "antisymmetric", "small-diagonal-shift"],
)
def test_wrong_hessians_fail(x, wrong):
    r = check_hessian(smooth, x, wrong(exact(x)), mode="fast")
    assert not r.passed
    assert "run mode='full' to locate" in r.message


def test_a_wrong_gradient_function_fails_the_gradgrad_check(x):
    r = check_hessian(smooth, x, exact(x), grad=lambda v: numpy_grad(v) + 0.01 * v**2, mode="fast")
    assert not r.passed


def test_the_seed_fixes_the_directions(x):
    H = _missing_mixed(exact(x))
    a, b = (check_hessian(smooth, x, H, mode="fast", seed=7) for _ in range(2))
    np.testing.assert_array_equal(a.numerical_values, b.numerical_values)
    c = check_hessian(smooth, x, H, mode="fast", seed=8)
    assert not np.array_equal(a.analytic_values, c.analytic_values)


def test_the_closure_idiom_in_float32():
    w = np.array([0.3, -0.8, 1.1], dtype=np.float32)
    before = w.copy()
    H = exact(w)
    r = check_hessian(lambda _: smooth(w), w, H, mode="fast")
    assert r.passed, str(r)
    assert w.tobytes() == before.tobytes()


def coupled(p, xp=np):
    leaves = [xp.reshape(v, (-1,)) for v in tu.tree_leaves(p)]
    return sum(xp.sum(xp.cos(v) * v) for v in leaves) + 0.5 * sum(xp.sum(v) for v in leaves) ** 2


@settings(max_examples=10, deadline=None)
@given(nt.pytrees(max_leaves=3, max_side=3, bound=2.0))
def test_exact_hessians_of_random_pytrees_pass_in_fast_mode(tree):
    before = tu.tree_map(lambda a: a.copy(), tree)
    H = ref_hessian.hessian(lambda p: coupled(p, jnp), tree)
    r = check_hessian(coupled, tree, H, mode="fast", seed=1)
    assert r.passed, str(r)
    for a, b in zip(tu.tree_leaves(tree), tu.tree_leaves(before), strict=True):
        assert a.tobytes() == b.tobytes()


def test_a_wrong_block_of_a_pytree_hessian_fails():
    p = {"W": np.array([[0.5, -1.0], [0.3, 2.0]]), "b": np.array([0.7, -0.4])}
    H = ref_hessian.hessian(lambda q: coupled(q, jnp), p)
    H["W"]["b"] = H["W"]["b"] * 0
    assert not check_hessian(coupled, p, H, mode="fast").passed
    hvp = lambda v: ref_hessian.hessian_vector_product(lambda q: coupled(q, jnp), p, v)  # noqa: E731
    assert check_hessian(coupled, p, hvp, mode="fast").passed


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "quick"}, ValueError, "check_hessian: mode must be one of"),
        ({"mode": "fast", "seed": -1}, ValueError, "check_hessian: seed must be a non-negative int"),
        ({"mode": "fast", "seed": 1.5}, TypeError, "check_hessian: seed must be a non-negative int"),
    ],
    ids=["mode", "negative-seed", "float-seed"],
)
def test_input_validation(x, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_hessian(smooth, x, exact(x), **kwargs)

"""check_vjp / check_jvp / check_jacobian against jax.vjp / jax.jvp / jax.jacfwd, and the pytree
numerical_gradient / jacobian against their JAX twins and jax.grad, across random pytree structures,
shapes, batch sizes and both dtypes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numgrad_reference.gradient as rg
import numpy as np
from hypothesis import given, note, settings
from hypothesis import strategies as st

import numgrad
import numgrad.testing as nt
from numgrad.checking.twins import normwise_error
from numgrad.common import numerics as nm
from numgrad.common.trees import flatten, match

EXAMPLES = 6  # each example traces JAX afresh (new shapes): keep the suite's time small


def leaves_in_order(tree):
    """Leaves with dict keys sorted (JAX rebuilds dicts sorted), for NumPy and JAX arrays alike."""
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in leaves_in_order(tree[k])]
    if isinstance(tree, list | tuple):
        return [leaf for v in tree for leaf in leaves_in_order(v)]
    return [tree]


class Family:
    """y = tanh(z·A) + 0.1·(z·B)², shape (batch, m), z the leaves raveled and concatenated."""

    def __init__(self, tree, batch, m, seed):
        n = sum(np.size(leaf) for leaf in leaves_in_order(tree))
        r = np.random.default_rng(seed)
        self.A = r.standard_normal((n, batch * m)) / np.sqrt(n)
        self.B = r.standard_normal((n, batch * m)) / np.sqrt(n)
        self.shape = (batch, m)

    def __call__(self, tree, xp=np):
        z = xp.concatenate([xp.ravel(leaf) for leaf in leaves_in_order(tree)])
        return (xp.tanh(z @ self.A) + 0.1 * (z @ self.B) ** 2).reshape(self.shape)

    def jax(self, tree):
        return self(tree, jnp)


def to_jax(tree):
    return jax.tree_util.tree_map(jnp.asarray, tree)


def to_numpy(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


@st.composite
def problems(draw):
    tree = draw(nt.pytrees(max_leaves=4, max_side=3, bound=2.0))
    batch, m, seed = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(0, 2**16))
    flat = flatten(tree, "t")
    note(
        f"leaves {list(zip(flat.paths, [leaf.shape for leaf in flat.leaves], [leaf.dtype.name for leaf in flat.leaves], strict=True))}, batch {batch}, m {m}, seed {seed}"
    )
    return tree, Family(tree, batch, m, seed), flat


def planted(flat, grads, rng):
    """The analytic leaves with one element moved by 1e-3 of the largest |entry|: far above noise."""
    k = int(rng.integers(len(flat.leaves)))
    leaves = [np.array(g, dtype=np.float64 if g.dtype == np.float64 else g.dtype) for g in grads]
    big = max(float(np.max(np.abs(g))) for g in grads)
    j = int(rng.integers(leaves[k].size))
    leaves[k].reshape(-1)[j] += 1e-3 * big
    return k, tuple(int(i) for i in np.unravel_index(j, leaves[k].shape)), flat.unflatten(leaves)


@settings(max_examples=EXAMPLES)
@given(problems())
def test_check_vjp_agrees_with_jax_vjp_and_catches_a_planted_bug(drawn):
    tree, f, flat = drawn
    pullback = jax.jit(lambda t, u: jax.vjp(f.jax, t)[1](u)[0])  # one compilation, not one per op
    primal = to_jax(tree)
    vjp = lambda u: to_numpy(pullback(primal, jnp.asarray(u)))  # noqa: E731
    r = numgrad.check_vjp(f, tree, vjp)
    assert r.passed, str(r)
    u_seen = {}

    def recording(u):
        u_seen["u"] = u
        return vjp(u)

    numgrad.check_vjp(f, tree, recording)
    grads = match(flat, vjp(u_seen["u"]), "t", "vjp")
    k, j, bad = planted(flat, grads, np.random.default_rng(0))
    wrong = numgrad.check_vjp(f, tree, lambda u: bad)
    assert not wrong.passed
    assert (wrong.worst_leaf, wrong.worst_index) == (flat.paths[k], j)


@settings(max_examples=EXAMPLES)
@given(problems())
def test_check_jvp_agrees_with_jax_jvp(drawn):
    tree, f, flat = drawn
    dtypes = [leaf.dtype for leaf in flat.leaves]
    forward = jax.jit(lambda t, v: jax.jvp(f.jax, (t,), (v,))[1])
    primal = to_jax(tree)

    def jvp(v):
        tangent = flat.unflatten(
            [jnp.asarray(t, dtype=d) for t, d in zip(match(flat, v, "t", "v"), dtypes, strict=True)]
        )
        return np.asarray(forward(primal, tangent))

    for mode in ("full", "fast"):
        r = numgrad.check_jvp(f, tree, jvp, mode=mode)
        assert r.passed, str(r)
    k = len(flat.leaves) - 1
    wrong = numgrad.check_jvp(f, tree, lambda v: jvp(v) + 1e-2 * np.sum(match(flat, v, "t", "v")[k]))
    assert not wrong.passed
    assert wrong.worst_leaf == flat.paths[k]


@settings(max_examples=EXAMPLES)
@given(problems())
def test_check_jacobian_agrees_with_jax_jacfwd_and_names_the_pair(drawn):
    tree, f, flat = drawn
    jac = to_numpy(jax.jit(jax.jacfwd(f.jax))(to_jax(tree)))
    assert numgrad.check_jacobian(f, tree, jac).passed
    leaves = [
        np.array(j)
        for j in match(flat, jac, "t", "jac", shape_of=lambda k: (*f.shape, *flat.leaves[k].shape))
    ]
    k = len(leaves) - 1
    out = (f.shape[0] - 1, 0)
    inner = (0,) * flat.leaves[k].ndim
    leaves[k][(*out, *inner)] += 1e-2 * max(float(np.max(np.abs(j))) for j in leaves)
    r = numgrad.check_jacobian(f, tree, flat.unflatten(leaves))
    assert not r.passed
    assert (r.worst_leaf, r.worst_index, r.worst_output) == (flat.paths[k], inner, out)


@settings(max_examples=EXAMPLES - 2)  # the twins compile jit(vmap(f)) per leaf, twice
@given(problems())
def test_pytree_numerical_gradient_and_jacobian_match_their_twins_and_jax(drawn):
    tree, f, flat = drawn
    w = np.linspace(0.5, 1.5, num=int(np.prod(f.shape))).reshape(f.shape)
    g_np = lambda t: np.sum(w * f(t))  # noqa: E731
    g_jax = lambda t: jnp.sum(w * f.jax(t))  # noqa: E731
    exact = match(
        flat,
        to_numpy(
            jax.jit(jax.grad(g_jax))(jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), tree))
        ),
        "t",
        "grad",
    )
    ours = match(flat, numgrad.numerical_gradient(g_np, tree), "t", "ours")
    theirs = match(flat, rg.numerical_gradient(g_jax, tree), "t", "twin")
    assert [o.dtype for o in ours] == [leaf.dtype for leaf in flat.leaves]
    for leaf, e, o, t in zip(flat.leaves, exact, ours, theirs, strict=True):
        tolerance = nm.accuracy("central", leaf.dtype)
        assert normwise_error(o, e) <= tolerance * max(1.0, len(flat.leaves))
        assert normwise_error(t, e) <= tolerance * max(1.0, len(flat.leaves))
    jac_ours = numgrad.jacobian(f, tree)
    jac_twin = rg.jacobian(f.jax, tree)
    shape_of = lambda k: (*f.shape, *flat.leaves[k].shape)  # noqa: E731
    for leaf, a, b in zip(
        flat.leaves,
        match(flat, jac_ours, "t", "j", shape_of=shape_of),
        match(flat, jac_twin, "t", "j", shape_of=shape_of),
        strict=True,
    ):
        assert normwise_error(a, b) <= 2 * nm.accuracy("central", leaf.dtype) * max(1.0, len(flat.leaves))

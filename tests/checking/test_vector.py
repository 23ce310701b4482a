"""numgrad.checking.vector: check_vjp / check_jvp / check_jacobian on arrays and pytrees, with bad input
named by leaf, the evaluation budgets, float32 without false alarms, and kinks as kinks."""

from __future__ import annotations

import json

import numpy as np
import pytest

import numgrad
from numgrad.checking.vector import (
    assert_jvp_close,
    assert_vjp_close,
    check_jacobian,
    check_jvp,
    check_vjp,
    cotangent,
)

DTYPES = [np.float64, np.float32]
RNG = np.random.default_rng(3)
W = RNG.standard_normal((4, 3))
X = RNG.standard_normal(4)


def tanh_layer(v):
    return np.tanh(v @ W)


def tanh_vjp(u):
    return W @ (u * (1 - np.tanh(X @ W) ** 2))


def tanh_jvp(v):
    return (1 - np.tanh(X @ W) ** 2) * (v @ W)


def tanh_jac(v):
    return (1 - np.tanh(v @ W) ** 2)[:, None] * W.T


def affine(p):
    return p["x"] @ p["W"] + p["b"]


def affine_point(dtype=np.float64, seed=0):
    r = np.random.default_rng(seed)
    return {"x": r.standard_normal((3, 4)).astype(dtype), "W": r.standard_normal((4, 2)).astype(dtype),
            "b": r.standard_normal(2).astype(dtype)}  # fmt: skip


def affine_vjp(p):
    return lambda u: {"x": u @ p["W"].T, "W": p["x"].T @ u, "b": u.sum(axis=0)}


# --------------------------------------------------------------------------------------------------
# Validation


P = affine_point()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: check_vjp(3, X, tanh_vjp), TypeError, "check_vjp: f must be callable; got int"),
        (lambda: check_vjp(tanh_layer, X, "vjp"), TypeError, "check_vjp: vjp must be callable; got str"),
        (lambda: check_jvp(tanh_layer, X, None), TypeError, "check_jvp: jvp must be callable; got NoneType"),
        (
            lambda: check_vjp(tanh_layer, np.array([1, 2, 3, 4]), tanh_vjp),
            TypeError,
            r"check_vjp: x must be a floating array",
        ),
        (
            lambda: check_vjp(affine, {**P, "b": 1.0}, affine_vjp(P)),
            TypeError,
            r"check_vjp: every leaf of x must be a NumPy float array; got float at \['b'\]",
        ),
        (
            lambda: check_vjp(affine, P, lambda u: {"x": u @ P["W"].T, "W": P["x"].T @ u}),
            ValueError,
            r"check_vjp: vjp\(u\) is missing the key 'b' at \['b'\]",
        ),
        (
            lambda: check_vjp(affine, P, lambda u: {**affine_vjp(P)(u), "c": u}),
            ValueError,
            r"check_vjp: vjp\(u\) has an extra key 'c' at \['c'\]",
        ),
        (
            lambda: check_vjp(affine, P, lambda u: {**affine_vjp(P)(u), "W": (P["x"].T @ u).T}),
            ValueError,
            r"vjp\(u\)\['W'\] must have shape \(4, 2\); got shape \(2, 4\): it is the transpose",
        ),
        (
            lambda: check_vjp(affine, P, lambda u: [u]),
            ValueError,
            r"check_vjp: vjp\(u\) must be a dict like x; got a list of 1 items",
        ),
        (
            lambda: check_vjp(tanh_layer, X, lambda u: (tanh_vjp(u),)),
            ValueError,
            r"check_vjp: vjp\(u\) must be an array of shape \(4,\) like x; got a tuple",
        ),
        (
            lambda: check_vjp(tanh_layer, X, lambda u: np.ones(3)),
            ValueError,
            r"check_vjp: vjp\(u\) must have shape \(4,\); got shape \(3,\)",
        ),
        (
            lambda: check_vjp(lambda v: "s", X, tanh_vjp),
            TypeError,
            "check_vjp: f must return a floating array; got <U1",
        ),
        (
            lambda: check_vjp(lambda v: np.arange(3), X, tanh_vjp),
            TypeError,
            "check_vjp: f must return a floating array; got int64",
        ),
        (
            lambda: check_vjp(tanh_layer, X, tanh_vjp, mode="quick"),
            ValueError,
            "check_vjp: mode must be one of 'full', 'fast'; got 'quick'",
        ),
        (
            lambda: check_vjp(tanh_layer, X, tanh_vjp, rtol=-1.0),
            ValueError,
            "check_vjp: rtol must be finite and non-negative",
        ),
        (lambda: check_vjp(tanh_layer, X, tanh_vjp, seed="a"), TypeError, "check_vjp: seed must be a non-negative int"),
        (
            lambda: check_jvp(tanh_layer, X, lambda v: np.ones(5)),
            ValueError,
            r"check_jvp: jvp\(v\) must have f\(x\)'s shape \(3,\); got shape \(5,\)",
        ),
        (
            lambda: check_jacobian(tanh_layer, X, np.ones((4, 3))),
            ValueError,
            r"check_jacobian: jac must have shape \(3, 4\); got shape \(4, 3\): it is the transpose",
        ),
        (
            lambda: check_jacobian(tanh_layer, X, lambda v: np.ones(3)),
            ValueError,
            r"check_jacobian: jac\(x\) must have shape \(3, 4\)",
        ),
        (
            lambda: check_jacobian(
                affine, P, {"x": np.ones((3, 2, 3, 4)), "W": np.ones((3, 2, 4, 2)), "b": np.ones(2)}
            ),
            ValueError,
            r"jac\['b'\] must have shape \(3, 2, 2\); got shape \(2,\)",
        ),
        (
            lambda: check_vjp(
                lambda v: np.ones(2) if v[0] == X[0] else np.ones(3), X.copy(), lambda u: np.ones(4)
            ),
            ValueError,
            r"check_vjp: f must return the same shape at every point; got \(3,\)",
        ),
    ],
    ids=[
        "f",
        "vjp",
        "jvp",
        "int-x",
        "float-leaf",
        "missing-key",
        "extra-key",
        "transposed-leaf",
        "list-for-dict",
        "tuple-for-array",
        "wrong-shape",
        "f-str",
        "f-int",
        "mode",
        "rtol",
        "seed",
        "jvp-shape",
        "jac-transpose",
        "jac-callable",
        "jac-tree-leaf",
        "f-shape-changes",
    ],
)
def test_input_validation(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_callers_arrays_are_bitwise_unchanged_whatever_the_outcome():
    for mode in ("full", "fast"):
        p = affine_point(np.float32)
        before = {k: v.copy() for k, v in p.items()}
        check_vjp(
            affine, p, lambda u: {"x": np.zeros((3, 4)), "W": np.zeros((4, 2)), "b": u.sum(0)}, mode=mode
        )
        for k in p:
            assert p[k].tobytes() == before[k].tobytes()


def test_the_vjp_receives_a_copy_of_the_cotangent():
    seen = []

    def vjp(u):
        seen.append(u.copy())
        u[...] = 0  # a backward that writes into dout (the book's Relu does)
        return tanh_vjp(seen[0])

    assert check_vjp(tanh_layer, X, vjp).passed


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_each_jvp_call_receives_a_tangent_of_its_own(mode):
    """A jvp that uses its tangent as scratch space afterwards leaves the next tangent as it was."""
    x = np.linspace(-1.0, 1.0, 6)
    seen = []

    def jvp(v):
        seen.append(v.copy())
        out = np.cos(x) * v
        v.fill(3.0)  # scratch, after use
        return out

    report = check_jvp(np.sin, x, jvp, mode=mode)
    assert report.passed, report
    if mode == "full":
        np.testing.assert_array_equal(np.array(seen), np.eye(6))  # the unit tangents, each fresh


# --------------------------------------------------------------------------------------------------
# Verdicts


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_correct_derivatives_pass_in_both_dtypes(dtype, mode):
    x = X.astype(dtype)
    f = lambda v: np.tanh(v @ W.astype(dtype))  # noqa: E731
    assert check_vjp(f, x, lambda u: W @ (u * (1 - f(x) ** 2)), mode=mode).passed
    assert check_jvp(f, x, lambda v: (1 - f(x) ** 2) * (v @ W), mode=mode).passed
    assert check_jacobian(f, x, tanh_jac(x.astype(np.float64)), mode=mode).passed
    p = affine_point(dtype)
    assert check_vjp(affine, p, affine_vjp(p), mode=mode).passed


def test_a_wrong_vjp_is_located_by_leaf_and_index():
    p = affine_point()

    def vjp(u):
        g = affine_vjp(p)(u)
        g["W"][2, 1] *= 1.001
        return g

    r = check_vjp(affine, p, vjp)
    assert not r.passed
    assert (r.worst_leaf, r.worst_index, r.failures) == ("['W']", (2, 1), 1)
    assert r.kind == "vjp"
    assert [leaf.passed for leaf in r.leaves] == [True, False, True]
    assert "['W'] (4, 2) float64: WRONG at 1 of 8" in str(r)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["worst_leaf"] == "['W']"
    assert [leaf["path"] for leaf in d["leaves"]] == ["['x']", "['W']", "['b']"]
    assert d["worst"][0]["index"] == [12 + 2 * 2 + 1]  # the flat position: x's 12 elements come first
    assert not check_vjp(affine, p, vjp, mode="fast").passed


def test_a_wrong_jvp_is_located_by_input_element():
    r = check_jvp(tanh_layer, X, lambda v: tanh_jvp(v * np.array([1, 1, 1, 1.01])))
    assert (r.passed, r.worst_index, r.failures, r.kind) == (False, (3,), 1, "jvp")
    assert not check_jvp(tanh_layer, X, lambda v: tanh_jvp(v * np.array([1, 1, 1, 1.01])), mode="fast").passed


def test_a_wrong_jacobian_entry_is_named_by_output_and_input():
    J = tanh_jac(X)
    J[2, 1] += 1e-3
    r = check_jacobian(tanh_layer, X, J)
    assert (r.passed, r.worst_output, r.worst_index, r.kind) == (False, (2,), (1,), "jacobian")
    assert r.pair_analytic == J[2, 1]
    assert abs(r.pair_numerical - tanh_jac(X)[2, 1]) < 1e-6
    assert r.to_dict()["worst_pair"] == {
        "output": [2],
        "input": [1],
        "analytic": J[2, 1],
        "numerical": r.pair_numerical,
    }
    assert "worst pair      output (2,), input (1,)" in str(r)


def test_a_jacobian_of_a_pytree_names_the_leaf():
    p = affine_point()
    # out[i, j] = Σ_k x[i, k] W[k, j] + b[j]: the leaves of jax.jacfwd's answer, shape out + leaf
    jac = {
        "x": np.einsum("ik,lj->ijkl", np.eye(3), p["W"]),
        "W": np.einsum("ik,jl->ijkl", p["x"], np.eye(2)),
        "b": np.broadcast_to(np.eye(2), (3, 2, 2)).copy(),
    }
    assert check_jacobian(affine, p, jac).passed
    jac["b"][1, 0, 0] = 0.5
    r = check_jacobian(affine, p, jac)
    assert (r.worst_leaf, r.worst_index, r.worst_output) == ("['b']", (0,), (1, 0))


def test_float32_layers_are_differenced_in_float64_without_false_alarms():
    x = (3 * X).astype(np.float32)
    Wf = W.astype(np.float32)
    f = lambda v: np.sin(v @ Wf)  # noqa: E731
    r = check_vjp(f, x, lambda u: Wf @ (u * np.cos(x @ Wf)))
    assert r.passed
    assert r.working_dtype == "float64"


def test_kinks_are_reported_as_kinks_not_failures():
    x = np.array([0.0, 1.0, -2.0])
    r = check_vjp(lambda v: np.maximum(v, 0) * 2, x, lambda u: 2 * u * (x > 0))
    assert r.passed
    assert r.kinks.tolist() == [True, False, False]


def test_scalar_outputs_take_the_cotangent_one():
    assert cotangent(np.array(3.0), np.random.default_rng(0)) == 1.0
    u = cotangent(np.array([-1.0, 2.0, 0.0]), np.random.default_rng(0))
    assert (np.sign(u) == [-1, 1, 1]).all()
    assert (np.abs(u) >= 0.5).all()
    assert (np.abs(u) <= 1.5).all()
    x = np.array([1.0, 2.0])
    assert check_vjp(lambda v: np.sum(v**2), x, lambda u: u * 2 * x).passed


def test_seed_changes_the_cotangent_and_repeats():
    a = check_vjp(tanh_layer, X, tanh_vjp, seed=1)
    b = check_vjp(tanh_layer, X, tanh_vjp, seed=1)
    c = check_vjp(tanh_layer, X, tanh_vjp, seed=2)
    assert a.analytic_values.tolist() == b.analytic_values.tolist()
    assert a.analytic_values.tolist() != c.analytic_values.tolist()


# --------------------------------------------------------------------------------------------------
# Budgets (issue 13: full mode ≤ n + 10 evaluations on a correct backward in float64, fast mode ≤ 8)


@pytest.mark.parametrize("n", [1, 5, 50, 400])
def test_evaluation_budgets(n):
    r = np.random.default_rng(n)
    A, x = r.standard_normal((n, 7)) / np.sqrt(n), r.standard_normal(n)
    f = lambda v: np.tanh(v @ A)  # noqa: E731
    vjp = lambda u: A @ (u * (1 - np.tanh(x @ A) ** 2))  # noqa: E731
    full = check_vjp(f, x, vjp)
    fast = check_vjp(f, x, vjp, mode="fast")
    assert full.passed
    assert fast.passed
    assert full.nfev <= n + 10
    assert fast.nfev <= 8


def test_assertions_raise_with_the_report():
    assert assert_vjp_close(tanh_layer, X, tanh_vjp).passed
    assert assert_jvp_close(tanh_layer, X, tanh_jvp).passed
    with pytest.raises(AssertionError, match=r"vjp check failed\nvjp WRONG at"):
        assert_vjp_close(tanh_layer, X, lambda u: 2 * tanh_vjp(u))
    with pytest.raises(AssertionError, match=r"jvp check failed\njvp WRONG"):
        assert_jvp_close(tanh_layer, X, lambda v: 2 * tanh_jvp(v), mode="fast")


def test_top_level_names():
    for name in (
        "check_vjp",
        "check_jvp",
        "check_jacobian",
        "check_layers",
        "assert_vjp_close",
        "assert_jvp_close",
    ):
        assert name in numgrad.__all__
        assert getattr(numgrad, name) is not None

"""check_gradient on pytrees: dicts of parameters (the book's closure idiom included), leaves of mixed
dtypes, reports that name the leaf, and structure mismatches named by path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from numgrad import TwoLayerNet, check_gradient
from numgrad.common import numerics as nm

NET = TwoLayerNet(12, 6, 4, seed=0)
RNG = np.random.default_rng(0)
XB, TB = RNG.standard_normal((5, 12)), RNG.integers(0, 4, 5)
GRADS = NET.gradient(XB, TB)


def net_loss(p):
    h = 1 / (1 + np.exp(-(XB @ p["W1"] + p["b1"])))
    z = h @ p["W2"] + p["b2"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    y = e / e.sum(axis=1, keepdims=True)
    return -np.mean(np.log(y[np.arange(5), TB] + 1e-7))  # the book's cross-entropy, delta included


def exact(p):
    """net_loss's gradient by TwoLayerNet's backprop (exact, the delta included)."""
    net = TwoLayerNet(12, 6, 4, seed=0)
    net.params = {k: v.astype(np.float64) for k, v in p.items()}
    return net.gradient(XB, TB)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_the_books_closure_idiom_works_with_the_params_dict(mode):
    before = {k: v.copy() for k, v in NET.params.items()}
    r = check_gradient(lambda p: NET.loss(XB, TB), NET.params, GRADS, mode=mode)
    assert r.passed, str(r)
    assert all(NET.params[k].tobytes() == before[k].tobytes() for k in before)
    if mode == "full":
        assert [leaf.path for leaf in r.leaves] == ["['W1']", "['b1']", "['W2']", "['b2']"]
        assert r.working_dtype == "float64"


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize(
    "dtypes",
    [("float64",) * 4, ("float32",) * 4, ("float32", "float64", "float32", "float64")],
    ids=["f64", "f32", "mixed"],
)
def test_a_dict_of_parameters_passes_in_any_dtypes(dtypes, mode):
    p = {k: v.astype(d) for (k, v), d in zip(NET.params.items(), dtypes, strict=True)}
    g = {k: v.astype(d) for (k, v), d in zip(exact(p).items(), dtypes, strict=True)}
    r = check_gradient(net_loss, p, g, mode=mode)
    assert r.passed, str(r)
    assert r.dtype == "/".join(dict.fromkeys(dtypes))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_wrong_leaf_is_named(dtype):
    p = {k: v.astype(dtype) for k, v in NET.params.items()}
    g = exact(p)
    g["b1"] = g["b1"].copy()
    g["b1"][3] *= 1.01
    r = check_gradient(net_loss, p, g)
    assert (r.passed, r.worst_leaf, r.worst_index, r.failures) == (False, "['b1']", (3,), 1)
    assert r.message == "gradient WRONG at 1 of 106 elements; worst at ['b1'] (3,)"
    assert "worst element   ['b1'] (3,)" in str(r)
    lines = [line.strip() for line in str(r).splitlines()]
    assert lines[lines.index("leaves") + 2].startswith(
        "['b1'] (6,) " + np.dtype(dtype).name + ": WRONG at 1 of 6"
    )
    d = json.loads(json.dumps(r.to_dict()))
    assert [leaf["passed"] for leaf in d["leaves"]] == [True, False, True, True]
    assert d["leaves"][1]["worst_index"] == [3]
    if dtype == np.float64:  # in float32 one small entry off by 1% is below fast mode's normwise floor
        assert not check_gradient(net_loss, p, g, mode="fast").passed


def test_lists_and_tuples_of_leaves_and_nested_trees():
    x = [np.array([1.0, 2.0]), (np.array(3.0), {"z": np.ones((2, 2))})]

    def f(t):
        return np.sum(t[0] ** 2) + t[1][0] ** 3 + np.sum(np.sin(t[1][1]["z"]))

    g = [2 * x[0], (3 * x[1][0] ** 2, {"z": np.cos(x[1][1]["z"])})]
    assert check_gradient(f, x, g).passed
    g[1][1]["z"] = g[1][1]["z"] + np.array([[0, 0], [0, 1e-3]])
    r = check_gradient(f, x, g)
    assert (r.worst_leaf, r.worst_index) == ("[1][1]['z']", (1, 1))
    assert check_gradient(f, x, lambda t: [2 * t[0], (3 * t[1][0] ** 2, {"z": np.cos(t[1][1]["z"])})]).passed


def test_a_single_array_report_is_unchanged():
    x = np.array([1.0, 2.0, 3.0])
    r = check_gradient(lambda v: np.sum(v**3), x, 3 * x**2)
    assert (r.worst_leaf, r.leaves, r.kind) == ("", (), "gradient")
    assert "leaves" not in str(r)


P = {"W": np.ones((2, 3)), "b": np.zeros(3)}


@pytest.mark.parametrize(
    ("x", "grad", "error", "match"),
    [
        (P, {"W": np.ones((2, 3))}, ValueError, r"check_gradient: grad is missing the key 'b' at \['b'\]"),
        (P, {**P, "c": np.ones(1)}, ValueError, r"check_gradient: grad has an extra key 'c' at \['c'\]"),
        (
            P,
            {**P, "W": np.ones((3, 2))},
            ValueError,
            r"check_gradient: grad\['W'\] must have shape \(2, 3\); got shape \(3, 2\): it is the transpose",
        ),
        (P, lambda p: {"W": p["W"]}, ValueError, r"check_gradient: grad\(x\) is missing the key 'b'"),
        (
            {**P, "b": [0.0, 0.0, 0.0]},
            P,
            TypeError,
            r"check_gradient: every leaf of x must be a NumPy float array; got list at \['b'\]",
        ),
        (
            {**P, "b": np.zeros(3, dtype=int)},
            P,
            TypeError,
            r"check_gradient: x\['b'\] must be a floating array",
        ),
        (
            {**P, "b": np.zeros(0)},
            {**P, "b": np.zeros(0)},
            ValueError,
            r"check_gradient: x\['b'\] must have at least one element",
        ),
        (
            {**P, "b": np.broadcast_to(np.zeros(1), (3,))},
            P,
            ValueError,
            r"check_gradient: x\['b'\] is read-only, but the check perturbs the leaves in place",
        ),
    ],
    ids=[
        "missing-key",
        "extra-key",
        "transposed",
        "callable-grad",
        "list-leaf",
        "int-leaf",
        "empty-leaf",
        "read-only-leaf",
    ],
)
def test_input_validation(x, grad, error, match):
    with pytest.raises(error, match=match):
        check_gradient(lambda p: np.sum(p["W"]) + np.sum(p["b"]), x, grad)


def test_the_worst_checks_in_to_dict_name_their_leaf():
    p = {k: v.copy() for k, v in NET.params.items()}
    g = exact(p)
    g["W2"] = g["W2"].copy()
    g["W2"][1, 2] += 1e-3
    worst = check_gradient(net_loss, p, g).to_dict()["worst"][0]
    assert (worst["leaf"], worst["leaf_index"]) == ("['W2']", [1, 2])
    assert worst["index"] == [12 * 6 + 6 + 1 * 4 + 2]


def test_an_executor_receives_the_concatenated_leaves():
    from concurrent.futures import ThreadPoolExecutor

    p = {k: v.copy() for k, v in NET.params.items()}
    with ThreadPoolExecutor(2) as pool:
        r = check_gradient(net_loss, p, exact(p), executor=pool)
    assert r.passed, str(r)


def _as(tree, dtypes):
    return {k: v.astype(d) for (k, v), d in zip(tree.items(), dtypes, strict=True)}


def test_mixed_dtypes_spend_one_step_probe_per_dtype_not_per_leaf():
    """float32 W1, W2 and float64 b1, b2: each dtype's leaves are one vector of one full check (one step
    probe, one test of whether f computes in float64), not four checks of one leaf each: 119 evaluations
    for the 106 elements (132 before; 112 in one dtype). A wrong leaf is still named."""
    mixed = ("float32", "float64", "float32", "float64")
    p, g = _as(NET.params, mixed), _as(exact(NET.params), mixed)
    one = check_gradient(net_loss, _as(NET.params, ("float64",) * 4), exact(NET.params))
    r = check_gradient(net_loss, p, g)
    assert r.passed, str(r)
    assert one.passed, str(one)
    assert r.working_dtype == "float64"  # the float32 group is differenced in float64 (f computes in it)
    n32 = p["W1"].size + p["W2"].size
    assert r.nfev == one.nfev + nm.probe_size(n32) + 1  # the second group's probe and float64 test
    g["W2"] = g["W2"] * np.float32(1.001)
    bad = check_gradient(net_loss, p, g)
    assert (bad.passed, bad.worst_leaf) == (False, "['W2']")
    assert [leaf.failures > 0 for leaf in bad.leaves] == [False, False, True, False]


def test_a_report_over_leaves_differenced_in_different_dtypes_names_the_worst_leafs():
    """A float32 leaf differenced in float32 (f casts it) beside a float64 one: the tolerance's words
    speak of the worst leaf's working dtype (a joined "float32/float64" raised a TypeError). f returns
    float64 values: one that returned float32 would have both leaves differenced in float32."""
    a, b = np.linspace(0.5, 1.5, 6).astype(np.float32), np.linspace(-1, 1, 4)

    def f(q):
        return np.sum(np.asarray(q["a"], np.float32) ** 2) + np.sum(q["b"] ** 3)

    r = check_gradient(f, {"a": a, "b": b}, {"a": 3 * a, "b": 3 * b**2})  # da off by half
    assert not r.passed
    assert r.leaves[0].failures == 6
    assert r.working_dtype == "float32/float64"
    assert "float32/float64" not in r.tolerance_source
    assert "leaves" in str(r)


def _centred(p):
    """tanh of x·w + b centred over the batch: b cancels, so its gradient is exactly 0."""
    z = XB[:, :4].astype(np.float32) * p["w"] + p["b"]
    return np.sum(np.tanh(z - z.mean(axis=0)))


def _centred_grad(p):
    """The float32 backward: its gradient of b is rounding (~1e-7), not 0."""
    x = XB[:, :4].astype(np.float32)
    z = x * p["w"] + p["b"]
    dc = 1 - np.tanh(z - z.mean(axis=0)) ** 2
    dz = dc - dc.mean(axis=0)
    return {"w": np.sum(dz * x, axis=0), "b": np.sum(dz, axis=0)}


def test_a_leaf_without_gradient_is_judged_at_the_scale_of_the_tree():
    """The leaf's own scale (0) would call the float32 backward's rounding wrong; the tree's does not,
    and a bug of 1e-3 of the tree's largest gradient entry in that leaf is still caught there."""
    p = {"w": RNG.standard_normal(4).astype(np.float32), "b": RNG.standard_normal(4).astype(np.float32)}
    g = _centred_grad(p)
    assert np.any(g["b"] != 0)  # rounding, as a float32 backward leaves it
    report = check_gradient(_centred, p, g)
    assert report.passed, str(report)
    bad = {"w": g["w"], "b": g["b"] + 1e-3 * np.max(np.abs(g["w"])) * np.array([0, 0, 1, 0], np.float32)}
    report = check_gradient(_centred, p, bad)
    assert not report.passed
    assert (report.worst_leaf, report.worst_index) == ("['b']", (2,))

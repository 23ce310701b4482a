"""numgrad.common.trees: key paths, flatten / rebuild, and structure mismatches named by leaf."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import numgrad as ng
from numgrad.common.trees import WithLeaf, flatten, float_leaves, is_tree, match, path_str

Pair = collections.namedtuple("Pair", ["w", "b"])


def tree():
    return {"W1": np.ones((2, 3)), "b": [np.zeros(3), (np.arange(2.0),)]}


def test_paths_follow_jax_keystr_format():
    flat = flatten(tree(), "f")
    assert flat.paths == ("['W1']", "['b'][0]", "['b'][1][0]")
    assert path_str(("a", 0, 1)) == "['a'][0][1]"
    assert flatten(np.ones(3), "f").paths == ("",)
    assert flatten(np.ones(3), "f").single


def test_flatten_keeps_the_callers_arrays_and_rebuilds_the_structure():
    t = tree()
    flat = flatten(t, "f")
    assert flat.leaves[0] is t["W1"]
    rebuilt = flat.unflatten(flat.split(flat.concatenate(flat.leaves)))
    assert list(rebuilt) == ["W1", "b"]
    assert isinstance(rebuilt["b"], list)
    assert isinstance(rebuilt["b"][1], tuple)
    np.testing.assert_array_equal(rebuilt["b"][1][0], [0.0, 1.0])
    assert flat.offsets == (0, 6, 9, 11)
    assert flat.leaf_of(7) == (1, (1,))
    assert flat.leaf_of(10) == (2, (1,))


def test_namedtuples_are_rebuilt_as_themselves():
    flat = flatten(Pair(np.ones(2), np.zeros(1)), "f")
    out = flat.unflatten([np.zeros(2), np.ones(1)])
    assert isinstance(out, Pair)
    np.testing.assert_array_equal(out.b, [1.0])
    assert flat.paths == ("[0]", "[1]")


class Params(dict):
    """A dict subclass, as a user's parameter store might be."""


class Stack(list):
    pass


@pytest.mark.parametrize(
    "container",
    [
        collections.OrderedDict(W=np.ones(2), b=np.zeros(1)),
        collections.defaultdict(list, W=np.ones(2), b=np.zeros(1)),
        Params(W=np.ones(2), b=np.zeros(1)),
        Stack([np.ones(2), np.zeros(1)]),
    ],
    ids=["OrderedDict", "defaultdict", "dict-subclass", "list-subclass"],
)
def test_dict_and_list_subclasses_are_rebuilt_as_themselves(container):
    flat = flatten(container, "f")
    out = flat.unflatten([np.zeros(2), np.ones(1)])
    assert type(out) is type(container)
    assert list(out.keys() if isinstance(out, dict) else range(len(out))) == list(
        container.keys() if isinstance(container, dict) else range(2)
    )
    np.testing.assert_array_equal(out["b" if isinstance(out, dict) else 1], [1.0])
    if isinstance(out, collections.defaultdict):
        assert out.default_factory is list
    plain = (
        {"W": np.full(2, 3.0), "b": np.full(1, 4.0)} if isinstance(out, dict) else [np.ones(2), np.ones(1)]
    )
    assert [leaf.shape for leaf in match(flat, plain, "check_gradient", "grad")] == [(2,), (1,)]


def test_numgrad_differentiates_an_ordered_dict_of_parameters():
    from numgrad import check_gradient, numerical_gradient

    p = collections.OrderedDict(W=np.array([1.0, -2.0]), b=np.array([0.5]))
    loss = lambda q: float(np.sum(q["W"] ** 2) + 3 * q["b"][0])  # noqa: E731
    g = numerical_gradient(loss, p)
    assert type(g) is collections.OrderedDict
    assert list(g) == ["W", "b"]
    np.testing.assert_allclose(g["W"], [2.0, -4.0], rtol=1e-9)
    np.testing.assert_allclose(g["b"], [3.0], rtol=1e-9)
    assert check_gradient(loss, p, {"W": 2 * p["W"], "b": np.array([3.0])}).passed


def test_replaced_swaps_one_leaf_only():
    t = tree()
    flat = flatten(t, "f")
    new = np.full(3, 7.0)
    out = flat.replaced(1, new)
    assert out["b"][0] is new
    assert out["W1"] is t["W1"]
    assert WithLeaf(lambda p: float(p["b"][0].sum()), flat, 1)(new) == 21.0


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        ([3.0, 4.0], False),
        ([[1.0, 2.0], [3.0, 4.0]], False),
        ((1, 2), False),
        (np.ones(2), False),
        ([np.ones(2), np.ones(2)], True),
        ({"a": np.ones(1)}, True),
        ([[np.ones(1)]], True),
    ],
    ids=["list", "nested-list", "tuple-of-ints", "array", "list-of-arrays", "dict", "nested-container"],
)
def test_plain_number_lists_are_arrays_containers_of_arrays_are_trees(x, expected):
    assert is_tree(x) is expected


def test_dict_order_does_not_change_the_structure():
    flat = flatten({"a": np.ones(1), "b": np.ones(2)}, "f")
    got = match(flat, {"b": np.zeros(2), "a": np.full(1, 5.0)}, "check_gradient", "grad")
    np.testing.assert_array_equal(got[0], [5.0])


def test_match_converts_integer_leaves_and_keeps_float32():
    flat = flatten({"a": np.ones(2), "b": np.ones(2, dtype=np.float32)}, "f")
    a, b = match(flat, {"a": np.array([1, 2]), "b": np.ones(2, dtype=np.float32)}, "f", "grad")
    assert a.dtype == np.float64
    assert b.dtype == np.float32


GOOD = {"W1": np.ones((2, 3)), "b": [np.zeros(3), (np.arange(2.0),)]}


@pytest.mark.parametrize(
    ("other", "error", "message"),
    [
        ({"b": GOOD["b"]}, ValueError, r"check_gradient: grad is missing the key 'W1' at \['W1'\]"),
        (
            {**GOOD, "W2": np.ones(1)},
            ValueError,
            r"grad has an extra key 'W2' at \['W2'\] that x does not have",
        ),
        (
            {**GOOD, "b": [np.zeros(3)]},
            ValueError,
            r"grad\['b'\] has 1 items where x has 2 \(a missing leaf\)",
        ),
        (
            {**GOOD, "b": [np.zeros(3), (np.ones(2),), np.ones(1)]},
            ValueError,
            r"has 3 items where x has 2 \(an extra leaf\)",
        ),
        (
            {**GOOD, "W1": np.ones((3, 2))},
            ValueError,
            r"grad\['W1'\] must have shape \(2, 3\); got shape \(3, 2\): it is the transpose",
        ),
        ({**GOOD, "W1": np.ones(6)}, ValueError, r"grad\['W1'\] must have shape \(2, 3\); got shape \(6,\)"),
        (
            {**GOOD, "b": [np.zeros(3), ("no",)]},
            TypeError,
            r"grad\['b'\]\[1\]\[0\] must be a real numeric array of shape \(2,\); got str",
        ),
        (
            {**GOOD, "b": np.zeros(3)},
            ValueError,
            r"grad\['b'\] must be a list of 2 items like x; got float64 array",
        ),
        ([GOOD["W1"], GOOD["b"]], ValueError, r"grad must be a dict like x; got a list of 2 items"),
        (
            {**GOOD, "W1": {"a": np.ones(1)}},
            ValueError,
            r"grad\['W1'\] must be an array of shape \(2, 3\); got a dict",
        ),
    ],
    ids=[
        "missing-key",
        "extra-key",
        "missing-leaf",
        "extra-leaf",
        "transpose",
        "wrong-shape",
        "non-numeric",
        "array-for-list",
        "list-for-dict",
        "dict-for-leaf",
    ],
)
def test_input_validation(other, error, message):
    flat = flatten(GOOD, "check_gradient")
    with pytest.raises(error, match=message):
        match(flat, other, "check_gradient", "grad")


@pytest.mark.parametrize(
    ("x", "error", "message"),
    [
        ({"a": 1.0}, TypeError, r"f: every leaf of x must be a NumPy float array; got float at \['a'\]"),
        ({"a": np.array([1, 2])}, TypeError, r"every leaf of x must be a float array .*int64.* at \['a'\]"),
        ({"a": {}}, ValueError, r"x\['a'\] is an empty dict; a pytree needs leaves"),
        ([np.ones(1), [np.ones(1), "x"]], TypeError, r"got str at \[1\]\[1\]"),
    ],
    ids=["python-float-leaf", "integer-leaf", "empty-dict", "string-leaf"],
)
def test_leaf_validation(x, error, message):
    with pytest.raises(error, match=message):
        float_leaves(x, "f")


SHARED = {
    "the same array twice": lambda base: {"a": base, "b": base},
    "overlapping views": lambda base: {"a": base[:3], "b": base[2:]},
    "a view inside a list": lambda base: [base[1:3], {"w": base}],
}


@pytest.mark.parametrize("build", SHARED.values(), ids=SHARED.keys())
@pytest.mark.parametrize(
    "call",
    [
        ng.numerical_gradient,
        ng.estimate_gradient,
        ng.hessian,
        lambda f, x: ng.check_gradient(f, x, x),
    ],
    ids=["numerical_gradient", "estimate_gradient", "hessian", "check_gradient"],
)
def test_leaves_that_share_memory_are_refused_by_name(build, call):
    # each leaf is perturbed in place: a shared one moved both (numerical_gradient doubled, hessian said f
    # wrote into its argument); now a ValueError names both leaves, and x is left as it was
    base = np.arange(1.0, 6.0)
    before = base.copy()
    x = build(base)
    flat_sum = lambda p: float(sum(np.sum(leaf**2) for leaf in jax_leaves(p)))  # noqa: E731
    with pytest.raises(ValueError, match=r"leaves x\S+ and x\S+ share memory"):
        call(flat_sum, x)
    assert base.tobytes() == before.tobytes()


def test_interleaved_views_that_share_no_element_are_leaves_of_their_own():
    base = np.arange(4.0)
    g = ng.numerical_gradient(
        lambda p: float(np.sum(p["a"]) + 2 * np.sum(p["b"])), {"a": base[::2], "b": base[1::2]}
    )
    np.testing.assert_allclose(g["a"], [1.0, 1.0])
    np.testing.assert_allclose(g["b"], [2.0, 2.0])


def jax_leaves(tree):
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in jax_leaves(v)]
    if isinstance(tree, list | tuple):
        return [leaf for v in tree for leaf in jax_leaves(v)]
    return [tree]


@pytest.mark.parametrize("call", [ng.numerical_gradient, ng.jacobian], ids=["numerical_gradient", "jacobian"])
def test_a_read_only_leaf_is_named_by_its_path_before_f_runs(call):
    frozen = np.ones(2)
    frozen.flags.writeable = False
    calls = []

    def f(p):
        calls.append(1)
        return np.atleast_1d(np.sum(p["w"] ** 2)) if call is ng.jacobian else float(np.sum(p["w"] ** 2))

    with pytest.raises(ValueError, match=r"x\['w'\] is read-only"):
        call(f, {"b": np.ones(1), "w": frozen})
    assert calls == []

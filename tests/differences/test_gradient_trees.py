"""numerical_gradient and jacobian on pytrees: the same structure back, leaf dtypes kept, the closure
idiom over a dict, and clear errors for what a pytree cannot take."""

from __future__ import annotations

import numpy as np
import pytest

from numgrad import TwoLayerNet, jacobian, numerical_gradient
from numgrad.common import numerics as nm


def test_numerical_gradient_returns_the_structure_and_dtypes():
    x = {"w": np.array([1.0, 2.0]), "b": (np.array(3.0, dtype=np.float32), [np.ones((2, 2))])}

    def f(p):
        return np.sum(p["w"] ** 2) + p["b"][0] ** 2 + np.sum(p["b"][1][0] * 3)

    g = numerical_gradient(f, x)
    assert list(g) == ["w", "b"]
    assert isinstance(g["b"], tuple)
    assert isinstance(g["b"][1], list)
    assert g["b"][0].dtype == np.float32
    np.testing.assert_allclose(g["w"], [2.0, 4.0], rtol=nm.accuracy("central", np.float64))
    np.testing.assert_allclose(g["b"][0], 6.0, rtol=nm.accuracy("central", np.float32))
    np.testing.assert_allclose(g["b"][1][0], np.full((2, 2), 3.0), rtol=nm.accuracy("central", np.float64))


def test_the_books_closure_idiom_over_the_params_dict():
    net = TwoLayerNet(6, 4, 3, seed=1)
    rng = np.random.default_rng(0)
    xb, t = rng.standard_normal((4, 6)), rng.integers(0, 3, 4)
    before = {k: v.copy() for k, v in net.params.items()}
    g = numerical_gradient(lambda p: net.loss(xb, t), net.params)
    ref = net.numerical_gradient(xb, t)
    for k in ref:
        np.testing.assert_allclose(g[k], ref[k], rtol=1e-6, atol=1e-9)
        assert net.params[k].tobytes() == before[k].tobytes()


def test_jacobian_leaves_have_shape_out_plus_leaf():
    x = {"a": np.array([1.0, 2.0]), "B": np.ones((2, 3))}
    J = jacobian(lambda p: p["a"] @ p["B"], x)
    assert J["a"].shape == (3, 2)
    assert J["B"].shape == (3, 2, 3)
    np.testing.assert_allclose(J["a"], np.ones((3, 2)), rtol=1e-8)
    expected = np.zeros((3, 2, 3))
    for j in range(3):
        expected[j, :, j] = [1.0, 2.0]
    np.testing.assert_allclose(J["B"], expected, atol=1e-8)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: numerical_gradient(np.sum, {"a": np.ones(2)}, batched=True),
            ValueError,
            "numerical_gradient: batched=True needs x to be a single array",
        ),
        (
            lambda: numerical_gradient(np.sum, {"a": np.ones(2)}, h=np.ones(2)),
            ValueError,
            "numerical_gradient: h must be a number or None when x is a pytree",
        ),
        (
            lambda: numerical_gradient(np.sum, {"a": 1.0}),
            TypeError,
            r"numerical_gradient: every leaf of x must be a NumPy float array; got float at \['a'\]",
        ),
        (
            lambda: jacobian(np.sum, [np.ones(2), np.ones(2, dtype=int)]),
            TypeError,
            r"jacobian: every leaf of x must be a float array .* at \[1\]",
        ),
        (
            lambda: numerical_gradient(3, {"a": np.ones(2)}),
            TypeError,
            "numerical_gradient: f must be callable",
        ),
    ],
    ids=["batched", "array-h", "float-leaf", "int-leaf", "f"],
)
def test_input_validation(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_list_of_numbers_is_still_one_array():
    np.testing.assert_allclose(
        numerical_gradient(lambda v: v[0] ** 2 + v[1] ** 2, np.array([3.0, 4.0]), h=1e-4), [6.0, 8.0]
    )
    g = numerical_gradient(lambda v: float(np.sum(np.asarray(v) ** 2)), [3.0, 4.0])
    assert isinstance(g, np.ndarray)

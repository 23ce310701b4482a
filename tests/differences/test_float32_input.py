"""A float64 x's f that casts its input to float32 but returns float64 values that are not float32 numbers
(``np.sum(w64 * np.tanh(x.astype(np.float32)))``): engine.float32_input finds it where the refinement's
first halving shows a change, and the pass is taken again on float32's grid. Before, numerical_gradient
came back up to 1.7e-2 off with no warning and check_gradient called the exact gradient WRONG."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import numgrad as ng
from numgrad.common import numerics as nm

SIZES = (5, 20, 100)  # the small path, the general engine, the truncation test's sizes


def casting(n: int, seed: int = 0) -> tuple[np.ndarray, object, object, np.ndarray]:
    """x, f (scalar), f (batched) and f's exact gradient at float32(x)."""
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(n), rng.standard_normal(n)

    def f(v: np.ndarray) -> float:
        return float(np.sum(w * np.tanh(v.astype(np.float32)).astype(np.float64)))

    def batched(s: np.ndarray) -> np.ndarray:
        return np.sum(w * np.tanh(s.astype(np.float32)).astype(np.float64), axis=-1)

    at = x.astype(np.float32).astype(np.float64)
    return x, f, batched, w * (1 - np.tanh(at) ** 2)


def relative(g: np.ndarray, exact: np.ndarray) -> float:
    return float(np.max(np.abs(g - exact)) / np.max(np.abs(exact)))


@pytest.mark.parametrize("n", SIZES)
def test_the_gradient_of_an_f_casting_its_input_is_as_accurate_as_float32_allows(n):
    x, f, batched, exact = casting(n)
    before = x.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no warning: the result is right
        g = ng.numerical_gradient(f, x)
        first = ng.numerical_gradient(batched, x, batched=True)
        again = ng.numerical_gradient(batched, x, batched=True)  # f's second call: the repeated path
    for got in (g, first, again):
        assert relative(got, exact) < 1e-3  # before: 1.7e-2 (n = 5), 6.5e-3 (20), 9.8e-3 (100)
    assert x.tobytes() == before.tobytes()


@pytest.mark.parametrize("n", [3, *SIZES])
def test_check_gradient_passes_the_exact_gradient_and_catches_a_five_percent_bug(n):
    x, f, _, exact = casting(n)
    report = ng.check_gradient(f, x, exact)
    assert report.passed, str(report)  # before: WRONG at every element (forward at 1.5e-8 sees 0)
    assert report.working_dtype == "float32"
    wrong, at = exact.copy(), int(np.argmax(np.abs(exact)))  # float32's floor: 1e-2 of max|g|
    wrong[at] *= 1.05
    bad = ng.check_gradient(f, x, wrong)
    assert not bad.passed
    assert np.flatnonzero(bad.abs_errors > bad.tolerances).tolist() == [at]


def test_a_float64_f_costs_no_evaluation_more_where_its_refinement_finds_nothing():
    # x0² + x1² (the quadratic's central differences are exact): no change at h/2, no test point
    calls = []

    def f(v):
        calls.append(1)
        return v[0] ** 2 + v[1] ** 2

    ng.numerical_gradient(f, np.array([3.0, 4.0]))
    assert len(calls) == 5  # f at x and x ± h (the plain rule's steps)


def test_a_float64_f_with_truncation_keeps_float64s_steps_and_accuracy():
    # log near 0: the first halving changes the quotient, so the point within x's float32 cells is asked,
    # and f moves there: float64 it stays (float32's steps would cost ~1e-5)
    x = np.array([1e-3, 0.5, 2.0, 3.0, 0.25, 7.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = ng.numerical_gradient(lambda v: float(np.sum(np.log(v))), x)
        b = ng.numerical_gradient(lambda s: np.sum(np.log(s), axis=-1), x, batched=True)
    np.testing.assert_allclose(g, 1 / x, rtol=1e-8)
    np.testing.assert_allclose(b, 1 / x, rtol=1e-8)


def test_gradient_descent_on_an_f_casting_its_input_follows_the_float32_gradient():
    rng = np.random.default_rng(3)
    target = rng.standard_normal(6)

    def f(v):  # (v32 − t)² in float32, mixed with a float64 weight: not float32 numbers
        return float(np.sum(1.5 * (v.astype(np.float32) - target.astype(np.float32)).astype(np.float64) ** 2))

    r = ng.gradient_descent(f, np.zeros(6), lr=0.1, step_num=30)
    expected = target.astype(np.float32) * (1 - (1 - 0.3) ** 30)  # x_{k+1} = x_k − 0.1·3·(x_k − t)
    np.testing.assert_allclose(r.x, expected, atol=1e-4)


@given(arrays(np.float64, st.integers(1, 8), elements=st.floats(-1e30, 1e30, allow_subnormal=False)))
def test_the_cell_point_rounds_to_the_same_float32_and_moves_every_normal_coordinate(x):
    moved = nm.float32_cell_point(x)
    assert np.array_equal(moved.astype(np.float32), x.astype(np.float32))
    normal = np.abs(x.astype(np.float32)) >= np.finfo(np.float32).tiny
    assert np.all(moved[normal] != x[normal])
    assert np.array_equal(moved[~normal], x[~normal])

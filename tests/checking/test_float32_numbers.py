"""A float64 x whose f computes in float32 and returns a Python float (``tensor.item()``,
``float(np.sum(a32))``): the values' dtype says float64, their digits say float32. numgrad reads the
digits — f's values at points near x that are all float32 numbers (engine.on_float32_grid) — and takes
float32's steps, points and tolerances, as it does where f returns a float32. Before, the exact gradient
was called WRONG (full mode at n = 3 and 8, fast mode at n = 1 and 8), numerical_gradient was 1e-3 to 5e-2
off with no warning, and check_hessian passed a Hessian 10% wrong."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from fast_zoo import LOSSES, case, planted

from numgrad import (
    check_gradient,
    check_hessian,
    estimate_gradient,
    estimate_hessian,
    hessian_vector_product,
    jacobian,
    numerical_gradient,
)
from numgrad.differences.engine import on_float32_grid


def _as_float(f):
    """f, its float32 value handed back as a Python float."""
    return lambda v: float(f(v))


def _tanh_sum(v):
    return np.sum(np.tanh(np.asarray(v).astype(np.float32)))


def _same_report(a, b):
    assert a.passed == b.passed
    assert a.working_dtype == b.working_dtype == "float32"
    np.testing.assert_array_equal(a.numerical_values, b.numerical_values)
    assert a.nfev == b.nfev


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_check_reads_float32_numbers_as_it_reads_a_float32(mode, name, seed):
    c = case(name, seed, np.float32, np.float64)
    as_float = _as_float(c.f)
    right = check_gradient(as_float, c.x, c.grad, mode=mode)
    assert right.passed, right
    _same_report(right, check_gradient(c.f, c.x, c.grad, mode=mode))
    wrong = planted(c, "dense", 1e-1, seed)
    _same_report(check_gradient(as_float, c.x, wrong, mode=mode), check_gradient(c.f, c.x, wrong, mode=mode))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 8, 40])
def test_numerical_gradient_and_the_estimate_take_float32_steps(n):
    # n <= 3: the small path's plain rule sees it and hands over; 8: its probe; 40: the general path
    x = np.random.default_rng(n).standard_normal(n)
    exact = 1 - np.tanh(x) ** 2
    got = numerical_gradient(_as_float(_tanh_sum), x)
    np.testing.assert_array_equal(got, numerical_gradient(_tanh_sum, x))
    assert np.max(np.abs(got - exact)) <= 1e-3 * np.max(np.abs(exact))  # was 1e-3 .. 5e-2 off
    est = estimate_gradient(_as_float(_tanh_sum), x)
    assert est.working_dtype == "float32"
    assert np.all(np.abs(est.derivative - exact) <= est.error)


def test_a_jacobian_of_float32_numbers():
    x = np.array([0.3, -0.7, 1.1])

    def f(v):  # a float32 layer whose output is handed back as float64
        return (np.tanh(v.astype(np.float32)) * np.float32(3)).astype(np.float64)

    got = jacobian(f, x)
    exact = np.diag(3 * (1 - np.tanh(x) ** 2))
    assert np.max(np.abs(got - exact)) <= 1e-3 * np.max(np.abs(exact))


@pytest.mark.parametrize("with_grad", [False, True])
@pytest.mark.parametrize("mode", ["full", "fast"])
def test_hessians_of_float32_numbers(mode, with_grad):
    x = np.array([0.3, -0.7, 1.1])
    t = np.tanh(x)
    exact = np.diag(-2 * t * (1 - t**2))

    def grad(v):
        return (1 - np.tanh(v.astype(np.float32)) ** 2).astype(np.float64)

    g = grad if with_grad else None
    f = _as_float(_tanh_sum)
    right = check_hessian(f, x, exact, grad=g, mode=mode)
    assert right.passed, right
    assert right.working_dtype == "float32"
    assert not check_hessian(f, x, exact * 1.1, grad=g, mode=mode).passed  # passed in full mode before
    v = np.array([1.0, 0.5, -0.2])
    assert np.max(np.abs(hessian_vector_product(f, x, v, grad=g) - exact @ v)) < 1e-3  # was 0.38 off
    if not with_grad:
        est = estimate_hessian(f, x)
        assert est.reliable
        assert np.all(np.abs(est.derivative - exact) <= est.error)  # was 5.9 off, flagged


@pytest.mark.parametrize(
    ("f", "x"),
    [
        (
            lambda v: v[0] ** 2 + v[1] ** 2,
            [3.0, 4.0],
        ),  # the book's: f(x) = 25 is a float32, not its neighbours
        (lambda v: 2 * v[0] + v[1], [3.0, 4.0]),  # linear at integers: the plain rule's values are float32s
        (lambda v: np.sum(np.sin(v)), [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]),
        (lambda v: np.sum(v**4) + v[0] ** 2, [0.0, 0.0, 0.0]),  # at 0 ± powers of two: float32 numbers
    ],
)
def test_a_float64_function_stays_float64(f, x):
    x = np.array(x)
    report = check_gradient(f, x, numerical_gradient(f, x, method="richardson"))
    assert report.working_dtype == "float64"
    assert estimate_gradient(f, x).working_dtype == "float64"
    assert estimate_hessian(f, x).working_dtype == "float64"
    assert check_hessian(f, x, estimate_hessian(f, x).derivative, mode="fast").working_dtype == "float64"


def test_hvp_of_a_quartic_at_zero_keeps_float64_steps():
    # its points 0 ± t·e_0 ± h·e_i give float32 numbers (t⁴ + h⁴, t and h powers of two); only the
    # irregular point says float64. At float32's steps the product is 8·t² = 2e-3 off, at float64's 1e-7
    def f(v):
        return np.sum(v**4)

    def grad(v):
        return 4 * v**3

    x, v = np.zeros(3), np.array([1.0, 0.0, 0.0])
    for g in (None, grad):
        np.testing.assert_allclose(hessian_vector_product(f, x, v, grad=g), np.zeros(3), rtol=0, atol=1e-6)


def test_what_counts_as_float32_numbers():
    third = np.float64(np.float32(1 / 3))
    assert on_float32_grid(np.array([third, 2 * third, 0.0]))
    assert not on_float32_grid(np.array([third, 1 / 3]))  # one float64 digit says float64
    assert not on_float32_grid(np.array([third, third]))  # a flat f says nothing
    assert not on_float32_grid(np.array([third]))  # too few
    assert not on_float32_grid(np.array([third, np.nan]))

"""estimate_gradient / estimate_jacobian / estimate_hessian: the error bounds the true error, flags where it cannot."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numgrad_reference  # noqa: F401  (float64 in JAX)
import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numgrad.checking.catalog import CASES, objective
from numgrad.checking.twins import twins
from numgrad.differences.estimate import Estimate, estimate_gradient, estimate_hessian, estimate_jacobian
from numgrad.differences.gradient import numerical_gradient

LOSSES = [c for c in CASES if c.module == "losses"]
IDS = [f"{c.name}-{i}" for i, c in enumerate(LOSSES)]
MAX_MEDIAN_PESSIMISM = 100.0  # the issue's target: reported error at most 100× the true one, at the median


def tiny_scale(v):
    """Varies on the scale 1e-8: the issue's function (numgrad's default step is ~1e-5 there)."""
    return np.sum(np.log1p((v / 1e-8) ** 2))


def tiny_scale_gradient(v):
    u = v / 1e-8
    return 2 * u / (1e-8 * (1 + u**2))


@pytest.mark.parametrize("seed", [0, 1, 2])  # the seeds of tests/differences/test_accuracy.py
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", LOSSES, ids=IDS)
def test_error_bounds_the_true_error_on_the_accuracy_suite(case, dtype, seed):
    """Every element: |true error| <= error; the median over elements with a non-zero true error at most
    100× pessimistic (where the difference is exact, any positive estimate is infinitely pessimistic)."""
    ours, theirs = twins(case)
    args = case.inputs(np.random.default_rng(seed), np.dtype(dtype), 100, 10)
    x = np.array(args[0])
    exact = np.asarray(jax.grad(objective(theirs, case, args, jnp))(jnp.asarray(x)), dtype=np.float64)
    e = estimate_gradient(objective(ours, case, args, np), x)
    true = np.abs(e.derivative - exact)
    assert np.all(true <= e.error)
    wrong = true > 0
    assert np.median(e.error[wrong] / true[wrong]) <= MAX_MEDIAN_PESSIMISM
    # a flag is never raised on an element that is right to 5 %
    assert np.all(true[e.unreliable] > 0.05 * np.abs(exact[e.unreliable]))


def test_the_issues_tiny_length_scale_comes_back_flagged():
    x = np.array([1e-8, 2e-8, 1.0])
    e = estimate_gradient(tiny_scale, x)
    truth = tiny_scale_gradient(x)
    assert truth[0] == pytest.approx(1e8)
    assert e.unreliable.tolist() == [True, True, False]
    assert not e.reliable
    # the well-scaled element keeps a tight bound: the short scale of the others does not leak into it
    assert abs(e.derivative[2] - truth[2]) <= e.error[2] <= 1e-6


def test_record_is_frozen_with_fixed_fields():
    e = estimate_gradient(lambda v: np.sum(v**2), np.ones((2, 3)))
    assert isinstance(e, Estimate)
    assert [f.name for f in dataclasses.fields(e)] == [
        "derivative", "error", "step", "nfev", "unreliable", "working_dtype",
    ]  # fmt: skip
    assert e.working_dtype == "float64"
    assert e.derivative.shape == e.error.shape == e.step.shape == e.unreliable.shape == (2, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.nfev = 0  # type: ignore[misc]


@pytest.mark.parametrize("method", ["central", "forward", "richardson", "complex"])
def test_every_method_bounds_its_error(method):
    x = np.linspace(-1, 2, 7)
    f = lambda v: np.sum(np.exp(v) * np.sin(v))  # noqa: E731
    exact = np.exp(x) * (np.sin(x) + np.cos(x))
    e = estimate_gradient(f, x, method=method)
    assert np.all(np.abs(e.derivative - exact) <= e.error)
    assert e.reliable


def test_value_is_the_engines_unrefined_pass():
    x = np.array([0.3, -0.7])
    f = lambda v: np.sum(np.cos(v) * v)  # noqa: E731
    np.testing.assert_allclose(estimate_gradient(f, x).derivative, numerical_gradient(f, x), rtol=1e-8)


def test_jacobian_per_element_error_bounds_true_error():
    A = np.random.default_rng(3).standard_normal((4, 3))
    x = np.array([0.2, -1.0, 0.5])
    f = lambda v: np.tanh(A @ v) * 3  # noqa: E731
    exact = (3 * (1 - np.tanh(A @ x) ** 2))[:, None] * A
    e = estimate_jacobian(f, x)
    assert e.derivative.shape == e.error.shape == (4, 3)
    assert e.step.shape == (3,)
    assert np.all(np.abs(e.derivative - exact) <= e.error)
    assert e.reliable


def test_hessian_estimate_bounds_true_error_and_flags_tiny_scale():
    x = np.array([0.4, -1.1, 0.9])
    f = lambda v: np.sum(np.sin(v) * v**2) + np.prod(v)  # noqa: E731
    exact = np.asarray(jax.hessian(lambda v: jnp.sum(jnp.sin(v) * v**2) + jnp.prod(v))(jnp.asarray(x)))
    e = estimate_hessian(f, x)
    assert e.nfev == 2 * (9 + 3) + 1 + 9  # two passes and f(x), and the noise line (9 points)
    assert np.all(np.abs(e.derivative - exact) <= e.error)
    assert e.reliable
    flagged = estimate_hessian(tiny_scale, np.array([1e-8, 1.0]))
    assert flagged.unreliable[0, 0]
    assert not flagged.unreliable[1, 1]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: estimate_gradient(np.sum, np.array([1, 2])), TypeError, "estimate_gradient: x must be a floating"),
        (lambda: estimate_gradient(np.sum, np.ones(2), method="spline"), ValueError, "estimate_gradient: method must be one of"),
        (lambda: estimate_gradient(lambda v: v, np.ones(2)), ValueError, "estimate_gradient: f must return a scalar"),
        (lambda: estimate_jacobian(None, np.ones(2)), TypeError, "estimate_jacobian: f must be callable"),
        (lambda: estimate_hessian(np.sum, np.ones(2), h=[1.0, -1.0]), ValueError, "estimate_hessian: h must be positive"),
    ],
    ids=["int-x", "method", "vector-f", "f-none", "negative-h"],
)  # fmt: skip
def test_input_validation(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_caller_data_intact():
    x = np.array([[0.5, 1.5], [-2.0, 0.25]])
    before = x.copy()
    estimate_gradient(lambda v: np.sum(v**3), x)
    estimate_hessian(lambda v: np.sum(v**3), x)
    estimate_jacobian(lambda v: v**2, x)
    np.testing.assert_array_equal(x, before)


def smooth(x, xp=np):
    v = x.reshape(-1)
    return xp.sum(xp.sin(v) * v**2) + xp.log(1 + xp.sum(v**2))


@st.composite
def points(draw):
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    x = draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=2, max_side=5),
                        elements=st.floats(-3, 3, width=32, allow_subnormal=False)))  # fmt: skip
    note(f"{x.dtype} {x.shape}")
    return x


@settings(max_examples=15, deadline=None)
@given(points())
def test_gradient_error_bounds_the_true_error_at_random_points(x):
    """f computes in x's dtype (float32 x: float32 rounding, which the estimate must cover)."""
    exact = np.asarray(jax.grad(lambda z: smooth(z, jnp))(jnp.asarray(x, dtype=jnp.float64)))
    e = estimate_gradient(smooth, x)
    assert e.derivative.shape == e.error.shape == x.shape
    true = np.abs(e.derivative - exact)
    note(f"worst true/error: {np.max(true / e.error, initial=0.0):.2f}")
    assert np.all(true <= e.error)


BIG = np.float32(1e3)


def cancelling(v):
    """A small difference of large terms in float32: its rounding is ulps of 1e3, not of |f| ≈ 1."""
    return (BIG + np.sum(np.sin(v))) - BIG


@pytest.mark.parametrize("seed", range(4))
def test_measured_noise_keeps_the_bound_where_f_cancels(seed):
    x = np.random.default_rng(seed).uniform(-2, 2, 5).astype(np.float32)
    e = estimate_gradient(cancelling, x)
    assert np.all(np.abs(e.derivative - np.cos(x.astype(np.float64))) <= e.error)
    h = estimate_hessian(cancelling, x)
    assert np.all(np.abs(h.derivative - np.diag(-np.sin(x.astype(np.float64)))) <= h.error)


def test_ecnoise_measures_the_noise_it_is_given():
    from numgrad.common import numerics as nm
    from numgrad.differences.engine import make_problem
    from numgrad.differences.noise import ecnoise, noise_level

    rng = np.random.default_rng(5)
    line = 3.0 + 0.2 * np.arange(9.0)[:, None] + 1e-3 * np.arange(9.0)[:, None] ** 2
    noisy = line + 1e-12 * rng.standard_normal((9, 200))  # ~500 ulps of |f|: a cancellation
    levels = ecnoise(noisy, 2.2e-16)
    assert 0.5e-12 <= np.median(levels) <= 2e-12
    assert ecnoise(np.ones((9, 1)), 2.2e-16).tolist() == [0.0]  # no noise seen: the ulp model stands
    spike = np.zeros((9, 1))
    spike[4] = 1.0  # f varying on a shorter scale than the spacing: not rounding, not reported as noise
    assert ecnoise(spike + 10.0, 2.2e-16).tolist() == [0.0]
    p = make_problem("t", cancelling, np.full(5, 0.5, np.float32), out_shape=None, method="central",
                     batched=False, chunk_size=None, executor=None)  # fmt: skip
    sigma, nfev = noise_level(p)
    ulp = float(np.spacing(BIG))
    assert nfev == nm.NOISE_POINTS + 1
    assert ulp / 10 <= float(sigma) <= ulp  # rounding of 1e3 in float32, ~ulp/sqrt(12)

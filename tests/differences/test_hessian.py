"""hessian and hessian_vector_product against jax.hessian and jax.jvp of jax.grad; cost, symmetry, bad input."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numgrad_reference  # noqa: F401  (float64 in JAX)
import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numgrad as ng
from numgrad import MutatedArgumentError, NumericalWarning
from numgrad.checking.twins import normwise_error
from numgrad.common import numerics as nm
from numgrad.differences.hessian import hessian, hessian_vector_product

ROSENBROCK_N = 100
TARGET_ERROR = 1e-6  # the issue's normwise target against jax.hessian, float64


def rosenbrock(x, xp=np):
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosenbrock_batched(X):
    return np.sum(100.0 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1 - X[:, :-1]) ** 2, axis=1)


def smooth(x, xp=np):
    """Couples every pair of coordinates (the quadratic term) and has non-zero 4th and 6th derivatives."""
    v = x.reshape(-1)
    return xp.sum(xp.sin(v) * v**2) + 0.5 * xp.sum(v) ** 2 + xp.log(1 + xp.sum(v**2))


class Counted:
    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, x):
        self.calls += 1
        return self.f(x)


@pytest.fixture(scope="module")
def rosen_point():
    x = np.random.default_rng(0).standard_normal(ROSENBROCK_N)
    exact = np.asarray(jax.hessian(lambda z: rosenbrock(z, jnp))(jnp.asarray(x)))
    return x, exact


def test_rosenbrock_meets_the_issue_targets(rosen_point):
    x, exact = rosen_point
    f = Counted(rosenbrock)
    H = hessian(f, x)
    n = ROSENBROCK_N
    assert f.calls == 2 * (n * n + n) + 1 <= 2 * n * n + 10 * n
    assert normwise_error(H, exact) <= TARGET_ERROR
    np.testing.assert_array_equal(H, H.T)


def test_batched_gives_bitwise_the_same_hessian(rosen_point):
    x, _ = rosen_point
    np.testing.assert_array_equal(hessian(rosenbrock_batched, x, batched=True), hessian(rosenbrock, x))


def test_small_chunks_and_executor_give_the_same_hessian():
    from concurrent.futures import ThreadPoolExecutor

    x = np.array([0.3, -1.2, 2.0])
    ref = hessian(rosenbrock, x)
    np.testing.assert_array_equal(hessian(rosenbrock_batched, x, batched=True, chunk_size=2), ref)
    with ThreadPoolExecutor(2) as pool:
        np.testing.assert_array_equal(hessian(rosenbrock, x, executor=pool), ref)


@st.composite
def points(draw):
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    x = draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=2, max_side=4),
                        elements=st.floats(-2, 2, width=32, allow_subnormal=False)))  # fmt: skip
    note(f"{x.dtype} {x.shape}")
    return x


@settings(max_examples=12, deadline=None)
@given(points())
def test_hessian_agrees_with_jax_hessian(x):
    """Within the promised normwise accuracy of the dtype (float64 x: 1e-6; float32: 3e-2)."""
    exact = np.asarray(jax.jit(jax.hessian(lambda z: smooth(z, jnp)))(jnp.asarray(x, dtype=jnp.float64)))
    H = hessian(lambda z: smooth(z.astype(np.float64)), x)
    assert H.shape == x.shape * 2
    assert H.dtype == x.dtype
    assert normwise_error(H, exact) <= nm.hessian_accuracy(x.dtype)
    np.testing.assert_array_equal(H.reshape(x.size, -1), H.reshape(x.size, -1).T)


@settings(max_examples=12, deadline=None)
@given(points(), st.integers(0, 2**16))
def test_hvp_agrees_with_jvp_of_grad(x, seed):
    v = np.random.default_rng(seed).standard_normal(x.shape).astype(x.dtype)
    xj, vj = jnp.asarray(x, dtype=jnp.float64), jnp.asarray(v, dtype=jnp.float64)
    jgrad = jax.jit(jax.grad(lambda z: smooth(z, jnp)))  # jit: one compilation, not one per operation
    exact = np.asarray(jax.jit(lambda z, w: jax.jvp(jgrad, (z,), (w,))[1])(xj, vj))
    H = np.asarray(jax.jit(jax.hessian(lambda z: smooth(z, jnp)))(xj)).reshape(x.size, x.size)
    # an HVP's error scales with the Hessian and v, not with H·v (which can vanish)
    scale = max(float(np.max(np.abs(exact), initial=0.0)), float(np.abs(H).max() * np.abs(v).max()))

    def grad(z):
        return np.asarray(jgrad(jnp.asarray(z, dtype=jnp.float64)))

    from_f = hessian_vector_product(lambda z: smooth(z.astype(np.float64)), x, v)
    from_grad = hessian_vector_product(smooth, x, v, grad=grad)
    assert from_f.shape == from_grad.shape == x.shape
    assert np.max(np.abs(from_f - exact), initial=0.0) <= nm.hessian_accuracy(x.dtype) * scale
    assert np.max(np.abs(from_grad - exact), initial=0.0) <= nm.hessian_accuracy(x.dtype) * scale


def test_hvp_costs_on_rosenbrock(rosen_point):
    x, exact = rosen_point
    v = np.random.default_rng(1).standard_normal(ROSENBROCK_N)
    f = Counted(rosenbrock)
    grad = Counted(lambda z: np.asarray(jax.grad(lambda w: rosenbrock(w, jnp))(jnp.asarray(z))))
    from_f = hessian_vector_product(f, x, v)
    from_grad = hessian_vector_product(f, x, v, grad=grad)
    assert f.calls == 4 * ROSENBROCK_N <= 4 * ROSENBROCK_N + 10
    assert grad.calls == 2
    assert normwise_error(from_f, exact @ v) <= TARGET_ERROR
    assert normwise_error(from_grad, exact @ v) <= TARGET_ERROR


def test_closure_idiom_and_caller_data_intact():
    W = np.array([[0.5, -1.0], [2.0, 0.25]])
    before = W.copy()
    H = hessian(lambda _: np.sum(W**3), W)  # f ignores its argument and reads W
    np.testing.assert_allclose(H.reshape(4, 4), np.diag(6 * W.reshape(-1)), atol=1e-6)
    np.testing.assert_array_equal(W, before)


def test_hvp_leaves_x_and_v_intact_whatever_grad_and_f_do():
    x, v = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.0, -1.0])
    xb, vb = x.copy(), v.copy()

    def grad(z):
        out = 2 * z.copy()
        z[...] = 99.0  # writes into its argument
        return out

    def f(z):
        out = np.sum(z**2)
        z[0] = -5.0
        return out

    np.testing.assert_allclose(hessian_vector_product(f, x, v, grad=grad), 2 * v, rtol=1e-8)
    with pytest.raises(MutatedArgumentError, match="f wrote into its argument"):
        hessian_vector_product(f, x, v)  # the caller's x is perturbed in place: f's write is caught
    np.testing.assert_array_equal(x, xb)
    np.testing.assert_array_equal(v, vb)


def test_caller_data_intact_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    before = x.copy()
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) > 5:
            raise RuntimeError("boom")
        return np.sum(v**2)

    with pytest.raises(RuntimeError, match="boom"):
        hessian(f, x)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: hessian(np.sum, np.array([1, 2])), TypeError, "hessian: x must be a floating array"),
        (lambda: hessian(3, np.ones(2)), TypeError, "hessian: f must be callable"),
        (lambda: hessian(np.sum, np.ones(2), h=-1.0), ValueError, "hessian: h must be positive"),
        (lambda: hessian(lambda v: v, np.ones(2)), ValueError, "hessian: f must return a scalar"),
        (lambda: hessian(lambda v: np.log(v).sum(), -np.ones(2)), FloatingPointError, "hessian: f is not finite at x itself"),
        (lambda: hessian(np.sum, np.ones(2), batched=1), TypeError, "hessian: batched must be True or False"),
        (lambda: hessian_vector_product(np.sum, np.ones(2), np.ones(3)), ValueError, "hessian_vector_product: v must have x's shape"),
        (lambda: hessian_vector_product(np.sum, np.ones(2), np.zeros(2)), ValueError, "v must be finite and non-zero"),
        (lambda: hessian_vector_product(np.sum, np.ones(2), np.ones(2), grad=3), TypeError, "hessian_vector_product: grad must be callable"),
        (lambda: hessian_vector_product(np.sum, np.ones(2), np.ones(2), grad=lambda v: v[:1]), ValueError, "grad must return an array of x's shape"),
        (lambda: hessian_vector_product(np.sum, np.ones(2), np.ones(2), h=0.0), ValueError, "h must be a positive finite number"),
        (lambda: hessian_vector_product(np.sum, np.array([1, 2]), np.ones(2)), TypeError, "hessian_vector_product: x must be a floating"),
    ],
    ids=["int-x", "f-not-callable", "negative-h", "vector-f", "non-finite", "batched-not-bool", "v-shape",
         "v-zero", "grad-not-callable", "grad-shape", "h-zero", "hvp-int-x"],
)  # fmt: skip
def test_input_validation(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_read_only_x_is_refused_in_element_mode():
    x = np.ones(3)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="hessian: x is read-only"):
        hessian(np.sum, x)
    assert hessian(lambda X: np.sum(X**2, axis=1), x, batched=True).shape == (3, 3)


def test_reference_twins_agree(rosen_point):
    import numgrad_reference.estimate as re
    import numgrad_reference.hessian as rh

    x, exact = rosen_point
    v = np.ones(ROSENBROCK_N)
    np.testing.assert_allclose(rh.hessian(lambda z: rosenbrock(z, jnp), x), exact, rtol=1e-12)
    np.testing.assert_allclose(
        rh.hessian_vector_product(lambda z: rosenbrock(z, jnp), x, v), exact @ v, rtol=1e-10
    )
    twin = re.estimate_hessian(lambda z: rosenbrock(z, jnp), x)
    ours = __import__("numgrad").estimate_hessian(rosenbrock, x)
    assert np.all(np.abs(ours.derivative - twin.derivative) <= ours.error + twin.error)
    assert twin.reliable


def test_an_unreliable_hessian_is_not_returned_without_a_word():
    def tiny_scale(v):
        return np.sum(np.log1p((v / 1e-8) ** 2))

    with pytest.warns(
        NumericalWarning, match=r"hessian: 1 of 4 entries are unreliable .* first at d²f / dx\[0\] dx\[0\]"
    ):
        hessian(tiny_scale, np.array([1e-8, 1.0]))


@pytest.mark.parametrize("x0", [1e6, 1e8, -3e7, -1e12, 1e13])
def test_a_step_coarse_against_f_is_taken_again_at_the_unit_scale(x0):
    # sin's default step at |x| = 1e8 is 1.6e4, thousands of periods: D(h) and D(2h) both ~1e-8, and the
    # pair's difference said the entry was reliable to 1e-8 while the curvature is 0.8
    # (beyond 1e12 the unit step is below x's spacing: x ± h was x, a Hessian of 0 "reliable")
    def f(v):
        return 100.0 + np.sin(v[0]) * np.sin(v[1])

    x = np.array([x0, 1.0])
    s0, c0, s1, c1 = np.sin(x0), np.cos(x0), np.sin(1.0), np.cos(1.0)
    exact = np.array([[-s0 * s1, c0 * c1], [c0 * c1, -s0 * s1]])
    est = __import__("numgrad").estimate_hessian(f, x)
    assert est.reliable
    assert np.all(np.abs(est.derivative - exact) <= est.error)
    assert np.max(np.abs(est.derivative - exact)) < 1e-4  # f's rounding: 100·eps / h² ~ 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: every entry is resolved
        np.testing.assert_allclose(hessian(f, x), exact, atol=1e-4)


def test_an_entry_still_coarse_at_the_unit_scale_has_no_finite_error():
    # f varies on a scale of 1e-6 far from 0: the unit step 1.2e-4 is still a hundred of its periods
    def f(v):
        return np.sin(1e6 * v[0]) + v[1] ** 2

    est = __import__("numgrad").estimate_hessian(f, np.array([3e4, 1.0]))
    assert np.isinf(est.error[0, 0])
    assert est.unreliable[0, 0]
    assert not est.unreliable[1, 1]
    assert est.derivative[1, 1] == pytest.approx(2.0, rel=1e-6)


@pytest.mark.parametrize("h", [1e-7, 1e-12, 1e-15])
def test_a_given_step_whose_rounding_is_the_value_is_flagged(h):
    # x² at (3, 4), h so small that f's rounding over h² is most of the second difference: hessian gave
    # 0 (1e-12) or 3e14 (1e-15) with no warning, and estimate_hessian's error of 1e11 flagged nothing
    f, x = (lambda v: float(np.sum(v**2))), np.array([3.0, 4.0])
    with pytest.warns(NumericalWarning, match="unreliable"):
        ng.hessian(f, x, h=h)
    assert ng.estimate_hessian(f, x, h=h).unreliable.all()


def test_the_default_step_of_a_smooth_hessian_is_not_flagged():
    e = ng.estimate_hessian(lambda v: float(np.sum(v**2)), np.array([3.0, 4.0]))
    assert not e.unreliable.any()


@pytest.mark.parametrize(
    ("f", "x", "h"),
    [
        (lambda z: int(np.sum(z**2)), np.array([3.0, 4.0]), None),  # gave [-1048576, 0] with no word
        (lambda z: np.float16(np.sum(z**2)), np.linspace(1, 2, 40), None),  # 1.875 .. 2.19 for 2
        (lambda z: float(np.sum(z**2)), np.array([3.0, 4.0]), 1e-15),  # gave [0, 0]
    ],
    ids=["integer values", "float16 values", "h far too small"],
)
def test_a_hessian_vector_product_that_f_s_rounding_swamps_warns(f, x, h):
    with pytest.warns(NumericalWarning, match="unreliable by f's own rounding"):
        hessian_vector_product(f, x, np.ones_like(x), h=h)


def test_a_smooth_hessian_vector_product_does_not_warn():
    x = np.linspace(1, 2, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hv = hessian_vector_product(lambda z: float(np.sum(np.sin(z) * z**3)), x, np.ones(40))
    exact = 6 * x * np.sin(x) + 6 * x**2 * np.cos(x) - x**3 * np.sin(x)
    np.testing.assert_allclose(hv, exact, rtol=1e-5)

"""hessian_vector_product at a float64 x whose f (or grad) casts it to float32: it evaluates no f(x), so the
first of its points says that f's values are float32, and the steps and points then follow float32 (one
value spent), as at a float32 x. Before, float64 steps under float32 rounding: 0.46–79 times max|Hv| off
from f's values, 1.1e-2–4.2e-2 with a float32 grad (benchmarks/cast_float32_hessian.py). A float64-valued f
keeps its points, counts and results."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numgrad_reference  # noqa: F401  (float64 in JAX)
import numpy as np
import pytest

from numgrad import hessian, hessian_vector_product, numerical_gradient
from numgrad.common import numerics as nm

F32 = np.float32
SEEDS = range(6)
T64, T32 = (float(np.exp2(np.round(np.log2(nm.hessian_base_step(d))))) for d in (np.float64, np.float32))
G32 = float(np.exp2(np.round(np.log2(nm.base_step("central", np.float32)))))  # grad's step, float32


def softplus(v, A, xp=np):
    return xp.sum(xp.logaddexp(0.0, A @ v)) + 0.5 * xp.sum(v * v)


def tanh_layer(v, A, xp=np):
    return xp.sum(xp.tanh(A @ v) ** 2) + 0.1 * xp.sum(v**4)


FUNCTIONS = {"softplus": softplus, "tanh layer": tanh_layer}


class Recorded:
    """Counts the calls and keeps the points (flat float64); a batched f's stacks, row by row."""

    def __init__(self, f):
        self.f, self.calls, self.points = f, 0, []

    def __call__(self, v):
        self.calls += 1
        self.points.extend(np.array(v, dtype=np.float64).reshape(-1, v.shape[-1]))
        return self.f(v)


def _case(name, seed):
    rng = np.random.default_rng(seed)
    A = (rng.standard_normal((7, 9)) / 3).astype(F32)
    x, v = rng.standard_normal(9), rng.standard_normal(9)
    expr = FUNCTIONS[name]

    def f(z):  # float32 values for any x
        return expr(z.astype(F32), A)

    g32 = jax.jit(jax.grad(lambda z: expr(z, jnp.asarray(A), jnp)))

    def grad(z):  # a float32 backward pass
        return np.asarray(g32(jnp.asarray(z, dtype=jnp.float32)))

    H = np.asarray(jax.hessian(lambda z: expr(z, jnp.asarray(A, dtype=jnp.float64), jnp))(jnp.asarray(x)))
    return f, grad, x, v, H


def _within_float32(got, H, v):
    """Normwise within the Hessian's float32 accuracy, the scale that of test_hessian.py's hvp test."""
    exact = H @ v
    scale = max(float(np.max(np.abs(exact))), float(np.abs(H).max() * np.abs(v).max()))
    return float(np.max(np.abs(got - exact))) <= nm.hessian_accuracy(F32) * scale


def _on_float32_grid(points):
    return all(np.array_equal(q, q.astype(F32).astype(np.float64)) for q in points)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_values_take_float32_steps_element_by_element(name, seed):
    f, _, x, v, H = _case(name, seed)
    seen = Recorded(f)
    got = hessian_vector_product(seen, x, v)
    assert got.dtype == np.float64
    assert _within_float32(got, H, v)
    assert seen.calls == 4 * x.size + 1  # the first point, at float64's steps, spent
    assert not _on_float32_grid(seen.points[:1])
    assert _on_float32_grid(seen.points[1:])


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_a_batched_f_spends_its_first_stack(name):
    """The values of a batched f say their dtype per stack: the first stack (n points here) is spent;
    the product is bitwise the element-by-element one (the same points)."""
    f, _, x, v, H = _case(name, 0)
    stacked = Recorded(lambda s: np.array([f(row) for row in s]))
    got = hessian_vector_product(stacked, x, v, batched=True)
    np.testing.assert_array_equal(got, hessian_vector_product(f, x, v))
    assert (stacked.calls, len(stacked.points)) == (5, 5 * x.size)
    assert _within_float32(got, H, v)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_float32_grad_takes_float32_steps(seed):
    f, grad, x, v, H = _case("softplus", seed)
    called = Recorded(grad)
    got = hessian_vector_product(f, x, v, grad=called)
    assert _within_float32(got, H, v)
    assert called.calls == 3  # x + t·v at float64's step, spent; then x ± t·v at float32's
    assert _on_float32_grid(called.points[1:])
    scale = np.max(np.abs(v)) / max(1.0, np.max(np.abs(x)))
    np.testing.assert_array_equal(called.points[1], (x + G32 * v / scale).astype(F32))


def test_a_given_step_with_grad_is_taken_as_given():
    """No step to choose: grad is called twice at x ± h·v (scaled), its float32 values or not."""
    f, grad, x, v, _ = _case("softplus", 1)
    called = Recorded(grad)
    hessian_vector_product(f, x, v, grad=called, h=2.0**-7)
    scale = np.max(np.abs(v)) / max(1.0, np.max(np.abs(x)))
    assert called.calls == 2
    np.testing.assert_array_equal(np.stack(called.points), [x + 2.0**-7 * v / scale, x - 2.0**-7 * v / scale])


def test_a_pytree_whose_f_casts():
    f, grad, x, v, H = _case("tanh layer", 2)

    def ft(p):
        return f(np.concatenate([p["a"], p["b"]]))

    def gt(p):
        g = grad(np.concatenate([p["a"], p["b"]]))
        return {"a": g[:4], "b": g[4:]}

    tree, vt = {"a": x[:4], "b": x[4:]}, {"a": v[:4], "b": v[4:]}
    for out in (hessian_vector_product(ft, tree, vt), hessian_vector_product(ft, tree, vt, grad=gt)):
        assert _within_float32(np.concatenate([out["a"], out["b"]]), H, v)


def test_float64_values_keep_their_points():
    """A float64-valued f: exactly the 4n points ``x ± t·v ± h_i·e_i`` (t = 2⁻¹³ for v scaled to
    max|v| = max(1, max|x|), h_i = eps**(1/4)·max(1, |x_i|) as powers of two), in order; grad: 2 calls."""
    _, _, x, v, _ = _case("softplus", 3)
    A = np.random.default_rng(3).standard_normal((7, 9))
    seen = Recorded(lambda z: softplus(z, A))
    hessian_vector_product(seen, x, v)
    unit = v * max(1.0, np.max(np.abs(x))) / np.max(np.abs(v))
    h = nm.hessian_steps(x, np.float64)
    eye = np.eye(x.size)
    expected = [x + a * T64 * unit + b * h[i] * eye[i] for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1))
                for i in range(x.size)]  # fmt: skip
    assert seen.calls == 4 * x.size
    np.testing.assert_array_equal(np.stack(seen.points), np.stack(expected))
    called = Recorded(lambda z: A.T @ (1 / (1 + np.exp(-(A @ z)))) + z)
    hessian_vector_product(seen.f, x, v, grad=called)
    t = float(np.exp2(np.round(np.log2(nm.base_step("central", np.float64)))))
    assert called.calls == 2
    np.testing.assert_array_equal(np.stack(called.points), [x + t * unit, x - t * unit])


def test_a_batched_f_says_its_float32_values_to_the_engine():
    """A local batched f's values reach the engine in their own dtype: numerical_gradient and hessian
    of a batched f that casts take float32's steps, bitwise as element by element. (Before, the stack's
    values were stored as float64 first: batched, numerical_gradient was 3.0e-2 off where element by
    element it is 2.5e-4, hessian 47 off against 1.5e-3.)"""
    x = np.linspace(0.3, 1.2, 6)

    def cubes(v):
        return np.sum(np.asarray(v, dtype=F32) ** 3, axis=-1)

    np.testing.assert_array_equal(numerical_gradient(cubes, x, batched=True), numerical_gradient(cubes, x))
    np.testing.assert_array_equal(hessian(cubes, x, batched=True), hessian(cubes, x))
    err = np.max(np.abs(hessian(cubes, x, batched=True) - np.diag(6 * x))) / np.max(6 * x)
    assert err <= nm.hessian_accuracy(F32)

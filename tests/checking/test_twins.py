"""numgrad against its JAX twins: same names and signatures, same values, gradients that agree with jax.grad."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import jax
import jax.numpy as jnp
import numgrad_reference
import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numgrad
from numgrad.checking.catalog import CASES, TWIN_OF, objective
from numgrad.checking.twins import normwise_error, twins
from numgrad.common import numerics as nm
from numgrad.differences.engine import make_problem
from numgrad.differences.steps import difference_with_error

TWINNED = sorted(m.name for m in pkgutil.iter_modules(numgrad_reference.__path__))
PUBLIC = [
    (module, name)
    for module in TWINNED
    for name in importlib.import_module(TWIN_OF[module]).__all__
]  # fmt: skip
ELEMENTWISE = ["identity_function", "relu", "sigmoid", "step_function", "softmax"]


def test_every_twin_module_names_the_numgrad_module_it_mirrors():
    assert set(TWINNED) == set(TWIN_OF)
    assert {"functions", "losses", "gradient"} <= set(TWINNED)


@pytest.mark.parametrize(("module", "name"), PUBLIC, ids=[f"{m}.{n}" for m, n in PUBLIC])
def test_twin_exists_with_the_same_signature(module, name):
    ours = getattr(importlib.import_module(TWIN_OF[module]), name)
    theirs = getattr(importlib.import_module(f"numgrad_reference.{module}"), name, None)
    assert theirs is not None, f"numgrad_reference.{module} has no twin of {name}"
    if callable(ours) and not inspect.isclass(ours):
        ours_sig, theirs_sig = inspect.signature(ours), inspect.signature(theirs)
        assert [(p.name, p.kind, p.default) for p in ours_sig.parameters.values()] == [
            (p.name, p.kind, p.default) for p in theirs_sig.parameters.values()
        ]


def test_top_level_exports_resolve():
    for name in numgrad.__all__:
        assert getattr(numgrad, name) is not None


# ---------------------------------------------------------------------------------------------------
# Values


@given(
    x=hnp.arrays(
        st.sampled_from([np.float64, np.float32]),
        hnp.array_shapes(min_dims=0, max_dims=4, max_side=5),
        # XLA on CPU flushes subnormals to zero (step_function(1e-45) is 0 there, 1 in NumPy): normal
        # numbers only, as the thorough profile found
        elements=st.floats(-30, 30, width=32, allow_subnormal=False),
    ),
    name=st.sampled_from(ELEMENTWISE),
)
def test_activation_values_match_twin(x, name):
    if name == "softmax" and x.ndim == 0:
        x = x.reshape(1)
    ours = getattr(numgrad.book.functions, name)(x)
    theirs = np.asarray(getattr(numgrad_reference.functions, name)(x))
    assert ours.dtype == theirs.dtype == x.dtype
    np.testing.assert_allclose(ours, theirs, rtol=nm.value_rtol(x.dtype), atol=nm.value_rtol(x.dtype))


@st.composite
def loss_inputs(draw):
    """A catalog loss case with a drawn batch size (1–512), class count and dtype."""
    case = draw(st.sampled_from([c for c in CASES if c.module == "losses"]))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    batch = draw(st.integers(1, 512))
    classes = draw(st.integers(2, 10))
    seed = draw(st.integers(0, 2**16))
    note(f"{case.name} {np.dtype(dtype).name} batch={batch} classes={classes} seed={seed}")
    return case, case.inputs(np.random.default_rng(seed), np.dtype(dtype), batch, classes)


@given(loss_inputs())
def test_loss_values_match_twin(drawn):
    case, args = drawn
    ours, theirs = twins(case)
    mine = np.asarray(ours(*args))
    # jit: one compilation, not one per operation; t stays concrete (the twins read its form)
    ref = np.asarray(jax.jit(lambda y: theirs(y, *args[1:]))(args[0]))
    assert mine.shape == ref.shape == ()
    assert normwise_error(mine, ref) <= nm.value_rtol(args[0].dtype)


# ---------------------------------------------------------------------------------------------------
# Gradients against jax.grad, every built-in, every method


@st.composite
def gradient_inputs(draw):
    case = draw(st.sampled_from(CASES))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    batch = draw(st.integers(1, 64))
    classes = draw(st.integers(2, 10))
    seed = draw(st.integers(0, 2**16))
    method = draw(st.sampled_from(nm.METHODS))
    note(f"{case.name} {np.dtype(dtype).name} batch={batch} classes={classes} seed={seed} {method}")
    return case, case.inputs(np.random.default_rng(seed), np.dtype(dtype), batch, classes), method


@given(gradient_inputs())
def test_numerical_gradient_agrees_with_jax_grad(drawn):
    """Within the engine's own error estimate (floored at the dtype's promised accuracy)."""
    case, args, method = drawn
    ours, theirs = twins(case)
    x = np.array(args[0])
    p = make_problem(
        "test", objective(ours, case, args, np), x, out_shape=None, method=method, batched=False,
        chunk_size=None, executor=None,
    )  # fmt: skip
    d, estimate = difference_with_error(p, None)
    exact_grad = jax.jit(jax.grad(objective(theirs, case, args, jnp)))  # one compilation, not one per op
    exact = np.asarray(exact_grad(jnp.asarray(x)), dtype=np.float64)
    error = normwise_error(d.derivative.reshape(x.shape), exact)
    scale = float(np.max(np.abs(exact), initial=0.0))
    tolerance = nm.estimated_tolerance(method, x.dtype, float(np.max(estimate, initial=0.0)), scale)
    note(f"error={error:.3e} tolerance={tolerance:.3e}")
    assert error <= tolerance


@pytest.mark.parametrize("method", nm.METHODS)
def test_reference_finite_difference_twin_agrees(method):
    import numgrad_reference.gradient as rg
    import numgrad_reference.losses as rl

    rng = np.random.default_rng(11)
    z, t = 3 * rng.normal(size=(20, 10)), rng.integers(0, 10, 20)
    exact = rg.exact_gradient(lambda w: rl.softmax_cross_entropy(w, t), z)
    fd = rg.numerical_gradient(lambda w: rl.softmax_cross_entropy(w, t), z, method=method)
    ours = numgrad.numerical_gradient(lambda w: numgrad.softmax_cross_entropy(w, t), z, method=method)
    assert normwise_error(fd, exact) <= nm.accuracy(method, np.float64)
    assert normwise_error(ours, exact) <= nm.accuracy(method, np.float64)


def piecewise(z):
    """Python control flow on z's value: eager autodiff allows it, tracing for jit does not."""
    return jnp.sum(z**3) if z[0] > 0 else -jnp.sum(z**3)


class Unhashable:
    """A callable that defines equality and so has no hash (the compiled twins cannot cache it)."""

    __hash__ = None

    def __eq__(self, other):
        return self is other

    def __call__(self, z):
        return jnp.sum(jnp.sin(z) * z)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_exact_twins_of_an_f_that_reads_its_values_run_it_eagerly(sign):
    import numgrad_reference.estimate as re
    import numgrad_reference.gradient as rg
    import numgrad_reference.hessian as rh

    x = sign * np.array([1.0, 2.0, 0.5])
    v = np.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(rg.exact_gradient(piecewise, x), sign * 3 * x**2, rtol=1e-15)
    np.testing.assert_allclose(rg.exact_jacobian(piecewise, x), sign * 3 * x**2, rtol=1e-15)
    np.testing.assert_allclose(rh.hessian(piecewise, x), np.diag(sign * 6 * x), rtol=1e-15)
    np.testing.assert_allclose(rh.hessian_vector_product(piecewise, x, v), sign * 6 * x * v, rtol=1e-15)
    tree = rh.hessian(lambda p: piecewise(p["a"]), {"a": x})
    np.testing.assert_allclose(tree["a"]["a"], np.diag(sign * 6 * x), rtol=1e-15)
    np.testing.assert_allclose(
        re.estimate_hessian(piecewise, x).derivative, np.diag(sign * 6 * x), rtol=1e-15
    )


def test_exact_twins_of_an_unhashable_callable():
    import numgrad_reference.gradient as rg
    import numgrad_reference.hessian as rh

    f, x = Unhashable(), np.array([0.4, -1.3])
    np.testing.assert_allclose(rg.exact_gradient(f, x), np.sin(x) + x * np.cos(x), rtol=1e-14)
    np.testing.assert_allclose(rh.hessian(f, x), np.diag(2 * np.cos(x) - x * np.sin(x)), rtol=1e-14)

"""numgrad.jax: custom_vjp / custom_jvp rules checked against numgrad's differences of f, float32 and float64,
x64 on or off (and restored), second order, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax_layers as jl
import numpy as np
import pytest
from layers import BUG_SIZES, LAYERS

import numgrad.jax as nj

IDS = [layer.name for layer in LAYERS]
# (dtype, x64 flag while the user's code runs)
SETTINGS = [("float32", False), ("float32", True), ("float64", True)]
SETTING_IDS = ["float32-x64-off", "float32-x64-on", "float64"]


@pytest.fixture
def x64(request):
    """Set the x64 flag for a test and put back whatever it was (other modules enable it)."""
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", request.param)
    yield request.param
    jax.config.update("jax_enable_x64", before)


def _cases(with_delta):
    for (dtype, flag), sid in zip(SETTINGS, SETTING_IDS, strict=True):
        # float32 with x64 on differences as with it off: the smallest and largest bug suffice there
        sizes = (BUG_SIZES if not flag or dtype == "float64" else BUG_SIZES[::4]) if with_delta else (0.0,)
        for layer in LAYERS:
            for delta in sizes:
                yield pytest.param(layer, dtype, delta, flag, id=f"{layer.name}-{sid}-{delta:g}")


@pytest.mark.parametrize(("layer", "dtype", "delta", "x64"), list(_cases(False)), indirect=["x64"])
def test_correct_rules_pass(layer, dtype, delta, x64):
    args = jl.inputs(layer, dtype)
    report = nj.check_grads(jl.function(layer), args, 1, modes=("rev",))
    assert report.passed
    assert report.findings[0].report.working_dtype == "float64"
    assert nj.check_grads(jl.function(layer), args, 1, modes=("rev",), mode="fast").nfev <= 8
    assert bool(jax.config.jax_enable_x64) is x64


@pytest.mark.parametrize(("layer", "dtype", "delta", "x64"), list(_cases(True)), indirect=["x64"])
def test_planted_bugs_are_caught(layer, dtype, delta, x64):
    args = jl.inputs(layer, dtype)
    with pytest.raises(AssertionError, match=r"VJP \(rev\) check FAILED") as info:
        nj.check_grads(jl.function(layer, delta), args, 1, modes=("rev",))
    planted, _ = layer.wrong(jl.OPS, jnp.ones_like(layer.forward(jl.OPS, *args)), *args)
    assert f"output 0 w.r.t. args[{planted}]: gradient WRONG" in str(info.value)
    assert bool(jax.config.jax_enable_x64) is x64


@pytest.mark.parametrize("x64", [False, True], indirect=True, ids=["x64-off", "x64-on"])
def test_fast_mode_catches_a_1e_4_bug(x64):
    layer = LAYERS[3]
    with pytest.raises(AssertionError, match="mode='full' locates"):
        nj.check_grads(jl.function(layer, 1e-4), jl.inputs(layer, "float32"), 1, ["rev"], mode="fast")


@pytest.mark.parametrize("x64", [False], indirect=True, ids=["float32-x64-off"])
@pytest.mark.parametrize("layer", LAYERS, ids=IDS)
def test_order_2_catches_second_order_bugs(layer, x64):
    """The VJP rule is right (order 1 passes); its own derivative is off by 1e-4 (relative). float32 with
    x64 off, the hardest setting (tests/adapters/test_torch.py covers float64 second order)."""
    args = jl.inputs(layer, "float32")
    assert nj.check_grads(jl.second_order(layer, 0.0), args, 2, modes=("rev",)).passed
    with pytest.raises(AssertionError, match=r"\norder-2 VJP \(rev over rev\): outputs? .* w\.r\.t\. args") as info:
        nj.check_grads(jl.second_order(layer, 1e-4), args, 2, modes=("rev",))
    assert "\nVJP (rev): output" not in str(info.value)  # the failures shown are of order 2 only


@jax.custom_jvp
def softplus(x):
    return jnp.logaddexp(x, 0.0)


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus(x), jax.nn.sigmoid(x) * t


@jax.custom_jvp
def cube(x):
    return x**3


@cube.defjvp
def _cube_jvp(primals, tangents):
    """Right first derivative, but x is cut from the tangent's graph: its derivative (order 2) is zero."""
    (x,), (t,) = primals, tangents
    return cube(x), 3 * jax.lax.stop_gradient(x) ** 2 * t


@jax.custom_jvp
def off_softplus(x):
    return jnp.logaddexp(x, 0.0)


@off_softplus.defjvp
def _off_softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return off_softplus(x), jax.nn.sigmoid(x) * t * (1 + 1e-3)


@pytest.mark.parametrize("x64", [False, True], indirect=True, ids=["x64-off", "x64-on"])
def test_custom_jvp_rules_forward_and_reverse(x64):
    x = jnp.linspace(-3.0, 3.0, 11)
    report = nj.check_grads(softplus, (x,), 2)
    assert report.passed
    assert [f.outputs.split(":")[0] for f in report.findings] == [
        "JVP (fwd)", "order-2 JVP (fwd over fwd)", "VJP (rev)", "order-2 VJP (rev over rev)"
    ]
    with pytest.raises(AssertionError, match=r"JVP \(fwd\): output 0 w.r.t. args\[0\]: gradient WRONG"):
        nj.check_grads(off_softplus, (x,), 1)
    assert nj.check_grads(cube, (x,), 1).passed
    with pytest.raises(AssertionError, match=r"order-2 JVP \(fwd over fwd\)"):
        nj.check_grads(cube, (x,), 2, modes=["fwd"])


def test_pytrees_name_the_leaf():
    @jax.custom_vjp
    def layer(p, x):
        return jnp.tanh(x @ p["w"] + p["b"])

    def fwd(p, x):
        y = layer(p, x)
        return y, (p, x, y)

    def bwd(res, g):
        p, x, y = res
        d = g * (1 - y**2)
        return {"w": x.T @ d, "b": d.sum(0) * 1.01}, d @ p["w"].T

    layer.defvjp(fwd, bwd)
    rng = np.random.default_rng(0)
    p = {"w": jnp.asarray(rng.standard_normal((3, 2))), "b": jnp.asarray(rng.standard_normal(2))}
    x = jnp.asarray(rng.standard_normal((4, 3)))
    with pytest.raises(AssertionError, match=r"w.r.t. args\[0\]\['b'\]: gradient WRONG") as info:
        nj.check_grads(layer, (p, x), 1, modes=("rev",))
    assert "args[0]['w']" not in str(info.value).split("FAILED")[1].split("\n")[1]


def _cast_down(factor=1.0):
    """sin(w) + cos(x) cast to float32, its VJP rule's gradient of x `factor` times the right one."""

    @jax.custom_vjp
    def f(w, x):
        return jnp.sin(w) + jnp.cos(x).astype(jnp.float32)

    def bwd(res, g):
        w, x = res
        return jnp.cos(w) * g, (-jnp.sin(x) * g * factor).astype(x.dtype)

    f.defvjp(lambda w, x: (f(w, x), (w, x)), bwd)
    return f


def cast_args():
    """(w, x): w float32; x float64 where x64 is on. Built in the test, under its x64 setting (a module
    constant would take whatever x64 setting the tests imported before it left)."""
    return jnp.linspace(0.1, 1.0, 5, dtype=jnp.float32), np.linspace(0.1, 1.0, 5)


@pytest.mark.parametrize("x64", [False, True], indirect=True, ids=["x64-off", "x64-on"])
def test_a_leaf_that_f_casts_to_float32_passes(x64):
    """f(w, x) = sin(w) + cos(x) cast to float32: widening w made the output float64 while x's path still
    rounded to float32, and float64 steps saw 'numerical 0' for x (a float64 leaf with x64 on, a float32
    one with it off)."""
    report = nj.check_grads(lambda w, x: jnp.sin(w) + jnp.cos(x).astype(jnp.float32), cast_args(), 1)
    assert report.passed
    assert [f.report.working_dtype for f in report.findings] == ["float64", "float32"] * 2
    assert nj.check_grads(_cast_down(), cast_args(), 1, modes=("rev",)).passed
    assert bool(jax.config.jax_enable_x64) is x64


@pytest.mark.parametrize("x64", [False, True], indirect=True, ids=["x64-off", "x64-on"])
def test_a_leaf_that_f_casts_to_float32_still_catches_a_wrong_rule(x64):
    wrong = r"VJP \(rev\): output 0 w.r.t. args\[1\]: gradient WRONG"
    with pytest.raises(AssertionError, match=wrong) as info:
        nj.check_grads(_cast_down(1.01), cast_args(), 1, modes=("rev",))
    assert "args[0]: gradient WRONG" not in str(info.value)


@pytest.mark.parametrize("x64", [True], indirect=True, ids=["x64-on"])
def test_a_float64_leaf_computed_in_float32_and_cast_back_passes(x64):
    """Its outputs are float64 whose digits are float32's: the projections are taken in float32, so the
    steps are float32's (before, float64 steps rounded away inside f and the exact rule FAILED)."""
    x = np.linspace(-1.0, 1.0, 5)
    report = nj.check_grads(lambda v: jnp.tanh(v.astype(jnp.float32)).astype(jnp.float64), (x,), 2)
    assert report.passed, str(report)
    assert {f.report.working_dtype for f in report.findings} == {"float32"}


def test_order_2_on_plain_jax_and_arrays_unchanged():
    x = np.linspace(0.1, 1.0, 6)
    before = x.copy()
    report = nj.check_grads(lambda v: jnp.sin(v) * jnp.exp(v), (x,), 2)
    assert report.passed
    assert report.nfev > 0
    assert report.seconds > 0
    np.testing.assert_array_equal(x, before)


def test_a_kink_is_a_kink():
    x = jnp.asarray([-1.0, 0.0, 2.0])
    report = nj.check_grads(jax.nn.relu, (x,), 1, modes=("rev",), method="central")
    assert report.findings[0].report.kinks.tolist() == [False, True, False]


def test_seed_is_an_int_or_a_generator():
    """A numpy.random.Generator draws the cotangents as default_rng(seed) would."""
    layer = LAYERS[1]
    args = jl.inputs(layer, "float32")

    def values(seed):
        report = nj.check_grads(jl.function(layer), args, 1, modes=("rev",), seed=seed)
        return report.findings[0].report.analytic_values

    np.testing.assert_array_equal(values(np.random.default_rng(4)), values(4))
    assert not np.array_equal(values(4), values(5))
    assert nj.check_grads(jnp.sin, (jnp.linspace(0, 1, 4),), 2, seed=np.random.default_rng(0)).passed


def test_x64_flag_restored_after_a_failure():
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(AssertionError):
            nj.check_grads(off_softplus, (jnp.ones(3),), 1)
        assert not jax.config.jax_enable_x64
    finally:
        jax.config.update("jax_enable_x64", before)


def _changes_structure(x):
    return (x, x) if x.dtype == jnp.float64 else x


BAD = [
    ("args-not-a-tuple", jnp.sin, jnp.ones(3), {}, TypeError, r"args must be a tuple of the arguments of f .*got ArrayImpl. For one argument x pass \(x,\)"),
    ("integer-leaf", lambda x, t: x[t], (jnp.ones(3), np.arange(2)), {}, TypeError, r"args\[1\] is int64. Pass integer data \(labels\) through a closure"),
    ("returns-string", lambda x: "no", (jnp.ones(3),), {}, TypeError, r"f must return an array or a pytree of arrays; output leaf 0 is str"),
    ("returns-nothing", lambda x: None, (jnp.ones(3),), {}, TypeError, r"f returned no array"),
    ("returns-integers", jnp.argmax, (jnp.ones(3),), {}, TypeError, r"output leaf 0 is int"),
    ("custom-vjp-forward", jl.function(LAYERS[1]), (jnp.ones((2, 3)),), {}, TypeError, r"f has no forward mode .* pass modes=\('rev',\)"),
    ("order-0", jnp.sin, (jnp.ones(3),), {"order": 0}, ValueError, r"order must be a positive int; got 0"),
    ("bad-mode", jnp.sin, (jnp.ones(3),), {"modes": ("sideways",)}, ValueError, r"modes must be a non-empty sequence of 'fwd' and 'rev'"),
    ("structure-changes", _changes_structure, (np.ones(3, dtype=np.float32),), {}, ValueError, r"f returned 1 output leaves at args and 2 at a perturbed point"),
    ("f-not-callable", "sin", (jnp.ones(3),), {}, TypeError, r"numgrad.jax.check_grads: f must be callable"),
    ("seed-float", jnp.sin, (jnp.ones(3),), {"seed": 1.5}, TypeError, r"check_grads: seed must be a non-negative int, a numpy.random.Generator or None; got float 1.5"),
    ("seed-negative", jnp.sin, (jnp.ones(3),), {"seed": -1}, ValueError, r"check_grads: seed must be a non-negative int below 2\*\*128"),
]


@pytest.mark.parametrize(("f", "args", "kwargs", "error", "match"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_input_validation(f, args, kwargs, error, match):
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    try:
        with pytest.raises(error, match=match):
            nj.check_grads(f, args, **kwargs)
    finally:
        jax.config.update("jax_enable_x64", before)

"""numgrad.checking.layers and the layer zoo: every planted bug caught and located, no false alarm, in
float64 and float32; check_layers names the first wrong layer of a stack."""

from __future__ import annotations

import json

import numpy as np
import pytest
from layer_zoo import BUGS, ZOO, Affine, Dropout, LayerNorm, Sigmoid, as_function, build, tree_of

from numgrad.checking.layers import check_layers, layer_parameters
from numgrad.checking.vector import check_vjp
from numgrad.common.guard import MutatedArgumentError

DTYPES = [np.float64, np.float32]


# --------------------------------------------------------------------------------------------------
# The zoo, one layer at a time through check_vjp


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("entry", ZOO, ids=[e.name for e in ZOO])
def test_correct_layers_raise_no_alarm(entry, dtype, mode):
    for seed in range(3):
        layer, x = build(entry, dtype, seed=seed)
        f, vjp = as_function(layer)
        r = check_vjp(f, tree_of(layer, x), vjp, mode=mode)
        assert r.passed, f"{entry.name} seed {seed}\n{r}"


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize(("entry", "bug", "leaves"), BUGS, ids=[f"{e.name}-{b}" for e, b, _ in BUGS])
def test_planted_bugs_are_caught_and_located(entry, bug, leaves, dtype):
    layer, x = build(entry, dtype, bug)
    f, vjp = as_function(layer)
    r = check_vjp(f, tree_of(layer, x), vjp)
    assert not r.passed
    assert r.worst_leaf in leaves
    wrong = {leaf.path for leaf in r.leaves if not leaf.passed}
    assert leaves[0] in wrong
    assert wrong <= set(leaves), f"blamed {wrong - set(leaves)} too"
    assert not check_vjp(f, tree_of(layer, x), vjp, mode="fast").passed


def test_layer_parameters_are_array_attributes_with_a_gradient_attribute():
    rng = np.random.default_rng(0)
    assert layer_parameters(Affine(rng, np.float64)) == ("W", "b")
    assert layer_parameters(LayerNorm(rng, np.float64)) == ("gamma", "beta")
    assert layer_parameters(Dropout(rng, np.float64)) == ()  # its mask has no gradient


# --------------------------------------------------------------------------------------------------
# check_layers


class Relu:
    """The book's Relu: writes into dout."""

    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        return dout


class SoftmaxWithLoss:
    """The book's loss layer: forward(x, t), backward(dout=1) ignoring dout."""

    def __init__(self):
        self.y = self.t = None

    def forward(self, x, t):
        self.t = t
        e = np.exp(x - x.max(axis=1, keepdims=True))
        self.y = e / e.sum(axis=1, keepdims=True)
        return -np.sum(np.log(self.y[np.arange(len(t)), t])) / len(t)

    def backward(self, dout=1):
        dx = self.y.copy()
        dx[np.arange(len(self.t)), self.t] -= 1
        return dx / len(self.t)


def stack(dtype=np.float64, bug_at=None, bug=None):
    rng = np.random.default_rng(5)
    layers = [Affine(rng, dtype), Sigmoid(rng, dtype), Affine(rng, dtype), Relu(), Affine(rng, dtype)]
    if bug_at is not None:
        layers[bug_at].bug = bug
    x = rng.standard_normal((3, 4)).astype(dtype)
    return layers, x


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_a_correct_stack_passes_layer_by_layer(dtype):
    layers, x = stack(dtype)
    r = check_layers(layers, x)
    assert r.passed, str(r)
    assert r.first_wrong is None
    assert [c.name for c in r.layers] == ["Affine", "Sigmoid", "Affine", "Relu", "Affine"]
    assert [c.params for c in r.layers] == [("W", "b"), (), ("W", "b"), (), ("W", "b")]
    assert r.message.startswith("every layer's backward ok (5 layers")


@pytest.mark.parametrize(
    ("at", "bug", "leaf"),
    [
        (0, "db-mean", "['b']"),
        (1, "dx-no-one-minus", "['x']"),
        (2, "dW-subtle", "['W']"),
        (4, "dx-no-transpose", "['x']"),
    ],
)
def test_the_first_wrong_layer_is_named_with_its_leaf(at, bug, leaf):
    layers, x = stack(bug_at=at, bug=bug)
    r = check_layers(layers, x)
    assert (r.passed, r.first_wrong) == (False, at)
    assert [c.passed for c in r.layers] == [i != at for i in range(5)]
    assert r.layers[at].report.worst_leaf == leaf
    assert (
        f"layer [{at}] {type(layers[at]).__name__} is the first whose backward is WRONG: d{leaf[2:-2]}"
        in r.message
    )
    assert f"[{at}] {type(layers[at]).__name__}" in str(r)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["first_wrong"] == at
    assert d["layers"][at]["report"]["worst_leaf"] == leaf


def test_a_loss_layer_takes_the_targets_and_the_cotangent_one():
    layers, x = stack()
    t = np.array([0, 1, 0])
    r = check_layers([*layers, SoftmaxWithLoss()], x, t=t)
    assert r.passed, str(r)
    assert len(r.layers) == 6


def test_a_dict_of_layers_is_named_by_its_keys_and_fast_mode_says_which_layer():
    layers, x = stack(bug_at=2, bug="dx-no-transpose")
    named = dict(zip(["Affine1", "Sigmoid1", "Affine2", "Relu1", "Affine3"], layers, strict=True))
    r = check_layers(named, x, mode="fast")
    assert (r.first_wrong, r.layers[2].name) == (2, "Affine2")
    assert "fast mode cannot say where" in r.message


def test_parameters_are_left_bitwise_unchanged():
    layers, x = stack(np.float32)
    before = [(layer.W.copy(), layer.b.copy()) for layer in layers if isinstance(layer, Affine)]
    x0 = x.copy()
    check_layers(layers, x)
    after = [(layer.W, layer.b) for layer in layers if isinstance(layer, Affine)]
    assert all(
        a.tobytes() == b.tobytes()
        for pair in zip(before, after, strict=True)
        for a, b in zip(*pair, strict=True)
    )
    assert x.tobytes() == x0.tobytes()


# --------------------------------------------------------------------------------------------------
# The caller's parameters, x and t come back bitwise, whatever forward and backward write into


class SgdInBackward(Affine):
    """An SGD step folded into backward, in place."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.W -= 0.01 * self.dW
        return dx


class SgdRebindsW(Affine):
    """An SGD step folded into backward, binding a new W."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.W = self.W - 0.01 * self.dW
        return dx


class ForwardScalesB(Affine):
    def forward(self, x):
        self.b *= 1.5
        return super().forward(x)


class ForwardWritesWLater(Affine):
    """Writes into W on its fifth forward: inside check_vjp's differencing, while W is perturbed."""

    calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 5:
            self.W[0, 0] += 1.0
        return super().forward(x)


class InPlaceRelu(Relu):
    def forward(self, x):
        self.mask = x <= 0
        x[self.mask] = 0
        return x


class LossWritesTargets(SoftmaxWithLoss):
    def forward(self, x, t):
        out = super().forward(x, t)
        t[0] = 1 - t[0]
        return out


class LossBackwardWritesTargets(SoftmaxWithLoss):
    def backward(self, dout=1):
        dx = super().backward(dout)
        self.t[0] = 1 - self.t[0]
        return dx


class SgdThenRaises(SgdInBackward):
    def backward(self, dout):
        super().backward(dout)
        raise RuntimeError("backward failed")


def snapshot(layers, x, t):
    """Every array the caller owns, with the attribute it is bound to: (owner, name, array, its copy)."""
    owned = [(layer, p, getattr(layer, p)) for layer in layers for p in layer_parameters(layer)]
    return [(o, p, a, a.copy()) for o, p, a in owned] + [(None, "x", x, x.copy()), (None, "t", t, t.copy())]


def assert_unchanged(saved):
    for owner, name, a, old in saved:
        assert owner is None or getattr(owner, name) is a, f"{name} rebound"
        assert a.tobytes() == old.tobytes(), f"{name} changed"


def with_loss(loss):
    layers, x = stack()
    return [*layers, loss], x


def one(cls):
    return [cls(np.random.default_rng(0), np.float64)], np.random.default_rng(1).standard_normal((3, 4))


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: one(SgdInBackward), r"layers\[0\] \(SgdInBackward\): backward wrote into its parameter W \(element \(0, 0\)"),
        (lambda: one(SgdRebindsW), r"layers\[0\] \(SgdRebindsW\): backward replaced its parameter W"),
        (lambda: one(ForwardScalesB), r"layers\[0\] \(ForwardScalesB\): forward wrote into its parameter b .*; b has been restored bitwise"),
        (lambda: one(ForwardWritesWLater), r"layers\[0\] \(ForwardWritesWLater\): forward wrote into its parameter W \(element \(0, 0\)"),
        (lambda: ([*stack()[0][:3], InPlaceRelu()], stack()[1]), r"layers\[3\] \(InPlaceRelu\): forward wrote into its input x"),
        (lambda: with_loss(LossWritesTargets()), r"layers\[5\] \(LossWritesTargets\): forward wrote into the targets t \(element \(0,\) changed from 0 to 1\)"),
        (lambda: with_loss(LossBackwardWritesTargets()), r"layers\[5\] \(LossBackwardWritesTargets\): backward wrote into the targets t"),
    ],
    ids=["backward-writes-W", "backward-rebinds-W", "forward-writes-b", "forward-writes-W-while-perturbed",
         "forward-writes-x", "loss-forward-writes-t", "loss-backward-writes-t"],
)  # fmt: skip
def test_a_layer_writing_into_what_the_caller_owns_is_named_and_undone(make, match, mode):
    layers, x = make()
    t = np.array([0, 1, 0])
    saved = snapshot(layers, x, t)
    with pytest.raises(MutatedArgumentError, match=rf"^check_layers: {match}"):
        check_layers(layers, x, t=t if isinstance(layers[-1], SoftmaxWithLoss) else None, mode=mode)
    assert_unchanged(saved)


def test_a_layer_that_raises_after_writing_is_undone_and_says_so():
    layers, x = one(SgdThenRaises)
    saved = snapshot(layers, x, np.zeros(1))
    with pytest.raises(RuntimeError, match="backward failed") as info:
        check_layers(layers, x)
    assert "check_layers: layers[0] (SgdThenRaises): backward also wrote into its parameter W" in "".join(
        info.value.__notes__
    )
    assert_unchanged(saved)


class ScribblesOnItsOwnCopies(Affine):
    """Writes into dout and its cache self.x in backward, after using them: both are copies of its own."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.x[...] = 0.0
        dout[...] = 0.0
        return dx


def test_backward_may_write_into_dout_and_its_cached_input():
    layers, x = one(ScribblesOnItsOwnCopies)
    layers = [*layers, Relu(), *one(ScribblesOnItsOwnCopies)[0]]  # the book's Relu writes into dout too
    saved = snapshot(layers, x, np.zeros(1))
    r = check_layers(layers, x)
    assert r.passed, str(r)
    assert_unchanged(saved)


class NoBackward:
    def forward(self, x):
        return x


class NullGradient(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = None
        return dx


@pytest.mark.parametrize(
    ("layers", "error", "match"),
    [
        (
            [NoBackward()],
            TypeError,
            r"check_layers: layers\[0\] \(NoBackward, a NoBackward\) has no backward\(dout\); every layer needs forward\(x\) and backward\(dout\)",
        ),
        (
            {"first": Relu(), "second": object()},
            TypeError,
            r"layers\[1\] \(second, a object\) has no forward\(x\)",
        ),
        ([], ValueError, "check_layers: layers must hold at least one layer; got an empty list"),
        (Relu(), TypeError, "check_layers: layers must be a list of layer objects .*; got Relu"),
        (
            [NullGradient(np.random.default_rng(0), np.float64)],
            ValueError,
            r"check_layers: layers\[0\] \(NullGradient\): backward left db None",
        ),
    ],
    ids=["no-backward", "no-forward", "empty", "not-a-list", "gradient-none"],
)
def test_input_validation(layers, error, match):
    with pytest.raises(error, match=match):
        check_layers(layers, np.ones((3, 4)))


def test_integer_input_is_refused():
    with pytest.raises(TypeError, match="check_layers: x must be a floating array"):
        check_layers([Relu()], np.ones((2, 2), dtype=int))


def test_the_default_seed_gives_the_same_report_every_run_and_a_seed_picks_another():
    """As check_vjp: seed=None is numgrad's fixed check seed (the README's printed report reproduces), not
    fresh entropy; an explicit seed draws other cotangents; a bad seed is named."""
    layers, x = stack(bug_at=1, bug="dx-no-one-minus")
    first, again = check_layers(layers, x), check_layers(layers, x)
    assert str(first) == str(again)
    other = check_layers(layers, x, seed=1)
    assert other.layers[1].report.pair_analytic != first.layers[1].report.pair_analytic
    with pytest.raises(TypeError, match="check_layers: seed must be a non-negative int"):
        check_layers(layers, x, seed="a")


class _NoGradient:
    """An affine layer whose backward forgets to return dx."""

    def __init__(self) -> None:
        self.W, self.dW = np.ones((4, 3)), None

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, dout):
        self.dW = self.x.T @ dout


def test_a_layers_bad_backward_is_named_by_the_layer_not_by_check_vjp():
    # before: "check_vjp: vjp(u)['x'] must be ..." with no word of which layer
    with pytest.raises(TypeError, match=r"^check_layers: layer \[1\] second: vjp\(u\)\['x'\] must be a real"):
        check_layers({"first": _Identity(), "second": _NoGradient()}, np.ones((2, 4)))


class _Identity:
    def forward(self, x):
        return x

    def backward(self, dout):
        return dout

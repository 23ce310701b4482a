"""numgrad.torch: correct hand-written backwards pass in float32 and float64, planted bugs of relative size
1e-4 to 1 are caught and located, bad input gets clear errors, and the user's tensors and torch's state
are left as they were."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason='numgrad.torch needs the torch extra: pip install "numgrad[torch]" (.ci/run installs it)'
)

import torch_layers as tl  # noqa: E402
from layers import BUG_SIZES, LAYERS  # noqa: E402

import numgrad.torch as nt  # noqa: E402

DTYPES = (torch.float32, torch.float64)
IDS = [layer.name for layer in LAYERS]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("layer", LAYERS, ids=IDS)
def test_correct_backwards_pass(layer, dtype, mode):
    report = nt.check_backward(tl.function(layer), tl.inputs(layer, dtype), mode=mode)
    assert report.passed, str(report)
    assert nt.gradcheck(tl.function(layer), tl.inputs(layer, dtype), mode=mode) is True
    if mode == "fast":
        assert report.nfev <= 8


@pytest.mark.parametrize("delta", BUG_SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layer", LAYERS, ids=IDS)
def test_planted_bugs_are_caught_and_located(layer, dtype, delta):
    report = nt.check_backward(tl.function(layer, delta), tl.inputs(layer, dtype))
    assert not report.passed
    xs = [x.detach() for x in tl.inputs(layer, torch.float64)]
    planted, _ = layer.wrong(tl.OPS, torch.ones_like(layer.forward(tl.OPS, *xs)), *xs)
    assert [f.input for f in report.failures] == [f"inputs[{planted}]"], str(report)
    assert nt.gradcheck(tl.function(layer, delta), tl.inputs(layer, dtype), raise_exception=False) is False


@pytest.mark.parametrize("delta", [1e-4, 1.0])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layer", LAYERS, ids=IDS)
def test_fast_mode_catches_bugs_in_at_most_8_evaluations(layer, dtype, delta):
    report = nt.check_backward(tl.function(layer, delta), tl.inputs(layer, dtype), mode="fast")
    assert not report.passed
    assert report.nfev <= 8
    assert "mode='full' locates" in str(report)


class Counted:
    """func with a call counter: what a checker spends."""

    def __init__(self, func):
        self.func, self.calls = func, 0

    def __call__(self, *args):
        self.calls += 1
        return self.func(*args)


@pytest.mark.filterwarnings(r"ignore:Input #\d+ requires gradient and is not a double precision")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layer", LAYERS, ids=IDS)
def test_full_mode_costs_no_more_evaluations_than_torchs_gradcheck(layer, dtype):
    ours, theirs = Counted(tl.function(layer)), Counted(tl.function(layer))
    report = nt.check_backward(ours, tl.inputs(layer, dtype))
    torch.autograd.gradcheck(theirs, tl.inputs(layer, dtype), raise_exception=False)
    assert report.passed, str(report)
    assert report.nfev == ours.calls  # the report counts every evaluation, the analytic pass included
    assert ours.calls <= theirs.calls, (ours.calls, theirs.calls)


def test_the_error_names_the_input_and_element():
    layer = LAYERS[0]  # affine: the bug is in dW, inputs[1]
    with pytest.raises(nt.GradcheckError) as info:
        nt.gradcheck(tl.function(layer, 1e-3), tl.inputs(layer, torch.float32))
    text = str(info.value)
    assert "output 0 w.r.t. inputs[1]: gradient WRONG" in text
    for part in ("worst element", "analytic", "numerical", "tolerance", "evaluations"):
        assert part in text
    from torch.autograd.gradcheck import GradcheckError

    assert isinstance(info.value, GradcheckError)  # code that catches torch's error keeps working
    report = info.value.report
    assert [f.input for f in report.failures] == ["inputs[1]"]
    finding = report.failures[0].report
    assert abs(finding.analytic - finding.numerical) > finding.tolerance


class TwoOutputs(torch.autograd.Function):
    """(sin x · w, x²): the backward of the second output is 1% off."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return torch.sin(x) * w, x * x

    @staticmethod
    def backward(ctx, g1, g2):
        x, w = ctx.saved_tensors
        return torch.cos(x) * w * g1 + 2.02 * x * g2, torch.sin(x) * g1


def test_a_wrong_output_is_named():
    x = torch.linspace(-1, 1, 7, dtype=torch.float32, requires_grad=True)
    w = torch.linspace(0.5, 2, 7, dtype=torch.float32, requires_grad=True)
    report = nt.check_backward(TwoOutputs.apply, (x, w))
    assert not report.passed
    assert (report.failures[0].outputs, report.failures[0].input) == ("output 1", "inputs[0]")
    passed = {(f.outputs, f.input) for f in report.findings if f.report.passed}
    assert ("output 0", "inputs[0]") in passed
    assert ("outputs 0, 1 (projected together)", "inputs[1]") in passed


class DetachedCube(torch.autograd.Function):
    """x³ whose backward detaches x: right first derivative, double backward zero."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x.detach() ** 2 * g


class Cube(DetachedCube):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x**2 * g


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_gradgradcheck(dtype):
    x = torch.linspace(-2, 2, 9, dtype=dtype, requires_grad=True)
    assert nt.gradcheck(DetachedCube.apply, (x,))
    assert nt.gradgradcheck(Cube.apply, (x,))
    with pytest.raises(nt.GradcheckError, match="double backward check FAILED"):
        nt.gradgradcheck(DetachedCube.apply, (x,))
    for layer in LAYERS[1:4]:
        assert nt.gradgradcheck(tl.function(layer), tl.inputs(layer, dtype)), layer.name


@pytest.mark.parametrize("delta", [1e-4, 1.0])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layer", LAYERS, ids=IDS)
def test_gradgradcheck_catches_second_order_bugs(layer, dtype, delta):
    """The backward is right (gradcheck passes); its own derivative is off by delta (relative)."""
    func = tl.second_order(layer, delta)
    assert nt.gradcheck(func, tl.inputs(layer, dtype))
    with pytest.raises(nt.GradcheckError, match="double backward check FAILED"):
        nt.gradgradcheck(func, tl.inputs(layer, dtype))


@pytest.mark.filterwarnings(r"ignore:Input #\d+ requires gradient and is not a double precision")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layer", LAYERS, ids=IDS)
def test_gradgradcheck_costs_no_more_evaluations_than_torchs(layer, dtype):
    ours, theirs = Counted(tl.second_order(layer, 0.0)), Counted(tl.second_order(layer, 0.0))
    assert nt.gradgradcheck(ours, tl.inputs(layer, dtype))
    torch.autograd.gradgradcheck(theirs, tl.inputs(layer, dtype), raise_exception=False)
    assert ours.calls <= theirs.calls, (ours.calls, theirs.calls)


def test_gradgradcheck_takes_grad_outputs():
    x = torch.linspace(-2, 2, 5, dtype=torch.float64, requires_grad=True)
    assert nt.gradgradcheck(Cube.apply, (x,), torch.ones(5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"grad_outputs must be one tensor per floating output, of shapes \[\(5,\)\]"):
        nt.gradgradcheck(Cube.apply, (x,), torch.ones(4, dtype=torch.float64))


class BuggyScale(torch.nn.Module):
    """y = x · s with a hand-written backward whose ds forgets to sum over the batch (uses the first row)."""

    def __init__(self, n):
        super().__init__()
        self.s = torch.nn.Parameter(torch.linspace(0.5, 1.5, n))

    def forward(self, x):
        return _Scale.apply(x, self.s)


class _Scale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, s):
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved_tensors
        return g * s, (g * x)[0] * x.shape[0]


def test_check_module_names_the_wrong_parameter_and_changes_nothing():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.Tanh(), torch.nn.Dropout(0.3), BuggyScale(6)
    )
    x = torch.randn(5, 4)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    for p in net.parameters():
        p.grad = torch.full_like(p, 7.0)
    reports = nt.check_module(net, (x,), lambda y: (y**2).sum())
    assert sorted(reports) == ["0.bias", "0.weight", "1.bias", "1.weight", "4.s"]
    assert not reports["4.s"].passed
    assert all(reports[k].passed for k in reports if k != "4.s"), {k: str(r) for k, r in reports.items()}
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BatchNorm statistics included
    assert all(torch.equal(p.grad, torch.full_like(p, 7.0)) for p in net.parameters())
    assert net.training


def test_inputs_of_mixed_dtypes_are_checked_one_at_a_time():
    """One concatenated check needs one dtype; a float32 and a float64 input are each checked in their own."""
    x = torch.linspace(-1, 1, 6, dtype=torch.float32).reshape(2, 3).requires_grad_()
    s = torch.linspace(0.5, 1.5, 3, dtype=torch.float64, requires_grad=True)
    report = nt.check_backward(lambda a, b: torch.tanh(a * b), (x, s))
    assert report.passed, str(report)
    assert [(f.input, f.report.dtype) for f in report.findings] == [("inputs[0]", "float32"), ("inputs[1]", "float64")]
    bad = nt.check_backward(_Scale.apply, (x, s))  # ds from the first row only
    assert [f.input for f in bad.failures] == ["inputs[1]"], str(bad)


def _cast_down(wrong=None):
    """w.sum() + cos(x) rounded to float32 (x float64, w float32: a float32 output) by hand; the backward
    of input `wrong` is 1% off."""

    class CastDown(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(x, w)
            return w.sum() + torch.cos(x).float().sum()

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            grads = [-torch.sin(x) * g.double(), torch.ones_like(w) * g]
            return tuple(d * 1.01 if j == wrong else d for j, d in enumerate(grads))

    return CastDown.apply


def _mixed():
    torch.manual_seed(0)
    return torch.randn(4, 3, dtype=torch.float64, requires_grad=True), torch.randn(3, 2, requires_grad=True)


def test_mixed_dtypes_with_a_float32_output_pass():
    """A float64 input whose path rounds to float32 beside a float32 one: widening the float32 input must
    not hide that rounding (it made the output float64 and float64 steps saw 'numerical 0')."""
    x, w = _mixed()
    report = nt.check_backward(lambda a, b: b.sum() + a.cos().float().sum(), (x, w))
    assert report.passed, str(report)
    assert [(f.input, f.report.working_dtype) for f in report.findings] == [
        ("inputs[0]", "float32"),
        ("inputs[1]", "float64"),
    ]
    assert nt.gradcheck(_cast_down(), (x, w))
    assert nt.check_backward(lambda a, b: b.sum() + a.cos().float().sum(), (x, w), mode="fast").passed


@pytest.mark.parametrize("wrong", [0, 1], ids=["in-x", "in-w"])
def test_mixed_dtypes_with_a_float32_output_catch_a_wrong_backward(wrong):
    report = nt.check_backward(_cast_down(wrong), _mixed())
    assert [f.input for f in report.failures] == [f"inputs[{wrong}]"], str(report)


def test_a_float32_input_that_f_casts_down_is_differenced_in_float32():
    """Two float32 inputs: widening both makes the output float64 while b's path rounds to float32, so
    each input's precision is taken from f with that input alone widened."""
    a, b = torch.linspace(-1, 1, 5, requires_grad=True), torch.linspace(0, 2, 4, requires_grad=True)
    report = nt.check_backward(lambda u, v: u.sin().sum() + v.float().cos().sum(), (a, b))
    assert report.passed, str(report)
    assert [f.report.working_dtype for f in report.findings] == ["float64", "float32"]


class _Float32Tanh(torch.autograd.Function):
    """tanh of a float64 tensor computed in float32 and handed back as float64, its backward off by `bug`."""

    bug = 0.0

    @staticmethod
    def forward(ctx, a):
        y = torch.tanh(a.float()).double()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y**2) * (1 + _Float32Tanh.bug)


@pytest.mark.parametrize("bug", [0.0, 1e-2])
def test_a_float64_input_computed_in_float32_has_no_false_alarm(bug, monkeypatch):
    """Its outputs are float32 numbers in float64: the projection is taken in float32, so the steps are
    float32's. Before, float64 steps rounded away inside (numerical 0) and the right backward FAILED."""
    monkeypatch.setattr(_Float32Tanh, "bug", bug)
    x = torch.linspace(-1, 1, 5, dtype=torch.float64, requires_grad=True)
    report = nt.check_backward(_Float32Tanh.apply, (x,))
    assert report.passed == (bug == 0.0), str(report)
    assert [f.report.working_dtype for f in report.findings] == ["float32"]
    assert nt.gradcheck(lambda a: torch.tanh(a.float()).double() * 2, (x,))
    assert nt.gradgradcheck(lambda a: torch.tanh(a.float()).double() * 2, (x,))


def test_tensors_and_global_state_are_left_alone():
    layer = LAYERS[2]
    xs = tl.inputs(layer, torch.float32)
    held = torch.arange(3)
    xs[1].grad = torch.ones(8)
    copies = [x.detach().clone() for x in xs]
    torch.manual_seed(3)
    rng = torch.get_rng_state()
    torch.set_grad_enabled(False)
    try:
        fn = tl.function(layer, 1e-2)
        assert not nt.gradcheck(lambda a, b, c, h: torch.nn.functional.dropout(fn(a, b, c), 0.1), (*xs, held),
                                raise_exception=False)
        assert not torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(True)
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.get_default_dtype() == torch.float32
    assert all(torch.equal(x.detach(), c) and x.requires_grad and x.dtype == torch.float32 for x, c in zip(xs, copies, strict=True))
    assert torch.equal(xs[1].grad, torch.ones(8))
    assert xs[0].grad is None
    assert torch.equal(held, torch.arange(3))


def test_dropout_is_checked_with_one_mask():
    """The RNG is reset before every evaluation, so a dropout layer is one smooth function."""
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    assert nt.gradcheck(lambda v: torch.nn.functional.dropout(torch.tanh(v), 0.5), (x,))


def test_a_kink_is_a_kink():
    x = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    report = nt.check_backward(torch.relu, (x,), method="central")
    assert report.passed
    assert report.findings[0].report.kinks.tolist() == [False, True, False]


def test_float32_that_cannot_run_in_float64_is_differenced_in_float32():
    w = torch.linspace(-1, 1, 4)

    def f(x):
        return torch.tanh(x @ w)  # w stays float32: a float64 x fails

    x = torch.randn(3, 4, requires_grad=True)
    report = nt.check_backward(f, (x,))
    assert report.passed
    assert report.findings[0].report.working_dtype == "float32"


def _changes_structure(x):
    return (x * 2, x) if x.dtype == torch.float64 else x * 2


def _returns_float(x):
    return 1.5


BAD = [
    ("no-tensor-requires-grad", lambda x: x * 2, (torch.ones(3),), ValueError, r"no input requires grad.*torch.float32 tensor, requires_grad=False"),
    ("integer-tensors", lambda x: x * 2, (torch.arange(3),), ValueError, r"integer tensors cannot require grad: pass x.double\(\).requires_grad_\(\)"),
    ("float16", lambda x: x * 2, (torch.ones(3, dtype=torch.float16, requires_grad=True),), TypeError, r"inputs\[0\] requires grad but is torch.float16"),
    ("returns-float", _returns_float, (torch.ones(3, requires_grad=True),), TypeError, r"func must return a tensor or a tuple of tensors; got float"),
    ("returns-list-with-none", lambda x: [x, None], (torch.ones(3, requires_grad=True),), TypeError, r"output 1 is NoneType"),
    ("returns-integers", lambda x: x.argmax(), (torch.ones(3, requires_grad=True),), TypeError, r"func returned no floating tensor"),
    ("different-devices", lambda x, y: x, (torch.ones(3, requires_grad=True), torch.ones(3, device="meta")), ValueError, r"inputs must all be on one device; got inputs\[0\] on cpu, inputs\[1\] on meta"),
    ("not-cpu", lambda x: x, (torch.ones(3, device="meta", requires_grad=True),), ValueError, r"checks CPU tensors; inputs\[0\] is on meta"),
    ("inputs-a-dict", lambda x: x, {"x": torch.ones(3)}, TypeError, r"inputs must be a tensor or a tuple of tensors; got dict"),
    ("structure-changes", _changes_structure, (torch.ones(3, requires_grad=True),), ValueError, r"func returned 1 outputs at the given inputs and 2 at a perturbed point"),
    ("func-not-callable", "tanh", (torch.ones(3, requires_grad=True),), TypeError, r"numgrad.torch.gradcheck: func must be callable"),
]


@pytest.mark.parametrize(("func", "inputs", "error", "match"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_input_validation(func, inputs, error, match):
    with pytest.raises(error, match=match):
        nt.gradcheck(func, inputs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "slow"}, ValueError, r"mode must be one of"),
        ({"seed": "a"}, TypeError, r"seed must be a non-negative int"),
        ({"seed": 1.5}, TypeError, r"gradcheck: seed must be a non-negative int, a numpy.random.Generator or None; got float 1.5"),
        ({"seed": -1}, ValueError, r"seed must be a non-negative int below 2\*\*128; got -1"),
        ({"raise_exception": "no"}, TypeError, r"raise_exception must be a bool"),
        ({"method": "sideways"}, ValueError, r"numgrad.torch.gradcheck: method must be one of 'auto'"),
        ({"mode": "fast", "method": "forward"}, ValueError, r"mode='fast' takes central differences"),
        ({"rtol": -1.0}, ValueError, r"numgrad.torch.gradcheck: rtol must be finite and non-negative"),
    ],
    ids=["mode", "seed", "seed-float", "seed-negative", "raise_exception", "method", "fast-method", "rtol"],
)
def test_option_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        nt.gradcheck(torch.sin, (torch.ones(3, dtype=torch.float64, requires_grad=True),), **kwargs)


def test_seed_is_an_int_or_a_generator():
    """A numpy.random.Generator draws the cotangents as default_rng(seed) would, then fast mode's
    directions (an int seeds those afresh); another seed draws other cotangents."""
    layer = LAYERS[2]

    def values(seed, mode="full"):
        report = nt.check_backward(tl.function(layer), tl.inputs(layer, torch.float32), mode=mode, seed=seed)
        assert report.passed, str(report)
        return report.findings[0].report.analytic_values

    same = values(np.random.default_rng(7))
    np.testing.assert_array_equal(same, values(np.random.default_rng(7)))
    np.testing.assert_array_equal(same, values(7))
    assert not np.array_equal(same, values(8))
    np.testing.assert_array_equal(values(np.random.default_rng(3), "fast"), values(np.random.default_rng(3), "fast"))
    x = torch.linspace(-2, 2, 5, dtype=torch.float64, requires_grad=True)
    assert nt.gradgradcheck(Cube.apply, (x,), seed=np.random.default_rng(1))
    reports = nt.check_module(torch.nn.Linear(3, 2).double(), (torch.ones(4, 3, dtype=torch.float64),),
                              seed=np.random.default_rng(2))  # fmt: skip
    assert all(r.passed for r in reports.values())


def test_check_module_validation():
    with pytest.raises(TypeError, match=r"check_module: module must be a torch.nn.Module; got builtin_function_or_method"):
        nt.check_module(torch.sin, (torch.ones(3),))
    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match=r"module Linear has no parameter with requires_grad=True"):
        nt.check_module(frozen, (torch.ones(1, 2),))


def test_numpy_twin_of_the_projection():
    """The scalar numgrad differences is <u, f(x)>: a float64 linear map's check is exact to rounding."""
    a = torch.tensor(np.random.default_rng(1).standard_normal((3, 4)), dtype=torch.float64)
    x = torch.ones(4, dtype=torch.float64, requires_grad=True)
    finding = nt.check_backward(lambda v: a @ v, (x,)).findings[0].report
    np.testing.assert_allclose(finding.numerical_values, finding.analytic_values, rtol=0, atol=1e-7)

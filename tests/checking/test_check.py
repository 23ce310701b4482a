"""numgrad.checking.check: the zoo of backprop bugs is caught, correct gradients never raise alarms, kinks are
kinks, and the report has the same fields whatever the options."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from zoo import ZOO, softmax

from numgrad import MutatedArgumentError, cross_entropy_error, mean_squared_error, softmax_cross_entropy
from numgrad.checking.check import GradientReport, assert_gradient_close, check_gradient, plot_gradient_errors
from numgrad.common import numerics as nm
from numgrad.testing import (
    classification_batches,
    float_arrays,
    one_hot_targets,
    probabilities,
    shapes,
    two_layer_params,
)

DTYPES = [np.float64, np.float32]
MODES = ["full", "fast"]
SEED = 1


def cube(v):
    return np.sum(v**3)


def softmax_ce_grad(z, labels):
    p = softmax(z)
    p[np.arange(len(labels)), labels] -= 1
    return p / len(labels)


# --------------------------------------------------------------------------------------------------
# Validation


X3 = np.array([1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"f": 3}, TypeError, "check_gradient: f must be callable; got int"),
        ({"x": np.array([1, 2, 3])}, TypeError, "x must be a floating array.*int64"),
        ({"x": np.array([1 + 0j, 2, 3])}, TypeError, "x must be real"),
        ({"x": np.zeros(0)}, ValueError, "x must have at least one element; got shape"),
        ({"grad": np.ones(4)}, ValueError, r"grad must have x's shape \(3,\); got \(4,\)"),
        ({"grad": lambda x: np.ones(2)}, ValueError, r"grad\(x\) must have x's shape"),
        ({"grad": np.array(["a", "b", "c"])}, TypeError, "grad must be a real numeric array"),
        ({"mode": "quick"}, ValueError, "mode must be one of 'full', 'fast'; got 'quick'"),
        ({"method": "five-point"}, ValueError, "method must be one of .*; got 'five-point'"),
        ({"mode": "fast", "method": "forward"}, ValueError, "mode='fast' takes central differences"),
        ({"rtol": -1.0}, ValueError, "rtol must be finite and non-negative; got -1.0"),
        ({"atol": float("nan")}, ValueError, "atol must be finite and non-negative"),
        ({"atol": "tiny"}, TypeError, "atol must be a number or None; got str"),
        ({"seed": 1.5}, TypeError, "seed must be a non-negative int, a numpy.random.Generator or None"),
        ({"seed": True}, TypeError, "seed must be a non-negative int"),
    ],
    ids=[
        "f-not-callable", "x-int", "x-complex", "x-empty", "grad-shape", "grad-callable-shape",
        "grad-strings", "mode-unknown", "method-unknown", "fast-needs-central", "rtol-negative",
        "atol-nan", "atol-string", "seed-float", "seed-bool",
    ],
)  # fmt: skip
def test_input_validation(kwargs, error, match):
    args = {"f": cube, "x": X3.copy(), "grad": 3 * X3**2, **kwargs}
    f, x, grad = args.pop("f"), args.pop("x"), args.pop("grad")
    with pytest.raises(error, match=match):
        check_gradient(f, x, grad, **args)


def test_transposed_gradient_shape_says_so():
    W = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"got \(3, 2\): it is the transpose"):
        check_gradient(np.sum, W, np.ones((3, 2)))


def test_read_only_x_asks_for_a_copy():
    x = X3.copy()
    x.flags.writeable = False
    with pytest.raises(ValueError, match=r"x is read-only.*pass x\.copy\(\)"):
        check_gradient(cube, x, 3 * X3**2)


def test_plot_needs_a_full_report(tmp_path):
    fast = check_gradient(cube, X3.copy(), 3 * X3**2, mode="fast")
    with pytest.raises(ValueError, match="heatmap needs a full-mode report"):
        plot_gradient_errors(fast, tmp_path / "e.png")
    with pytest.raises(TypeError, match="report must be a GradientReport; got dict"):
        plot_gradient_errors({}, tmp_path / "e.png")


# --------------------------------------------------------------------------------------------------
# The zoo: every bug flagged, every correct gradient passes, in both dtypes and both modes

ZOO_CASES = [(bug, dtype, mode) for bug in ZOO for dtype in DTYPES for mode in MODES]
ZOO_IDS = [f"{b.name}-{np.dtype(d).name}-{m}" for b, d, m in ZOO_CASES]


def test_zoo_has_at_least_15_distinct_bugs():
    assert len({bug.name for bug in ZOO}) >= 15


@pytest.mark.parametrize(("bug", "dtype", "mode"), ZOO_CASES, ids=ZOO_IDS)
def test_zoo_bug_is_flagged(bug, dtype, mode):
    f, x, _, wrong = bug.build(np.random.default_rng(SEED), dtype)
    report = check_gradient(f, x, wrong, mode=mode)
    assert not report.passed, f"{bug.name} ({bug.what}) was not caught:\n{report}"
    assert report.failures >= 1
    assert report.kink_count == 0


@pytest.mark.parametrize(("bug", "dtype", "mode"), ZOO_CASES, ids=ZOO_IDS)
def test_zoo_correct_gradient_passes(bug, dtype, mode):
    f, x, right, _ = bug.build(np.random.default_rng(SEED), dtype)
    report = check_gradient(f, x, right, mode=mode)
    assert report.passed, str(report)


def test_a_bug_in_one_row_is_located_there():
    bug = next(b for b in ZOO if b.name == "one_row")
    f, x, right, wrong = bug.build(np.random.default_rng(SEED), np.float64)
    report = check_gradient(f, x, wrong)
    wrong_rows = {i for i, _ in zip(*np.nonzero(right != wrong), strict=True)}
    assert wrong_rows == {3}
    assert report.worst_index[0] == 3
    assert set(np.nonzero(report.abs_errors > report.tolerances)[0]) == {3}


def test_relative_1e4_bug_is_far_beyond_the_float64_tolerance():
    bug = next(b for b in ZOO if b.name == "relative_1e-4")
    f, x, _, wrong = bug.build(np.random.default_rng(SEED), np.float64)
    report = check_gradient(f, x, wrong)
    assert report.max_rel_error > 1e3 * nm.accuracy("central", np.float64)


# --------------------------------------------------------------------------------------------------
# No false alarms on correct gradients over drawn inputs


@given(
    batch=classification_batches(max_batch=8, max_classes=6),
    dtype=st.sampled_from(DTYPES),
    mode=st.sampled_from(MODES),
)
def test_no_false_alarm_softmax_cross_entropy(batch, dtype, mode):
    z, labels = batch
    z = z.astype(dtype)
    report = check_gradient(
        lambda v: softmax_cross_entropy(v, labels), z, softmax_ce_grad(z, labels), mode=mode
    )
    note(str(report))
    assert report.passed


@given(
    params=two_layer_params(st.integers(1, 4), st.integers(1, 4), st.integers(2, 4)),
    data=st.data(),
    dtype=st.sampled_from(DTYPES),
    mode=st.sampled_from(MODES),
)
def test_no_false_alarm_two_layer_net(params, data, dtype, mode):
    from zoo import _backward

    q = {k: v.astype(dtype) for k, v in params.items()}
    n = data.draw(st.integers(1, 4), label="batch")
    X = data.draw(float_arrays((n, q["W1"].shape[0]), dtype=dtype, bound=2.0), label="X")
    t = data.draw(st.lists(st.integers(0, q["W2"].shape[1] - 1), min_size=n, max_size=n), label="t")
    key = data.draw(st.sampled_from(sorted(q)), label="parameter")
    t = np.array(t)

    def loss(w):
        p = {**q, key: w}
        z = 1 / (1 + np.exp(-(X @ p["W1"] + p["b1"]))) @ p["W2"] + p["b2"]
        return softmax_cross_entropy(z, t)

    report = check_gradient(loss, q[key], _backward(X, t, q)[key], mode=mode)
    note(str(report))
    assert report.passed


@given(
    shape=shapes(max_dims=2, max_side=6),
    data=st.data(),
    dtype=st.sampled_from(DTYPES),
    mode=st.sampled_from(MODES),
)
def test_no_false_alarm_mean_squared_error(shape, data, dtype, mode):
    y = data.draw(float_arrays(shape, dtype=dtype), label="y")
    t = data.draw(float_arrays(shape, dtype=dtype), label="t")
    report = check_gradient(lambda v: mean_squared_error(v, t), y, y - t, mode=mode)
    note(str(report))
    assert report.passed


@given(data=st.data(), dtype=st.sampled_from(DTYPES), mode=st.sampled_from(MODES))
def test_no_false_alarm_cross_entropy_of_probabilities(data, dtype, mode):
    n, c = data.draw(st.integers(1, 5), label="N"), data.draw(st.integers(2, 6), label="C")
    y = data.draw(probabilities(n, c, dtype=dtype), label="y")
    t = data.draw(one_hot_targets(n, c, dtype=dtype), label="t")
    grad = -t / (y + 1e-7) / n
    report = check_gradient(lambda v: cross_entropy_error(v, t), y, grad, mode=mode)
    note(str(report))
    assert report.passed


def test_fast_mode_estimates_the_direction_that_missed_most():
    """log(y) at y = 5e-4 (a length scale 2,000 times shorter than the others'): its truncation along a
    direction grows as the cube of that direction's weight on it, so an estimate measured along one
    direction and borrowed by the other falls short. The half step goes to the direction that missed
    most, and the other misses less. The thorough profile's example; the wrong gradient is still caught."""
    y = np.array([[4.99750374e-01, 4.99251123e-04, 4.99750374e-01]])
    t = np.array([[0.0, 1.0, 0.0]])
    grad = -t / (y + 1e-7)
    report = check_gradient(lambda v: cross_entropy_error(v, t), y, grad, mode="fast")
    assert report.passed, report
    assert report.nfev == nm.FAST_EVALUATIONS  # float64: no dtype probe
    assert not check_gradient(lambda v: cross_entropy_error(v, t), y, 1.001 * grad, mode="fast").passed


@pytest.mark.parametrize("method", ["central", "forward", "backward"])
def test_a_short_length_scale_is_remeasured_not_a_false_alarm(method):
    y = np.array([1e-9, 0.5, 0.3])  # log(y) at 1e-9: every default step is far too coarse there

    def f(v):
        return -np.sum(np.log(v))

    assert check_gradient(f, y, -1 / y, method=method).passed
    assert not check_gradient(f, y, -1.01 / y, method=method).passed


# --------------------------------------------------------------------------------------------------
# Kinks


def relu_sum(v):
    return np.sum(np.maximum(v, 0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_at_zero_is_a_kink_not_a_wrong_gradient(dtype):
    x = np.array([-1.0, 0.0, 2.0, 0.0], dtype=dtype)
    report = check_gradient(relu_sum, x, (x > 0).astype(dtype))
    assert report.passed
    assert report.kinks.tolist() == [False, True, False, True]
    assert "2 kinks" in report.message


def test_hinge_at_the_margin_is_a_kink():
    t = np.array([1.0, -1.0, 1.0])
    y = np.array([1.0, 0.3, -2.0])  # first sample exactly on the margin 1 − t·y = 0

    def hinge(v):
        return np.mean(np.maximum(0.0, 1 - t * v))

    grad = np.where(1 - t * y > 0, -t, 0.0) / len(t)
    report = check_gradient(hinge, y, grad, method="central")
    assert report.passed
    assert report.kinks.tolist() == [True, False, False]
    # a forward first pass sees only the right-hand slope, which the analytic 0 matches: not wrong either
    auto = check_gradient(hinge, y, grad)
    assert (auto.method, auto.passed, auto.failures) == ("forward", True, 0)


def test_a_value_outside_the_one_sided_slopes_is_wrong_even_at_a_kink():
    x = np.array([0.0, 1.0])
    report = check_gradient(relu_sum, x, np.array([2.0, 1.0]))  # ReLU's subgradients at 0 are [0, 1]
    assert not report.passed
    assert report.worst_index == (0,)
    assert report.kink_count == 0


def test_elements_near_but_not_at_a_kink_are_judged_normally():
    x = np.array([1e-3, -1e-3, 0.5])
    assert check_gradient(relu_sum, x, (x > 0).astype(float)).passed
    assert not check_gradient(relu_sum, x, np.array([0.0, 0.0, 1.0])).passed


# --------------------------------------------------------------------------------------------------
# Report, modes, dtypes, the caller's data


def test_report_fields_are_the_same_in_every_mode():
    names = {f.name for f in dataclasses.fields(GradientReport)}
    for mode in MODES:
        report = check_gradient(cube, X3.copy(), 3 * X3, mode=mode)
        assert {f.name for f in dataclasses.fields(report)} == names
        data = json.loads(json.dumps(report.to_dict()))
        assert data["passed"] is False
        assert data["mode"] == mode
        assert set(data) >= {"max_abs_error", "max_rel_error", "worst_index", "analytic", "numerical"}
        assert {"tolerance", "tolerance_source", "step", "nfev", "seconds", "kinks", "worst"} <= set(data)


def test_report_text_names_the_worst_element_and_values():
    x = np.array([1.0, 2.0, 3.0])
    grad = 3 * x**2
    grad[1] = 11.0
    report = check_gradient(cube, x, grad)
    text = str(report)
    assert report.worst_index == (1,)
    assert report.analytic == 11.0
    assert report.numerical == pytest.approx(12.0, rel=1e-9)
    assert report.max_abs_error == pytest.approx(1.0, rel=1e-9)
    assert "WRONG at 1 of 3 elements; worst at index (1,)" in text
    assert "analytic        11" in text


@pytest.mark.parametrize("n", [1, 10, 10_000])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("computes", ["as given", "in float32", "closure"])
def test_fast_mode_spends_six_or_seven_evaluations_whatever_the_size(n, dtype, computes):
    """Six in float64; a float32 x one more, f at x as float64 (where f computes, and f(x)). A closure
    over a float32 x, or an f computing in float32 at a float64 x, spends two to learn it, then
    measures one direction on the grid f computes on (six in all)."""
    calls = []
    x = np.linspace(-1, 1, n).astype(dtype)

    def f(v):
        calls.append(1)
        if computes == "closure":
            return np.sum(x.astype(np.float64) ** 2)
        return np.sum((v if computes == "as given" else np.asarray(v, dtype=np.float32)) ** 2)

    report = check_gradient(f, x, 2 * x, mode="fast")
    assert report.passed
    probe = nm.FAST_DTYPE_PROBE if x.dtype == np.float32 and computes != "closure" else 0
    assert report.nfev == len(calls) == nm.FAST_EVALUATIONS + probe
    working = {"as given": "float64", "in float32": "float32", "closure": str(x.dtype)}[computes]
    assert report.working_dtype == working


def test_fast_mode_failure_points_to_full_mode():
    report = check_gradient(cube, X3.copy(), 3 * X3, mode="fast")
    assert not report.passed
    assert "mode='full'" in report.message
    assert "mode='full'" in str(report)


def test_full_mode_counts_its_evaluations():
    calls = []

    def f(v):
        calls.append(1)
        return np.sum(v**3)

    report = check_gradient(f, X3.copy(), 3 * X3**2)
    assert report.nfev == len(calls)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_closure_idiom_works_and_x_is_restored_bitwise(mode, dtype):
    X = np.random.default_rng(0).standard_normal((5, 4)).astype(dtype)
    W = np.random.default_rng(1).standard_normal((4, 3)).astype(dtype)
    before = W.copy()

    def loss(_):  # the book's idiom: reads W from the closure
        return 0.5 * np.sum((X @ W) ** 2)

    right = X.T @ (X @ W)
    assert check_gradient(loss, W, right, mode=mode).passed
    assert not check_gradient(loss, W, -right, mode=mode).passed
    assert W.tobytes() == before.tobytes()


@pytest.mark.parametrize("mode", MODES)
def test_float32_is_differenced_in_float64_when_f_allows(mode):
    x = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    grad = (3 * x**2).astype(np.float32)
    assert check_gradient(cube, x, grad, mode=mode).working_dtype == "float64"
    casts = check_gradient(lambda v: np.sum(v.astype(np.float32) ** 3), x, grad, mode=mode)
    assert casts.working_dtype == "float32"
    assert casts.passed


def test_explicit_tolerances_override_the_estimate():
    loose = check_gradient(cube, X3.copy(), 3 * X3**2 + 1e-3, atol=1e-2)
    assert loose.passed
    assert loose.tolerance_source == "atol + rtol·|numerical| (given)"
    assert not check_gradient(cube, X3.copy(), 3 * X3**2 + 1e-3, rtol=1e-6).passed


def test_a_non_finite_analytic_value_is_a_failure_at_its_index():
    grad = 3 * X3**2
    grad[2] = np.nan
    report = check_gradient(cube, X3.copy(), grad)
    assert not report.passed
    assert report.worst_index == (2,)


@pytest.mark.parametrize("method", nm.METHODS)
def test_every_method_passes_right_and_flags_wrong(method):
    x = np.array([[0.3, -1.2], [2.0, 0.7]])
    f = lambda v: np.sum(np.sin(v) * v)  # noqa: E731  (complex-step safe)
    right = np.cos(x) * x + np.sin(x)
    assert check_gradient(f, x, right, method=method).passed
    assert not check_gradient(f, x, right * 1.001, method=method).passed


def test_grad_callable_gets_x_and_scalar_x_works():
    x = np.array(1.5)
    report = check_gradient(lambda v: v**3, x, lambda v: 3 * v**2)
    assert report.passed
    assert report.worst_index == ()


def test_assert_gradient_close_raises_with_the_report():
    assert assert_gradient_close(cube, X3.copy(), 3 * X3**2).passed
    with pytest.raises(AssertionError, match=r"gradient check failed\n.*WRONG at 2 of 3 elements"):
        assert_gradient_close(cube, X3.copy(), 3 * X3)


def test_heatmap_is_a_png(tmp_path):
    W = np.random.default_rng(0).standard_normal((6, 8))
    W[0, 0] = 0.0
    grad = 2 * W + (W > 0)
    grad[2] *= 1.01
    report = check_gradient(lambda w: np.sum(w**2) + relu_sum(w), W, grad)
    assert report.kinks[0, 0]
    out = plot_gradient_errors(report, tmp_path / "sub" / "errors.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fast_mode_reports_non_finite_values():
    x = np.array([1e-12, 0.5])
    with pytest.raises(FloatingPointError, match=r"non-finite value .* at x ± t·v \(fast mode"):
        check_gradient(lambda v: np.sum(np.log(v)), x, 1 / x, mode="fast")


# --------------------------------------------------------------------------------------------------
# Cost of full mode: the default first pass is forward (as many evaluations as scipy's check_grad)


def counted_softmax_ce(shape, seed=0):
    rng = np.random.default_rng(seed)
    z, labels = 3 * rng.standard_normal(shape), rng.integers(0, shape[1], shape[0])
    calls = []

    def f(v):
        calls.append(1)
        return softmax_cross_entropy(v, labels)

    return f, z, softmax_ce_grad(z, labels), calls


def test_default_full_check_spends_n_plus_the_probe_on_a_right_gradient():
    f, z, right, calls = counted_softmax_ce((20, 10))
    report = check_gradient(f, z, right)
    assert report.passed
    assert report.method == "forward"
    assert report.nfev == len(calls) <= z.size + nm.probe_size(z.size)
    central = check_gradient(f, z, right, method="central")
    assert central.method == "central"
    assert central.nfev >= 2 * z.size


def test_float32_that_f_keeps_in_float32_gets_a_central_first_pass():
    x = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    report = check_gradient(lambda v: np.sum(v.astype(np.float32) ** 3), x, 3 * x**2)
    assert (report.method, report.working_dtype, report.passed) == ("central", "float32", True)


def test_gross_misses_are_confirmed_without_a_second_step():
    f, z, right, calls = counted_softmax_ce((20, 10))
    wrong = right.copy()
    wrong[3] *= -1  # a sign error in one row: every element of it misses by far
    report = check_gradient(f, z, wrong)
    rows = set(np.nonzero(report.abs_errors > report.tolerances)[0].tolist())
    assert rows == {3}
    assert report.failures == np.count_nonzero(right[3])
    # the pass, one point within x's float32 cells (does f cast x to float32?), f's noise (measured once),
    # then one more point per suspect (x − h): no pair at h/2 for a miss this large
    noise = len(nm.NOISE_OFFSETS)
    assert report.nfev == len(calls) == z.size + nm.probe_size(z.size) + 1 + noise + report.failures
    assert report.numerical_values[3] == pytest.approx(right[3], abs=1e-6 * np.abs(right).max())


@pytest.mark.parametrize("method", ["auto", "central"])
def test_an_element_whose_length_scale_is_its_own_size_is_remeasured_there(method):
    """log1p((x/1e-8)²) at x_0 = 1e-8 bends on the scale of x_0, far inside the steps of max(|x|, 1): at
    0.0625 the one-sided slopes are ±490 and the central one 2.6e-5 against the slope 1e8. Their gap
    bounds nothing there, so the element is not 'wrong beyond doubt': it is re-measured, and at steps
    relative to |x_0| (as numerical_gradient retries) the exact gradient passes; a 0.1% bug is caught."""
    s = 1e-8
    x = np.array([1e-8, 1.0])
    f = lambda v: np.sum(np.log1p((v / s) ** 2))  # noqa: E731
    exact = 2 * (x / s**2) / (1 + (x / s) ** 2)
    ok = check_gradient(f, x, exact, method=method)
    assert ok.passed, ok
    wrong = exact * np.array([1.001, 1.0])
    bad = check_gradient(f, x, wrong, method=method)
    assert (bad.passed, bad.failures, bad.worst_index) == (False, 1, (0,))
    assert bad.numerical == pytest.approx(1e8, rel=1e-6)  # the re-measured slope, not 2.6e-5


@pytest.mark.parametrize("method", ["auto", "central"])
@pytest.mark.parametrize("big", [1e8, -3e7, 1e10])
def test_an_element_far_from_0_on_a_unit_length_scale_is_remeasured_at_the_unit_step(method, big):
    """sin at x_0 = 1e8: the steps of max(|x|, 1) (512 there) are many periods, and halving them ten times
    does not reach sin's scale: the exact gradient was called WRONG. Re-measured at the unit step (as
    numerical_gradient retries), it passes, and a 1% bug is caught there."""
    x = np.array([big, 1.0])
    f = lambda v: np.sin(v[0]) * np.sin(v[1])  # noqa: E731
    exact = np.array([np.cos(x[0]) * np.sin(x[1]), np.sin(x[0]) * np.cos(x[1])])
    ok = check_gradient(f, x, exact, method=method)
    assert ok.passed, ok
    bad = check_gradient(f, x, exact * np.array([1.01, 1.0]), method=method)
    assert (bad.passed, bad.failures, bad.worst_index) == (False, 1, (0,))
    assert bad.numerical == pytest.approx(exact[0], rel=1e-6)


@pytest.mark.parametrize("big", [1e8, -3e7, 1e10])
def test_fast_mode_far_from_0_measures_its_directions_again_at_the_unit_scale(big):
    """Fast mode's directions move x_0 = 1e8 by 1e8 per unit step: sin aliased, and the exact gradient was
    WRONG along both directions. Measured again at the unit scale (6 more evaluations, only where a
    direction misses), the exact gradient passes and a 1% bug in the large element is caught."""
    x = np.array([big, 1.0])
    f = lambda v: np.sin(v[0]) * np.sin(v[1])  # noqa: E731
    exact = np.array([np.cos(x[0]) * np.sin(x[1]), np.sin(x[0]) * np.cos(x[1])])
    ok = check_gradient(f, x, exact, mode="fast")
    assert ok.passed, ok
    assert ok.nfev == 12
    assert not check_gradient(f, x, exact * np.array([1.01, 1.0]), mode="fast").passed
    near = check_gradient(f, np.array([0.3, 1.0]), np.array([np.cos(0.3) * np.sin(1.0), 0.0]), mode="fast")
    assert not near.passed
    assert near.nfev == 6  # no retry near 0: a miss there is the gradient's


def test_a_gradient_near_float64s_limit_is_reported_without_numpys_overflow_warning():
    """error / tolerance overflows to inf for an analytic value of 1e308: ranked worst, no RuntimeWarning
    (the suite turns warnings into errors)."""
    r = check_gradient(lambda v: float(np.sum(v**2)), np.array([1.0, 2.0]), np.array([1e308, 4.0]))
    assert (r.passed, r.failures, r.worst_index) == (False, 1, (0,))


def test_assert_gradient_close_names_itself_in_numgrads_own_errors():
    x = np.array([3.0, 4.0])
    with pytest.raises(ValueError, match=r"^assert_gradient_close: mode must be one of"):
        assert_gradient_close(lambda v: float(np.sum(v**2)), x, 2 * x, mode="x")

    def writes(v):
        v[0] += 1.0
        return float(np.sum(v**2))

    with pytest.raises(MutatedArgumentError, match=r"^assert_gradient_close: f wrote into its argument"):
        assert_gradient_close(writes, x, 2 * x)
    assert x.tolist() == [3.0, 4.0]

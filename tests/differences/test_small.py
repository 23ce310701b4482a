"""The small-problem path returns bitwise what the general engine returns, and hands over what it cannot do."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numgrad.common import numerics as nm
from numgrad.differences import small
from numgrad.differences.gradient import numerical_gradient

FUNCTIONS = {
    "book": lambda x: x.flat[0] ** 2 + x.flat[-1] ** 2,
    "quartic": lambda x: np.sum(x**4 / 4 + np.sin(x)),
    "log-sum-exp": lambda x: np.log(np.sum(np.exp(x))),
    "exp-scaled": lambda x: 1e6 * np.exp(np.sum(x) / 7),
    "tiny": lambda x: 1e-12 * np.sum(x**2) + 1e-14,
    "float32-result": lambda x: np.float32(np.sum(np.cos(x))),
    "0-d array": lambda x: np.asarray(np.sum(x**3)),
}


def general(f, x, **options):
    """The general engine's answer (the small path switched off)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(small, "eligible", lambda *args: False)
        return numerical_gradient(f, x, **options)


@pytest.mark.parametrize("h", [None, 1e-4], ids=["auto", "h=1e-4"])
@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize(
    "x", [[3.0, 4.0], [0.0, 2.0], [3.0, 0.0], [-1e5, 2e-7, 0.5], [[0.3, -1.2], [2.0, 7.5]]]
)
def test_same_bits_as_the_general_engine(name, x, h):
    """The same bits, and the same warnings (none): cos at x = -1e5 rounded to float32 is differenced at
    steps of 512 there, where its quotients alias (the change between steps grows far above rounding);
    both paths halve on and then retry at the unit step (4 of float32's spacings there, 0.031), rather
    than return 0.00065 for the slope 0.036 unflagged."""
    f = FUNCTIONS[name]
    a, b = np.array(x), np.array(x)
    with warnings.catch_warnings(record=True) as said_fast:
        warnings.simplefilter("always")
        fast = numerical_gradient(f, a, h=h)
    with warnings.catch_warnings(record=True) as said_slow:
        warnings.simplefilter("always")
        slow = general(f, b, h=h)
    assert [str(w.message) for w in said_fast] == [str(w.message) for w in said_slow]
    assert not said_fast, [str(w.message) for w in said_fast]
    if name == "float32-result" and x[0] == -1e5 and h is None:
        assert fast[0] == pytest.approx(-np.sin(-1e5), rel=1e-3)
    assert fast.tobytes() == slow.tobytes()
    assert fast.shape == slow.shape == a.shape
    assert fast.dtype == np.float64
    assert a.tobytes() == np.array(x).tobytes()  # x restored bitwise


@settings(max_examples=60)
@given(
    x=hnp.arrays(
        np.float64, st.integers(1, nm.SMALL_N), elements=st.floats(-1e3, 1e3, allow_subnormal=False)
    ),
    h=st.sampled_from([None, 1e-4, 1e-6]),
)
def test_property_same_bits_as_the_general_engine(x, h):
    f = FUNCTIONS["quartic"]
    assert numerical_gradient(f, x.copy(), h=h).tobytes() == general(f, x.copy(), h=h).tobytes()


def test_the_small_path_evaluates_each_point_once():
    """No hand-over on the common case: 2n evaluations at h=1e-4; automatically f(x) and 2n more where
    the plain rule's steps are the probe's (the book at (3, 4)), the probe's own points not evaluated."""
    calls = []
    f = lambda x: calls.append(1) or float(np.sum(x**2))  # noqa: E731
    numerical_gradient(f, np.array([3.0, 4.0]), h=1e-4)
    assert len(calls) == 4
    calls.clear()
    numerical_gradient(f, np.array([3.0, 4.0]))
    assert len(calls) == 1 + 4


def points_seen(run, f, x):
    seen = []
    run(lambda v: seen.append(v.tobytes()) or f(v), np.array(x))
    return seen


# (x, what the small path evaluates besides f(x) and x ± the plain rule's steps) for x0² + x1²
STEP_CHOICES = {
    "the plain rule's steps": ([3.0, 4.0], 0),
    "a step of its own for x0 (x0 below the step factor)": ([0.5, 4.0], 2),
    "near a power of two: the probe's points decide": ([0.2, 0.0], nm.probe_size(2) - 1),
}


@pytest.mark.parametrize(("x", "extra"), list(STEP_CHOICES.values()), ids=list(STEP_CHOICES))
def test_automatic_steps_are_the_probes_and_every_point_of_the_general_engine_is_evaluated(x, extra):
    """f(x) first, then x ± the plain rule's steps; where the estimated ratio leaves the steps in doubt the
    probe's points, and where a step is not the plain rule's its two points: the general engine's
    difference points are all among them, and the gradient has its bits."""
    f = FUNCTIONS["book"]
    fast, slow = points_seen(numerical_gradient, f, x), points_seen(general, f, x)
    n = len(x)
    assert len(fast) == 1 + 2 * n + extra
    assert fast[0] == slow[0] == np.array(x).tobytes()
    assert set(slow[-2 * n :]) <= set(fast)  # the difference points, at the probe's steps
    assert numerical_gradient(f, np.array(x)).tobytes() == general(f, np.array(x)).tobytes()


@pytest.mark.parametrize("x", [[0.03], [0.014, -0.068], [-0.003, 0.002]])
def test_where_rounding_decides_the_estimate_the_probe_decides(x):
    """1e8 + |x|²: at these points the variation both see is the rounding of f (its curvature is ~1e-8 of
    an ulp of f at the steps), 4.5× larger at the probe's closer points; without the noise margin the
    estimate took other steps than the probe's (2.7× the error estimate apart on random points). With it
    the probe's points, the general engine's first ones, are evaluated and decide."""
    from numgrad.differences.estimate import estimate_gradient

    f = lambda v: 1e8 + float(np.sum(v**2))  # noqa: E731
    fast, slow = points_seen(numerical_gradient, f, x), points_seen(general, f, x)
    assert set(slow[: nm.probe_size(len(x))]) <= set(fast)
    error = estimate_gradient(f, np.array(x)).error
    assert np.all(np.abs(numerical_gradient(f, np.array(x)) - 2 * np.array(x)) <= error)


def test_where_the_estimate_and_the_probe_disagree_the_result_is_within_the_engines_error():
    """At a kink of |x_1| the probe's one-sided slope sees 1/1e-3 and the central differences 0: the small
    path's steps (2^-15, 2^-15) are not the general engine's (2^-16, 2^-17); both gradients are within
    the engine's own error estimate of each other (x_0's quotient moves by 1.5e-11, x_1's is 0 in both)."""
    from numgrad.differences.estimate import estimate_gradient

    f = lambda x: float(np.sum(np.log(np.abs(x) + 1e-3)))  # noqa: E731
    x = np.array([3.0, 0.0])
    fast, slow = numerical_gradient(f, x.copy()), general(f, x.copy())
    assert fast.tobytes() != slow.tobytes()
    error = estimate_gradient(f, x.copy()).error
    assert np.all(np.abs(fast - slow) <= error)
    np.testing.assert_allclose(fast, [1 / (3.0 + 1e-3), 0.0], rtol=nm.accuracy("central", np.float64))


def test_book_reference_numbers():
    f = FUNCTIONS["book"]
    assert numerical_gradient(f, np.array([3.0, 4.0]), h=1e-4).tolist() == [
        6.00000000000378,
        7.999999999999119,
    ]
    assert numerical_gradient(f, np.array([0.0, 2.0]), h=1e-4).tolist() == [0.0, 4.000000000004]
    assert numerical_gradient(f, np.array([3.0, 0.0]), h=1e-4).tolist() == [6.000000000012662, 0.0]


def test_closure_idiom_sees_the_perturbation():
    """The book's idiom: f ignores its argument and reads the caller's array."""
    w = np.array([1.0, -2.0])
    g = numerical_gradient(lambda _: float(w[0] * w[1]), w, h=1e-4)
    np.testing.assert_allclose(g, [-2.0, 1.0], rtol=1e-9)
    assert w.tolist() == [1.0, -2.0]


def test_non_finite_values_go_to_the_general_path():
    """log near 0: the automatic step leaves the domain and is shrunk, as in the general engine."""
    f = lambda x: np.sum(np.log(x))  # noqa: E731
    x = np.array([1e-9, 1.0])
    assert numerical_gradient(f, x.copy()).tobytes() == general(f, x.copy()).tobytes()
    with pytest.raises(FloatingPointError, match="numerical_gradient: f returned a non-finite value"):
        numerical_gradient(f, np.array([1e-5, 1.0]), h=1e-4)


def test_bad_results_are_judged_by_the_general_path():
    with pytest.raises(ValueError, match="numerical_gradient: f must return a scalar; got an array of shape"):
        numerical_gradient(lambda x: x * 2, np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="numerical_gradient: f must return a number; got str"):
        numerical_gradient(lambda x: "one", np.array([1.0, 2.0]), h=1e-4)


def test_errors_raised_by_f_say_where_and_restore_x():
    x = np.array([1.0, 2.0])

    def f(v):
        if v[1] != 2.0:
            raise RuntimeError("boom")
        return float(v.sum())

    with pytest.raises(RuntimeError, match="boom") as info:
        numerical_gradient(f, x, h=1e-4)
    assert "numerical_gradient: raised by f at x perturbed at index (1,)" in info.value.__notes__
    with pytest.raises(RuntimeError, match="boom") as info:
        numerical_gradient(f, x)
    assert "numerical_gradient: raised by f at a probe point near x" in info.value.__notes__
    assert x.tolist() == [1.0, 2.0]


def test_floating_point_warnings_inside_f_are_silenced():
    """As in the general engine: f's own overflow inside a finite result warns nobody."""

    def f(v):
        big = np.exp(np.array([800.0]))  # overflows to inf, then is discarded
        return float(np.sum(v**2) + 0 * np.isinf(big).sum())

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = numerical_gradient(f, np.array([1.0, 2.0]))
        with pytest.raises(RuntimeWarning):
            np.exp(np.array([800.0]))  # the caller's own error state is back
    np.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-8)


@pytest.mark.parametrize(
    ("x", "options", "expected"),
    [
        (np.array([1.0, 2.0]), {}, True),
        (np.array([1.0, 2.0], dtype=np.float32), {}, False),
        (np.ones(nm.SMALL_N + 1), {}, False),
        (np.ones((4, 4))[:, ::2], {}, False),
        (np.array([1.0, 2.0]), {"method": "forward"}, False),
        (np.array([1.0, 2.0]), {"batched": True}, False),
        (np.array([1.0, 2.0]), {"chunk_size": 1}, False),
        ([1.0, 2.0], {}, False),
    ],
)
def test_eligible(x, options, expected):
    args = {"method": "central", "batched": False, "chunk_size": None, "executor": None, **options}
    assert small.eligible(x, *args.values()) is expected


REFINED = {
    "quadratic near its minimum": (lambda x: x[0] ** 2 + x[1] ** 2, [1e-3, -2e-3]),
    "log near 0": (lambda x: float(np.sum(np.log(x))), [1e-3, 1.0, 2e-2]),
    "log-sum-exp, sharp": (lambda x: float(np.log(np.sum(np.exp(40 * x)))), [0.1, 0.2, -0.3, 0.25]),
}


@pytest.mark.parametrize("name", list(REFINED))
def test_refined_coordinates_have_the_bits_of_the_general_engine(name):
    f, x = REFINED[name]
    calls = []
    counted = lambda v: calls.append(1) or f(v)  # noqa: E731
    fast = numerical_gradient(counted, np.array(x))
    # refined (by the engine: the small path hands over)
    assert len(calls) > nm.probe_size(len(x)) + 2 * len(x)
    assert fast.tobytes() == general(f, np.array(x)).tobytes()


DESCENTS = {
    "book": (lambda x: x[0] ** 2 + x[1] ** 2, [-3.0, 4.0], 0.1),
    "quartic": (FUNCTIONS["quartic"], [1.5, -0.5, 0.25], 0.05),
    "rosenbrock": (lambda x: float(100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2), [-1.2, 1.0], 1e-3),
    "2-d x": (lambda x: float(np.sum(np.cos(x) * x)), [[0.3, -1.2], [2.0, 0.5]], 0.1),
}


@pytest.mark.parametrize("h", [None, 1e-4], ids=["auto", "h=1e-4"])
@pytest.mark.parametrize("name", list(DESCENTS))
def test_descent_on_floats_is_the_general_loops_run(name, h):
    """gradient_descent on a few float64 numbers (points as Python floats, the small path's gradients as
    lists) takes bitwise the steps of its general loop over the general engine."""
    from numgrad.book.optimize import gradient_descent

    f, start, lr = DESCENTS[name]
    fast = gradient_descent(f, np.array(start), lr, 60, h=h)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(small, "eligible", lambda *args: False)
        slow = gradient_descent(f, np.array(start), lr, 60, h=h)
    assert fast.path.tobytes() == slow.path.tobytes()
    assert fast.values.tobytes() == slow.values.tobytes()
    assert (fast.status, fast.steps) == (slow.status, slow.steps)


@pytest.mark.parametrize("x", [[-0.0, 1.5], [0.0, -0.0, 2.0], [0.5, -1.0, 2.0, 0.0, 3.0]])
def test_f_sees_the_general_engines_points_in_its_order_where_the_probe_has_full_rows(x):
    """Every point, bitwise, in the same order, where the small path evaluates the probe first as the
    general engine does: where c·0 + (−0.0) is +0.0 (a −0.0 in x takes the probe's full rows) and where the
    probe's directions are not coordinate vectors (n > 4)."""
    f = FUNCTIONS["quartic"]
    assert points_seen(numerical_gradient, f, x) == points_seen(general, f, x)

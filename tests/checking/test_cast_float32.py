"""A float64 x whose f casts it to float32 inside: f's values carry float32's rounding, and the engine learns
so from f(x), the probe's first value (no evaluation added). Steps, points, tolerances and noise models
then follow float32, as they do for a float32 x. Before, full mode took float64 steps that rounded away
inside f (differences 0 on small elements): 113 of the 120 correct gradients of tests/fast_zoo.py were
called wrong, and numerical_gradient was 0.03–2.6 off normwise (benchmarks/cast_float32.py)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[1]))
from fast_zoo import LOSSES, case, planted

from numgrad import (
    check_gradient,
    check_hessian,
    check_jacobian,
    check_jvp,
    check_vjp,
    estimate_gradient,
    estimate_hessian,
    hessian,
    jacobian,
    numerical_gradient,
)
from numgrad.checking.hessian_fast import directions
from numgrad.common import numerics as nm
from numgrad.common.trees import flatten
from numgrad.differences.engine import make_problem
from numgrad.differences.steps import difference

SEEDS = range(4)
TINY32, EPS32 = float(np.finfo(np.float32).tiny), nm.eps(np.float32)
# Full mode's catches of the 24 planted bugs of each kind and size (6 losses, seeds 0..3) at a float64 x
# that f casts to float32, as measured; a float32 x catches the same (benchmarks/cast_float32.py: 605 and
# 610 of 1200 over 20 seeds). Before, every bug was "caught" because every correct gradient failed too.
CATCHES = {("single", 3e-2): 24, ("single", 1e-1): 24, ("dense", 3e-2): 24, ("dense", 1e-1): 24}


def _flat(tree):
    return np.concatenate([np.ravel(leaf).astype(np.float64) for leaf in flatten(tree, "t", "g").leaves])


class Counted:
    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, v):
        self.calls += 1
        return self.f(v)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(LOSSES))
def test_full_mode_no_false_alarm_where_f_casts_a_float64_x_to_float32(name, seed):
    c = case(name, seed, np.float32, np.float64)
    f = Counted(c.f)
    report = check_gradient(f, c.x, c.grad)
    assert report.passed, report
    assert report.working_dtype == "float32"
    assert report.method == "central"  # "auto" picks float32's method: forward would resolve 1e-1 only
    assert report.nfev == f.calls


@pytest.mark.parametrize(("kind", "rel"), list(CATCHES), ids=[f"{k}-{r:g}" for k, r in CATCHES])
def test_full_mode_still_catches_the_planted_bugs(kind, rel):
    caught = same = 0
    for name in LOSSES:
        for seed in SEEDS:
            c = case(name, seed, np.float32, np.float64)
            at64 = not check_gradient(c.f, c.x, planted(c, kind, rel, seed)).passed
            c32 = case(name, seed)  # the same loss at a float32 x
            at32 = not check_gradient(c32.f, c32.x, planted(c32, kind, rel, seed)).passed
            caught, same = caught + at64, same + (at64 == at32)
    assert caught >= CATCHES[(kind, rel)]
    assert same >= len(LOSSES) * len(SEEDS) - 1


def test_a_correct_pass_costs_the_probe_and_the_central_pass_only():
    """The probe that says f computes in float32 is the pass's own: probe + 2n evaluations, as a float32
    x in place; f returning float64 values keeps forward differences (probe + n)."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((5, 12))
    x = rng.uniform(0.5, 1.5, 12)
    cast = Counted(lambda v: np.sum(np.log1p(np.exp(A.astype(np.float32) @ v.astype(np.float32)))))
    plain = Counted(lambda v: np.sum(np.log1p(np.exp(A @ v))))
    s = 1 / (1 + np.exp(-(A @ x)))
    assert check_gradient(cast, x, A.T @ s).nfev == cast.calls == nm.probe_size(12) + 2 * 12
    assert check_gradient(plain, x, A.T @ s).nfev == plain.calls == nm.probe_size(12) + 12


@pytest.mark.parametrize("name", list(LOSSES))
def test_numerical_gradient_takes_float32_steps(name):
    """Normwise within float32's promised accuracy, no warning; before, 0.03–2.6 off, most calls warned."""
    for seed in SEEDS:
        c = case(name, seed, np.float32, np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            g = numerical_gradient(c.f, c.x)
        t = _flat(c.grad)
        assert np.max(np.abs(_flat(g) - t)) <= nm.accuracy("central", np.float32) * np.max(np.abs(t))


def test_estimate_gradient_bounds_its_error_where_f_casts():
    for name in ("softmax_cross_entropy", "linear MSE", "softmax regression (12, 6)"):
        for seed in SEEDS:
            c = case(name, seed, np.float32, np.float64)
            e = estimate_gradient(c.f, c.x)
            assert np.all(np.abs(e.derivative - c.grad) <= e.error), (name, seed)


def test_the_small_path_hands_a_float32_f_to_the_general_path():
    """x of 2 elements takes the small path, which works in float64 only: f(x) coming back float32
    hands the problem over at once (one evaluation spent twice)."""
    f = Counted(lambda v: np.float32(np.sum(v.astype(np.float32) ** 3)))
    x = np.array([0.7, 1.3])
    g = numerical_gradient(f, x)
    np.testing.assert_allclose(g, 3 * x**2, rtol=nm.accuracy("central", np.float32))
    p = make_problem("numerical_gradient", f.f, x.copy(), out_shape=None, method="central", batched=False,
                     chunk_size=None, executor=None)  # fmt: skip
    general = difference(p, None)
    np.testing.assert_array_equal(g, general.derivative)
    assert f.calls == 1 + general.nfev
    assert check_gradient(lambda v: np.sum(v.astype(np.float32) ** 3), x, 3 * x**2).passed


@given(
    n=st.integers(1, 30),
    m=st.integers(1, 8),
    scale=st.sampled_from([1e-2, 1.0, 30.0]),
    seed=st.integers(0, 2**16),
)
def test_property_casting_f_correct_gradient_passes_and_a_bug_is_caught(n, m, scale, seed):
    """Softplus of a float32 affine map at a float64 x of any size and scale: the correct gradient passes
    in float32 (also a float64 gradient below what float32 values resolve: softplus(−77) is 0 there), the
    check counts every call, and one element off by 10% of max|g| is called wrong where that moves f
    far beyond float32's rounding. (At |x| ~ 30 a float32 check, float32 x or not, can miss it: the noise
    measured along the widest coordinate, steps of 0.5 there, takes in softplus's bend.)"""
    rng = np.random.default_rng(seed)
    A, x = rng.standard_normal((m, n)), scale * rng.standard_normal(n)
    f = Counted(lambda v: np.sum(np.logaddexp(0, A.astype(np.float32) @ v.astype(np.float32))))
    g = A.T @ (1 / (1 + np.exp(-(A @ x))))
    report = check_gradient(f, x, g)
    note(str(report))
    assert report.passed
    assert report.working_dtype == "float32"
    assert report.nfev == f.calls
    k = int(np.argmax(np.abs(g)))
    if scale > 1 or 0.1 * abs(g[k]) * report.steps[k] <= 100 * EPS32 * max(abs(float(f.f(x))), TINY32):
        return  # a bug float32's values cannot show
    bad = g.copy()
    bad[k] += 0.1 * np.abs(g[k])
    wrong = check_gradient(f.f, x, bad)
    assert not wrong.passed
    assert wrong.worst_index == (k,)


# --------------------------------------------------------------------------------------------------
# Vector-valued checks and the Hessian share the engine's detection


def _layer(seed):
    rng = np.random.default_rng(seed)
    W, x = rng.standard_normal((10, 6)) / 3, rng.standard_normal(10)

    def f(v):
        return np.tanh(v.astype(np.float32) @ W.astype(np.float32))

    def vjp(u):
        return W @ (u * (1 - np.tanh(x @ W) ** 2))

    def jvp(t):
        return (t @ W) * (1 - np.tanh(x @ W) ** 2)

    jac = (W * (1 - np.tanh(x @ W) ** 2)).T  # (6, 10): output by input
    return f, x, vjp, jvp, jac


@pytest.mark.parametrize("seed", range(6))
def test_vector_checks_no_false_alarm_and_catch_a_bug(seed):
    f, x, vjp, jvp, jac = _layer(seed)
    counted = Counted(f)
    r = check_vjp(counted, x, vjp)
    assert r.passed, r
    assert r.working_dtype == "float32"
    assert r.nfev == counted.calls == 1 + nm.probe_size(x.size) + 2 * x.size
    assert check_jvp(f, x, jvp).passed
    assert check_jacobian(f, x, jac).passed
    bug = np.ones(x.size)
    bug[4] = 1.2
    wrong = check_vjp(f, x, lambda u: vjp(u) * bug)
    assert (wrong.passed, wrong.worst_index) == (False, (4,))
    assert not check_jvp(f, x, lambda t: jvp(t * bug)).passed
    bad = jac.copy()
    bad[2, 4] += 0.2 * np.max(np.abs(jac))
    located = check_jacobian(f, x, bad)
    assert (located.passed, located.worst_output, located.worst_index) == (False, (2,), (4,))


def test_jacobian_takes_float32_steps():
    f, x, _, _, jac = _layer(0)
    err = np.max(np.abs(jacobian(f, x) - jac)) / np.max(np.abs(jac))
    assert err <= nm.accuracy("central", np.float32)


def _softplus(seed):
    rng = np.random.default_rng(seed)
    A, x = rng.standard_normal((6, 6)), rng.standard_normal(6)

    def f(v):
        w = v.astype(np.float32)
        return np.sum(np.log1p(np.exp(A.astype(np.float32) @ w))) + 0.5 * np.sum(w**2)

    s = 1 / (1 + np.exp(-(A @ x)))
    return f, x, A.T @ np.diag(s * (1 - s)) @ A + np.eye(6)


@pytest.mark.parametrize("seed", range(6))
def test_hessian_takes_float32_steps_where_f_casts(seed):
    """Before: float64 steps (1.2e-4) under float32 rounding, 20–170 times max|H| off, every correct
    Hessian called wrong."""
    f, x, H = _softplus(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an entry may be flagged unreliable: float32 is coarse
        err = np.max(np.abs(hessian(f, x) - H)) / np.max(np.abs(H))
    assert err <= nm.hessian_accuracy(np.float32)
    assert check_hessian(f, x, H).passed
    wrong = H.copy()
    wrong[0, 0] *= 1.5
    assert not check_hessian(f, x, wrong).passed


# --------------------------------------------------------------------------------------------------
# check_hessian's fast mode: it evaluates no f(x), so the first of its points says f computes in float32

PAIRS = nm.HESSIAN_FAST_PAIRS
S64, S32 = (float(np.exp2(np.round(np.log2(nm.hessian_base_step(d))))) for d in (np.float64, np.float32))
F32 = np.float32


def _softplus_case(seed):
    """f, its gradient computed in float32 (float32 values, as a float32 backward pass returns), x, H."""
    f, x, H = _softplus(seed)
    A = np.random.default_rng(seed).standard_normal((6, 6)).astype(F32)

    def grad(v):
        w = v.astype(F32)
        return A.T @ (1 / (1 + np.exp(-(A @ w)))) + w

    return f, grad, x, H


def _logsumexp_case(seed):
    rng = np.random.default_rng(seed)
    A, x = (rng.standard_normal((9, 7)) / 2).astype(F32), rng.standard_normal(7)

    def softmax(z):
        e = np.exp(z - np.max(z))
        return e / np.sum(e)

    def f(v):
        z = A @ v.astype(F32)
        return np.max(z) + np.log(np.sum(np.exp(z - np.max(z)))) + F32(0.05) * np.sum(v.astype(F32) ** 2)

    def grad(v):
        return A.T @ softmax(A @ v.astype(F32)) + F32(0.1) * v.astype(F32)

    p = softmax(A.astype(np.float64) @ x)
    return f, grad, x, A.T @ (np.diag(p) - np.outer(p, p)) @ A + 0.1 * np.eye(7)


def _quadratic_case(seed):
    rng = np.random.default_rng(seed)
    A, x = (rng.standard_normal((8, 8)) / 3).astype(F32), 3 * rng.standard_normal(8)

    def f(v):
        return F32(0.5) * np.sum((A @ v.astype(F32)) ** 2) + np.sum(v.astype(F32))

    def grad(v):
        return A.T @ (A @ v.astype(F32)) + F32(1)

    return f, grad, x, A.T.astype(np.float64) @ A


HESSIANS = {"softplus": _softplus_case, "log-sum-exp": _logsumexp_case, "quadratic": _quadratic_case}
FAST_SEEDS = range(8)


class Recorded(Counted):
    """Counts the calls and keeps the points, flat float64."""

    def __init__(self, f):
        super().__init__(f)
        self.points = []

    def __call__(self, v):
        self.points.append(np.array(v, dtype=np.float64).reshape(-1))
        return super().__call__(v)


def _on_float32_grid(points):
    return all(np.array_equal(q, q.astype(F32).astype(np.float64)) for q in points)


@pytest.mark.parametrize("seed", FAST_SEEDS)
@pytest.mark.parametrize("name", list(HESSIANS))
def test_fast_mode_no_false_alarm_where_f_casts_a_float64_x_to_float32(name, seed):
    """Before: float64 steps (s = 2⁻¹³) under float32 rounding, 12 of 50 correct Hessians called wrong
    (11 of 50 with a float32 grad=) in benchmarks/cast_float32_hessian.py. Now one point at the float64
    step, then the 24 at float32's, on float32's grid: 25 evaluations, as at a float32 x."""
    f, grad, x, H = HESSIANS[name](seed)
    seen = Recorded(f)
    r = check_hessian(seen, x, H, mode="fast")
    assert r.passed, r
    assert (r.working_dtype, r.step) == ("float32", S32)
    assert r.nfev == seen.calls == 8 * PAIRS + 1
    assert _on_float32_grid(seen.points[1:])
    assert not _on_float32_grid(seen.points[:1])  # the first point, at the float64 step, is spent
    called = Recorded(grad)
    g = check_hessian(f, x, H, grad=called, mode="fast")
    assert g.passed, g
    assert (g.working_dtype, g.nfev, called.calls) == ("float32", 4 * PAIRS + 1, 4 * PAIRS + 1)
    assert _on_float32_grid(called.points[1:])


def _diagonal_only(H):
    return np.diag(np.diag(H))


def _entry(H):
    bad = H.copy()
    k = int(np.argmax(np.abs(np.diag(H))))
    bad[k, k] *= 1.5
    return bad


def _antisymmetric(H):
    bad = H.copy()
    bad[0, 1] += 0.5 * np.max(np.abs(H))
    bad[1, 0] -= 0.5 * np.max(np.abs(H))
    return bad


BUGS = {
    "diagonal only": _diagonal_only,
    "largest diagonal entry x 1.5": _entry,
    "antisymmetric": _antisymmetric,
}
# fast mode's catches of each bug over the 24 cases at a float64 x (of f's values, with grad=), as
# measured; the same f at a float32 x catches the same
FAST_CATCHES = {
    "diagonal only": (24, 24),
    "largest diagonal entry x 1.5": (20, 24),
    "antisymmetric": (21, 23),
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_fast_mode_catches_planted_bugs_as_a_float32_x_does(bug):
    """The same verdict as the same f at a float32 x on (nearly) every case, of f's values and with a
    float32 grad=; the catches as measured (before, a verdict at a float64 x said nothing: 12 of 50
    correct Hessians failed too)."""
    caught, same = np.zeros(2, dtype=int), np.zeros(2, dtype=int)
    for make in HESSIANS.values():
        for seed in FAST_SEEDS:
            f, grad, x, H = make(seed)
            wrong = BUGS[bug](H)
            for k, options in enumerate(({}, {"grad": grad})):
                at64 = not check_hessian(f, x, wrong, mode="fast", **options).passed
                at32 = not check_hessian(f, x.astype(F32), wrong, mode="fast", **options).passed
                caught[k] += at64
                same[k] += at64 == at32
    assert np.all(caught >= FAST_CATCHES[bug])
    assert np.all(same >= len(HESSIANS) * len(FAST_SEEDS) - 1)


def test_fast_mode_float64_values_keep_their_points():
    """A float64-valued f: the 24 points ``x ± c·u ± c·w`` (c = s, 2s; s = 2⁻¹³), no more, in order."""
    rng = np.random.default_rng(5)
    A, x = rng.standard_normal((6, 6)), rng.standard_normal(6)
    s = 1 / (1 + np.exp(-(A @ x)))
    seen = Recorded(lambda v: np.sum(np.log1p(np.exp(A @ v))) + 0.5 * np.sum(v**2))
    r = check_hessian(seen, x, A.T @ np.diag(s * (1 - s)) @ A + np.eye(6), mode="fast")
    u, w = directions(6, x, np.random.default_rng(nm.DEFAULT_CHECK_SEED))
    signs = ((1, 1), (1, -1), (-1, 1), (-1, -1))
    expected = [x + c * (a * u + b * w) for c in (S64, 2 * S64) for a, b in signs]  # each (pairs, n)
    order = np.stack(expected).reshape(-1, 6)
    assert r.passed
    assert (r.working_dtype, r.step, r.nfev, seen.calls) == ("float64", S64, 8 * PAIRS, 8 * PAIRS)
    np.testing.assert_array_equal(np.stack(seen.points), order)


@given(
    n=st.integers(1, 30),
    m=st.integers(1, 8),
    scale=st.sampled_from([1e-2, 1.0, 30.0]),
    seed=st.integers(0, 2**16),
)
def test_property_casting_f_correct_hessian_passes_in_fast_mode(n, m, scale, seed):
    """Softplus of a float32 affine map plus a float32 quadratic, at a float64 x of any size and scale:
    the exact Hessian passes in float32, at 25 evaluations, of f's values and with a float32 grad. (At
    |x| ~ 30 the steps, 2⁻⁶·|x_i|, can reach across softplus's bend, where a float32 x alarms too: about
    1 in 1500 such cases; there only the same verdict as at a float32 x is asserted.)"""
    rng = np.random.default_rng(seed)
    A, x = rng.standard_normal((m, n)), scale * rng.standard_normal(n)
    A32 = A.astype(F32)

    def f(v):
        w = v.astype(F32)
        return np.sum(np.logaddexp(F32(0), A32 @ w)) + F32(0.5) * np.sum(w * w)

    def grad(v):
        w = v.astype(F32)
        return A32.T @ (F32(0.5) + F32(0.5) * np.tanh(A32 @ w / F32(2))) + w  # the sigmoid, no overflow

    s = 0.5 + 0.5 * np.tanh(A @ x / 2)
    H = A.T @ np.diag(s * (1 - s)) @ A + np.eye(n)
    seen = Counted(f)
    r = check_hessian(seen, x, H, mode="fast")
    note(str(r))
    assert r.passed or (scale > 1 and not check_hessian(f, x.astype(F32), H, mode="fast").passed)
    assert (r.working_dtype, r.nfev, seen.calls) == ("float32", 8 * PAIRS + 1, 8 * PAIRS + 1)
    g = check_hessian(f, x, H, grad=grad, mode="fast")
    note(str(g))
    assert g.passed or (scale > 1 and not check_hessian(f, x.astype(F32), H, grad=grad, mode="fast").passed)
    assert (g.working_dtype, g.nfev) == ("float32", 4 * PAIRS + 1)


def test_full_check_hessian_and_the_estimates_say_float32_where_f_casts():
    """Full-mode check_hessian of a float32-casting f at a float64 x reports the differences as taken in
    float32 (and judges with float32's floor), as the estimates record; a float64-valued f stays float64."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(6)

    def cast(v):
        w = v.astype(np.float32)
        return np.sum(np.log1p(np.exp(w))) + np.float32(0.5) * np.sum(w * w)

    s = 1 / (1 + np.exp(-x))
    exact = np.diag(s * (1 - s) + 1.0)
    report = check_hessian(cast, x, exact)
    assert report.passed
    assert report.working_dtype == "float32"
    assert estimate_hessian(cast, x).working_dtype == "float32"
    assert estimate_gradient(cast, x).working_dtype == "float32"
    tree = estimate_hessian(lambda t: cast(np.concatenate([t["a"], t["b"]])), {"a": x[:3], "b": x[3:]})
    assert tree.working_dtype == "float32"
    wide = check_hessian(lambda v: np.sum(np.log1p(np.exp(v))) + 0.5 * np.sum(v * v), x, exact)
    assert wide.working_dtype == "float64"
    assert estimate_gradient(lambda v: np.sum(v**2), x).working_dtype == "float64"

"""Fast mode's power where f computes in float32 (issue 13): the planted bugs of tests/fast_zoo.py that
full mode catches, fast mode catches too (counts on a fixed seeded set; the whole grid is
benchmarks/fast_power.py), with no false alarm on the correct gradients."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from fast_zoo import LOSSES, case, planted

from numgrad import check_gradient, check_vjp, softmax_cross_entropy
from numgrad.common import numerics as nm

SEEDS = range(4)
# Fast mode's catches of the 24 bugs of each kind and size (6 losses, seeds 0..3), as measured. Full mode
# catches 20, 24, 7 and 0 of them. Before (full mode's 1e-2 floor on every direction, one direction
# measured), fast mode caught 0, 3, 0 and 0.
POWER = {("dense", 1e-2): 24, ("single", 3e-2): 24, ("single", 1e-2): 21, ("dense", 3e-3): 22}


@pytest.mark.parametrize(("kind", "rel"), list(POWER), ids=[f"{k}-{r:g}" for k, r in POWER])
def test_fast_mode_catches_what_full_mode_catches_in_float32(kind, rel):
    full = fast = both = 0
    for name in LOSSES:
        for seed in SEEDS:
            c = case(name, seed)
            bad = planted(c, kind, rel, seed)
            r_full = not check_gradient(c.f, c.x, bad).passed
            r_fast = check_gradient(c.f, c.x, bad, mode="fast", seed=seed)
            assert r_fast.nfev == nm.FAST_EVALUATIONS + nm.FAST_DTYPE_PROBE
            assert r_fast.working_dtype == "float32"
            full, fast, both = (
                full + r_full,
                fast + (not r_fast.passed),
                both + (r_full and not r_fast.passed),
            )
    assert fast >= POWER[(kind, rel)]
    assert full - both <= 1  # fast misses at most one bug that full mode catches


@pytest.mark.parametrize(
    ("work", "dtype"),
    [(np.float32, np.float32), (np.float64, np.float32), (np.float64, np.float64), (np.float32, np.float64)],
    ids=["float32-compute", "float64-compute-float32-x", "float64", "float32-compute-float64-x"],
)
@pytest.mark.parametrize("name", list(LOSSES))
def test_fast_mode_no_false_alarm_on_the_correct_gradients(name, work, dtype):
    for seed in SEEDS:
        c = case(name, seed, work, dtype)
        report = check_gradient(c.f, c.x, c.grad, mode="fast", seed=seed)
        assert report.passed, f"seed {seed}\n{report}"


def _hinge(v):
    return np.sum(np.maximum(0, 1 - np.asarray(v, dtype=np.float32)))


@pytest.mark.parametrize("seed", range(20))
def test_fast_mode_no_false_alarm_on_a_hinge_in_float32(seed):
    """Σmax(0, 1 − v) computing in float32: the step t ≈ 5e-3 crosses some v_i = 1 now and then, which
    the estimate from t and t/2 covers. A wrong gradient is still caught."""
    x = np.random.default_rng(seed).standard_normal(40).astype(np.float32)
    grad = np.where(x < 1, -1.0, 0.0).astype(np.float32)
    assert check_gradient(_hinge, x, grad, mode="fast", seed=seed).passed
    assert not check_gradient(_hinge, x, 1.25 * grad, mode="fast", seed=seed).passed


def test_fast_mode_reports_kinks_in_float32():
    """x_3 = 1 sits on the hinge's kink, the analytic 0 a valid subgradient: the central difference
    along a direction averages the two slopes and misses it by |v_3|/2. That direction is a kink (its
    one-sided slopes straddle the analytic value, their gap does not shrink at t/2), not a failure.
    Before, fast mode failed 28 of these 40 seeds."""
    kinks = 0
    for seed in range(40):
        x = np.random.default_rng(seed).standard_normal(40).astype(np.float32)
        x[3] = 1.0
        grad = np.where(x < 1, -1.0, 0.0).astype(np.float32)
        report = check_gradient(_hinge, x, grad, mode="fast", seed=seed)
        assert report.passed, f"seed {seed}\n{report}"
        kinks += bool(report.kinks.any())
    assert kinks == 39  # the one other seed's directions miss by less than their tolerance


@pytest.mark.parametrize("n", [1, 50, 400])
@pytest.mark.parametrize("computes", ["float64", "float32"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_check_vjp_fast_mode_stays_within_eight_evaluations(n, computes, dtype):
    """f(x) for the cotangent, then at most seven: the float64 evaluation of a float32 x included."""
    r = np.random.default_rng(n)
    A, x = r.standard_normal((n, 7)) / np.sqrt(n), r.standard_normal(n).astype(dtype)
    calls = []

    def f(v):
        calls.append(1)
        v = np.asarray(v, dtype=np.float32) if computes == "float32" else v
        return np.tanh(v @ A.astype(v.dtype))

    def vjp(u):
        return (A @ (u * (1 - np.tanh(x.astype(np.float64) @ A) ** 2))).astype(dtype)

    report = check_vjp(f, x, vjp, mode="fast")
    assert report.passed, report
    assert report.nfev == len(calls) <= 8
    assert not check_vjp(f, x, lambda u: 1.01 * vjp(u), mode="fast").passed


def _confident_logits(seed):
    rng = np.random.default_rng(seed)
    z, labels = 20 * rng.standard_normal((8, 5)), rng.integers(0, 5, 8)
    z[np.arange(8), labels] += 40  # the loss is ~1e-4, the terms it is summed from ~1
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(8), labels] -= 1
    return z.astype(np.float32), labels, (p / 8).astype(np.float32)


@pytest.mark.parametrize("gain", [nm.FAST_NOISE_GAIN, 0.0], ids=["measured-noise", "eps-model-only"])
def test_fast_mode_measures_fs_noise_where_it_stands_above_eps_f(gain, monkeypatch):
    """Softmax cross-entropy of confident logits in float32: f ≈ 8e-5 is a difference of terms near 1,
    so its rounding is ~eps·1, far above eps·|f|. The fourth difference of f at the five points on the
    direction measured at t and t/2 sees it; without it (the eps·|f| model alone) this seed, whose
    truncation estimate drew a small sample of that noise, raised a false alarm."""
    monkeypatch.setattr(nm, "FAST_NOISE_GAIN", gain)
    z, labels, grad = _confident_logits(21)

    def loss(v):
        return softmax_cross_entropy(np.asarray(v, dtype=np.float32), labels)

    assert check_gradient(loss, z, grad, mode="fast", seed=21).passed == (gain > 0)

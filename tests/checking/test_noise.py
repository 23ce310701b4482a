"""False alarms on functions whose rounding noise is far above eps·|f| (issue 16): the check measures f's
noise from the data and re-measures at a step that suits it, without losing sensitivity to real bugs."""

from __future__ import annotations

import numpy as np
import pytest

from numgrad import check_gradient
from numgrad.checking.measure import noise_level
from numgrad.differences.engine import make_problem

OFFSET = 1e4  # (s + 1e4) − 1e4 carries ulp(1e4)/2 ≈ 1e-12 of noise: ~1000× eps·|f| for |f| ~ 5
SEEDS = range(12)


def noisy(v):
    return (np.sum(np.sin(v)) + OFFSET) - OFFSET


def noise_only(v):  # f's values are pure rounding noise: its gradient is 0
    return ((np.sum(np.sin(v)) + OFFSET) - OFFSET) - np.sum(np.sin(v))


def point(seed):
    return np.random.default_rng(seed).uniform(-2, 2, 6)


@pytest.mark.parametrize("method", ["auto", "central"])
def test_a_correct_gradient_of_a_noisy_f_passes_without_kinks(method):
    reports = [check_gradient(noisy, x, np.cos(x), method=method) for x in map(point, SEEDS)]
    assert [r.passed for r in reports] == [True] * len(reports)
    assert sum(r.kink_count for r in reports) == 0


@pytest.mark.parametrize("method", ["auto", "central"])
def test_a_zero_gradient_of_pure_noise_passes(method):
    reports = [check_gradient(noise_only, x, np.full(6, -2.2e-16), method=method) for x in map(point, SEEDS)]
    assert all(r.passed for r in reports)


def test_bugs_in_a_noisy_f_are_still_caught():
    for seed in SEEDS:
        x = point(seed)
        g = np.cos(x)
        g[seed % 6] += 1e-4
        report = check_gradient(noisy, x, g)
        assert not report.passed
        assert report.worst_index == (seed % 6,)


def test_noise_level_is_measured_not_assumed():
    x = point(0)
    quiet = noise_level(make_problem("t", lambda v: np.sum(np.sin(v)), x.copy(), out_shape=None,
                                     method="central", batched=False, chunk_size=None, executor=None), 0, 1e-5)  # fmt: skip
    loud = noise_level(make_problem("t", noisy, x.copy(), out_shape=None, method="central", batched=False,
                                    chunk_size=None, executor=None), 0, 1e-5)  # fmt: skip
    ulp = np.spacing(OFFSET)
    assert quiet[0] < 10 * np.finfo(float).eps * 6
    assert 0.05 * ulp < loud[0] < 2 * ulp

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


# The issue's own situations, as a peer's VJP test suite met them: the pseudo-inverse of a low-rank product
# (rank kept, so differentiable) and the eigenvalues of a broadcast stack of symmetric matrices, checked
# against jax.grad in float64, with the default method and with central differences (which marks kinks).


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


@pytest.mark.parametrize("method", ["auto", "central"])
@pytest.mark.parametrize("seed", range(6))
def test_pseudo_inverse_of_a_low_rank_product_passes(seed, method):
    jax, jnp = _jax()
    rng = np.random.default_rng(seed)
    c, w, b = rng.standard_normal((2, 5)), rng.standard_normal((5, 4)), rng.standard_normal((4, 2))
    exact = np.asarray(jax.grad(lambda m: jnp.sum(w * jnp.linalg.pinv(m @ c)))(jnp.asarray(b)))
    report = check_gradient(lambda m: np.sum(w * np.linalg.pinv(m @ c)), b, exact, method=method)
    assert report.passed
    assert report.kink_count == 0


@pytest.mark.parametrize("method", ["auto", "central"])
@pytest.mark.parametrize("seed", range(6))
def test_eigenvalues_of_broadcast_symmetric_stacks_pass(seed, method):
    jax, jnp = _jax()
    rng = np.random.default_rng(seed)
    a, v = rng.standard_normal((3, 4, 4)), rng.standard_normal((3, 4))

    def f(m, xp):
        return xp.sum(v * xp.linalg.eigvalsh((m + xp.swapaxes(m, -1, -2)) / 2))

    exact = np.asarray(jax.grad(lambda m: f(m, jnp))(jnp.asarray(a)))
    report = check_gradient(lambda m: f(m, np), a, exact, method=method)
    assert report.passed
    assert report.kink_count == 0


def test_a_planted_bug_in_the_eigenvalue_gradient_is_caught():
    jax, jnp = _jax()
    rng = np.random.default_rng(0)
    a, v = rng.standard_normal((3, 4, 4)), rng.standard_normal((3, 4))

    def f(m, xp):
        return xp.sum(v * xp.linalg.eigvalsh((m + xp.swapaxes(m, -1, -2)) / 2))

    wrong = np.asarray(jax.grad(lambda m: f(m, jnp))(jnp.asarray(a))).copy()
    wrong[1, 2, 3] += 1e-4 * np.max(np.abs(wrong))
    report = check_gradient(lambda m: f(m, np), a, wrong)
    assert not report.passed
    assert report.worst_index == (1, 2, 3)

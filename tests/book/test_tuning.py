"""numgrad.book.tuning: grids, seeded random search, and ranking on a validation split of the training data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from numgrad.book.data import load_mnist
from numgrad.book.training import DEFAULT_LR
from numgrad.book.tuning import SweepResult, Trial, grid_trials, random_trials, split_data, sweep

RNG = np.random.default_rng(0)
X, T = RNG.random((40, 5)), np.arange(40) % 2


@pytest.fixture(scope="module")
def digits():
    """400 embedded training images, 40 of each digit."""
    (x, t), _ = load_mnist()
    keep = np.concatenate([np.flatnonzero(t == d)[:40] for d in range(10)])
    return x[keep], t[keep]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: grid_trials({"momentum": [0.9]}), ValueError, "unknown hyperparameter 'momentum'; choose"),
        (lambda: grid_trials({"lr": []}), ValueError, "every axis needs at least one value"),
        (lambda: grid_trials({"hidden": [10.5]}), ValueError, "grid_trials: hidden must be a whole number"),
        (lambda: grid_trials({"lr": [0.0]}), ValueError, "Trial: lr must be a positive finite number"),
        (lambda: random_trials(0), ValueError, "random_trials: n must be a positive integer"),
        (lambda: random_trials(2, ranges={"lr": (1.0, 0.1)}), ValueError, "range of lr must be 0 < low <="),
        (lambda: random_trials(2, ranges={"hidden": (0, 5)}), ValueError, "range of hidden must be 1 <= low"),
        (lambda: sweep(X, T, []), TypeError, "trials must be a non-empty sequence of Trial"),
        (lambda: sweep(X, T, [Trial()], gradient="adam"), ValueError, "sweep: gradient must be one of"),
        (lambda: sweep(X, T, [Trial()], validation=1.0), ValueError, r"validation must be a fraction in \("),
    ],
    ids=["unknown-axis", "empty-axis", "fractional-hidden", "zero-lr", "no-trials", "reversed-range",
         "zero-hidden-range", "empty-sweep", "unknown-gradient", "validation-one"],
)  # fmt: skip
def test_input_validation(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_grid_is_every_combination_with_defaults_elsewhere():
    trials = grid_trials({"lr": [0.05, 0.1, 0.5], "hidden": [20, 50]})
    assert [(t.lr, t.hidden) for t in trials] == [
        (0.05, 20), (0.05, 50), (0.1, 20), (0.1, 50), (0.5, 20), (0.5, 50),
    ]  # fmt: skip
    assert {t.batch_size for t in trials} == {100}
    assert grid_trials({"iters": [7]}) == (Trial(lr=DEFAULT_LR, iters=7),)


@given(
    st.integers(0, 2**16), st.floats(1e-4, 1.0), st.floats(1.0, 100.0), st.integers(1, 50), st.integers(0, 50)
)
def test_random_trials_stay_in_their_ranges(seed, lo, hi, small, extra):
    note(f"lr in [{lo}, {hi}], hidden in [{small}, {small + extra}]")
    trials = random_trials(5, ranges={"lr": (lo, hi), "hidden": (small, small + extra)}, seed=seed)
    assert all(lo * (1 - 1e-12) <= t.lr <= hi * (1 + 1e-12) for t in trials)
    assert all(small <= t.hidden <= small + extra for t in trials)
    assert trials == random_trials(5, ranges={"lr": (lo, hi), "hidden": (small, small + extra)}, seed=seed)


def test_learning_rates_are_log_uniform():
    lrs = np.array([t.lr for t in random_trials(2000, ranges={"lr": (1e-3, 1e3)}, seed=0)])
    assert 0.5 < np.median(lrs) < 2  # uniform would put the median near 500
    assert np.mean(lrs < 1e-2) == pytest.approx(1 / 6, abs=0.03)  # one decade of six


def test_sweep_ranks_on_a_validation_split(digits):
    steps = []
    trials = grid_trials({"lr": [0.01, 3.0], "iters": [15], "hidden": [8]})
    result = sweep(
        *digits, trials, validation=0.25, seed=1, callback=lambda i, s: steps.append((i, s.iteration))
    )
    assert isinstance(result, SweepResult)
    assert (result.n_train, result.n_validation) == (300, 100)  # 10 of each digit, from the given data
    accs = [r.val_acc for r in result.results]
    assert accs == sorted(accs, reverse=True)
    assert {r.trial for r in result.results} == set(trials)
    assert result.best.trial.lr == 3.0
    assert len(steps) == 30
    assert steps[0] == (0, 1)
    assert steps[-1] == (1, 15)
    assert json.loads(json.dumps(result.to_dict()))["results"][0]["trial"]["lr"] == 3.0


def test_numerical_and_backprop_sweeps_rank_alike(digits):
    trials = grid_trials({"lr": [0.05, 1.0, 3.0], "iters": [6], "hidden": [5]})
    a, b = (sweep(*digits, trials, gradient=g, seed=2) for g in ("backprop", "numerical"))
    assert [r.trial for r in a.results] == [r.trial for r in b.results]
    np.testing.assert_allclose([r.val_loss for r in a.results], [r.val_loss for r in b.results], atol=1e-8)


@pytest.mark.parametrize("fraction", [1e-4, 0.9999])
def test_a_validation_fraction_that_leaves_a_side_empty_is_named(fraction):
    # before: train's "x_test must be (N, 784) with N > 0" (or numpy's zero-size reduction) for a sweep
    rng = np.random.default_rng(0)
    x, t = rng.random((40, 784)), np.arange(40) % 10
    with pytest.raises(ValueError, match=rf"sweep: validation={fraction!r} of 40 training samples leaves"):
        split_data(x, t, fraction, 0)

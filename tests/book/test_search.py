"""numgrad.book.search and the grid of a budget: the three search methods side by side."""

from __future__ import annotations

import math

import numpy as np
import pytest

from numgrad.book.search import best_so_far
from numgrad.book.tuning import SweepResult, Trial, TrialResult, budget_grid


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: budget_grid(0), ValueError, "budget_grid: budget must be a positive integer"),
        (lambda: budget_grid(4, {"momentum": (0.1, 1)}), ValueError, "budget_grid: unknown hyperparameter 'momentum'"),
        (lambda: budget_grid(4, {"lr": (1.0, 0.5)}), ValueError, "budget_grid: range of lr must be 0 < low <= high"),
        (lambda: budget_grid(4, {}), ValueError, "budget_grid: ranges must name at least one axis"),
    ],
    ids=["zero-budget", "unknown-axis", "reversed-range", "no-axis"],
)  # fmt: skip
def test_input_validation(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    ("budget", "ranges", "shape"),
    [
        (20, None, {"lr": 5, "hidden": 4}),
        (10, None, {"lr": 3, "hidden": 3}),
        (1, None, {"lr": 1, "hidden": 1}),
        (20, {"lr": (0.1, 1.0), "hidden": (5, 6)}, {"lr": 10, "hidden": 2}),  # hidden has 2 values only
        (8, {"lr": (0.1, 1.0), "hidden": (5, 50), "batch_size": (10, 100)}, {"lr": 2, "hidden": 2, "batch_size": 2}),
    ],
    ids=["20-is-5x4", "10-is-3x3", "1", "two-hidden-sizes", "three-axes"],
)  # fmt: skip
def test_budget_grid_spreads_the_budget_over_the_axes(budget, ranges, shape):
    trials = budget_grid(budget, ranges)
    assert len(trials) == math.prod(shape.values()) <= budget
    for name, size in shape.items():
        values = sorted({getattr(t, name) for t in trials})
        assert len(values) == size
        lo, hi = (ranges or {"lr": (0.01, 10.0), "hidden": (10, 100)})[name]
        assert (values[0], values[-1]) == ((lo, hi) if size > 1 else (lo, lo))
    steps = np.diff(np.log(sorted({t.lr for t in trials})))
    np.testing.assert_allclose(steps, steps[:1].repeat(len(steps)))  # log-spaced


def result(*rows):
    return SweepResult(tuple(TrialResult(Trial(), acc, 1.0, acc, 0.1, n, pruned) for n, acc, pruned in rows),
                       "backprop", 0, 10, 10)  # fmt: skip


def test_best_so_far_follows_the_order_trials_ran_and_skips_pruned_ones():
    ranked = result((2, 0.9, None), (0, 0.5, None), (3, 0.95, 10), (1, 0.4, None))
    assert best_so_far(ranked) == (0.5, 0.5, 0.9, 0.9)  # trial 3 was pruned: its 95% is from part of a run
    assert best_so_far(result((0, 0.3, 5), (1, 0.2, None))) == pytest.approx((math.nan, 0.2), nan_ok=True)

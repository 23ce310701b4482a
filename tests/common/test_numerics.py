"""numgrad.common.numerics: the refinement's suspects come out in one stable order, however split."""

import numpy as np
import pytest

from numgrad.common import numerics as nm


def _suspects_sorted_in_full(method, deriv, second, h, dtype):
    head, rest, key = nm.truncation_suspects(method, deriv, second, h, dtype)
    assert rest.size == key.size == 0  # no head asked for: everything sorted at once
    return head


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("head", [1, 2, 3])
def test_head_and_ordered_rest_are_the_full_stable_sort(seed, head):
    """The head of the split and the rest put in order by worst_first are the full sort's head and tail,
    ties (equal predicted errors, here from repeated values) in index order."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    deriv = rng.choice([-1.0, 0.5, 1e-3, 2e-4, 0.0], n) * rng.choice([1.0, 1.0, 3.0], n)
    second = rng.choice([1e-9, 3e-9, 1e-6, 0.0], n)
    h = np.full(n, 2.0**-17)
    full = _suspects_sorted_in_full("central", deriv, second, h, np.float64)
    first, rest, key = nm.truncation_suspects("central", deriv, second, h, np.float64, head)
    assert np.array_equal(np.concatenate([first, nm.worst_first(rest, key, head)]), full)
    assert len(first) == min(head, len(full))


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("head", [None, 2])
def test_every_coordinate_flagged_orders_as_when_one_is_not(seed, head):
    """Where every coordinate is flagged (a quadratic: the model over-predicts everywhere) the keys are
    computed on the whole arrays; with one more coordinate that is not flagged (slope 0, so the flagged
    ones are gathered), the same coordinates come out in the same order with the same keys."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 50))
    deriv = rng.choice([-1.0, 0.5, 0.25, 3.0], n) * rng.uniform(0.5, 2.0, n)
    second = np.full(n, 1e-6) * rng.choice([1.0, 2.0], n)
    h = np.full(n, 2.0**-17)
    every = nm.truncation_suspects("central", deriv, second, h, np.float64, head)
    assert every[0].size == min(n, head or n)  # every coordinate flagged
    assert every[1].size in (0, n)
    gathered = nm.truncation_suspects(
        "central", np.append(deriv, 0.0), np.append(second, 1e-6), np.append(h, h[0]), np.float64, head
    )
    for a, b in zip(every, gathered, strict=True):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_retry_steps_are_powers_of_two_that_move_x(dtype):
    """relative_steps: base·|x| below 1, the unit step far from 0, and never under 4 spacings of x in the
    dtype f's values come in, up to float64's range (no overflow casting 1e300 to float32)."""
    x = np.array([1e-8, 0.5, -1e5, 1e8, 1e300])
    assert nm.below_unit(x).all()
    assert not nm.below_unit(np.array([0.0, 1.0, 63.0])).any()
    h = nm.relative_steps(x, "central", dtype)
    assert np.all(np.exp2(np.round(np.log2(h))) == h)
    base = nm.base_step("central", dtype)
    assert 0.5 * base * 1e-8 <= h[0] <= 2 * base * 1e-8
    near = np.minimum(np.abs(x), float(np.finfo(dtype).max) / 4).astype(dtype)
    assert np.all(h >= 4 * np.spacing(near).astype(np.float64))
    if dtype == np.float64:
        assert h[3] == 2.0**-17  # the unit step: 1e8's spacing (1.5e-8) is far below it

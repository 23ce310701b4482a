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
    assert np.array_equal(np.concatenate([first, nm.worst_first(rest, key)]), full)
    assert len(first) == min(head, len(full))

"""A local batched f's probe, truncation test, pass and the refinement's first halving in one call of f
where the last call's steps and suspects hold (issue 17): the same points, the same values, the same
gradient and evaluation count, fewer calls."""

from __future__ import annotations

import math

import numpy as np
import pytest

from numgrad.common import numerics as nm
from numgrad.differences import steps
from numgrad.differences.engine import make_problem
from numgrad.differences.gradient import numerical_gradient

RNG = np.random.default_rng(17)
Z, LABELS = 3 * RNG.standard_normal((10, 10)), RNG.integers(0, 10, 10)
TARGET = RNG.random((100, 10))


def softmax_ce(s):
    shifted = s - s.max(axis=-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(logp, np.broadcast_to(LABELS[:, None], (*s.shape[:-1], 1)), axis=-1)
    return -picked.mean(axis=(-1, -2))


def rosenbrock(s):  # its truncation test halves the steps
    return (100 * (s[:, 1:] - s[:, :-1] ** 2) ** 2 + (1 - s[:, :-1]) ** 2).sum(axis=-1)


def mse(s):  # x of (100, 10): 31 stacks
    return 0.5 * ((s - TARGET) ** 2).sum(axis=(-1, -2))


CASES = {
    "softmax-CE (10,10)": (softmax_ce, Z),
    "Rosenbrock n=100": (rosenbrock, np.full(100, 1.5)),
    "MSE (100,10)": (mse, RNG.random((100, 10))),
    "float32 n=100": (lambda s: (np.sin(s) * s).sum(axis=-1), RNG.standard_normal(100).astype(np.float32)),
    "n=10 (no truncation test)": (lambda s: (s**4).sum(axis=-1), RNG.standard_normal(10)),
}


def counting(f):
    sizes = []

    def g(s):
        sizes.append(len(s))
        return f(s)

    return g, sizes


def passes(f, x, k):
    """k passes of the engine at the automatic step: (derivative bytes, nfev) each."""
    p = make_problem("numerical_gradient", f, x, out_shape=None, method="central", batched=True,
                     chunk_size=None, executor=None)  # fmt: skip
    return [(d.derivative.tobytes(), d.nfev) for d in (steps.difference(p, None) for _ in range(k))]


@pytest.mark.parametrize("name", CASES)
def test_later_calls_give_the_first_calls_bits_and_counts(name):
    f, x = CASES[name]
    first, *later = passes(f, x, 3)
    assert later == [first, first]
    alone = numerical_gradient(lambda v: f(v[None])[0], x.copy())  # element by element
    assert np.frombuffer(first[0], dtype=np.float64).astype(x.dtype).tobytes() == alone.tobytes()


def test_one_call_of_f_where_probe_test_and_pass_fit_one_stack():
    g, sizes = counting(softmax_ce)
    numerical_gradient(g, Z, batched=True)
    assert sizes == [6, 12, 2 * Z.size - 8]  # probe, truncation test, the pass less the test's x ± h
    sizes.clear()
    numerical_gradient(g, Z, batched=True)
    assert sizes == [6 + 2 * Z.size + nm.TRUNCATION_SAMPLE]  # probe, pass and the test's x + 2h


def test_halved_steps_are_remembered_with_the_test_points_at_the_probes_steps():
    f, x = CASES["Rosenbrock n=100"]
    g, sizes = counting(f)
    numerical_gradient(g, x, batched=True)
    assert sizes[:3] == [6, 12, 2 * x.size]  # halved: the pass at h/2, none of the test's points re-used
    assert sizes[3:] == [2 * nm.REFINE_SAMPLE]  # the refinement's first halving: nothing left to refine
    sizes.clear()
    numerical_gradient(g, x, batched=True)
    assert sizes == [6 + 2 * x.size + 3 * nm.TRUNCATION_SAMPLE + 2 * nm.REFINE_SAMPLE]  # all in one call


def test_the_probe_rides_in_the_first_of_several_stacks():
    f, x = CASES["MSE (100,10)"]
    g, sizes = counting(f)
    numerical_gradient(g, x, batched=True)
    assert sizes[:2] == [6, 12]
    assert sizes[-1] == 2 * nm.REFINE_SAMPLE  # the refinement's own call: the two worst suspects at h/2
    sizes.clear()
    numerical_gradient(g, x, batched=True)
    total = 6 + 2 * x.size + nm.TRUNCATION_SAMPLE + 2 * nm.REFINE_SAMPLE  # the refinement's points too
    assert sum(sizes) == total
    assert len(sizes) == math.ceil(total / (nm.CHUNK_BYTES // x[None].nbytes))  # none for the probe alone


def test_other_first_suspects_spend_the_refinements_points_and_change_nothing():
    """At the same steps, x reversed puts other coordinates first among the refinement's suspects (the
    smallest slopes of a quadratic): the first halving's points evaluated for the last call's suspects
    are spent and counted, the refinement evaluates its own, and the result is a fresh call's."""
    f, x = CASES["MSE (100,10)"]
    later = x[::-1].copy()
    (_, nfev_first), = passes(f, x, 1)
    (guessed, nfev_guessed), = passes(f, later, 1)
    steps._LAST_STEPS.clear()
    (fresh, nfev_fresh), = passes(f, later, 1)
    assert guessed == fresh
    assert nfev_guessed == nfev_fresh + 2 * nm.REFINE_SAMPLE == nfev_first + 2 * nm.REFINE_SAMPLE


def test_a_wrong_guess_is_spent_and_counted_and_changes_nothing():
    """Steps remembered at x do not hold at 64·x (|x_i| sets them): the joined pass is spent, counted,
    and the result is a fresh call's."""
    f, x = CASES["softmax-CE (10,10)"]
    passes(f, x, 1)
    (guessed, nfev_guessed), = passes(f, 64 * x, 1)
    steps._LAST_STEPS.clear()
    (fresh, nfev_fresh), = passes(f, 64 * x, 1)
    assert guessed == fresh
    assert nfev_guessed == nfev_fresh + 2 * x.size + nm.TRUNCATION_SAMPLE


def test_no_joining_where_it_cannot_hold():
    """Element-by-element, a chunk size of the caller's, an explicit h, a float32-valued f of float64 x,
    and executors keep their own calls."""
    f, x = CASES["softmax-CE (10,10)"]
    g, sizes = counting(f)
    for _ in range(2):
        numerical_gradient(g, x, batched=True, chunk_size=64)
    assert 6 in sizes[-6:]  # the second call probed on its own
    as_float32 = lambda s: f(s.astype(np.float32))  # noqa: E731
    g32, sizes32 = counting(as_float32)
    for _ in range(2):
        numerical_gradient(g32, x, batched=True)
    half = len(sizes32) // 2
    assert sizes32[:half] == sizes32[half:]  # the same calls both times
    assert not any(key[0] == id(g32) for key in steps._LAST_STEPS)


def test_at_most_last_steps_kept_entries():
    x = RNG.standard_normal(100)
    fs = [lambda s, c=c: c * (s**2).sum(axis=-1) for c in range(1, nm.LAST_STEPS_KEPT + 4)]
    for f in fs:
        numerical_gradient(f, x, batched=True)
    assert len(steps._LAST_STEPS) == nm.LAST_STEPS_KEPT
    assert (id(fs[-1]), "numerical_gradient", x.shape, x.dtype.str) in steps._LAST_STEPS


def test_f_raising_in_the_joined_call_says_so_and_leaves_x():
    calls = []

    def f(s):
        calls.append(len(s))
        if len(calls) > 3:
            raise RuntimeError("boom")
        return softmax_ce(s)

    x = Z.copy()
    numerical_gradient(f, x, batched=True)
    with pytest.raises(RuntimeError, match="boom") as info:
        numerical_gradient(f, x, batched=True)
    assert f"a stack of {6 + 2 * x.size + nm.TRUNCATION_SAMPLE} points; x is unchanged" in str(info.value.__notes__)
    assert x.tobytes() == Z.tobytes()

"""The repeated-call path (a batched f's later calls at a small x) returns bitwise what the general engine
returns, from the same stacks of points in the same calls of f, keeps the same steps for the next call, and
hands over what it does not finish."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from smooth_batched import SMOOTH

from numgrad.common import numerics as nm
from numgrad.common.guard import MutatedArgumentError
from numgrad.differences import repeated, steps
from numgrad.differences.gradient import numerical_gradient

RNG = np.random.default_rng(23)
Z, LABELS = 3 * RNG.standard_normal((10, 10)), RNG.integers(0, 10, 10)
TARGET = RNG.random((10, 10))


def softmax_ce(s):  # the truncation test applies (n = 100) and the refinement flags nothing
    shifted = s - s.max(axis=-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(logp, np.broadcast_to(LABELS[:, None], (*s.shape[:-1], 1)), axis=-1)
    return -picked.mean(axis=(-1, -2))


def mse(s):  # a quadratic: the refinement measures its first suspects at every call
    return 0.5 * ((s - TARGET) ** 2).sum(axis=(-1, -2))


CASES = {
    "softmax-CE (10,10)": (softmax_ce, Z),
    "MSE (10,10)": (mse, RNG.random((10, 10))),
    "sin n=10 (no truncation test)": (lambda s: np.sin(s).sum(axis=-1), RNG.standard_normal(10)),
    "Rosenbrock n=100 (halved steps)": (
        lambda s: (100 * (s[:, 1:] - s[:, :-1] ** 2) ** 2 + (1 - s[:, :-1]) ** 2).sum(axis=-1),
        np.full(100, 1.5),
    ),
    "log near 0 n=20": (lambda s: np.log(s).sum(axis=-1), RNG.uniform(1e-3, 1.0, 20)),
    "sqrt at 1e-9 (steps shrunk)": (
        lambda s: np.sqrt(s).sum(axis=-1),
        np.array([1e-9, 0.5, 2.0, 3.0, 4.0, 5.0]),
    ),
    "float32 values n=100": (
        lambda s: (np.sin(s) * s).sum(axis=-1).astype(np.float32),
        RNG.standard_normal(100),
    ),
    "n=1": (lambda s: np.cos(s).sum(axis=-1), np.array([0.7])),
    "0-d x": (np.exp, np.array(0.3)),
    "n=178 (one stack, at most)": (lambda s: np.cosh(s / 3).sum(axis=-1), RNG.standard_normal(178)),
}


def recorded(f):
    """f, and every stack it was called with (copies)."""
    seen: list[bytes] = []

    def g(s):
        seen.append(np.ascontiguousarray(s).tobytes())
        return f(s)

    return g, seen


def session(f, x, *, path: bool):
    """What a user's loop sees: 4 calls at x, then 3 descent steps (x moves, the steps may change), with the
    repeated path on or off: each gradient (or the error that ended the loop), the stacks f saw, and the
    steps kept after each call."""
    steps._LAST_STEPS.clear()
    g, seen = recorded(f)
    out = []
    with pytest.MonkeyPatch.context() as mp:
        if not path:
            mp.setattr(repeated, "eligible", lambda *args: False)
        x = x.copy()
        for call in range(7):
            try:
                grad = numerical_gradient(g, x, batched=True)
            except (FloatingPointError, ValueError) as exc:  # a step left f's domain: the same error
                out.append((type(exc).__name__, str(exc), len(seen)))
                break
            kept = [(s.tobytes(), halved, None if head is None else head.tobytes())
                    for s, halved, head in steps._LAST_STEPS.values()]  # fmt: skip
            out.append((grad.tobytes(), grad.shape, grad.dtype, len(seen), kept))
            if call >= 3:  # uphill, by at most 0.05 a coordinate (away from log's and sqrt's edge at 0)
                x = x + 0.05 * grad / (1 + np.abs(grad).max())
    return out, seen


@pytest.mark.parametrize("name", CASES)
def test_same_bits_stacks_and_kept_steps_as_the_general_engine(name):
    f, x = CASES[name]
    fast, fast_seen = session(f, x, path=True)
    slow, slow_seen = session(f, x, path=False)
    assert fast == slow
    assert fast_seen == slow_seen  # the same points, in the same calls of f: none evaluated twice


@given(
    x=hnp.arrays(np.float64, st.integers(1, 120), elements=st.floats(-20, 20, allow_subnormal=False)),
    which=st.sampled_from(sorted(SMOOTH)),
)
def test_property_same_bits_and_stacks_as_the_general_engine(x, which):
    f = SMOOTH[which]
    fast, fast_seen = session(f, x, path=True)
    slow, slow_seen = session(f, x, path=False)
    assert fast == slow
    assert fast_seen == slow_seen


def test_a_later_call_is_one_call_of_f_finished_by_the_path():
    g, seen = recorded(softmax_ce)
    numerical_gradient(g, Z, batched=True)
    seen.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(repeated, "difference", lambda *a, **k: pytest.fail("handed over"))
        grad = numerical_gradient(g, Z, batched=True)
    assert len(seen) == 1
    assert len(seen[0]) == (6 + 2 * Z.size + nm.TRUNCATION_SAMPLE) * Z.size * 8  # bytes: 210 points
    e = np.exp(Z - Z.max(axis=-1, keepdims=True))
    exact = (e / e.sum(axis=-1, keepdims=True) - np.eye(10)[LABELS]) / len(Z)
    assert np.abs(grad - exact).max() <= nm.accuracy("central", np.float64) * np.abs(exact).max()


def test_the_refinements_first_points_share_the_call():
    x = RNG.random((10, 10))
    g, seen = recorded(mse)
    numerical_gradient(g, x, batched=True)
    head = next(iter(steps._LAST_STEPS.values()))[2]
    assert head is not None  # a quadratic: every coordinate flagged, the worst first
    assert head.size > 0
    seen.clear()
    grad = numerical_gradient(g, x, batched=True)
    assert len(seen) == 1  # probe, pass and the refinement's x ± h/2 at the head: one call
    exact = x - TARGET
    assert np.abs(grad - exact).max() <= nm.accuracy("central", np.float64) * np.abs(exact).max()


@pytest.mark.parametrize(
    "options",
    [{"h": 1e-4}, {"method": "forward"}, {"chunk_size": 7}, {"x": Z.astype(np.float32)}, {"x": Z.tolist()}],
    ids=["explicit h", "forward", "chunk_size", "float32 x", "list x"],
)
def test_other_calls_never_take_the_path(options):
    x = options.pop("x", Z)
    numerical_gradient(softmax_ce, x, batched=True, **options)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(repeated, "gradient", lambda *a: pytest.fail("took the repeated path"))
        numerical_gradient(softmax_ce, x, batched=True, **options)


def test_f_writing_into_its_stack_or_into_x_is_named_and_x_restored():
    x, calls = Z.copy(), []

    def into_stack(s):  # writes into its argument from its fourth call: the path's stack
        calls.append(1)
        if len(calls) > 3:
            s[0, 0, 0] = 1.0
        return softmax_ce(s)

    numerical_gradient(into_stack, x, batched=True)
    with pytest.raises(MutatedArgumentError, match="read-only stack of 210 points"):
        numerical_gradient(into_stack, x, batched=True)
    calls.clear()

    def into_x(s):  # reads its parameters from a closure, and writes into them from its fourth call
        calls.append(1)
        if len(calls) > 3:
            x[1, 2] += 1.0
        return softmax_ce(s)

    numerical_gradient(into_x, x, batched=True)
    with pytest.raises(MutatedArgumentError, match=r"element \(1, 2\) of x changed"):
        numerical_gradient(into_x, x, batched=True)
    assert x.tobytes() == Z.tobytes()

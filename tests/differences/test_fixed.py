"""The fixed-step path (a batched f at an explicit h, x in one stack) returns bitwise what the general path
returns, from the same one stack of points, and fails, warns and guards as the general path does."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from smooth_batched import SMOOTH

from numgrad.common import numerics as nm
from numgrad.common.guard import MutatedArgumentError, NumericalWarning
from numgrad.differences import fixed
from numgrad.differences import stacks as stk
from numgrad.differences.gradient import numerical_gradient

RNG = np.random.default_rng(29)
Z, LABELS = 3 * RNG.standard_normal((10, 10)), RNG.integers(0, 10, 10)
TARGET = RNG.random((10, 10))
# the largest x whose 2n points the general path hands to f in one stack
ONE_STACK = max(n for n in range(1, 400) if len(stk.chunk_bounds(2 * n, 8 * n, nm.CHUNK_BYTES)) == 1)


def softmax_ce(s):
    shifted = s - s.max(axis=-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(logp, np.broadcast_to(LABELS[:, None], (*s.shape[:-1], 1)), axis=-1)
    return -picked.mean(axis=(-1, -2))


def mse(s):
    return 0.5 * ((s - TARGET) ** 2).sum(axis=(-1, -2))


def shaped_badly(s):
    return np.zeros(len(s) + 1)


def raises(s):
    raise KeyError("inside f")


def read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


CASES = {
    "softmax-CE (10,10), h=1e-4": (softmax_ce, Z, 1e-4),
    "MSE (10,10), h=1e-4": (mse, RNG.random((10, 10)), 1e-4),
    "sin n=10, h=0.5": (lambda s: np.sin(s).sum(axis=-1), RNG.standard_normal(10), 0.5),
    "n=1": (lambda s: np.cos(s).sum(axis=-1), np.array([0.7]), 1e-5),
    "0-d x": (np.exp, np.array(0.3), 1e-4),
    "one stack, at most": (lambda s: np.cosh(s / 3).sum(axis=-1), RNG.standard_normal(ONE_STACK), 1e-4),
    "two stacks (the general path)": (
        lambda s: np.cosh(s).sum(axis=-1),
        RNG.standard_normal(ONE_STACK + 1),
        1e-4,
    ),
    "float32 values": (
        lambda s: (np.sin(s) * s).sum(axis=-1).astype(np.float32),
        RNG.standard_normal(50),
        1e-3,
    ),
    "signed zeros": (lambda s: -0.0 * s.sum(axis=-1), np.zeros(4), 1e-4),
    "integer values": (lambda s: np.round(s * 1e4).astype(np.int64).sum(axis=-1), RNG.random(6), 1e-2),
    "x + h rounds (warns)": (lambda s: s.sum(axis=-1), np.array([1.0, 3e11]), 1e-4),
    "x + h == x (raises)": (lambda s: s.sum(axis=-1), np.array([1.0, 1e21]), 1e-4),
    "log below 0 (raises)": (lambda s: np.log(s).sum(axis=-1), np.array([0.5, 5e-5, 2.0]), 1e-4),
    "overflowing quotient (raises)": (
        lambda s: np.where(s[:, 0] > 1, 1e308, -1e308),
        np.array([1.0, 2.0]),
        1e-10,
    ),
    "non-finite x (the general path says so)": (lambda s: s.sum(axis=-1), np.array([1.0, np.nan]), 1e-4),
    "wrong shape": (shaped_badly, Z, 1e-4),
    "a list of values": (lambda s: [float(v) for v in np.sin(s).sum(axis=(-1, -2))], Z, 1e-4),
    "transposed x (not contiguous)": (mse, RNG.random((10, 10)).T, 1e-4),
    "read-only x": (softmax_ce, read_only(Z), 1e-4),
    "empty x": (lambda s: s.sum(axis=-1), np.zeros(0), 1e-4),
    "f raises": (raises, Z, 1e-4),
}


def outcome(f, x, h, *, path: bool):
    """The gradient's bits (or the error and its notes), the warnings, the stacks f saw and x after."""
    seen: list[tuple[tuple[int, ...], bytes, bool]] = []

    def g(s):
        seen.append((s.shape, np.ascontiguousarray(s).tobytes(), s.flags.writeable))
        return f(s)

    x = x.copy(order="K") if x.flags.writeable else x  # x's layout (a transposed view stays one)
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if not path:
            mp.setattr(fixed, "eligible", lambda *args: False)
        try:
            grad = numerical_gradient(g, x, batched=True, h=h)
            got: tuple[object, ...] = (grad.tobytes(), grad.shape, grad.dtype)
        except Exception as exc:  # the same error, whichever it is
            got = (type(exc).__name__, str(exc), getattr(exc, "__notes__", None))
    # numgrad's own warnings name the caller's line (their stacklevel); NumPy's floating-point ones the
    # line of the operation that overflowed, which is each path's own
    said = [(w.category, str(w.message), w.filename if w.category is NumericalWarning else "")
            for w in caught]  # fmt: skip
    return got, said, seen, x.tobytes()


@pytest.mark.parametrize("name", CASES)
def test_same_bits_errors_warnings_and_stack_as_the_general_path(name):
    f, x, h = CASES[name]
    assert outcome(f, x, h, path=True) == outcome(f, x, h, path=False)


def test_the_cases_reach_what_they_name():
    """The comparisons above are not all of one kind: values, a warning, and errors of each kind."""
    kinds = {name: outcome(*CASES[name], path=True) for name in CASES}
    assert kinds["x + h rounds (warns)"][1][0][0] is NumericalWarning
    assert kinds["x + h rounds (warns)"][1][0][2] == __file__  # pointed at the caller's line
    assert kinds["x + h == x (raises)"][0][0] == "ValueError"
    assert "does not move x at index (1,)" in kinds["x + h == x (raises)"][0][1]
    assert kinds["log below 0 (raises)"][0][0] == "FloatingPointError"
    assert "x ± h at index (1,)" in kinds["log below 0 (raises)"][0][1]
    assert kinds["overflowing quotient (raises)"][0][0] == "FloatingPointError"
    assert "the difference quotient" in kinds["overflowing quotient (raises)"][0][1]
    assert kinds["f raises"][0][0] == "KeyError"
    assert kinds["empty x"][0][0] == "ValueError"
    assert kinds["wrong shape"][0][0] == "ValueError"
    assert (
        kinds["signed zeros"][0][0] == np.zeros(4).tobytes()
    )  # +0.0: 0 + (−0.0) is +0.0 in the stencil's sum
    assert len(kinds["one stack, at most"][2]) == 1
    assert len(kinds["two stacks (the general path)"][2]) == 2


@given(
    x=hnp.arrays(
        np.float64, st.integers(1, ONE_STACK + 8), elements=st.floats(-20, 20, allow_subnormal=False)
    ),
    h=st.sampled_from([1e-4, 1e-6, 1e-3, 0.25]),
    which=st.sampled_from(sorted(SMOOTH)),
)
def test_property_same_bits_and_stack_as_the_general_path(x, h, which):
    f = SMOOTH[which]
    assert outcome(f, x, h, path=True) == outcome(f, x, h, path=False)


def test_one_call_of_f_on_the_textbook_points():
    seen = []

    def g(s):
        seen.append(np.array(s))
        return softmax_ce(s)

    grad = numerical_gradient(g, Z, batched=True, h=1e-4)
    assert len(seen) == 1
    assert seen[0].shape == (2 * Z.size, *Z.shape)
    rows = seen[0].reshape(2 * Z.size, -1) - Z.reshape(1, -1)
    expected = np.concatenate([np.eye(Z.size), -np.eye(Z.size)]) * 1e-4
    assert np.abs(rows - expected).max() <= 4 * nm.eps(np.float64) * np.abs(Z).max()
    e = np.exp(Z - Z.max(axis=-1, keepdims=True))
    exact = (e / e.sum(axis=-1, keepdims=True) - np.eye(10)[LABELS]) / len(Z)
    assert np.abs(grad - exact).max() <= 1e-7 * np.abs(exact).max()  # the textbook step's truncation


@pytest.mark.parametrize(
    "options",
    [
        {"h": None},
        {"h": 1},
        {"h": np.float64(1e-4)},
        {"h": np.full((10, 10), 1e-4)},
        {"method": "forward"},
        {"chunk_size": 7},
        {"x": Z.astype(np.float32)},
        {"x": Z.tolist()},
        {"batched": False},
    ],
    ids=[
        "automatic step",
        "int h",
        "NumPy h",
        "array h",
        "forward",
        "chunk_size",
        "float32 x",
        "list x",
        "element",
    ],
)
def test_other_calls_never_take_the_path(options):
    x, h = options.pop("x", Z), options.pop("h", 1e-4)
    batched = options.pop("batched", True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fixed, "gradient", lambda *a: pytest.fail("took the fixed-step path"))
        numerical_gradient(softmax_ce if batched else mse, x, batched=batched, h=h, **options)


def test_f_writing_into_its_stack_or_into_x_is_named_and_x_restored():
    x = Z.copy()

    def into_stack(s):
        s[0, 0, 0] = 1.0
        return softmax_ce(s)

    with pytest.raises(MutatedArgumentError, match="read-only stack of 200 points"):
        numerical_gradient(into_stack, x, batched=True, h=1e-4)

    def into_x(s):  # reads its parameters from a closure, and writes into them
        x[1, 2] += 1.0
        return softmax_ce(s)

    with pytest.raises(MutatedArgumentError, match=r"element \(1, 2\) of x changed"):
        numerical_gradient(into_x, x, batched=True, h=1e-4)
    assert x.tobytes() == Z.tobytes()


@pytest.mark.parametrize(
    "name", ["a list of values", "transposed x (not contiguous)", "read-only x", "n=1", "0-d x"]
)
def test_the_path_finishes_these_calls(name, monkeypatch):
    f, x, h = CASES[name]
    finished = []
    original = fixed.gradient
    monkeypatch.setattr(fixed, "gradient", lambda *a: finished.append(original(*a)) or finished[-1])
    numerical_gradient(f, x, batched=True, h=h)
    assert len(finished) == 1
    assert finished[0] is not None

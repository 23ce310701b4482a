"""Property tests of the contract: an f that writes into its argument, raises, or returns a non-finite
value at a random call gets a clear error or a correct result, and the caller's x is bitwise unchanged."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import numgrad as ng

BEHAVIOURS = ("writes", "raises", "nan", "inf")
CALLS = {
    "numerical_gradient": ng.numerical_gradient,
    "numerical_gradient-forward": lambda f, x: ng.numerical_gradient(f, x, method="forward"),
    "numerical_gradient-richardson": lambda f, x: ng.numerical_gradient(f, x, method="richardson"),
    "numerical_gradient-h": lambda f, x: ng.numerical_gradient(f, x, h=1e-4),
    "check_gradient": lambda f, x: ng.check_gradient(f, x, 2 * x).numerical_values,
    "check_gradient-fast": lambda f, x: ng.check_gradient(f, x, 2 * x, mode="fast").numerical_values,
}


class PlantedError(Exception):
    """Raised by the hostile f: the caller sees exactly this exception."""


class Hostile:
    """``sum(v**2)``, except at call number `at`, where it misbehaves once in the way `how` says."""

    def __init__(self, how: str, at: int, where: int) -> None:
        self.how, self.at, self.where, self.calls, self.struck = how, at, where, 0, False

    def __call__(self, v: Any) -> Any:
        self.calls += 1
        if self.calls - 1 != self.at:
            return np.sum(v**2)
        self.struck = True
        if self.how == "writes":
            flat = v.reshape(-1)
            flat[self.where % flat.size] += 1.0
            return np.sum(v**2)
        if self.how == "raises":
            raise PlantedError("planted failure")
        return np.nan if self.how == "nan" else np.inf


points = arrays(np.float64, array_shapes(min_dims=1, max_dims=2, max_side=4), elements=st.floats(-3, 3))


@given(
    x=points,
    how=st.sampled_from(BEHAVIOURS),
    at=st.integers(0, 40),
    where=st.integers(0, 15),
    call=st.sampled_from(sorted(CALLS)),
)
def test_hostile_f_gets_an_error_or_a_right_answer_and_x_is_unchanged(x, how, at, where, call):
    before = x.copy()
    f = Hostile(how, at, where)
    expected = {"writes": ng.MutatedArgumentError, "raises": PlantedError, "nan": FloatingPointError,
                "inf": FloatingPointError}[how]  # fmt: skip
    try:
        result = CALLS[call](f, x)
    except expected as exc:
        note(f"raised {type(exc).__name__}: {exc}")
        assert f.struck
    else:
        note(f"calls={f.calls} struck={f.struck}")
        # a non-finite value at a step numgrad chose is shrunk away; nothing else may go unnoticed
        assert not f.struck or (how in ("nan", "inf") and call in ("numerical_gradient", "check_gradient",
                                "numerical_gradient-forward", "numerical_gradient-richardson",
                                "check_gradient-fast"))  # fmt: skip
        assert np.all(np.isfinite(result))
        if call in ("numerical_gradient", "numerical_gradient-richardson"):
            np.testing.assert_allclose(result, 2 * before, rtol=1e-5, atol=1e-5)
    assert x.tobytes() == before.tobytes()


@given(x=points, at=st.integers(0, 40), how=st.sampled_from(BEHAVIOURS))
def test_hostile_f_in_gradient_descent(x, at, how):
    before = x.copy()
    f = Hostile(how, at, 0)
    try:
        r = ng.gradient_descent(f, x, lr=0.1, step_num=5)
    except (ng.MutatedArgumentError, PlantedError, ValueError) as exc:
        note(f"{type(exc).__name__}: {exc}")
        assert f.struck
    else:
        # a non-finite value ends the run as "diverged", or was at a probe point numgrad stepped around
        assert not f.struck or how in ("nan", "inf")
        if f.struck and r.status != "diverged":
            clean = ng.gradient_descent(lambda v: np.sum(v**2), before, lr=0.1, step_num=5)
            np.testing.assert_allclose(r.x, clean.x, rtol=1e-6, atol=1e-8)
    assert x.tobytes() == before.tobytes()


@pytest.mark.parametrize("how", BEHAVIOURS)
def test_every_behaviour_is_met_at_the_first_call(how):
    x = np.array([1.0, 2.0])
    with pytest.raises((ng.MutatedArgumentError, PlantedError, FloatingPointError)):
        ng.numerical_gradient(Hostile(how, 0, 1), x)
    assert x.tolist() == [1.0, 2.0]

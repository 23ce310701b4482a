"""Re-using the automatic step along a sequence of points (gradient descent's gradients)."""

from __future__ import annotations

import numpy as np
import pytest

from numgrad.common import numerics as nm
from numgrad.differences.gradient import numerical_gradient
from numgrad.differences.reuse import StepReuse


def quartic(x):
    return float(np.sum(x**4 / 4 + np.sin(x)))


def normwise(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("n", [2, nm.SMALL_N + 4], ids=["small path", "general path"])
def test_reused_steps_keep_the_accuracy_and_save_probes(n):
    memory = StepReuse(quartic)
    x = np.linspace(-1.5, 1.2, n)
    for _ in range(30):
        g = memory.gradient(x, quartic(x))
        assert normwise(g, x**3 + np.cos(x)) <= nm.accuracy("central", np.float64)
        x = x - 0.05 * g
    assert 1 <= memory.probes < 10
    assert memory.nfev >= 30 * 2 * n + memory.probes * nm.probe_size(n)


def test_a_change_of_scale_probes_again():
    f = lambda x: float(np.sum(x**2))  # noqa: E731
    memory = StepReuse(f)
    x = np.array([3.0, 4.0])
    memory.gradient(x, f(x))
    memory.gradient(x * 1.01, f(x * 1.01))
    assert memory.probes == 1
    far = x * 10  # |x_i| ten times larger: the step must follow
    g = memory.gradient(far, f(far))
    assert memory.probes == 2
    assert g.tolist() == numerical_gradient(f, far.copy()).tolist()


def test_the_first_gradient_is_the_engines():
    memory = StepReuse(quartic)
    x = np.array([0.3, -0.7, 1.1])
    assert memory.gradient(x, quartic(x)).tobytes() == numerical_gradient(quartic, x.copy()).tobytes()


def test_non_finite_near_x_is_an_error():
    f = lambda x: float(np.sum(np.log(x)))  # noqa: E731
    memory = StepReuse(f)
    with pytest.raises(FloatingPointError, match="non-finite"):
        memory.gradient(np.array([-1.0, 1.0]), 0.0)


def _never_settled(mp):
    """StepReuse re-measuring at every step, as before the refinement's verdict was kept."""
    original = StepReuse._passed

    def passed(self, *args):
        original(self, *args)
        self.settled = False

    mp.setattr(StepReuse, "_passed", passed)


def test_a_refinement_that_found_nothing_is_not_repeated_while_the_steps_are_reused():
    f = lambda x: float(x[0] ** 2 + x[1] ** 2)  # noqa: E731  (the stencil is exact: refinement idle)
    memory = StepReuse(f)
    x = np.array([1e-3, -2e-3])  # near the minimum: the truncation test flags both coordinates
    memory.gradient(x, f(x))
    assert memory.settled
    spent = memory.nfev
    for k in range(1, 4):
        y = x * (1 - 0.01 * k)  # the same scale: the steps and the verdict are kept
        g = memory.gradient(y, f(y))
        assert memory.nfev - spent == 2 * len(x)  # the difference points only
        spent = memory.nfev
        assert normwise(g, 2 * y) <= nm.accuracy("central", np.float64)
    assert memory.probes == 1
    far = x * 100  # a new scale: probed, and refined, afresh
    memory.gradient(far, f(far))
    assert memory.probes == 2


def test_truncation_found_keeps_the_refinement_running():
    f = lambda x: float(np.exp(40 * x[0]) + x[1] ** 2)  # noqa: E731  (short length scale along x0)
    memory = StepReuse(f)
    x = np.array([0.05, 1e-3])
    memory.gradient(x, f(x))
    assert not memory.settled
    y = x * 0.999
    before = memory.nfev
    g = memory.gradient(y, f(y))
    assert memory.nfev - before > 2 * len(x)  # re-measured again
    assert normwise(g, np.array([40 * np.exp(40 * y[0]), 2 * y[1]])) <= nm.accuracy("central", np.float64)


DESCENTS = {
    "book": (lambda x: x[0] ** 2 + x[1] ** 2, [-3.0, 4.0], 0.1),
    "quartic": (quartic, [1.5, -0.5, 0.25], 0.05),
    "log-sum-exp": (lambda x: float(np.log(np.sum(np.exp(3 * x))) + np.sum(x**2)), [0.5, -1.0, 2.0], 0.05),
    "16 elements": (lambda x: float(np.sum(x**2)), np.linspace(-3, 4, 16).tolist(), 0.1),
    "general path": (lambda x: float(np.sum(x**2)), np.linspace(-3, 4, nm.SMALL_N + 4).tolist(), 0.1),
}


@pytest.mark.parametrize("name", list(DESCENTS))
def test_descent_keeping_the_verdict_stays_within_the_engines_error_of_the_full_run(name):
    """The path with the refinement's verdict kept differs from the path re-measured at every step by
    less than the engine's own error estimate of the gradients taken so far, times the learning rate
    (and where no verdict was kept, by nothing); it never evaluates f more."""
    from numgrad.book.optimize import gradient_descent
    from numgrad.differences.estimate import estimate_gradient

    f, start, lr = DESCENTS[name]
    calls = []
    counted = lambda v: calls.append(1) or f(v)  # noqa: E731
    kept = gradient_descent(counted, np.array(start), lr, 100)
    spent, calls[:] = len(calls), []
    with pytest.MonkeyPatch.context() as mp:
        _never_settled(mp)
        full = gradient_descent(counted, np.array(start), lr, 100)
    assert spent <= len(calls)
    assert (kept.status, kept.steps) == (full.status, full.steps)
    error = [lr * float(np.max(estimate_gradient(f, p.copy()).error)) for p in full.path[:-1]]
    moved = np.abs(kept.path - full.path).reshape(len(full.path), -1).max(axis=1)
    assert np.all(moved[1:] <= np.cumsum(error))

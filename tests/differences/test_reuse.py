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

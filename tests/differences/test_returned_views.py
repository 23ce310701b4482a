"""An f that returns a view of its argument (np.ravel, v[0:1], v.reshape(-1)): in element-by-element mode
the argument is the caller's x, perturbed in place, so its value must be taken before x is put back.
Before, such an f's derivative was 0 (the value read after the restore) and check_gradient passed a zero
gradient and called the right one WRONG."""

from __future__ import annotations

import numpy as np
import pytest

import numgrad as ng


@pytest.mark.parametrize("f", [np.ravel, lambda v: v.reshape(-1)], ids=["ravel", "reshape"])
def test_a_jacobian_of_a_view_of_x_is_the_identity(f):
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(ng.jacobian(f, x).reshape(6, 6), np.eye(6), atol=1e-9)
    np.testing.assert_allclose(ng.estimate_jacobian(f, x).derivative.reshape(6, 6), np.eye(6), atol=1e-9)


@pytest.mark.parametrize("n", [2, 20])  # the small path and the general engine
def test_a_one_element_view_of_x_is_differenced_as_the_element(n):
    x = np.arange(1.0, n + 1)
    expected = np.zeros(n)
    expected[0] = 1.0
    np.testing.assert_allclose(ng.numerical_gradient(lambda v: v[0:1], x), expected, atol=1e-9)
    assert ng.check_gradient(lambda v: v[0:1], x, expected).passed
    assert not ng.check_gradient(lambda v: v[0:1], x, np.zeros(n)).passed


@pytest.mark.parametrize("f", [lambda z: np.array([np.sum(z**2).real]), lambda z: [np.sum(z**2).real]])
def test_a_one_element_real_result_for_complex_x_is_refused(f):
    with pytest.raises(TypeError, match="carry complex input through"):
        ng.numerical_gradient(f, np.array([3.0, 4.0]), method="complex")

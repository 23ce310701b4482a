"""The book's printed numbers (chapter 4, float64, h = 1e-4) reproduce exactly."""

import numpy as np
import pytest

import numgrad
from numgrad.differences.gradient import numerical_diff, numerical_gradient

Y2 = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
Y7 = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
T = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize(
    ("loss", "y", "expected"),
    [
        (numgrad.mean_squared_error, Y2, 0.09750000000000003),
        (numgrad.mean_squared_error, Y7, 0.5975),
        (numgrad.cross_entropy_error, Y2, 0.510825457099338),
        (numgrad.cross_entropy_error, Y7, 2.302584092994546),
    ],
    ids=["mse", "mse-index7", "ce", "ce-index7"],
)
def test_book_losses(loss, y, expected):
    assert float(loss(np.array(y), np.array(T))) == expected


@pytest.mark.parametrize(("x", "expected"), [(5.0, 0.1999999999990898), (10.0, 0.2999999999986347)])
def test_book_numerical_diff(x, expected):
    assert numerical_diff(lambda t: 0.01 * t**2 + 0.1 * t, x, h=1e-4) == expected


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ((3.0, 4.0), [6.00000000000378, 7.999999999999119]),
        ((0.0, 2.0), [0.0, 4.000000000004]),
        ((3.0, 0.0), [6.000000000012662, 0.0]),
    ],
)
def test_book_numerical_gradient(point, expected):
    g = numerical_gradient(lambda x: x[0] ** 2 + x[1] ** 2, np.array(point), h=1e-4)
    assert g.tolist() == expected

"""An f (or grad) that writes into the caller's x from a closure, not through its argument: every public
derivative function restores x and says so (MutatedArgumentError). Before, these calls returned a result
and left x changed (numerical_gradient and check_gradient already caught it)."""

from __future__ import annotations

import numpy as np
import pytest

import numgrad as ng

CALLS = {
    "hessian batched": lambda f, fb, g, x: ng.hessian(fb, x, batched=True),
    "estimate_hessian batched": lambda f, fb, g, x: ng.estimate_hessian(fb, x, batched=True),
    "estimate_gradient batched": lambda f, fb, g, x: ng.estimate_gradient(fb, x, batched=True),
    "jacobian": lambda f, fb, g, x: ng.jacobian(lambda v: np.atleast_1d(f(v)), x),
    "jacobian batched": lambda f, fb, g, x: ng.jacobian(lambda s: fb(s)[:, None], x, batched=True),
    "hessian_vector_product": lambda f, fb, g, x: ng.hessian_vector_product(f, x, np.ones(2)),
    "hessian_vector_product batched": lambda f, fb, g, x: ng.hessian_vector_product(
        fb, x, np.ones(2), batched=True
    ),
    "hessian_vector_product grad": lambda f, fb, g, x: ng.hessian_vector_product(f, x, np.ones(2), grad=g),
    "directional_derivative": lambda f, fb, g, x: ng.directional_derivative(f, x, np.ones(2)),
    "gradient_descent": lambda f, fb, g, x: ng.gradient_descent(f, x, lr=0.1, step_num=3),
    "gradient_descent grad": lambda f, fb, g, x: ng.gradient_descent(f, x, lr=0.1, step_num=3, grad=g),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_a_write_into_the_callers_x_from_a_closure_is_undone_and_said(call):
    x = np.array([3.0, 4.0])
    before = x.copy()

    def spoil() -> None:
        x[1] = 5.0

    def f(v):
        spoil()
        return float(np.sum(v**2))

    def fb(s):
        spoil()
        return np.sum(s**2, axis=-1)

    def g(v):
        spoil()
        return 2 * v

    with pytest.raises(ng.MutatedArgumentError, match=r"changed from 4\.0 to 5\.0"):
        call(f, fb, g, x)
    assert x.tobytes() == before.tobytes()


def test_directional_derivative_says_when_f_writes_into_its_argument():
    def f(v):
        v[0] += 1.0
        return float(np.sum(v**2))

    with pytest.raises(ng.MutatedArgumentError, match="directional_derivative: f wrote into its argument"):
        ng.directional_derivative(f, np.array([3.0, 4.0]), np.array([1.0, 0.0]))


def test_a_jacobian_of_a_0d_x_is_0d():
    # a 0-d x and a scalar output: reshape() of no sizes was a TypeError from inside numgrad
    assert ng.jacobian(lambda v: v**2, np.array(2.0)).shape == ()
    assert float(ng.jacobian(lambda v: v**2, 2.0)) == pytest.approx(4.0, rel=1e-9)


def test_jacobian_validates_its_arguments_before_f_runs():
    calls = []

    def f(v):
        calls.append(1)
        return 2 * v

    for bad in ({"method": "nope"}, {"h": -1.0}, {"chunk_size": 0}):
        with pytest.raises(ValueError, match="jacobian"):
            ng.jacobian(f, np.ones(3), **bad)
    assert calls == []


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda f, x, v, h: ng.directional_derivative(f, x, v, h=h), 6.0),
        (lambda f, x, v, h: ng.hessian_vector_product(f, x, v, h=h), [2.0, 0.0]),
    ],
    ids=["directional_derivative", "hessian_vector_product"],
)
def test_a_given_step_that_does_not_move_x_along_v_is_refused(call, expected):
    # h = 1e-17 at x = (3, 4): x ± h·v is x, and the derivative came back 0 with no word
    f, x, v = (lambda u: float(np.sum(u**2))), np.array([3.0, 4.0]), np.array([1.0, 0.0])
    with pytest.raises(ValueError, match=r"h=1e-17 does not move x along v"):
        call(f, x, v, 1e-17)
    assert call(f, x, v, 1e-6) == pytest.approx(expected, rel=1e-6, abs=1e-6)

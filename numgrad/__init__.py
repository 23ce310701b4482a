"""numgrad: numerical gradients you can trust."""

from numgrad.check import GradientReport, assert_gradient_close, check_gradient, plot_gradient_errors
from numgrad.functions import identity_function, relu, sigmoid, softmax, step_function
from numgrad.gradient import directional_derivative, jacobian, numerical_diff, numerical_gradient
from numgrad.losses import (
    binary_cross_entropy,
    cross_entropy_error,
    hinge_loss,
    huber_loss,
    mean_squared_error,
    softmax_cross_entropy,
    sum_squared_error,
)

__all__ = [
    "GradientReport",
    "assert_gradient_close",
    "binary_cross_entropy",
    "check_gradient",
    "cross_entropy_error",
    "directional_derivative",
    "hinge_loss",
    "huber_loss",
    "identity_function",
    "jacobian",
    "mean_squared_error",
    "numerical_diff",
    "numerical_gradient",
    "plot_gradient_errors",
    "relu",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "step_function",
    "sum_squared_error",
]

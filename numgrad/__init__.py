"""numgrad: numerical gradients you can trust."""

from numgrad.check import GradientReport, assert_gradient_close, check_gradient, plot_gradient_errors
from numgrad.data import epoch_batches, load_mnist, one_hot, sample_batch, stratified_split
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
from numgrad.nets import SimpleNet, TwoLayerNet
from numgrad.optimize import DescentResult, gradient_descent
from numgrad.train import (
    TrainHistory,
    TrainStep,
)  # train() stays numgrad.train.train: it would hide its module
from numgrad.tuning import SweepResult, Trial, TrialResult, grid_trials, random_trials, sweep

__all__ = [
    "DescentResult",
    "GradientReport",
    "SimpleNet",
    "SweepResult",
    "TrainHistory",
    "TrainStep",
    "Trial",
    "TrialResult",
    "TwoLayerNet",
    "assert_gradient_close",
    "binary_cross_entropy",
    "check_gradient",
    "cross_entropy_error",
    "directional_derivative",
    "epoch_batches",
    "gradient_descent",
    "grid_trials",
    "hinge_loss",
    "huber_loss",
    "identity_function",
    "jacobian",
    "load_mnist",
    "mean_squared_error",
    "numerical_diff",
    "numerical_gradient",
    "one_hot",
    "plot_gradient_errors",
    "random_trials",
    "relu",
    "sample_batch",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "step_function",
    "stratified_split",
    "sum_squared_error",
    "sweep",
]

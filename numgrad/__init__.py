"""numgrad: numerical gradients you can trust."""

from importlib.metadata import PackageNotFoundError, version

from numgrad.book.data import epoch_batches, load_mnist, one_hot, sample_batch, stratified_split
from numgrad.book.functions import identity_function, relu, sigmoid, softmax, step_function
from numgrad.book.losses import (
    binary_cross_entropy,
    cross_entropy_error,
    hinge_loss,
    huber_loss,
    mean_squared_error,
    softmax_cross_entropy,
    sum_squared_error,
)
from numgrad.book.nets import SimpleNet, TwoLayerNet
from numgrad.book.optimize import DescentResult, gradient_descent
from numgrad.book.training import TrainHistory, TrainStep, train
from numgrad.book.tuning import SweepResult, Trial, TrialResult, grid_trials, random_trials, sweep
from numgrad.checking.check import GradientReport, assert_gradient_close, check_gradient, plot_gradient_errors
from numgrad.common.guard import MutatedArgumentError, NumericalWarning
from numgrad.differences.gradient import directional_derivative, jacobian, numerical_diff, numerical_gradient

try:
    __version__ = version("numgrad")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "DescentResult",
    "GradientReport",
    "MutatedArgumentError",
    "NumericalWarning",
    "SimpleNet",
    "SweepResult",
    "TrainHistory",
    "TrainStep",
    "Trial",
    "TrialResult",
    "TwoLayerNet",
    "__version__",
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
    "train",
]

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
from numgrad.book.search import SearchComparison, compare_searches, sweep
from numgrad.book.training import TrainHistory, TrainStep, train
from numgrad.book.tuning import SweepResult, Trial, TrialResult, budget_grid, grid_trials, random_trials
from numgrad.checking.check import GradientReport, assert_gradient_close, check_gradient, plot_gradient_errors
from numgrad.checking.hessian import assert_hessian_close, check_hessian
from numgrad.checking.layers import LayersReport, check_layers
from numgrad.checking.vector import assert_jvp_close, assert_vjp_close, check_jacobian, check_jvp, check_vjp
from numgrad.common.guard import MutatedArgumentError, NumericalWarning
from numgrad.differences.estimate import Estimate, estimate_gradient, estimate_hessian, estimate_jacobian
from numgrad.differences.gradient import directional_derivative, jacobian, numerical_diff, numerical_gradient
from numgrad.differences.hessian import hessian, hessian_vector_product

try:
    __version__ = version("numgrad")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "DescentResult",
    "Estimate",
    "GradientReport",
    "LayersReport",
    "MutatedArgumentError",
    "NumericalWarning",
    "SearchComparison",
    "SimpleNet",
    "SweepResult",
    "TrainHistory",
    "TrainStep",
    "Trial",
    "TrialResult",
    "TwoLayerNet",
    "__version__",
    "assert_gradient_close",
    "assert_hessian_close",
    "assert_jvp_close",
    "assert_vjp_close",
    "binary_cross_entropy",
    "budget_grid",
    "check_gradient",
    "check_hessian",
    "check_jacobian",
    "check_jvp",
    "check_layers",
    "check_vjp",
    "compare_searches",
    "cross_entropy_error",
    "directional_derivative",
    "epoch_batches",
    "estimate_gradient",
    "estimate_hessian",
    "estimate_jacobian",
    "gradient_descent",
    "grid_trials",
    "hessian",
    "hessian_vector_product",
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

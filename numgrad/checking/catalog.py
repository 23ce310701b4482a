"""The built-in functions as checkable cases: seeded inputs, and a scalar objective for the gradient.

`numgrad check` and the twin tests share this table, so both look at the same functions the same way.
An activation becomes scalar as ``Σ w·act(x)`` with fixed positive weights w in [0.5, 1.5] (``Σ softmax``
alone is constant; weights of mixed sign would make the sum cancel and its rounding dominate).
Inputs stay away from kinks (ReLU at 0, hinge at the margin, Huber at ±delta) by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Each twinned module of numgrad_reference (the JAX twins) and the numgrad module it mirrors.
TWIN_OF = {
    "functions": "numgrad.book.functions",
    "losses": "numgrad.book.losses",
    "nets": "numgrad.book.nets",
    "optimize": "numgrad.book.optimize",
    "gradient": "numgrad.differences.gradient",
    "hessian": "numgrad.differences.hessian",
    "estimate": "numgrad.differences.estimate",
}
KINK_GAP = 0.2  # inputs stay this far from kinks: more than the largest step the engine takes (0.1·L)
Inputs = Callable[[np.random.Generator, np.dtype[Any], int, int], tuple[Any, ...]]


@dataclass(frozen=True)
class Case:
    """One built-in: module and name (the same in numgrad and reference), and how to draw its inputs.

    ``inputs(rng, dtype, batch, classes)`` returns the arguments; the first one is differentiated.
    """

    module: str  # "functions" or "losses"
    name: str
    inputs: Inputs
    activation: bool  # reduce with fixed weights to a scalar before differentiating
    variant: str = ""  # tells apart two cases of one function (hinge_loss: binary and multiclass)

    @property
    def label(self) -> str:
        """The row's name in `numgrad check` and its JSON: the function, and the variant when there is one."""
        return f"{self.name} ({self.variant})" if self.variant else self.name


def _normal(rng: np.random.Generator, dtype: Any, shape: tuple[int, ...], scale: float = 1.0) -> Any:
    return (scale * rng.standard_normal(shape)).astype(dtype)


def _away_from(rng: np.random.Generator, dtype: Any, shape: tuple[int, ...], gap: float) -> Any:
    """Normal draws pushed at least `gap` away from 0 (for kinks at 0)."""
    x = rng.standard_normal(shape)
    return (np.sign(x) * (np.abs(x) + gap)).astype(dtype)


def _probabilities(rng: np.random.Generator, dtype: Any, shape: tuple[int, ...]) -> Any:
    e = np.exp(rng.standard_normal(shape))
    return (e / e.sum(axis=-1, keepdims=True)).astype(dtype)


def _labels(rng: np.random.Generator, batch: int, classes: int) -> NDArray[np.int64]:
    return rng.integers(0, classes, size=batch)


def _hinge_binary(rng: np.random.Generator, dtype: Any, b: int, c: int) -> tuple[Any, ...]:
    t = rng.choice([-1.0, 1.0], size=(b, c)).astype(dtype)
    margin = _away_from(rng, np.float64, (b, c), KINK_GAP)  # 1 − t·y stays off 0
    return ((t * (1 - margin)).astype(dtype), t)


def _hinge_multiclass(rng: np.random.Generator, dtype: Any, b: int, c: int) -> tuple[Any, ...]:
    # Scores on a grid of spacing 2·KINK_GAP: differences are multiples of 0.4, never within 0.2 of 1.
    grid = rng.permuted(np.tile(np.arange(c), (b, 1)), axis=1) * (2 * KINK_GAP)
    return (grid.astype(dtype), _labels(rng, b, c))


def _huber(rng: np.random.Generator, dtype: Any, b: int, c: int) -> tuple[Any, ...]:
    r = _away_from(rng, np.float64, (b, c), 0.0) * 1.5
    r = np.where(
        np.abs(np.abs(r) - 1.0) < KINK_GAP, np.sign(r) * (1.0 + 2 * KINK_GAP), r
    )  # off the switch at |r| = delta = 1
    t = _normal(rng, dtype, (b, c))
    return ((t + r).astype(dtype), t)


CASES: tuple[Case, ...] = (
    Case("functions", "identity_function", lambda r, d, b, c: (_normal(r, d, (b, c)),), True),
    Case("functions", "sigmoid", lambda r, d, b, c: (_normal(r, d, (b, c), 3.0),), True),
    Case("functions", "softmax", lambda r, d, b, c: (_normal(r, d, (b, c), 3.0),), True),
    Case("functions", "relu", lambda r, d, b, c: (_away_from(r, d, (b, c), KINK_GAP),), True),
    Case("functions", "step_function", lambda r, d, b, c: (_away_from(r, d, (b, c), KINK_GAP),), True),
    Case(
        "losses",
        "mean_squared_error",
        lambda r, d, b, c: (_normal(r, d, (b, c)), _normal(r, d, (b, c))),
        False,
    ),
    Case(
        "losses",
        "cross_entropy_error",
        lambda r, d, b, c: (_probabilities(r, d, (b, c)), _labels(r, b, c)),
        False,
    ),
    Case(
        "losses",
        "softmax_cross_entropy",
        lambda r, d, b, c: (_normal(r, d, (b, c), 3.0), _labels(r, b, c)),
        False,
    ),
    Case(
        "losses",
        "binary_cross_entropy",
        lambda r, d, b, c: (r.uniform(0.05, 0.95, (b, c)).astype(d), r.integers(0, 2, (b, c)).astype(d)),
        False,
    ),
    Case("losses", "hinge_loss", _hinge_binary, False, "binary"),
    Case("losses", "huber_loss", _huber, False),
    Case("losses", "hinge_loss", _hinge_multiclass, False, "multiclass"),  # the same name: integer labels
)


def objective(fn: Callable[..., Any], case: Case, args: tuple[Any, ...], xp: Any) -> Callable[[Any], Any]:
    """The scalar function of the first argument that is differentiated (``xp``: numpy or jax.numpy)."""
    rest = args[1:]
    if not case.activation:
        return lambda a: fn(a, *rest)
    weights = np.linspace(0.5, 1.5, num=int(np.prod(np.shape(args[0])))).reshape(np.shape(args[0]))
    w = weights.astype(np.asarray(args[0]).dtype)
    return lambda a: xp.sum(w * fn(a, *rest))

"""Every built-in function against its JAX twin: values, and numerical gradients against jax.grad.

The library side of `numgrad check` (the command only prints). Needs JAX (the `jax` extra).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.checking.catalog import CASES, TWIN_OF, Case, objective
from numgrad.common import numerics as nm
from numgrad.differences.engine import make_problem
from numgrad.differences.steps import difference_with_error

DTYPES = ("float64", "float32")
# (batch, classes): one sample, odd sizes, a mini-batch. Each shape costs one XLA compilation per function
# and dtype (most of the command's time), so three shapes keep `numgrad check` to seconds.
SHAPES = ((1, 10), (7, 3), (32, 10))
# The twins' graphs run once each: compile time dominates, so XLA skips its backend optimisations
# (IEEE semantics are unchanged; this only stops LLVM from spending time on speed that is never used).
JAX_COMPILER_OPTIONS: dict[str, Any] = {"xla_backend_optimization_level": 0}


@dataclass(frozen=True)
class TwinRow:
    """One line of the report: a function at one dtype over all its drawn shapes."""

    function: str
    dtype: str
    cases: int
    value_error: float  # max relative difference of values, numgrad vs JAX twin
    gradient_error: float  # max normwise relative error of numerical_gradient vs jax.grad
    gradient_abs_error: float  # max |numerical_gradient − jax.grad| over all elements and cases
    value_tolerance: float
    gradient_tolerance: float  # the largest of the cases' tolerances (each from the engine's estimate)
    seconds: float

    within: bool  # every case within its own tolerance

    @property
    def passed(self) -> bool:
        return self.value_error <= self.value_tolerance and self.within

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def normwise_error(approx: NDArray[Any], exact: NDArray[Any]) -> float:
    """``max|approx − exact| / max|exact|`` (0 when both vanish)."""
    diff = float(np.max(np.abs(np.asarray(approx, np.float64) - np.asarray(exact, np.float64)), initial=0.0))
    scale = float(np.max(np.abs(np.asarray(exact, np.float64)), initial=0.0))
    return diff / scale if scale > 0 else diff


def twins(case: Case) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The numgrad function and its JAX twin, found by the same name."""
    ours = getattr(importlib.import_module(TWIN_OF[case.module]), case.name)
    theirs = getattr(importlib.import_module(f"numgrad_reference.{case.module}"), case.name)
    return ours, theirs


def compare(case: Case, dtype: str, batch: int, classes: int, seed: int) -> tuple[float, float, float, float]:
    """(value error, gradient error, gradient abs error, gradient tolerance) of one drawn input.

    The gradient tolerance comes from the engine's own error estimate (a second pass at twice the
    step), floored at the accuracy promised for the dtype.
    """
    ours, theirs = twins(case)
    args = case.inputs(np.random.default_rng(seed), np.dtype(dtype), batch, classes)
    mine = np.asarray(ours(*args))
    ref, exact = _jax_side(theirs, case, args)
    x = np.array(args[0])
    p = make_problem(
        "check", objective(ours, case, args, np), x, out_shape=None, method="central", batched=False,
        chunk_size=None, executor=None,
    )  # fmt: skip
    d, estimate = difference_with_error(p, None)
    scale = float(np.max(np.abs(exact), initial=0.0))
    tolerance = nm.estimated_tolerance("central", dtype, float(np.max(estimate, initial=0.0)), scale)
    numerical = d.derivative.reshape(x.shape)
    abs_error = float(np.max(np.abs(numerical - exact), initial=0.0))
    return normwise_error(mine, ref), normwise_error(numerical, exact), abs_error, tolerance


def _jax_side(theirs: Callable[..., Any], case: Case, args: tuple[Any, ...]) -> tuple[Any, Any]:
    """The twin's value and ``jax.grad`` of its objective, from one compiled graph (one compilation
    instead of one per primitive, as eager JAX would do for every new shape)."""
    import jax
    import jax.numpy as jnp

    rest, grad = args[1:], jax.grad(objective(theirs, case, args, jnp))
    x = jnp.asarray(args[0])
    both = jax.jit(lambda a: (theirs(a, *rest), grad(a))).lower(x).compile(JAX_COMPILER_OPTIONS)
    value, exact = both(x)
    return np.asarray(value), np.asarray(exact, dtype=np.float64)


def check_builtins(*, seed: int = 0, dtypes: tuple[str, ...] = DTYPES) -> Iterator[TwinRow]:
    """Yield one row per (function, dtype), as each finishes (for progress display)."""
    import numgrad_reference  # noqa: F401  (turns on float64 in JAX)

    for case in CASES:
        for dtype in dtypes:
            start = time.perf_counter()
            results = [compare(case, dtype, b, c, seed + i) for i, (b, c) in enumerate(SHAPES)]
            yield TwinRow(
                function=case.label,
                dtype=dtype,
                cases=len(results),
                value_error=max(r[0] for r in results),
                gradient_error=max(r[1] for r in results),
                gradient_abs_error=max(r[2] for r in results),
                value_tolerance=nm.value_rtol(dtype),
                gradient_tolerance=max(r[3] for r in results),
                within=all(r[1] <= r[3] for r in results),
                seconds=time.perf_counter() - start,
            )

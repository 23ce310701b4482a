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

from numgrad import _numerics as nm
from numgrad._catalog import CASES, Case, objective
from numgrad._engine import difference_with_error, make_problem

DTYPES = ("float64", "float32")
SHAPES = ((1, 10), (7, 3), (32, 10), (100, 10))  # (batch, classes): a sample, odd sizes, the book's


@dataclass(frozen=True)
class TwinRow:
    """One line of the report: a function at one dtype over all its drawn shapes."""

    function: str
    dtype: str
    cases: int
    value_error: float  # max relative difference of values, numgrad vs JAX twin
    gradient_error: float  # max normwise relative error of numerical_gradient vs jax.grad
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
    ours = getattr(importlib.import_module(f"numgrad.{case.module}"), case.name)
    theirs = getattr(importlib.import_module(f"reference.{case.module}"), case.name)
    return ours, theirs


def compare(case: Case, dtype: str, batch: int, classes: int, seed: int) -> tuple[float, float, float]:
    """(value error, gradient error, gradient tolerance) of one drawn input.

    The gradient tolerance comes from the engine's own error estimate (a second pass at twice the
    step), floored at the accuracy promised for the dtype.
    """
    import jax
    import jax.numpy as jnp

    ours, theirs = twins(case)
    args = case.inputs(np.random.default_rng(seed), np.dtype(dtype), batch, classes)
    mine, ref = np.asarray(ours(*args)), np.asarray(theirs(*args))
    x = np.array(args[0])
    p = make_problem(
        "check", objective(ours, case, args, np), x, out_shape=None, method="central", batched=False,
        chunk_size=None, executor=None,
    )  # fmt: skip
    d, estimate = difference_with_error(p, None)
    exact = np.asarray(jax.grad(objective(theirs, case, args, jnp))(jnp.asarray(x)), dtype=np.float64)
    scale = float(np.max(np.abs(exact), initial=0.0))
    tolerance = nm.estimated_tolerance("central", dtype, float(np.max(estimate, initial=0.0)), scale)
    return normwise_error(mine, ref), normwise_error(d.derivative.reshape(x.shape), exact), tolerance


def check_builtins(*, seed: int = 0, dtypes: tuple[str, ...] = DTYPES) -> Iterator[TwinRow]:
    """Yield one row per (function, dtype), as each finishes (for progress display)."""
    import reference  # noqa: F401  (turns on float64 in JAX)

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
                value_tolerance=nm.value_rtol(dtype),
                gradient_tolerance=max(r[2] for r in results),
                within=all(r[1] <= r[2] for r in results),
                seconds=time.perf_counter() - start,
            )

"""Shared body of the pytest-benchmark files: one method on one workload, with its error and f-evaluations
recorded next to the time (pytest-benchmark's table shows each time relative to the group's fastest)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from numgrad.bench import harness as nb

METHODS = nb.methods()


@functools.cache
def exact_gradient(name: str) -> Any:
    import jax
    import numgrad_reference  # noqa: F401  (float64)

    w = WORKLOADS[name]
    return np.asarray(jax.jit(jax.grad(w.jax_f))(w.x), dtype=np.float64)


WORKLOADS = {w.name: w for w in nb.workloads(full=True)}


def run(benchmark: Any, workload: str, method: str) -> None:
    w = WORKLOADS[workload]
    if method.startswith("scipy.differentiate") and w.n > nb.SCIPY_MAX_N:
        benchmark.extra_info["skipped"] = "scipy.differentiate stacks n×n×k points: gigabytes at this n"
        return
    benchmark.group = workload
    g, points = METHODS[method](w)
    exact = exact_gradient(workload)
    benchmark.extra_info.update(
        nfev=points, error_vs_jax=float(np.max(np.abs(g - exact)) / np.max(np.abs(exact)))
    )
    benchmark(METHODS[method], w)

"""Speed and accuracy of gradient methods side by side, measured in one run (`numgrad bench`).

Every row times one method on one workload and reports the median time, the ratio to the textbook loop
(how many times faster), the ratio to ``jax.grad`` under ``jit`` (how many times slower than autodiff),
the normwise relative error ``max|g − g_jax| / max|g_jax|``, and the number of points at which f was
evaluated. Ratios are taken within the run, never across runs: this machine is shared and noisy.
"""

from __future__ import annotations

import functools
import os
import platform
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from numgrad.bench.measure import (
    REPEATS,
    TIME_BUDGET,
    Array,
    BenchRow,
    Workload,
    book_workload,
    median_seconds,
    relative_error,
    textbook_gradient,
)
from numgrad.book.losses import mean_squared_error, softmax_cross_entropy
from numgrad.differences.gradient import numerical_gradient

__all__ = [
    "BenchRow",
    "Workload",
    "machine_info",
    "methods",
    "run_benchmarks",
    "textbook_gradient",
    "workloads",
]

SCIPY_MAX_N = 2000  # scipy.differentiate stacks n×n×k points: beyond this it needs gigabytes
SCALING_FIT_SIZES = 3  # the scaling exponent is fitted on at least this many sizes, or not printed


# --------------------------------------------------------------------------------------------------
# Workloads


def _softmax_ce(batch: int) -> Workload:
    import numgrad_reference.losses as rl

    rng = np.random.default_rng(batch)
    z, t = 3 * rng.standard_normal((batch, 10)), rng.integers(0, 10, batch)

    def stacked(s: Array) -> Array:  # written the natural way, not tuned for the engine
        shifted = s - s.max(axis=-1, keepdims=True)
        log_prob = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        picked = np.take_along_axis(log_prob, np.broadcast_to(t[:, None], (*s.shape[:-1], 1)), axis=-1)
        return np.asarray(-picked.mean(axis=(-1, -2)))

    return Workload(
        f"softmax-CE ({batch},10)", "softmax-ce", z,
        lambda w: softmax_cross_entropy(w, t), stacked, lambda w: rl.softmax_cross_entropy(w, t),
    )  # fmt: skip


def _mse(batch: int) -> Workload:
    import numgrad_reference.losses as rl

    rng = np.random.default_rng(batch + 1)
    y, t = rng.random((batch, 10)), rng.random((batch, 10))
    return Workload(
        f"MSE ({batch},10)", "mse", y,
        lambda w: mean_squared_error(w, t),
        lambda s: 0.5 * ((s - t) ** 2).sum(axis=(-1, -2)),
        lambda w: rl.mean_squared_error(w, t),
    )  # fmt: skip


def _smooth(n: int) -> Workload:
    """A smooth function with coupling: Σ log(1 + x_i²) + (Σ x_i / n)² (every f costs O(n))."""
    import jax.numpy as jnp

    x = np.random.default_rng(n).standard_normal(n)

    def stacked(s: Array) -> Array:
        return np.asarray(np.log1p(s**2).sum(axis=1) + (s.sum(axis=1) / n) ** 2)

    return Workload(
        f"smooth n={n}", "scaling", x,
        lambda v: float(np.log1p(v**2).sum() + (v.sum() / n) ** 2), stacked,
        lambda v: jnp.sum(jnp.log1p(v**2)) + (jnp.sum(v) / n) ** 2,
    )  # fmt: skip


QUICK = (
    ("book", 0),
    ("descent", 0),
    ("net-64", 0),
    ("softmax-ce", 10),
    ("softmax-ce", 100),
    ("mse", 100),
    ("scaling", 100),
    ("scaling", 300),  # three sizes where f's O(n) cost shows: the picture and the fitted slope
    ("scaling", 1000),
)
FULL = (
    ("book", 0), ("descent", 0), ("net-64", 0), ("net-784", 0),
    ("softmax-ce", 1), ("softmax-ce", 10), ("softmax-ce", 100),
    ("softmax-ce", 1000), ("mse", 100),
    ("scaling", 10), ("scaling", 100), ("scaling", 1000), ("scaling", 10000),
)  # fmt: skip
FAMILIES = tuple(dict.fromkeys(fam for fam, _ in FULL))  # what `numgrad bench --family` accepts
FACTORIES: dict[str, Callable[[int], Workload]] = {
    "book": book_workload, "softmax-ce": _softmax_ce, "mse": _mse, "scaling": _smooth,
}  # fmt: skip


def workloads(*, full: bool = False, families: tuple[str, ...] | None = None) -> list[Workload]:
    """The quick subset (under a minute with every method) or everything, optionally by family."""
    return [FACTORIES[fam](size) for fam, size in _chosen(full, families) if fam in FACTORIES]


def _chosen(full: bool, families: tuple[str, ...] | None) -> list[tuple[str, int]]:
    return [(fam, size) for fam, size in (FULL if full else QUICK) if families is None or fam in families]


# --------------------------------------------------------------------------------------------------
# Methods: each returns (gradient, points evaluated)


class _Counted:
    """Wraps f to count the points it is evaluated at (one per call, or the stack length if batched)."""

    def __init__(self, f: Callable[[Any], Any], batched: bool) -> None:
        self.f, self.batched, self.points = f, batched, 0

    def __call__(self, x: Any) -> Any:
        self.points += len(x) if self.batched else 1
        return self.f(x)


def _scipy_jacobian(w: Workload) -> tuple[Array, int]:
    from scipy.differentiate import jacobian

    count = _Counted(w.batched, True)

    def vectorized(xi: Array) -> Array:  # scipy passes (n, *k): points along axis 0
        rest = xi.shape[1:]
        points = np.moveaxis(xi.reshape(w.n, -1), 0, -1).reshape(-1, *w.x.shape)
        return np.asarray(count(points)).reshape(rest)

    res = jacobian(vectorized, w.x.reshape(-1))
    return np.asarray(res.df).reshape(w.x.shape), count.points


def _approx_fprime(w: Workload) -> tuple[Array, int]:
    from scipy.optimize import approx_fprime

    count = _Counted(lambda v: w.f(v.reshape(w.x.shape)), False)
    return np.asarray(approx_fprime(w.x.reshape(-1), count)).reshape(w.x.shape), count.points


def _numgrad(batched: bool, **options: Any) -> Callable[[Workload], tuple[Array, int]]:
    def run(w: Workload) -> tuple[Array, int]:
        count = _Counted(w.batched if batched else w.f, batched)
        g = numerical_gradient(count, w.x.copy(), batched=batched, **options)
        return np.asarray(g, dtype=np.float64), count.points

    return run


def _textbook(w: Workload) -> tuple[Array, int]:
    count = _Counted(w.f, False)
    return textbook_gradient(count, w.x.copy()), count.points


def _bound(w: Workload) -> tuple[Array, int]:
    """The 2n points of a central difference in one batched call: what every FD method must pay.

    Where the 2n stack would pass :data:`BOUND_BYTES` (the scaling family's n = 10,000: 1.6 GB, and f's
    temporaries as much again) it is evaluated in calls of at most that many bytes, from one buffer whose
    perturbed coordinates are set and put back per call, so no benchmark holds gigabytes."""
    n, row_bytes = w.n, w.x.nbytes
    rows = max(1, BOUND_BYTES // row_bytes)
    if 2 * n <= rows:
        cached = _bound_stacks.get(id(w))
        if cached is None or cached[0] is not w:  # the stack is built once per workload, not timed
            flat = np.repeat(w.x.reshape(1, -1), 2 * n, axis=0)
            idx = np.arange(n)
            flat[idx, idx] += 1e-4
            flat[n + idx, idx] -= 1e-4
            cached = _bound_stacks[id(w)] = (w, flat.reshape(2 * n, *w.x.shape))
        vals = np.asarray(w.batched(cached[1]))
    else:
        base = w.x.reshape(-1)
        buffer = np.repeat(base.reshape(1, -1), rows, axis=0)
        lanes, coords = np.arange(rows), np.tile(np.arange(n), 2)
        shifts = np.repeat([1e-4, -1e-4], n)
        parts = []
        for a in range(0, 2 * n, rows):
            k, c = min(rows, 2 * n - a), coords[a : a + rows]
            buffer[lanes[:k], c] = base[c] + shifts[a : a + k]
            parts.append(np.asarray(w.batched(buffer[:k].reshape(k, *w.x.shape))))
            buffer[lanes[:k], c] = base[c]
        vals = np.concatenate(parts)
    return np.asarray((vals[:n] - vals[n:]) / 2e-4).reshape(w.x.shape), 2 * n


BOUND_BYTES = 64 * 2**20  # the bound's largest stack (see _bound): f's temporaries are a few times this
# keyed by id, holding the workload itself: a cached stack never outlives (and is never mistaken for) its own
_bound_stacks: dict[int, tuple[Workload, Array]] = {}


def methods() -> dict[str, Callable[[Workload], tuple[Array, int]]]:
    """Name -> method. The textbook loop is the baseline; jax.grad (jit) the autodiff floor."""
    return {
        "textbook loop": _textbook,
        "numgrad element-by-element": _numgrad(False),
        "numgrad batched": _numgrad(True),
        "numgrad batched richardson": _numgrad(True, method="richardson"),
        "numgrad batched complex step": _numgrad(True, method="complex"),
        "bound: 2n evals in 1 call": _bound,
        "scipy.differentiate.jacobian": _scipy_jacobian,
        "scipy.optimize.approx_fprime": _approx_fprime,
    }


# --------------------------------------------------------------------------------------------------
# Measuring


def _jax_rows(
    w: Workload, repeats: int, budget: float
) -> tuple[Array, float, list[tuple[str, Array, float, int, str]]]:
    """jax.grad under jit (compile time apart) and the JAX finite-difference twin."""
    import jax
    import numgrad_reference.gradient as rg

    x = jax.numpy.asarray(w.x)
    grad = jax.jit(jax.grad(w.jax_f))
    start = time.perf_counter()
    exact = np.asarray(grad(x).block_until_ready(), dtype=np.float64)
    compile_s = time.perf_counter() - start
    t_grad = median_seconds(lambda: grad(x).block_until_ready(), repeats, budget)
    fd = rg.numerical_gradient(w.jax_f, w.x)
    t_fd = median_seconds(lambda: rg.numerical_gradient(w.jax_f, w.x), repeats, budget)
    rows = [
        ("jax.grad (jit)", exact, t_grad, 0, f"compile {compile_s * 1e3:.0f} ms, not included"),
        ("JAX finite-difference twin", np.asarray(fd, dtype=np.float64), t_fd, 2 * w.n, "jit(vmap(f))"),
    ]
    return exact, t_grad, rows


def run_benchmarks(
    *,
    full: bool = False,
    families: tuple[str, ...] | None = None,
    repeats: int = REPEATS,
    budget: float = TIME_BUDGET,
) -> Iterator[BenchRow]:
    """Yield rows workload by workload (for progress display)."""
    import numgrad_reference  # noqa: F401  (float64 in JAX)

    from numgrad.bench.families import NET_SIZES, descent_rows, net_rows

    chosen = _chosen(full, families)
    if any(fam == "descent" for fam, _ in chosen):
        yield from descent_rows(repeats=repeats, budget=budget)
    for fam, _ in chosen:
        if fam in NET_SIZES:
            yield from net_rows(fam, repeats=repeats, budget=budget)
    for w in workloads(full=full, families=families):
        exact, t_jax, jax_rows = _jax_rows(w, repeats, budget)
        timed: list[tuple[str, Array, float, int, str]] = []
        for name, method in methods().items():
            if name.startswith("scipy.differentiate") and w.n > SCIPY_MAX_N:
                continue
            g, points = method(w)
            seconds = median_seconds(functools.partial(method, w), repeats, budget)
            timed.append((name, g, seconds, points, ""))
        timed += jax_rows + _check_rows(w, exact, repeats, budget)
        t_book = next(t for name, _, t, _, _ in timed if name == "textbook loop")
        for name, g, t, points, note in timed:
            yield BenchRow(
                w.name, w.family, w.n, name, t, t_book / t, t / t_jax, relative_error(g, exact), points, note
            )


def _check_rows(
    w: Workload, exact: Array, repeats: int, budget: float
) -> list[tuple[str, Array, float, int, str]]:
    """check_gradient of the exact gradient, full and fast: its time, the full check's numerical values
    (the error column) and its verdict; fast mode has no per-element values, so its error is NaN."""
    from numgrad.checking.check import check_gradient

    rows = []
    for mode in ("full", "fast"):
        run = functools.partial(check_gradient, w.f, w.x.copy(), exact, mode=mode)
        report = run()
        values = report.numerical_values.reshape(w.x.shape) if mode == "full" else np.full(w.x.shape, np.nan)
        verdict = "passed" if report.passed else "FAILED on the exact gradient"
        rows.append(
            (
                f"numgrad check_gradient {mode}",
                values,
                median_seconds(run, repeats, budget),
                report.nfev,
                verdict,
            )
        )
    return rows


def machine_info() -> str:
    """CPU, cores, NumPy and its BLAS, for the header of every benchmark table."""
    config: Any = np.show_config(mode="dicts")
    blas_info = config.get("Build Dependencies", {}).get("blas", {})
    blas = f"BLAS {blas_info.get('name', 'unknown')} {blas_info.get('version', '')}".strip()
    cpu = platform.processor() or platform.machine()
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}, {blas}"
    )


def scaling_exponent(rows: list[BenchRow], method: str) -> float:
    """Least-squares slope of log(time) against log(n) over the scaling family, for one method; NaN with
    fewer than :data:`SCALING_FIT_SIZES` sizes."""
    pts = [(r.n, r.seconds) for r in rows if r.family == "scaling" and r.method == method]
    if len({n for n, _ in pts}) < SCALING_FIT_SIZES:  # a line through two points is no fit
        return float("nan")
    n, t = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(n, t, 1)[0])

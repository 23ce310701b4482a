"""Gradient checking: numgrad's check_gradient against scipy.optimize.check_grad and
jax.test_util.check_grads on the same functions, in one run.

    uv run python benchmarks/bench_check.py

Each function has a correct analytic gradient and one with a bug of relative size 1e-4 (the smallest bug
of the zoo in tests/zoo.py). A checker's answer is right when it passes the first and fails the second.
scipy returns a number, not a verdict: it is judged at ``‖error‖ / ‖gradient‖ <= 1e-5`` (SCIPY_RTOL).
jax.test_util.check_grads checks a function's own VJP, so the analytic gradient is attached with
jax.custom_vjp; it raises on a mismatch. Times are the best of REPEATS runs, all in this one process.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numgrad_reference  # noqa: F401  (float64 in JAX)
import numpy as np
from jax.test_util import check_grads
from scipy.optimize import check_grad

from numgrad import check_gradient

REPEATS = 5
SCIPY_RTOL = 1e-5  # a typical threshold on scipy's ‖error‖; scipy's forward differences err ~1e-7 here
BUG = 1e-4  # the buggy gradient is (1 + BUG) times the correct one
FAST_SIZES = (10, 1_000, 100_000, 1_000_000)


@dataclass(frozen=True)
class Workload:
    """A loss written once for NumPy and jax.numpy (``xp``), with its analytic gradient."""

    name: str
    x: np.ndarray
    loss: Callable[[Any, Any], Any]  # loss(xp, x)
    grad: Callable[[Any, Any], Any]  # grad(xp, x)


def softmax_ce(rng: np.random.Generator) -> Workload:
    z, t = 3 * rng.standard_normal((100, 10)), rng.integers(0, 10, 100)

    def loss(xp: Any, v: Any) -> Any:
        s = v - v.max(axis=1, keepdims=True)
        return -xp.sum((s - xp.log(xp.exp(s).sum(axis=1, keepdims=True)))[np.arange(100), t]) / 100

    def grad(xp: Any, v: Any) -> Any:
        e = xp.exp(v - v.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True) - xp.asarray(np.eye(10)[t])) / 100

    return Workload("softmax-CE, logits (100, 10)", z, loss, grad)


def two_layer(rng: np.random.Generator) -> Workload:
    X, t = rng.standard_normal((100, 50)), rng.integers(0, 10, 100)
    W2, W1 = 0.5 * rng.standard_normal((20, 10)), 0.3 * rng.standard_normal((50, 20))
    onehot = np.eye(10)[t]

    def loss(xp: Any, w: Any) -> Any:
        s = (1 / (1 + xp.exp(-(X @ w)))) @ W2
        s = s - s.max(axis=1, keepdims=True)
        return -xp.sum(onehot * (s - xp.log(xp.exp(s).sum(axis=1, keepdims=True)))) / 100

    def grad(xp: Any, w: Any) -> Any:
        h = 1 / (1 + xp.exp(-(X @ w)))
        e = xp.exp(h @ W2 - (h @ W2).max(axis=1, keepdims=True))
        dy = (e / e.sum(axis=1, keepdims=True) - onehot) / 100
        return X.T @ ((dy @ W2.T) * h * (1 - h))

    return Workload("two-layer net, W1 (50, 20)", W1, loss, grad)


def linear_mse(rng: np.random.Generator) -> Workload:
    X, Y, W = rng.standard_normal((200, 100)), rng.standard_normal((200, 10)), rng.standard_normal((100, 10))
    return Workload(
        "linear MSE, W (100, 10)",
        W,
        lambda xp, w: 0.5 * xp.sum((X @ w - Y) ** 2) / 200,
        lambda xp, w: X.T @ (X @ w - Y) / 200,
    )


def counted(f: Callable[[Any], Any]) -> tuple[Callable[[Any], Any], list[int]]:
    calls = [0]

    def g(v: Any) -> Any:
        calls[0] += 1
        return f(v)

    return g, calls


Run = Callable[[], tuple[bool, int]]  # one check: (passed, evaluations of f; -1 when not counted)


def numgrad_run(w: Workload, scale: float, **options: Any) -> Run:
    g = scale * w.grad(np, w.x)

    def run() -> tuple[bool, int]:
        f, calls = counted(lambda v: w.loss(np, v))
        return check_gradient(f, w.x.copy(), g, **options).passed, calls[0]

    return run


def scipy_run(w: Workload, scale: float) -> Run:
    g = scale * w.grad(np, w.x)

    def run() -> tuple[bool, int]:
        f, calls = counted(lambda v: w.loss(np, v.reshape(w.x.shape)))
        err = check_grad(f, lambda v: g.ravel(), w.x.ravel())
        return bool(err <= SCIPY_RTOL * np.linalg.norm(g)), calls[0]

    return run


def jax_run(w: Workload, scale: float) -> Run:
    @jax.custom_vjp
    def f(v: Any) -> Any:
        return w.loss(jnp, v)

    def fwd(v: Any) -> tuple[Any, Any]:
        return f(v), v

    def bwd(v: Any, ct: Any) -> tuple[Any]:
        return (ct * scale * w.grad(jnp, v),)

    f.defvjp(fwd, bwd)

    def run() -> tuple[bool, int]:
        try:
            check_grads(f, (jnp.asarray(w.x),), order=1, modes=["rev"])
        except AssertionError:
            return False, -1
        return True, -1

    return run


CHECKERS: dict[str, Callable[[Workload, float], Run]] = {
    "numgrad full (default)": numgrad_run,
    "numgrad full (central)": lambda w, s: numgrad_run(w, s, method="central"),
    "numgrad fast": lambda w, s: numgrad_run(w, s, mode="fast"),
    "scipy check_grad": scipy_run,
    "jax check_grads": jax_run,
}


def timed(runs: dict[tuple[str, float], Run]) -> dict[tuple[str, float], tuple[float, bool, int]]:
    """Best time of REPEATS, the repeats interleaved across checkers so that all see the same load."""
    best: dict[tuple[str, float], tuple[float, bool, int]] = {}
    for _ in range(REPEATS):
        for key, run in runs.items():
            start = time.perf_counter()
            passed, evals = run()
            seconds = time.perf_counter() - start
            if key not in best or seconds < best[key][0]:
                best[key] = (seconds, passed, evals)
    return best


def main() -> None:
    rng = np.random.default_rng(0)
    print(
        f"{'function':30} {'checker':24} {'correct gradient':>19} {'1e-4 bug':>19} {'right':>6} {'evals (right / bug)':>20}"
    )
    for make in (softmax_ce, two_layer, linear_mse):
        w = make(rng)
        results = timed(
            {(name, s): make_run(w, s) for name, make_run in CHECKERS.items() for s in (1.0, 1 + BUG)}
        )
        for name in CHECKERS:
            (t_ok, ok, evals), (t_bug, missed, bug_evals) = results[name, 1.0], results[name, 1 + BUG]
            right = ok and not missed
            shown = "-" if evals < 0 else str(evals) if bug_evals == evals else f"{evals} / {bug_evals}"
            print(
                f"{w.name:30} {name:24} {t_ok * 1e3:9.1f} ms {'pass' if ok else 'ALARM':>6}"
                f" {t_bug * 1e3:9.1f} ms {'missed' if missed else 'caught':>6}"
                f" {'yes' if right else 'NO':>6} {shown:>20}"
            )
    print("\nfast mode: evaluations of f whatever the size of x")
    for n in FAST_SIZES:
        c = np.linspace(-1.0, 1.0, n)
        f, calls = counted(lambda v, c=c: 0.5 * np.sum((v - c) ** 2))
        x = np.zeros(n)
        start = time.perf_counter()
        report = check_gradient(f, x, x - c, mode="fast")
        seconds = time.perf_counter() - start
        print(f"  n = {n:>9,}: {calls[0]} evaluations, {seconds * 1e3:7.1f} ms, passed={report.passed}")


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main()

"""Hessians of Rosenbrock (n = 100): numgrad against numdifftools.Hessian and scipy.differentiate.hessian,
timed in one run in this interpreter, with errors against jax.hessian; Hessian-vector products,
check_hessian's full and fast modes, and estimate_gradient alongside (issue 14's table).

    uv run python benchmarks/bench_hessian.py                 # every table
    uv run python benchmarks/bench_hessian.py estimate        # one of: hessian, hvp, check, estimate

Each numgrad figure is the median of several calls; numdifftools is called twice and scipy once (seconds
each). Ratios are against numgrad's non-batched hessian in the same run.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numdifftools as nd
import numgrad_reference  # noqa: F401  (float64 in JAX)
import numpy as np
from scipy import differentiate

from numgrad.bench import harness as nb
from numgrad.checking.hessian import check_hessian
from numgrad.differences.estimate import estimate_gradient
from numgrad.differences.hessian import hessian, hessian_vector_product

N = 100


def rosenbrock(x: Any, xp: Any = np) -> Any:
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosenbrock_rows(X: Any) -> Any:
    """A stack (k, n) -> (k,), for batched=True."""
    return np.sum(100.0 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1 - X[:, :-1]) ** 2, axis=1)


def rosenbrock_columns(x: Any) -> Any:
    """scipy.differentiate's convention: x of shape (n, ...) -> f of shape (...)."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2, axis=0)


class Counted:
    def __init__(self, f: Callable[..., Any], points: Callable[[Any], int] = lambda _: 1) -> None:
        self.f, self.points, self.calls = f, points, 0

    def __call__(self, x: Any) -> Any:
        self.calls += self.points(x)
        return self.f(x)


def timed(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def normwise(a: Any, b: Any) -> float:
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


def main(argv: list[str]) -> None:
    print(f"machine: {nb.machine_info()}\n")
    x = np.random.default_rng(0).standard_normal(N)
    exact = np.asarray(jax.hessian(lambda z: rosenbrock(z, jnp))(jnp.asarray(x)))
    sections = argv or ["hessian", "hvp", "check", "estimate"]
    if "hessian" in sections:
        hessian_table(x, exact)
    if "hvp" in sections:
        hvp_table(x, exact)
    if "check" in sections:
        check_table(x, exact)
    if "estimate" in sections:
        estimate_table(x)
        estimate_at_random_points()


def hessian_table(x: Any, exact: Any) -> None:
    rows = []

    f = Counted(rosenbrock)
    t_ours, H = timed(lambda: hessian(f, x), 5)
    rows.append(("numgrad.hessian", t_ours, f.calls // 5, normwise(H, exact), "-"))
    fb = Counted(rosenbrock_rows, len)
    t_batched, Hb = timed(lambda: hessian(fb, x, batched=True), 11)
    rows.append(("numgrad.hessian, batched=True", t_batched, fb.calls // 11, normwise(Hb, exact), "-"))
    fn = Counted(rosenbrock)
    t_nd, Hn = timed(lambda: nd.Hessian(fn)(x), 2)
    rows.append(("numdifftools.Hessian", t_nd, fn.calls // 2, normwise(Hn, exact), "-"))
    fs = Counted(rosenbrock_columns, lambda X: int(np.prod(X.shape[1:])))
    t_sp, res = timed(lambda: differentiate.hessian(fs, x), 1)
    ok = f"{int(np.count_nonzero(res.success))} of {res.success.size}"
    rows.append(("scipy.differentiate.hessian", t_sp, fs.calls, normwise(res.ddf, exact), ok))

    print(f"Hessian of Rosenbrock, n = {N} (float64; error normwise against jax.hessian)\n")
    print("| method | time | evaluations of f | normwise error | success | numgrad faster by |")
    print("|---|---|---|---|---|---|")
    for name, t, nfev, err, success in rows:
        versus = "-" if name.startswith("numgrad") else (
            f"{t / t_ours:.0f}x (batched: {t / t_batched:.0f}x)"
        )  # fmt: skip
        print(f"| {name} | {t * 1e3:.1f} ms | {nfev:,} | {err:.1e} | {success} | {versus} |")


def hvp_table(x: Any, exact: Any) -> None:
    v = np.random.default_rng(1).standard_normal(N)
    grad_jax = jax.jit(jax.grad(lambda z: rosenbrock(z, jnp)))
    g = Counted(lambda z: np.asarray(grad_jax(jnp.asarray(z))))
    g(x)  # compile outside the timing
    g.calls = 0
    fh = Counted(rosenbrock)
    t_hv, hv = timed(lambda: hessian_vector_product(fh, x, v), 11)
    t_hvg, hvg = timed(lambda: hessian_vector_product(rosenbrock, x, v, grad=g), 11)
    print(f"\nHessian-vector product, Rosenbrock n = {N}\n")
    print("| method | time | calls | normwise error |")
    print("|---|---|---|---|")
    print(
        f"| from values of f | {t_hv * 1e3:.2f} ms | {fh.calls // 11} of f | {normwise(hv, exact @ v):.1e} |"
    )
    print(
        f"| from grad (jax.grad) | {t_hvg * 1e3:.2f} ms | {g.calls // 11} of grad | {normwise(hvg, exact @ v):.1e} |"
    )


def check_table(x: Any, exact: Any) -> None:
    """check_hessian of the exact Hessian and of one without its mixed terms, full and fast mode."""
    wrong = np.diag(np.diag(exact))  # the off-diagonal −400·x_i forgotten
    print(f"\ncheck_hessian, Rosenbrock n = {N} (float64)\n")
    print("| mode | Hessian | time | evaluations of f | passed |")
    print("|---|---|---|---|---|")
    for mode, repeats in (("full", 3), ("fast", 11)):
        for name, H in (("exact", exact), ("no mixed terms", wrong)):
            t, r = timed(lambda H=H, mode=mode: check_hessian(rosenbrock, x, H, mode=mode), repeats)
            print(f"| {mode} | {name} | {t * 1e3:.2f} ms | {r.nfev:,} | {r.passed} |")


def estimate_table(x: Any) -> None:
    gexact = np.asarray(jax.grad(lambda z: rosenbrock(z, jnp))(jnp.asarray(x)))
    t_est, e = timed(lambda: estimate_gradient(rosenbrock, x), 11)
    true = np.abs(e.derivative - gexact)
    wrong = true > 0
    print(f"\nestimate_gradient, Rosenbrock n = {N}\n")
    print("| time | nfev | max true error / reported | median reported / true | flagged |")
    print("|---|---|---|---|---|")
    print(f"| {t_est * 1e3:.2f} ms | {e.nfev} | {float(np.max(true / e.error)):.2f} | "
          f"{float(np.median(e.error[wrong] / true[wrong])):.1f} | {int(e.unreliable.sum())} of {e.unreliable.size} |")  # fmt: skip


def smooth(x: Any, xp: Any = np) -> Any:
    v = x.reshape(-1)
    return xp.sum(xp.sin(v) * v**2) + xp.log(1 + xp.sum(v**2))


def cancelling(x: Any, xp: Any = np) -> Any:
    """smooth with (Σv)²/2 in the middle: terms of size ~10 that nearly cancel at some points."""
    v = x.reshape(-1)
    return xp.sum(xp.sin(v) * v**2) + 0.5 * xp.sum(v) ** 2 + xp.log(1 + xp.sum(v**2))


def estimate_at_random_points(points: int = 60) -> None:
    """How often the reported error fails to bound the true one, at seeded random points (n = 1..11)."""
    print(f"\nestimate_gradient at {points} seeded random points in [-3, 3]^n, n = 1..11, per dtype\n")
    print("| function | dtype | points where an element's true error > reported | worst true / reported | "
          "median reported / true |")  # fmt: skip
    print("|---|---|---|---|---|")
    for fn in (smooth, cancelling):
        for dtype in (np.float64, np.float32):
            rng, worst, pessimism = np.random.default_rng(0), [], []
            for _ in range(points):
                x = rng.uniform(-3, 3, size=int(rng.integers(1, 12))).astype(dtype)
                exact = np.asarray(jax.grad(lambda z: fn(z, jnp))(jnp.asarray(x, dtype=jnp.float64)))
                e = estimate_gradient(fn, x)
                true = np.abs(e.derivative - exact)
                worst.append(float(np.max(true / e.error)))
                if np.any(true > 0):
                    pessimism.append(float(np.median(e.error[true > 0] / true[true > 0])))
            missed = sum(w > 1 for w in worst)
            print(f"| {fn.__name__} | {np.dtype(dtype).name} | {missed} of {points} | {max(worst):.2f} | "
                  f"{statistics.median(pessimism):.1f} |")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])

"""Second derivatives of a float64 x whose f casts it to float32 inside: check_hessian's fast mode (false
alarms on exact Hessians, planted bugs caught, evaluations) and hessian_vector_product's error against
jax's exact Hessian-vector product, beside the same functions at a float32 x.

    uv run python benchmarks/cast_float32_hessian.py [--seeds 10]

f returns float32 values for a float64 x (``v = v.astype(np.float32)`` first), so its values carry
float32's rounding: steps chosen for float64 stand far below what f resolves. The exact Hessian is
``jax.hessian`` of the same function in float64 (data upcast exactly); with ``grad=`` the gradient is
``jax.grad`` of the function computed in float32 (float32 values too). The hvp's error is normwise,
``max|Hv − t| / max|t|``, worst over seeds and three random directions v. Planted bugs: the largest
diagonal entry times 1.5 ("entry"), every entry times ``1 + 0.3·z`` symmetrically ("dense"), the
mixed terms dropped ("diagonal only"). Counts only: no timings.
"""

from __future__ import annotations

import argparse
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from numgrad import check_hessian, hessian_vector_product

jax.config.update("jax_enable_x64", True)


def _softplus(xp: Any, A: Any, v: Any) -> Any:
    return xp.sum(xp.logaddexp(0.0, A @ v)) + 0.5 * xp.sum(v * v)


def _logsumexp(xp: Any, A: Any, v: Any) -> Any:
    z = A @ v
    m = xp.max(z)
    return m + xp.log(xp.sum(xp.exp(z - m))) + 0.05 * xp.sum(v * v)


def _quadratic(xp: Any, A: Any, v: Any) -> Any:
    return 0.5 * xp.sum((A @ v) ** 2) + xp.sum(v)


def _tanh_layer(xp: Any, A: Any, v: Any) -> Any:
    return xp.sum(xp.tanh(A @ v) ** 2) + 0.1 * xp.sum(v**4)


def _rosenbrock(xp: Any, A: Any, v: Any) -> Any:
    return xp.sum(100.0 * (v[1:] - v[:-1] ** 2) ** 2 + (1.0 - v[:-1]) ** 2)


# name: (expression, rows of A, n, scale of x around its centre, centre)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int, float, float]] = {
    "softplus + quadratic": (_softplus, 8, 10, 1.0, 0.0),
    "log-sum-exp": (_logsumexp, 12, 8, 1.0, 0.0),
    "quadratic": (_quadratic, 10, 12, 1.0, 0.0),
    "tanh layer": (_tanh_layer, 6, 10, 0.5, 0.0),
    "rosenbrock": (_rosenbrock, 1, 6, 0.2, 1.0),
}


@dataclass(frozen=True)
class Case:
    f: Callable[[Any], Any]  # computes in float32 for any x
    grad: Callable[[Any], Any]  # jax.grad in float32: float32 values
    x: np.ndarray
    H: np.ndarray  # exact, float64


def case(name: str, seed: int, dtype: Any) -> Case:
    expr, m, n, scale, centre = FUNCTIONS[name]
    rng = np.random.default_rng(seed)
    A = (rng.standard_normal((m, n)) / np.sqrt(n)).astype(np.float32)
    x = (centre + scale * rng.standard_normal(n)).astype(dtype)
    A32, A64 = jnp.asarray(A), jnp.asarray(A, dtype=jnp.float64)

    def f(v: Any) -> Any:
        return expr(np, A, np.asarray(v).astype(np.float32))

    g32 = jax.jit(jax.grad(lambda v: expr(jnp, A32, v)))

    def grad(v: Any) -> Any:
        return np.asarray(g32(jnp.asarray(v, dtype=jnp.float32)))

    H = np.asarray(jax.hessian(lambda v: expr(jnp, A64, v))(jnp.asarray(x, dtype=jnp.float64)))
    return Case(f, grad, x, H)


def planted(H: np.ndarray, kind: str, seed: int) -> np.ndarray:
    if kind == "entry":
        k = int(np.argmax(np.abs(np.diag(H))))
        bad = H.copy()
        bad[k, k] *= 1.5
        return bad
    if kind == "dense":
        z = np.random.default_rng(seed + 1000).standard_normal(H.shape)
        return H * (1 + 0.3 * (z + z.T) / 2)
    return np.diag(np.diag(H))  # "diagonal only"


KINDS = ("entry", "dense", "diagonal only")


class Counted:
    def __init__(self, f: Callable[[Any], Any]) -> None:
        self.f, self.calls = f, 0

    def __call__(self, v: Any) -> Any:
        self.calls += 1
        return self.f(v)


def measure(seeds: range, dtype: Any) -> dict[str, Any]:
    alarms: Counter[str] = Counter()
    caught: Counter[tuple[str, str]] = Counter()
    evals: Counter[str] = Counter()
    hvp_err: dict[tuple[str, str], float] = {}
    for name in FUNCTIONS:
        for seed in seeds:
            c = case(name, seed, dtype)
            f = Counted(c.f)
            r = check_hessian(f, c.x, c.H, mode="fast")
            alarms[(name, "f")] += not r.passed
            evals["fast f"] += f.calls
            g = Counted(c.grad)
            r = check_hessian(c.f, c.x, c.H, grad=g, mode="fast")
            alarms[(name, "grad")] += not r.passed
            evals["fast grad"] += g.calls
            for kind in KINDS:
                caught[(name, kind)] += not check_hessian(
                    c.f, c.x, planted(c.H, kind, seed), mode="fast"
                ).passed
            rng = np.random.default_rng(seed + 7)
            for _ in range(3):
                v = rng.standard_normal(c.x.size).astype(dtype)
                t = c.H @ v.astype(np.float64)
                f, g, stacked = Counted(c.f), Counted(c.grad), Counted(c.f)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out = {
                        "values": hessian_vector_product(f, c.x, v),
                        "grad": hessian_vector_product(c.f, c.x, v, grad=g),
                        "values, batched": hessian_vector_product(
                            lambda s: np.array([stacked(row) for row in s]), c.x, v, batched=True
                        ),
                    }
                evals["hvp values"] += f.calls
                evals["hvp grad"] += g.calls
                evals["hvp batched"] += stacked.calls
                for how, got in out.items():
                    e = float(np.max(np.abs(got.astype(np.float64) - t)) / np.max(np.abs(t)))
                    hvp_err[(name, how)] = max(hvp_err.get((name, how), 0.0), e)
    return {"alarms": alarms, "caught": caught, "evals": evals, "hvp": hvp_err}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="problems per function (default 10)")
    args = parser.parse_args(argv)
    seeds = range(args.seeds)
    at = {"float64 x": measure(seeds, np.float64), "float32 x": measure(seeds, np.float32)}
    k, n = args.seeds, args.seeds * len(FUNCTIONS)
    print(f"{len(FUNCTIONS)} functions computing in float32 x {k} seeds\n")
    print("check_hessian(mode='fast'): false alarms on exact Hessians (of f's values / with a float32")
    print("grad=), planted bugs caught (" + " / ".join(KINDS) + ")")
    print("| function | float64 x: alarms | float64 x: caught | float32 x: alarms | float32 x: caught |")
    print("|---|---|---|---|---|")
    for name in [*FUNCTIONS, "all"]:
        names, of = (list(FUNCTIONS), n) if name == "all" else ([name], k)
        cells = []
        for w in at:
            a, c = at[w]["alarms"], at[w]["caught"]
            cells.append(f"{sum(a[(m, 'f')] for m in names)} / {sum(a[(m, 'grad')] for m in names)} of {of}")
            cells.append(" / ".join(str(sum(c[(m, kind)] for m in names)) for kind in KINDS) + f" of {of}")
        print(f"| {name} | {' | '.join(cells)} |")
    print("\nhessian_vector_product: worst normwise error against jax (values / grad= / values, batched)")
    print("| function | float64 x | float32 x |")
    print("|---|---|---|")
    hows = ("values", "grad", "values, batched")
    for name in FUNCTIONS:
        cells = [" / ".join(f"{at[w]['hvp'][(name, how)]:.1e}" for how in hows) for w in at]
        print(f"| {name} | {' | '.join(cells)} |")
    print("\nmean evaluations: fast check of f / of grad; hvp of f / of grad / points of a batched f")
    for w in at:
        e = at[w]["evals"]
        fast = f"{e['fast f'] / n:.1f} / {e['fast grad'] / n:.1f}"
        hvp = f"{e['hvp values'] / (3 * n):.1f} / {e['hvp grad'] / (3 * n):.1f} / {e['hvp batched'] / (3 * n):.1f}"
        print(f"- {w}: {fast}; {hvp}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What the contract's checks cost on small problems (issue 16): numerical_gradient with and without the
caller's-data guard, the probe's write check and the explicit-step check, in one interpreter, as ratios.
Run: uv run python benchmarks/contract_overhead.py
"""

import contextlib
import timeit

import numpy as np

import numgrad as ng
from numgrad.differences import engine, gradient, sanity


def f(v):
    return v[0] * v[0] + v[1] * v[1]


X = np.array([3.0, 4.0])
CALLS = {
    "n=2, default step": lambda: ng.numerical_gradient(f, X),
    "n=2, h=1e-4": lambda: ng.numerical_gradient(f, X, h=1e-4),
}


def best(call):
    return min(timeit.repeat(call, number=200, repeat=3)) / 200


SAVED = gradient.unchanged, engine.changed_at, sanity.explicit_step_moves


def checks(on):
    if on:
        gradient.unchanged, engine.changed_at, sanity.explicit_step_moves = SAVED
    else:
        gradient.unchanged = lambda *a, **k: contextlib.nullcontext()
        engine.changed_at = lambda a, b: None
        sanity.explicit_step_moves = lambda *a, **k: None


# interleaved, the minimum of each: a shared machine's load hits both sides alike
results = {(name, on): float("inf") for name in CALLS for on in (True, False)}
for _ in range(8):
    for on in (True, False):
        checks(on)
        for name, call in CALLS.items():
            results[name, on] = min(results[name, on], best(call))
checks(True)
for name in CALLS:
    w, wo = results[name, True], results[name, False]
    print(f"{name}: {w * 1e6:.1f} us with the checks, {wo * 1e6:.1f} us without: ratio {w / wo:.2f}")

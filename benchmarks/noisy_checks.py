"""False alarms of check_gradient on smooth functions whose rounding noise is far above eps·|f| (issue 16).

f = (sum(sin(x)) + offset) - offset carries ~ulp(offset)/2 of noise; its gradient cos(x) is exact. Prints, per
offset and method, how many of 40 seeded checks fail and how many elements are called kinks (all should be 0).
Run: uv run python benchmarks/noisy_checks.py
"""

import warnings

import numpy as np

import numgrad as ng

warnings.simplefilter("ignore")


def make(off):
    return lambda v: (np.sum(np.sin(v)) + off) - off


res = {}
for off in (0.0, 1e2, 1e3, 1e4, 3e4):
    f = make(off)
    for method in ("auto", "central"):
        fails = kinks = 0
        for seed in range(40):
            x = np.random.default_rng(seed).uniform(-2, 2, 6)
            r = ng.check_gradient(f, x, np.cos(x), method=method)
            fails += not r.passed
            kinks += int(r.kinks.sum())
        print(off, method, "fails", fails, "kinks", kinks)

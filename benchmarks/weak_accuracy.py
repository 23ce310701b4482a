"""Accuracy where the defaults are weakest (issue 16), with f computing in x's dtype: numgrad's default
against exact gradients (float64 formulas at the same point), elementwise relative error floored at
1e-3·max|g| and normwise max|g − t| / max|t|, the evaluations spent, and what bounds them.

"best step" is an oracle: for every element, the power-of-two step h in 2**-12 .. 2**2 (float64:
2**-24 .. 2**-6) whose central
difference (2 evaluations) or 4-point Richardson stencil (4 evaluations) is closest to the truth, chosen with
the truth — no method that does not know the answer does better with that many evaluations per element.
numdifftools.Gradient (its defaults, float64 points rounded to float32 for f) is the issue's reference.

Run: uv run python benchmarks/weak_accuracy.py            (seed 0, with the oracle and numdifftools; ~10 s)
     uv run python benchmarks/weak_accuracy.py 0 1 2 3    (numgrad's rows at several seeds)
"""

from __future__ import annotations

import sys
import warnings

import numdifftools as nd
import numpy as np

import numgrad as ng

warnings.simplefilter("ignore")


def elementwise(g, t):
    t, g = np.ravel(t).astype(np.float64), np.ravel(g).astype(np.float64)
    return np.abs(g - t) / np.maximum(np.abs(t), 1e-3 * np.max(np.abs(t)))


def normwise(g, t):
    t, g = np.ravel(t).astype(np.float64), np.ravel(g).astype(np.float64)
    return float(np.max(np.abs(g - t)) / np.max(np.abs(t)))


class Count:
    def __init__(self, f):
        self.f, self.n = f, 0

    def __call__(self, v):
        self.n += 1
        return self.f(v)


def sce32(labels):
    def f(v):
        s = v - v.max(axis=1, keepdims=True)
        lp = s - np.log(np.sum(np.exp(s), axis=1, keepdims=True))
        return -np.sum(lp[np.arange(len(v)), labels]) / v.dtype.type(len(v))

    return f


def sce_grad(z, labels):
    z = z.astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(z)), labels] -= 1
    return p / len(z)


def rosen(v):
    return np.sum(100.0 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2)


def rosen_grad(v):
    g = np.zeros_like(v)
    g[:-1] = -400 * v[:-1] * (v[1:] - v[:-1] ** 2) - 2 * (1 - v[:-1])
    g[1:] += 200 * (v[1:] - v[:-1] ** 2)
    return g


def instances(seed):
    """(name, f, x, exact gradient) for the four weak cases at one seed."""
    rng = np.random.default_rng(seed)
    z = (rng.choice([-50.0, 50.0], (20, 10)) + rng.standard_normal((20, 10))).astype(np.float32)
    lab = rng.integers(0, 10, 20)
    yield "softmax-CE logits ±50 (float32)", sce32(lab), z, sce_grad(z, lab)
    z2 = rng.standard_normal((20, 10)).astype(np.float32)
    base = sce32(lab)
    yield "1e12 × softmax-CE (float32)", lambda v: np.float32(1e12) * base(v), z2, 1e12 * sce_grad(z2, lab)
    net = ng.TwoLayerNet(20, 8, 4, seed=seed, weight_init_std=1.0)
    xb, tb = rng.standard_normal((16, 20)), rng.integers(0, 4, 16)
    truth = net.gradient(xb, tb)["W1"]
    xb32, b1, W2, b2 = (
        a.astype(np.float32) for a in (xb, net.params["b1"], net.params["W2"], net.params["b2"])
    )

    def netloss(Wv):
        a = 1 / (1 + np.exp(-(xb32 @ Wv + b1)))
        y = a @ W2 + b2
        s = y - y.max(1, keepdims=True)
        p = np.exp(s) / np.exp(s).sum(1, keepdims=True)
        return -np.sum(np.log(p[np.arange(16), tb] + np.float32(1e-7))) / np.float32(16)

    yield "TwoLayerNet W1 (float32)", netloss, net.params["W1"].astype(np.float32), truth
    xr = rng.uniform(-2, 2, 100)
    yield "Rosenbrock n=100 (float64)", rosen, xr, rosen_grad(xr)


STEPS = {4: 2.0 ** np.arange(-12, 3), 8: 2.0 ** np.arange(-24, -5)}  # around each dtype's central steps


def oracle(f, x, t):
    """Per element, the best power-of-two step chosen with the truth: (central, Richardson) errors."""
    flat, x0 = x.ravel(), x.ravel().astype(np.float64)
    fl = 1e-3 * np.max(np.abs(t))
    den = np.maximum(np.abs(t.ravel()), fl)
    best = np.full((2, x.size), np.inf)
    for j in range(x.size):
        saved = flat[j]
        for h in STEPS[x.dtype.itemsize]:
            v = {}
            for c in (1, -1, 2, -2):
                flat[j] = x0[j] + c * h
                v[c] = float(f(x)), float(flat[j]) - x0[j]
            flat[j] = saved
            d1 = (v[1][0] - v[-1][0]) / (v[1][1] - v[-1][1])
            d2 = (v[2][0] - v[-2][0]) / (v[2][1] - v[-2][1])
            rich = (4 * d1 - d2) / 3
            best[:, j] = np.minimum(best[:, j], np.abs([d1 - t.ravel()[j], rich - t.ravel()[j]]) / den[j])
    return best.max(axis=1)


def main(seeds):
    full = seeds == [0]
    print(
        "| function | seed | elementwise | normwise | f evaluations |"
        + (
            " best step: central, Richardson | numdifftools: elementwise, normwise, evaluations |"
            if full
            else ""
        )
    )
    print("|---|---|---|---|---|" + ("---|---|" if full else ""))
    for seed in seeds:
        for name, f, x, t in instances(seed):
            c = Count(f)
            g = ng.numerical_gradient(c, x.copy())
            row = f"| {name} | {seed} | {elementwise(g, t).max():.1e} | {normwise(g, t):.1e} | {c.n} |"
            if full:
                oc, orich = oracle(f, x.copy(), t)
                d = Count(lambda v, f=f, x=x: f(v.reshape(x.shape).astype(x.dtype)))
                gd = nd.Gradient(d)(x.ravel().astype(np.float64))
                row += (
                    f" {oc:.1e}, {orich:.1e} | {elementwise(gd, t).max():.1e}, {normwise(gd, t):.1e}, {d.n} |"
                )
            print(row)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [0])

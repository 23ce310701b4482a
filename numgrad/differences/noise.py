"""The noise level of f near x, measured: Moré & Wild's ECnoise on a line through x.

A difference quotient's rounding is modelled as a few ulps of ``|f(x)|``; that model fails where f is a
small difference of large terms (``a − b`` with ``|a| ≫ |a − b|``), whose rounding is ulps of the terms.
ECnoise measures it instead: f at ``m + 1`` equally spaced points along a fixed direction, whose k-th
differences are noise once the step is small (the smooth part falls as ``δ^k``). The level is
``sqrt(γ_k · mean((Δ^k f)²))`` with ``γ_k = (k!)² / (2k)!``, taken at the first k where three
consecutive levels agree within a factor of 4 and ``Δ^k f`` changes sign. Where no k qualifies (f exactly
equal at every point, or the smooth part still dominates) the level is 0 and the ulp model stands.

Reference: J. J. Moré and S. M. Wild, "Estimating computational noise", SIAM J. Sci. Comput. 33 (2011).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.common import numerics as nm
from numgrad.differences.engine import Problem, evaluate_points, on_grid


def noise_level(p: Problem) -> tuple[NDArray[np.float64], int]:
    """Standard deviation of f's noise near p.x, per output (shape ``p.out_shape or ()``); evaluations."""
    x0 = np.ravel(p.x).astype(np.float64)
    offsets = np.arange(nm.NOISE_POINTS + 1) - nm.NOISE_POINTS // 2
    step = nm.noise_step(p.work_dtype) * nm.length_scales(x0) * _direction(p.n)
    points = on_grid(p, (x0 + np.multiply.outer(offsets, step)).astype(p.x.dtype))
    vals = np.real(evaluate_points(p, points)).astype(np.float64).reshape(len(points), -1)
    return np.asarray(ecnoise(vals, nm.eps(p.work_dtype))).reshape(p.out_shape or ()), len(points)


def ecnoise(vals: NDArray[np.float64], eps: float) -> NDArray[np.float64]:
    """ECnoise on the columns of `vals` (m + 1 values of f along a line each): the noise level, or 0.

    A level above ``NOISE_MAX_ULPS·eps·max|f|`` on the line is not rounding (no cancellation loses that
    many digits): f varies on a scale shorter than the spacing — a spike reads like noise — and 0 is
    returned, so that the ulp model and the truncation estimate speak for themselves."""
    m = len(vals) - 1
    level = np.zeros(vals.shape[1])
    if not np.isfinite(vals).all():
        return level
    levels, changes, T, gamma = [], [], vals, 1.0
    for k in range(1, m + 1):
        T = np.diff(T, axis=0)
        gamma *= 0.5 * k / (2 * k - 1)  # (k!)² / (2k)!
        levels.append(np.sqrt(gamma * np.mean(T * T, axis=0)))
        changes.append((T.min(axis=0) < 0) & (T.max(axis=0) > 0))
    found = np.zeros(vals.shape[1], dtype=bool)
    for k in range(m - 2):
        trio = np.stack(levels[k : k + 3])
        agree = (trio.max(axis=0) <= nm.NOISE_AGREEMENT * trio.min(axis=0)) & changes[k] & (levels[k] > 0)
        take = agree & ~found
        level[take] = levels[k][take]
        found |= take
    level[level > nm.NOISE_MAX_ULPS * eps * np.abs(vals).max(axis=0)] = 0.0
    return level


@functools.lru_cache(maxsize=32)
def _direction(n: int) -> NDArray[np.float64]:
    """A fixed unit direction of random signs: every coordinate moves, none by more than 1/sqrt(n)."""
    signs = np.random.default_rng(nm.NOISE_SEED).integers(0, 2, size=n) * 2.0 - 1.0
    z: NDArray[np.float64] = signs / np.sqrt(n)
    z.flags.writeable = False
    return z


def measured_rounding(model: Any, sigma: NDArray[np.float64]) -> NDArray[np.float64]:
    """The larger of the ulp model's size of f's rounding and :data:`NOISE_SIGMAS` measured noise levels."""
    return np.asarray(np.maximum(model, nm.NOISE_SIGMAS * sigma))

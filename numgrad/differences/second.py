"""The second-difference pass behind numgrad's Hessians: points, steps that stay in f's domain, the estimate.

The second-order symmetric stencil (Abramowitz & Stegun 25.3.26-27): with ``a = h_i·e_i`` and
``b = h_j·e_j``,

    H_ii ≈ (f(x+a) − 2f(x) + f(x−a)) / h_i²
    H_ij ≈ (f(x+a+b) + f(x−a−b) − f(x+a) − f(x−a) − f(x+b) − f(x−b) + 2f(x)) / (2·h_i·h_j)

n² + n + 1 points per step, at the steps h and 2h; the two give the Richardson value
``(4·D(h) − D(2h)) / 3`` and its error estimate. Only ``i < j`` is computed and mirrored: symmetric by
construction. Points are built and evaluated in memory-bounded blocks through the first-order engine's
evaluators (in place on the caller's array, batched, or on an executor).

A point outside f's domain (f non-finite there, or raising ``FloatingPointError`` / a math domain error:
sqrt or log near 0) shrinks the chosen steps of its coordinates, as the first-order engine does — a
quarter, and at most ``eps**(1/6)·|x_i|``, the step for a function whose length scale is the distance to an
edge at 0 — and the pass is taken again (at most ``MAX_STEP_SHRINKS`` times); a given step never changes.

A step that is not small against f's length scale (a second difference that is a sizable share of f, with
D(h) and D(2h) apart: sin at x = 1e8, whose step is thousands of periods) makes the pair's difference no
error estimate. A coordinate whose second difference is that large is differenced again at the unit scale
``eps**(1/4)`` where |x_i| ≥ UNIT_RETRY (64); an entry whose pair is then still apart gets an
unknown (infinite) truncation, so it is flagged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.common import numerics as nm
from numgrad.differences.engine import (
    Problem,
    coarser_values,
    confirmed_float32,
    evaluate_points,
    evaluate_points_typed,
    resolve_step,
)

__all__ = ["SecondDifference", "block_rows", "blocks", "flat_name", "outside_domain", "second_difference"]

REACH = 2  # the larger step of the pair moves a coordinate by 2h


@dataclass(frozen=True)
class SecondDifference:
    """A Hessian pass: the Richardson value, its error estimate per entry, the steps and evaluations."""

    value: NDArray[np.float64]  # (n, n), symmetric
    truncation: NDArray[np.float64]  # (n, n): |D(h) − D(2h)| / 3, D(h)'s truncation (bounds the value's)
    rounding: NDArray[np.float64]  # (n, n): Σ|w|·(f's rounding) / (h_i·h_j), for the extrapolated value
    h: NDArray[np.float64]  # (n,), the smaller step of the pair
    nfev: int
    model_rounding: NDArray[np.float64]  # `rounding` from the ulp model of f's rounding alone
    grid: np.dtype[Any] | None = None  # f's values' precision where coarser than x's (see Problem.grid)

    @property
    def error(self) -> NDArray[np.float64]:
        """Per-entry error estimate, with the safety factors of numgrad.common.numerics."""
        return np.asarray(nm.ESTIMATE_TRUNCATION_SAFETY * self.truncation + self.rounding)


def flat_name(p: Problem) -> Callable[[int], str]:
    """Coordinate j of p.x as a user writes it: ``x[3]``, ``x[1, 2]`` (``x`` for a 0-d x)."""
    return lambda j: f"x{list(p.index(j))}" if p.x.ndim else "x"


def second_difference(
    p: Problem, h: object, noise: float = 0.0, name: Callable[[int], str] | None = None
) -> SecondDifference:
    """The Hessian of f at p.x from steps h and 2h (default steps: numgrad.common.numerics.hessian_steps).

    f's rounding is taken as a few ulps of |f(x)|, or `noise` (a measured standard deviation) times
    NOISE_SIGMAS where that is larger. `name(j)` names coordinate j in messages. Where f's values are
    coarser than x (f casts a float64 x to float32), f(x), the first evaluation, says so, and the steps
    and the rounding follow that precision."""
    label = name or flat_name(p)
    explicit, _ = resolve_step(p, h)
    x0 = np.ravel(p.x).astype(np.float64)
    at_x, dtype = evaluate_points_typed(p, x0[None].astype(p.x.dtype))  # what f raises at x: as is
    f0 = float(np.real(at_x[0]))
    grid = coarser_values(p, dtype)
    if grid is not None:
        p = replace(p, grid=grid)
    steps = nm.hessian_steps(x0, p.work_dtype) if explicit is None else explicit
    if not np.isfinite(f0):
        raise FloatingPointError(
            f"{p.func}: f is not finite at x itself ({f0}); the second derivative there is undefined"
        )
    nfev, raised, axis = 1, list[Exception](), list[NDArray[np.float64]]()
    for shrinks in range(nm.MAX_STEP_SHRINKS + 1):
        small, spent, bad, f_size = _pass(p, x0, steps, f0, raised, axis if shrinks == 0 else None)
        nfev += spent
        if shrinks == 0 and grid is None and not bad.any():
            grid, spent = confirmed_float32(p, x0, dtype, axis[0])  # (x ± h: x⁴ at 0 gives float32s)
            nfev += spent
            if grid is not None:  # f computes in float32 and returns float64 numbers (tensor.item()):
                p = replace(p, grid=grid)  # float32's steps and rounding, the pass taken again
                steps = nm.hessian_steps(x0, p.work_dtype) if explicit is None else explicit
                small, spent, bad, f_size = _pass(p, x0, steps, f0, raised)
                nfev += spent
        if not bad.any():
            large, spent, bad, _ = _pass(p, x0, 2 * steps, f0, raised)
            nfev += spent
        if not bad.any():
            break
        if explicit is not None or shrinks == nm.MAX_STEP_SHRINKS:
            error = outside_domain(p, x0, steps, bad, label, given=explicit is not None, shrinks=shrinks)
            raise error from (raised[-1] if raised else None)
        steps = steps.copy()
        steps[bad] = shrunk(x0[bad], steps[bad], p.work_dtype)
    value = (4 * small - large) / 3
    truncation = np.abs(small - large) / 3
    bends = _bends(small, steps, f_size)
    if explicit is None and np.diagonal(bends).any():  # the pair may agree by aliasing's coincidence
        retry, spent = _unit_retry(p, x0, steps, f0, np.diagonal(bends), raised)
        nfev += spent
        if retry is not None:
            small, large, steps, f_size = retry
            value, truncation = (4 * small - large) / 3, np.abs(small - large) / 3
            bends = _bends(small, steps, f_size)
    truncation[_coarse(small, large, value, bends)] = np.inf
    model = nm.ESTIMATE_ROUNDING_ULPS * nm.eps(p.work_dtype) * abs(f0)
    gain = nm.HESSIAN_ROUNDING_GAIN * nm.HESSIAN_EXTRAPOLATION_ROUNDING / np.multiply.outer(steps, steps)
    rounding = gain * max(model, nm.NOISE_SIGMAS * noise)
    return SecondDifference(value, truncation, rounding, steps, nfev, gain * model, p.grid)


def _unit_retry(
    p: Problem,
    x0: NDArray[np.float64],
    steps: NDArray[np.float64],
    f0: float,
    bent: NDArray[np.bool_],
    raised: list[Exception],
) -> tuple[tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float] | None, int]:
    """The pair again with the `bent` coordinates' steps at the unit scale (``eps**(1/4)``, as for
    |x_i| ≤ 1, and at least 4 spacings of x_i: f may vary on a scale of 1 far from 0, as sin at x = 1e8):
    the second differences at h and 2h, the steps h and f's size at the points; and the evaluations spent.
    None where no bent coordinate's step is UNIT_RETRY unit steps or more, or the retry leaves f's domain
    (the first pair stands)."""
    unit = nm.unit_hessian_steps(x0, p.work_dtype)
    retried = bent & (steps >= nm.UNIT_RETRY * unit)
    if not retried.any():
        return None, 0
    again = steps.copy()
    again[retried] = unit[retried]
    small, spent, bad, f_size = _pass(p, x0, again, f0, raised)
    if bad.any():
        return None, spent
    large, more, bad, _ = _pass(p, x0, 2 * again, f0, raised)
    return (None if bad.any() else (small, large, again, f_size)), spent + more


def _bends(small: NDArray[np.float64], steps: NDArray[np.float64], f_size: float) -> NDArray[np.bool_]:
    """Entries whose second difference at h (a mixed one: half of it) is above HESSIAN_COARSE_BEND of f's
    size: the step is not small against f's length scale there."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(np.abs(small) * np.multiply.outer(steps, steps) > nm.HESSIAN_COARSE_BEND * f_size)


def _coarse(
    small: NDArray[np.float64],
    large: NDArray[np.float64],
    value: NDArray[np.float64],
    bends: NDArray[np.bool_],
) -> NDArray[np.bool_]:
    """Entries whose pair says nothing of their error: a step not small against f's length scale
    (:func:`_bends`) and D(h), D(2h) apart by more than UNRELIABLE_FRACTION of the value; and the row and
    column of a coordinate whose diagonal entry is coarse (they difference along the same step), but for
    entries zero at both steps (f does not couple the two). A quadratic bends and its pair agrees; sin at
    x = 1e8, whose step 1.6e4 is thousands of periods, has both, its pair's difference as small as the
    aliased values themselves (1e-8 for a curvature of 0.8): its truncation is unknown, not small."""
    with np.errstate(invalid="ignore"):
        coarse = bends & (np.abs(small - large) > nm.UNRELIABLE_FRACTION * np.abs(value))
    along = np.diagonal(coarse)
    exact = (small == 0) & (large == 0)
    return np.asarray(coarse | ((along[:, None] | along[None, :]) & ~exact))


def shrunk(x: NDArray[np.float64], h: NDArray[np.float64], dtype: Any) -> NDArray[np.float64]:
    """A quarter of the step, and at most ``eps**(1/6)·|x_i|`` (HESSIAN_EDGE_STEP_POWER: the domain taken
    to end at 0, f varying on the scale of the distance to it), as powers of two."""
    edge = float(nm.eps(dtype) ** nm.HESSIAN_EDGE_STEP_POWER)
    local = np.exp2(np.floor(np.log2(edge * np.abs(x), where=x != 0, out=np.full(x.shape, np.inf))))
    return np.asarray(np.minimum(h / 4, local))


def outside_domain(
    p: Problem,
    x0: NDArray[np.float64],
    steps: NDArray[np.float64],
    bad: NDArray[np.bool_],
    name: Callable[[int], str],
    *,
    given: bool,
    shrinks: int,
) -> FloatingPointError:
    j = int(np.flatnonzero(bad)[0])
    how = (
        "the given step h is not shrunk: pass a smaller h"
        if given
        else f"even after shrinking the step {shrinks} times (to {steps[j]:.1e})"
    )
    return FloatingPointError(
        f"{p.func}: f is non-finite (or raised a domain error) at points x ± h·e_j near x along "
        f"{int(bad.sum())} of the {p.n} coordinates of x, first {name(j)} = {x0[j]:.6g}; {how}. The second "
        f"derivative there is undefined, or f's domain ends within {REACH}·h of x: check f's domain"
    )


def block_rows(p: Problem) -> int:
    """Points per block: the points of one block fit the memory budget."""
    return max(1, nm.BATCH_BYTES // max(1, p.n * p.x.dtype.itemsize))


def blocks(index: tuple[NDArray[np.intp], ...], rows: int) -> Iterator[tuple[NDArray[np.intp], ...]]:
    """Index tuples in blocks of at most `rows`."""
    for a in range(0, len(index[0]), rows):
        yield tuple(i[a : a + rows] for i in index)


def _pass(
    p: Problem,
    x0: NDArray[np.float64],
    s: NDArray[np.float64],
    f0: float,
    raised: list[Exception],
    axis: list[NDArray[np.float64]] | None = None,
) -> tuple[NDArray[Any], int, NDArray[np.bool_], float]:
    """The second differences at steps s: (n, n), symmetric; evaluations; the coordinates whose points
    gave a non-finite value (their entries are not finite then); the largest |f| at x and the points.
    Domain errors f raised go to `raised`; f at x ± s_i·e_i to `axis` where given."""
    n, dtype = p.n, p.x.dtype
    up, down = (x0 + s).astype(dtype), (x0 - s).astype(dtype)  # the same displaced values everywhere
    diag = np.arange(n)
    rows = block_rows(p)
    plus = np.concatenate([_at(p, x0, (i,), up, raised) for (i,) in blocks((diag,), rows)])
    minus = np.concatenate([_at(p, x0, (i,), down, raised) for (i,) in blocks((diag,), rows)])
    bad = ~(np.isfinite(plus) & np.isfinite(minus))
    if axis is not None:
        axis.append(np.concatenate([plus, minus]))
    pairs = np.zeros(n, dtype=bool)  # coordinates of bad mixed points whose own axis points were fine
    H = np.empty((n, n))
    H[diag, diag] = (plus - 2 * f0 + minus) / (s * s)
    nfev, size = 2 * n, max(abs(f0), _largest(plus), _largest(minus))
    for i, j in blocks(np.triu_indices(n, 1), rows):
        both_up = _at(p, x0, (i, j), up, raised)
        both_down = _at(p, x0, (i, j), down, raised)
        rise = both_up + both_down - plus[i] - minus[i] - plus[j] - minus[j] + 2 * f0
        H[i, j] = H[j, i] = rise / (2 * s[i] * s[j])
        off = ~(np.isfinite(both_up) & np.isfinite(both_down)) & ~bad[i] & ~bad[j]
        pairs[i[off]] = pairs[j[off]] = True
        nfev, size = nfev + 2 * len(i), max(size, _largest(both_up), _largest(both_down))
    return H, nfev, bad | pairs, size


def _largest(values: NDArray[np.float64]) -> float:
    """The largest finite |value| (0 for none)."""
    return float(np.max(np.abs(values), initial=0.0, where=np.isfinite(values)))


def _at(
    p: Problem,
    x0: NDArray[np.float64],
    coords: tuple[NDArray[np.intp], ...],
    moved: NDArray[Any],
    raised: list[Exception],
) -> NDArray[np.float64]:
    """f at x with, in row r, each coordinate ``c[r]`` (c in coords) set to ``moved[c[r]]``."""
    k = len(coords[0])
    rows = np.broadcast_to(x0.astype(p.x.dtype), (k, p.n)).copy()
    for c in coords:
        rows[np.arange(k), c] = moved[c]
    return _values(p, rows, raised)


DOMAIN_ERRORS = (FloatingPointError, ZeroDivisionError)


def _domain_error(exc: Exception) -> bool:
    """f said the point is outside its domain: numpy under errstate('raise'), 1/0, math.sqrt(-1)."""
    return isinstance(exc, DOMAIN_ERRORS) or (isinstance(exc, ValueError) and "math domain" in str(exc))


def _values(p: Problem, rows: NDArray[Any], raised: list[Exception]) -> NDArray[np.float64]:
    """f at the rows, as float64; a row where f raises a domain error is NaN (so its step is shrunk)."""
    try:
        return np.asarray(np.real(evaluate_points(p, rows)), dtype=np.float64)
    except Exception as exc:
        if not _domain_error(exc):
            raise
        raised.append(exc)
    out = np.empty(len(rows))
    for r in range(len(rows)):  # find the rows outside the domain
        try:
            out[r] = np.real(evaluate_points(p, rows[r : r + 1])[0])
        except Exception as exc:
            if not _domain_error(exc):
                raise
            out[r] = np.nan
    return out

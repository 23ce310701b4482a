"""Second derivatives by finite differences: the Hessian of a scalar f, and Hessian-vector products.

The Hessian takes the second-order symmetric stencil (Abramowitz & Stegun 25.3.26-27): with ``a = h_i·e_i``
and ``b = h_j·e_j``,

    H_ii ≈ (f(x+a) − 2f(x) + f(x−a)) / h_i²
    H_ij ≈ (f(x+a+b) + f(x−a−b) − f(x+a) − f(x−a) − f(x+b) − f(x−b) + 2f(x)) / (2·h_i·h_j)

n² + n + 1 points per step, at the steps h and 2h; the two give the Richardson value
``(4·D(h) − D(2h)) / 3`` and its error estimate. Only ``i < j`` is computed and mirrored: symmetric by
construction. Points are built and evaluated in memory-bounded blocks through the first-order engine's
evaluators (in place on the caller's array, batched, or on an executor).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad.common import numerics as nm
from numgrad.common.validate import callable_arg, real_floating_array
from numgrad.differences.engine import Problem, evaluate_points, make_problem, resolve_step

__all__ = ["hessian", "hessian_vector_product"]


@dataclass(frozen=True)
class SecondDifference:
    """A Hessian pass: the Richardson value, its error estimate per entry, the steps and evaluations."""

    value: NDArray[np.float64]  # (n, n), symmetric
    truncation: NDArray[np.float64]  # (n, n): |D(h) − D(2h)| / 3, D(h)'s truncation (bounds the value's)
    rounding: NDArray[np.float64]  # (n, n): Σ|w|·(f's rounding) / (h_i·h_j), for the extrapolated value
    h: NDArray[np.float64]  # (n,), the smaller step of the pair
    nfev: int
    model_rounding: NDArray[np.float64]  # `rounding` from the ulp model of f's rounding alone

    @property
    def error(self) -> NDArray[np.float64]:
        """Per-entry error estimate, with the safety factors of numgrad.common.numerics."""
        return np.asarray(nm.ESTIMATE_TRUNCATION_SAFETY * self.truncation + self.rounding)


def hessian(
    f: Callable[..., Any],
    x: ArrayLike,
    *,
    h: float | ArrayLike | None = None,
    batched: bool = False,
    chunk_size: int | None = None,
    executor: Executor | None = None,
) -> NDArray[np.floating[Any]]:
    """Hessian of a scalar function `f` at `x` by central second differences: shape ``x.shape + x.shape``.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``; with ``batched=True``, ``f(stack) -> (k,)`` for a stack ``(k, *x.shape)``.
    x : array_like, float32 or float64, any shape
        Perturbed in place and restored bitwise in element-by-element mode, as in
        :func:`numgrad.numerical_gradient`.
    h : float or array of x's shape, optional
        The smaller step of the Richardson pair (h, 2h); by default ``eps**(1/4)·max(1, |x_i|)`` as a
        power of two.
    batched, chunk_size, executor
        As in :func:`numgrad.numerical_gradient`.

    Returns
    -------
    ndarray of shape ``x.shape + x.shape`` and x's dtype, exactly symmetric

    Raises
    ------
    TypeError, ValueError
        As :func:`numgrad.numerical_gradient` for bad input.
    FloatingPointError
        If `f` returns a non-finite value at a point used.

    Notes
    -----
    ``2·(n² + n) + 1`` evaluations of f (20,201 for n = 100).

    Examples
    --------
    >>> hessian(lambda v: v[0] ** 2 * v[1], np.array([1.0, 2.0])).round(8)
    array([[4., 2.],
           [2., 0.]])
    """
    p = make_problem(
        "hessian", f, x, out_shape=None, method="central", batched=batched, chunk_size=chunk_size,
        executor=executor,
    )  # fmt: skip
    d = second_difference(p, h)
    _warn_unreliable(p, d)
    return d.value.reshape(p.x.shape * 2).astype(p.x.dtype)


def _warn_unreliable(p: Problem, d: SecondDifference) -> None:
    """No value the pass's own error estimate says is wrong goes back without a word."""
    flags = nm.unreliable(d.value, d.error, d.truncation, d.model_rounding, nm.hessian_accuracy(p.x.dtype))
    if flags.any():
        i, j = (int(k) for k in np.argwhere(flags)[0])
        warnings.warn(
            f"hessian: {int(flags.sum())} of {flags.size} entries are unreliable by numgrad's own error "
            f"estimate, first at index {p.index(i) + p.index(j)}: f varies on a shorter scale than the step "
            f"there. estimate_hessian(f, x) returns each entry's error and flag; a smaller h may help",
            RuntimeWarning,
            stacklevel=3,
        )


def second_difference(p: Problem, h: object, noise: float = 0.0) -> SecondDifference:
    """The Hessian of f at p.x from steps h and 2h (default steps: numgrad.common.numerics.hessian_steps).

    f's rounding is taken as a few ulps of |f(x)|, or `noise` (a measured standard deviation) times
    NOISE_SIGMAS where that is larger."""
    explicit, _ = resolve_step(p, h)
    x0 = np.ravel(p.x).astype(np.float64)
    steps = nm.hessian_steps(x0, p.x.dtype) if explicit is None else explicit
    f0 = float(np.real(evaluate_points(p, x0[None].astype(p.x.dtype))[0]))
    _finite(p, np.array([f0]), "x")
    small, nfev_small = _pass(p, x0, steps, f0)
    large, nfev_large = _pass(p, x0, 2 * steps, f0)
    value = (4 * small - large) / 3
    truncation = np.abs(small - large) / 3
    model = nm.ESTIMATE_ROUNDING_ULPS * nm.eps(p.x.dtype) * abs(f0)
    gain = nm.HESSIAN_ROUNDING_GAIN * nm.HESSIAN_EXTRAPOLATION_ROUNDING / np.multiply.outer(steps, steps)
    rounding = gain * max(model, nm.NOISE_SIGMAS * noise)
    return SecondDifference(value, truncation, rounding, steps, 1 + nfev_small + nfev_large, gain * model)


def _block_rows(p: Problem) -> int:
    return max(1, nm.BATCH_BYTES // max(1, p.n * p.x.dtype.itemsize))


def _blocks(
    iu: NDArray[np.intp], ju: NDArray[np.intp], rows: int
) -> Iterator[tuple[NDArray[np.intp], NDArray[np.intp]]]:
    """Index pairs in blocks of at most `rows` (the points of one block fit the memory budget)."""
    for a in range(0, len(iu), rows):
        yield iu[a : a + rows], ju[a : a + rows]


def _pass(p: Problem, x0: NDArray[np.float64], s: NDArray[np.float64], f0: float) -> tuple[NDArray[Any], int]:
    """The second differences at steps s: (n, n), symmetric."""
    n, dtype = p.n, p.x.dtype
    up, down = (x0 + s).astype(dtype), (x0 - s).astype(dtype)  # the same displaced values everywhere
    diag = np.arange(n)
    plus = np.concatenate([_at(p, x0, (i,), up) for i, _ in _blocks(diag, diag, _block_rows(p))])
    minus = np.concatenate([_at(p, x0, (i,), down) for i, _ in _blocks(diag, diag, _block_rows(p))])
    H = np.empty((n, n))
    H[diag, diag] = (plus - 2 * f0 + minus) / (s * s)
    nfev = 2 * n
    for i, j in _blocks(*np.triu_indices(n, 1), _block_rows(p)):
        both_up = _at(p, x0, (i, j), up)
        both_down = _at(p, x0, (i, j), down)
        rise = both_up + both_down - plus[i] - minus[i] - plus[j] - minus[j] + 2 * f0
        H[i, j] = H[j, i] = rise / (2 * s[i] * s[j])
        nfev += 2 * len(i)
    return H, nfev


def _at(
    p: Problem, x0: NDArray[np.float64], coords: tuple[NDArray[np.intp], ...], moved: NDArray[Any]
) -> NDArray[np.float64]:
    """f at x with, in row r, each coordinate ``c[r]`` (c in coords) set to ``moved[c[r]]``."""
    k = len(coords[0])
    rows = np.broadcast_to(x0.astype(p.x.dtype), (k, p.n)).copy()
    for c in coords:
        rows[np.arange(k), c] = moved[c]
    vals = np.real(evaluate_points(p, rows)).astype(np.float64)
    _finite(p, vals, "x ± h_i·e_i ± h_j·e_j")
    return np.asarray(vals)


def _finite(p: Problem, vals: NDArray[Any], what: str) -> None:
    bad = ~np.isfinite(vals)
    if bad.any():
        raise FloatingPointError(
            f"{p.func}: f returned a non-finite value ({vals[bad][0]}) at {what} ({int(bad.sum())} of "
            f"{vals.size} points); the second derivative there is undefined. Pass a smaller h or check "
            f"f's domain"
        )


def hessian_vector_product(
    f: Callable[..., Any],
    x: ArrayLike,
    v: ArrayLike,
    *,
    grad: Callable[..., Any] | None = None,
    h: float | None = None,
    batched: bool = False,
) -> NDArray[np.floating[Any]]:
    """The Hessian of scalar `f` at `x` times `v`, without forming the Hessian.

    With `grad` (``grad(x) -> array of x's shape``): ``(grad(x + t·v) − grad(x − t·v)) / (2t)``, two
    calls of `grad` and none of `f`. Without: the mixed second differences
    ``(f(x+tv+h_i e_i) − f(x+tv−h_i e_i) − f(x−tv+h_i e_i) + f(x−tv−h_i e_i)) / (4·t·h_i)``, 4n
    evaluations of f.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar`` (batched: ``f(stack) -> (k,)``); not called when `grad` is given.
    x, v : array_like of the same shape, float32 or float64
    grad : callable, optional
        The gradient of f, called point by point.
    h : float, optional
        Step along v, in units of ``max(1, max|x|) / max|v|``, rounded to a power of two (default:
        cbrt(eps) with `grad`, eps**(1/4) without).
    batched : bool
        `f` takes a stack of points (ignored with `grad`).

    Returns
    -------
    ndarray of x's shape and dtype

    Examples
    --------
    >>> f = lambda x: x[0] ** 2 * x[1]
    >>> hessian_vector_product(f, np.array([1.0, 2.0]), np.array([1.0, 0.0])).round(6)
    array([4., 2.])
    >>> g = lambda x: np.array([2 * x[0] * x[1], x[0] ** 2])
    >>> hessian_vector_product(f, np.array([1.0, 2.0]), np.array([1.0, 0.0]), grad=g).round(6)
    array([4., 2.])
    """
    func = "hessian_vector_product"
    xa = real_floating_array(x, func, "x")
    va = real_floating_array(v, func, "v")
    if va.shape != xa.shape:
        raise ValueError(f"{func}: v must have x's shape {xa.shape}; got {va.shape}")
    if not np.all(np.isfinite(va)) or not np.any(va):
        raise ValueError(f"{func}: v must be finite and non-zero; got {va.reshape(-1)[:4]}...")
    if grad is not None:
        callable_arg(grad, func, "grad")
    if h is not None and (isinstance(h, bool) or not isinstance(h, int | float) or not 0 < h < np.inf):
        raise ValueError(f"{func}: h must be a positive finite number or None; got {h!r}")
    base = xa.astype(np.float64).reshape(-1)
    # t moves each x_i by at most t·max(1, max|x|): the step rule for t matches the scale of x
    scale = float(np.max(np.abs(va))) / max(1.0, float(np.max(np.abs(base), initial=0.0)))
    unit = va.astype(np.float64).reshape(-1) / scale
    if grad is not None:
        t = float(np.exp2(np.round(np.log2(h if h is not None else nm.base_step("central", xa.dtype)))))
        g_plus, g_minus = (_gradient_at(grad, (base + c * t * unit).astype(xa.dtype), xa) for c in (1, -1))
        return ((g_plus - g_minus) / (2 * t) * scale).reshape(xa.shape).astype(xa.dtype)
    p = make_problem(func, f, np.array(xa), out_shape=None, method="central", batched=batched,
                     chunk_size=None, executor=None)  # fmt: skip
    t = float(np.exp2(np.round(np.log2(h if h is not None else nm.hessian_base_step(xa.dtype)))))
    s = nm.hessian_steps(base, xa.dtype)
    mixed = np.zeros(p.n)
    for sign_t, sign_s in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        along = base + sign_t * t * unit
        for i, _ in _blocks(np.arange(p.n), np.arange(p.n), _block_rows(p)):
            rows = np.broadcast_to(along, (len(i), p.n)).copy()
            rows[np.arange(len(i)), i] += sign_s * s[i]
            vals = np.real(evaluate_points(p, rows.astype(xa.dtype))).astype(np.float64)
            _finite(p, vals, "x ± t·v ± h_i·e_i")
            mixed[i] += sign_t * sign_s * vals
    return (mixed / (4 * t * s) * scale).reshape(xa.shape).astype(xa.dtype)


def _gradient_at(grad: Callable[..., Any], point: NDArray[Any], x: NDArray[Any]) -> NDArray[np.float64]:
    func = "hessian_vector_product"
    try:
        out = np.asarray(grad(point.reshape(x.shape)))
    except Exception as exc:
        exc.add_note(f"{func}: raised by grad at x ± t·v")
        raise
    if out.dtype.kind not in "fiu":
        raise TypeError(f"{func}: grad must return a real numeric array of x's shape; got {out.dtype}")
    if out.shape != x.shape:
        raise ValueError(f"{func}: grad must return an array of x's shape {x.shape}; got {out.shape}")
    if not np.all(np.isfinite(out)):
        raise FloatingPointError(f"{func}: grad returned a non-finite value at x ± t·v")
    return out.astype(np.float64).reshape(-1)

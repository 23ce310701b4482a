"""Numerical derivatives: the central-difference gradient of chapter 4, made accurate and fast.

Every function validates first, never leaves the caller's array changed, and reports non-finite values
instead of averaging them away. The engine lives in :mod:`numgrad.differences.engine` (validation,
evaluation) and :mod:`numgrad.differences.steps` (steps, assembly, refinement); constants and tolerances in
:mod:`numgrad.common.numerics`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad.common.guard import changed_at, mutation_error, unchanged
from numgrad.common.trees import WithLeaf, is_tree
from numgrad.common.validate import callable_arg, finite_point, real_floating_array
from numgrad.differences import fixed, repeated, sanity, small
from numgrad.differences.engine import make_problem, resolve_step
from numgrad.differences.joined import refuse_batched, tree_argument, tree_step
from numgrad.differences.steps import difference

__all__ = ["directional_derivative", "jacobian", "numerical_diff", "numerical_gradient"]


def numerical_gradient(
    f: Callable[..., Any],
    x: ArrayLike,
    *,
    h: float | ArrayLike | None = None,
    method: str = "central",
    batched: bool = False,
    chunk_size: int | None = None,
    executor: Executor | None = None,
) -> NDArray[np.floating[Any]]:
    """Gradient of a scalar function `f` at `x` by finite differences.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``; with ``batched=True``, ``f(stack) -> (k,)`` for a stack ``(k, *x.shape)``.
    x : array_like, float32 or float64, any shape (0-d included)
        In element-by-element mode (the default) the caller's array is perturbed in place, one element
        at a time, and restored bitwise before returning (also when `f` raises), so the book's idiom
        ``numerical_gradient(lambda W: net.loss(x, t), net.params["W1"])`` works.
    h : float or array of x's shape, optional
        ``None`` picks the step from the dtype, the scale of each ``x_i`` and the measured scale of `f`.
        A number is used as given with the textbook formula ``(f(x+h) − f(x−h)) / (2h)``.
    method : {"central", "forward", "backward", "richardson", "complex"}
        ``"richardson"`` is 4th order (steps h and 2h); ``"complex"`` is the complex step
        ``Im f(x + ih) / h``, exact to rounding for code that carries complex numbers through.
    batched : bool
        `f` takes a stack of points; perturbations are sent in memory-bounded chunks. From the second
        call of the same `f` at x's shape, the probe's points share the pass's first call (the pass at the
        last call's steps and the refinement's first points at its first suspects are evaluated with
        them, and count where the probe and the refinement choose them again): f's value at a point
        must not depend on the other points of its stack.
    chunk_size : int, optional
        Points per call of `f` (batched) or per executor task; by default a batched `f` gets stacks of
        at most 512 KiB (``numgrad.common.numerics.CHUNK_BYTES``: they stay in cache and f's temporaries
        are reused from the heap), and executor tasks at most 4 MiB (``BATCH_BYTES``), which the worker
        hands a batched `f` in stacks of the same cache size. A batched `f` receives read-only stacks.
    executor : concurrent.futures.Executor, optional
        Chunks of points are submitted to it (a process pool, a Dask client's executor); `f` must pickle.

    Returns
    -------
    ndarray of x's shape and dtype

    Raises
    ------
    TypeError
        If `x` is not a real floating array, `f` is not callable or returns a non-number.
    ValueError
        If `f` returns a non-scalar, `method` is unknown, `h` is not positive, or `x` is read-only in
        element-by-element mode.
    FloatingPointError
        If `f` returns a non-finite value at any point used.

    Examples
    --------
    >>> numerical_gradient(lambda x: x[0]**2 + x[1]**2, np.array([3.0, 4.0]), h=1e-4)
    array([6., 8.])

    x may be a pytree (nested dict / list / tuple of float arrays); the gradient has its structure, and
    each leaf is differenced in place as its own array, with its own dtype and steps:

    >>> g = numerical_gradient(lambda p: np.sum(p["w"] ** 2) + p["b"][0], {"w": np.ones(2), "b": np.zeros(1)})
    >>> {k: v.round(6) for k, v in g.items()}
    {'w': array([2., 2.]), 'b': array([1.])}
    """
    if (
        small.eligible(x, method, batched, chunk_size, executor)
        and (h is None or (type(h) is float and 0 < h < math.inf))
        and callable(f)
    ):
        try:  # a few elements: the fixed cost of a call is most of it
            got = (
                small.gradient("numerical_gradient", f, x)[0]  # type: ignore[arg-type]
                if h is None
                else small.explicit_gradient("numerical_gradient", f, x, h)  # type: ignore[arg-type]
            )
            g: NDArray[np.float64] = np.array(got)
            return g if x.ndim == 1 else g.reshape(x.shape)  # type: ignore[union-attr]
        except small.Fallback:
            pass  # the general path takes the problem from the start
    if fixed.eligible(f, x, h, method, batched, chunk_size, executor):
        done = fixed.gradient(f, x, h)  # type: ignore[arg-type]
        if done is not None:  # the textbook's 2n points in one stack, one call of f, little else
            return done
    if repeated.eligible(f, x, h, method, batched, chunk_size, executor):
        kept = repeated.gradient(f, x)  # type: ignore[arg-type]
        if kept is not None:  # f's steps from its last call at x's shape: one call of f, little else
            return kept
    if is_tree(x):
        return _per_leaf(  # type: ignore[no-any-return]
            "numerical_gradient", f, x, h, batched, executor is None and method != "complex",
            lambda fk, leaf, hk: numerical_gradient(fk, leaf, h=hk, method=method, chunk_size=chunk_size,
                                                    executor=executor),
        )  # fmt: skip
    p = make_problem(
        "numerical_gradient", f, x, out_shape=None, method=method, batched=batched,
        chunk_size=chunk_size, executor=executor,
    )  # fmt: skip
    with unchanged(p.func, p.x):
        d = difference(p, h)
    return d.derivative.reshape(p.x.shape).astype(p.x.dtype, copy=False)  # a fresh array, never x


def numerical_diff(
    f: Callable[..., Any], x: float | ArrayLike, *, h: float | None = None, method: str = "central"
) -> float:
    """Derivative of a function of one real variable.

    `f` receives a NumPy scalar. ``h=1e-4`` reproduces the book: ``numerical_diff(f, 5.0, h=1e-4)`` for
    ``f(x) = 0.01x² + 0.1x`` is 0.1999999999990898.

    Examples
    --------
    >>> round(numerical_diff(lambda x: 0.01 * x**2 + 0.1 * x, 5.0), 12)
    0.2
    """
    # A Python number is a point on the real line (the book calls numerical_diff(f, 5)); arrays keep
    # their dtype, so an integer array is still refused.
    plain = isinstance(x, float | int) and not isinstance(x, bool)
    if plain and isinstance(x, int) and abs(x) > sys.float_info.max:  # (an exact comparison)
        digits = len(str(abs(x)))
        raise ValueError(f"numerical_diff: x must be within float64's range (±1.8e308); got {digits} digits")
    x0 = np.array(float(x)) if plain else real_floating_array(x, "numerical_diff", "x")  # type: ignore[arg-type]
    if x0.ndim != 0:
        raise ValueError(
            f"numerical_diff: x must be a scalar; got an array of shape {x0.shape}. "
            f"Use numerical_gradient for arrays"
        )
    p = make_problem(
        "numerical_diff", lambda t: f(t[()]), np.array(x0), out_shape=None, method=method,
        batched=False, chunk_size=None, executor=None,
    )  # fmt: skip
    return float(difference(p, h).derivative[0])


def jacobian(
    f: Callable[..., Any],
    x: ArrayLike,
    *,
    h: float | ArrayLike | None = None,
    method: str = "central",
    batched: bool = False,
    chunk_size: int | None = None,
    executor: Executor | None = None,
) -> NDArray[np.floating[Any]]:
    """Jacobian of an array-valued `f` at `x`: shape ``f(x).shape + x.shape``.

    Options as in :func:`numerical_gradient`; a batched `f` returns ``(k, *f(x).shape)``.

    Examples
    --------
    >>> jacobian(lambda x: np.array([x[0] * x[1], x[0]]), np.array([2.0, 3.0]), h=1e-4).round(6)
    array([[3., 2.],
           [1., 0.]])

    For a pytree x, a pytree of x's structure whose leaves have shape ``f(x).shape + leaf.shape`` (as
    ``jax.jacfwd``).
    """
    if is_tree(x):
        return _per_leaf(  # type: ignore[no-any-return]
            "jacobian", f, x, h, batched, executor is None and method != "complex",
            lambda fk, leaf, hk: jacobian(fk, leaf, h=hk, method=method, chunk_size=chunk_size,
                                          executor=executor),
        )  # fmt: skip
    p = make_problem(  # every argument validated before f runs; f's output shape from its first call
        "jacobian", f, x, out_shape=(), method=method, batched=batched, chunk_size=chunk_size,
        executor=executor,
    )  # fmt: skip
    resolve_step(p, h)  # (h too)
    with unchanged(p.func, p.x):  # f may write into the caller's x from a closure, at its first call too
        with np.errstate(all="ignore"):  # non-finite values are reported by the engine, not as warnings
            sample = np.asarray(p.f(np.array(p.x)[None] if batched else np.array(p.x)))  # copies of x
        if sample.dtype.kind not in "fiuc" or (batched and sample.ndim == 0):
            what = "an array of shape (k, ...) for a stack of k points" if batched else "an array of numbers"
            raise TypeError(f"jacobian: f must return {what}; got {type(sample).__name__} of {sample.dtype}")
        out_shape = tuple(sample.shape[1:] if batched else sample.shape)
        d = difference(replace(p, out_shape=out_shape), h).derivative  # (n, *out)
    moved = np.moveaxis(d.reshape(p.n, -1), 0, -1)
    return moved.reshape((*out_shape, *p.x.shape)).astype(p.x.dtype)


def directional_derivative(
    f: Callable[..., Any], x: ArrayLike, v: ArrayLike, *, h: float | None = None, method: str = "central"
) -> float:
    """Derivative of scalar `f` at `x` along `v` (not normalised): ``∇f(x) · v``, with two evaluations
    for the central method whatever the size of `x` (plus a few to choose the step when ``h=None``).

    Examples
    --------
    >>> round(directional_derivative(lambda x: np.sum(x**2), np.array([1.0, 2.0]), np.array([1.0, 0.0])), 8)
    2.0
    """
    xa = finite_point(real_floating_array(x, "directional_derivative", "x"), "directional_derivative", "x")
    va = real_floating_array(v, "directional_derivative", "v")
    if va.shape != xa.shape:
        raise ValueError(f"directional_derivative: v must have x's shape {xa.shape}; got {va.shape}")
    if not np.all(np.isfinite(va)) or not np.any(va):
        what = "zero everywhere" if np.all(va == 0) else "not finite"
        raise ValueError(f"directional_derivative: v must be finite and non-zero; got a v {what}")
    base = xa.astype(np.float64)
    # t moves each x_i by at most |t|·max(1, max|x|): the step rule for t then matches the scale of x
    scale = float(np.max(np.abs(va))) / max(1.0, float(np.max(np.abs(base), initial=0.0)))
    unit = va.astype(np.float64) / scale
    if isinstance(h, float | int) and not isinstance(h, bool) and 0 < h < math.inf:  # a given step
        sanity.step_moves_along("directional_derivative", base, unit, float(h), xa.dtype, h)

    def along(t: NDArray[Any]) -> Any:
        point = (base + t[()] * unit).astype(np.result_type(xa.dtype, t.dtype))
        kept = point.copy()
        out = f(point)
        j = changed_at(point, kept)  # f wrote into its argument (a point of numgrad's, not x)
        if j is not None:
            raise mutation_error("directional_derivative", "f", "x", xa.shape, j, kept.flat[j].item(),
                                 point.flat[j].item())  # fmt: skip
        return out

    t0 = np.zeros((), dtype=xa.dtype)
    p = make_problem(
        "directional_derivative", along, t0, out_shape=None, method=method, batched=False,
        chunk_size=None, executor=None,
    )  # fmt: skip
    with unchanged(p.func, xa), unchanged(p.func, va, arg="v"):  # f may write into them from a closure
        return float(difference(p, h).derivative[0]) * scale


def _per_leaf(
    func: str, f: object, x: Any, h: object, batched: object, in_place: bool,
    one: Callable[[Any, Any, Any], Any],
) -> Any:  # fmt: skip
    """`one(f_k, leaf_k, h_k)` for every leaf of the pytree x, as x's structure (`in_place`: the leaves
    are perturbed in place, so each must be writable; said by its path before f runs)."""
    fn = callable_arg(f, func)
    flat = tree_argument(x, func)  # an empty or non-finite leaf is named by its path
    refuse_batched(func, flat, batched)
    tree_step(func, h)
    for leaf, path in zip(flat.leaves, flat.paths, strict=True):
        if in_place and not leaf.flags.writeable:
            raise ValueError(
                f"{func}: x{path} is read-only, but each leaf is perturbed in place (so that functions "
                f"reading it from a closure see the perturbation); pass a copy of that leaf"
            )
    return flat.unflatten([one(WithLeaf(fn, flat, k), leaf, h) for k, leaf in enumerate(flat.leaves)])

"""JAX twin of numgrad.differences.gradient: exact derivatives by autodiff, finite differences in JAX.

The finite-difference twins evaluate ``jit(vmap(f))`` over stacks of perturbed points, chosen by the same
step rule as numgrad (:mod:`numgrad.common.numerics`). Each stack is sharded across every device JAX sees
(a 1-D mesh over the batch axis, padded to a multiple of the device count with copies of x): several GPUs or
TPU cores split the perturbations, and one device gives the same values.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from functools import lru_cache, partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from numpy.typing import ArrayLike, NDArray

from numgrad.common import numerics as nm
from numgrad.common.trees import WithLeaf, float_leaves, is_tree

__all__ = [
    "directional_derivative",
    "exact_gradient",
    "exact_jacobian",
    "jacobian",
    "numerical_diff",
    "numerical_gradient",
]


# Autodiff run eagerly on small arrays spends nearly all its time compiling one XLA kernel per operation
# (a pytree Hessian: seconds); under jit it is one compilation. Eager autodiff also lets f's Python control
# flow read x's values (``if x[0] > 0``), which tracing for jit does not: such an f runs eagerly.
# As with _jit_vmap below, the compiled derivative of an f keeps the arrays f closes over as they were at
# its first call; a new f (a new lambda) sees their values now.
_NEEDS_VALUES = (jax.errors.ConcretizationTypeError, jax.errors.TracerIntegerConversionError)


@lru_cache(maxsize=64)  # one compilation per (derivative, f), not per call
def _jit_of(transform: Callable[..., Any], f: Callable[..., Any]) -> Callable[..., Any]:
    return jax.jit(transform(f))


def autodiff(transform: Callable[..., Any], f: Callable[..., Any], *args: Any) -> Any:
    """``transform(f)(*args)`` (``transform`` such as ``jax.grad``), compiled; eagerly where f needs
    concrete values of its argument (then f is traced twice)."""
    try:
        compiled = _jit_of(transform, f)
    except TypeError:  # an unhashable callable: compiled afresh each call
        compiled = jax.jit(transform(f))
    try:
        return compiled(*args)
    except _NEEDS_VALUES:
        return transform(f)(*args)


def exact_gradient(f: Callable[..., Any], x: ArrayLike) -> NDArray[Any]:
    """``jax.grad(f)(x)`` as a NumPy array of x's dtype."""
    xa = np.asarray(x)
    return np.asarray(autodiff(jax.grad, f, jnp.asarray(xa))).astype(xa.dtype)


def exact_jacobian(f: Callable[..., Any], x: ArrayLike) -> NDArray[Any]:
    """``jax.jacrev(f)(x)``: shape ``f(x).shape + x.shape``."""
    xa = np.asarray(x)
    return np.asarray(autodiff(jax.jacrev, f, jnp.asarray(xa))).astype(xa.dtype)


@lru_cache(maxsize=64)  # one compilation per f, not per call
def _jit_vmap(f: Callable[..., Any]) -> Callable[[Any], Any]:
    return jax.jit(jax.vmap(f))


def _vectorized(f: Callable[..., Any], batched: bool) -> Callable[[Any], Any]:
    if batched:
        return f
    try:
        return _jit_vmap(f)
    except TypeError:  # an unhashable callable: compiled afresh each call
        return jax.jit(jax.vmap(f))


@lru_cache(maxsize=1)
def _batch_sharding() -> tuple[NamedSharding, NamedSharding]:
    """The batch axis split across every JAX device, and a copy on each (for x)."""
    mesh = Mesh(np.array(jax.devices()), ("batch",))
    return NamedSharding(mesh, PartitionSpec("batch")), NamedSharding(mesh, PartitionSpec())


@partial(jax.jit, static_argnums=3)
def _rows(flat: Any, values: Any, coords: Any, shape: tuple[int, ...]) -> Any:
    """Row k: x with coordinate coords[k] set to values[k]; built on the devices, sharded like values."""
    return jax.vmap(lambda v, c: flat.at[c].set(v))(values, coords).reshape(-1, *shape)


def _on_devices(
    fv: Callable[[Any], Any], flat: NDArray[Any], values: NDArray[Any], coords: NDArray[np.intp], rows: int,
    shape: tuple[int, ...],
) -> NDArray[Any]:  # fmt: skip
    """fv at the points of one chunk, padded to `rows` points (copies of x) and sharded over the devices."""
    k, pad = len(values), rows - len(values)
    padded = np.concatenate([values, np.repeat(flat[:1], pad)])  # coordinate 0 set to x_0: x itself
    where = np.concatenate([coords, np.zeros(pad, dtype=coords.dtype)])
    batch, copy = _batch_sharding()
    on = _rows(jax.device_put(flat, copy), jax.device_put(padded, batch), jax.device_put(where, batch), shape)
    return np.asarray(fv(on))[:k]


def _points(fv: Callable[[Any], Any], points: NDArray[Any], shape: tuple[int, ...]) -> NDArray[Any]:
    """fv at whole points (k, n), such as the probe's, padded and sharded like the perturbations."""
    pad = -len(points) % jax.device_count()
    padded = np.concatenate([points, np.repeat(points[:1], pad, axis=0)]).reshape(-1, *shape)
    return np.asarray(fv(jax.device_put(padded, _batch_sharding()[0])))[: len(points)]


def _evaluate(
    fv: Callable[[Any], Any],
    x: NDArray[Any],
    values: NDArray[Any],
    coords: NDArray[np.intp],
    chunk_size: int | None,
    executor: Executor | None,
) -> NDArray[Any]:
    """fv over x with coordinate coords[k] set to values[k], in chunks of rows spread over the devices.

    Every chunk is padded to one size, a multiple of the device count: one compilation, even shards.
    """
    flat = x.reshape(-1).astype(values.dtype)
    budget = nm.BATCH_BYTES if jax.default_backend() == "cpu" else nm.DEVICE_BATCH_BYTES
    size = min(chunk_size or max(1, budget // max(1, flat.nbytes)), len(coords))
    devices = jax.device_count()
    rows = -(-size // devices) * devices
    bounds = [(a, min(a + size, len(coords))) for a in range(0, len(coords), size)]

    def run(a: int, b: int) -> NDArray[Any]:
        return _on_devices(fv, flat, values[a:b], coords[a:b], rows, x.shape)

    if executor is None:
        parts = [run(a, b) for a, b in bounds]
    else:
        parts = [fut.result() for fut in [executor.submit(run, a, b) for a, b in bounds]]
    return np.concatenate(parts)


def _difference(
    fv: Callable[[Any], Any],
    x: NDArray[Any],
    h: Any,
    method: str,
    chunk_size: int | None,
    executor: Executor | None,
) -> NDArray[np.float64]:
    """Derivatives along every coordinate, shape (n, *out), by numgrad's stencils and step rule."""
    x0 = x.reshape(-1).astype(np.float64)
    n = x0.size
    every = np.arange(n, dtype=np.intp)
    if h is not None:
        steps = np.broadcast_to(np.asarray(h, dtype=np.float64), x.shape).reshape(-1)
    elif method == "complex":
        steps = nm.complex_steps(x0)
    else:
        probe = nm.probe_points(x0, x.dtype)
        vals = _points(fv, probe, x.shape)
        steps = nm.steps_from_probe(vals, x0, x.dtype, method)[0]
    if method == "complex":
        values = (x0 + 1j * steps).astype(np.result_type(x.dtype, 1j))
        vals = _evaluate(fv, x, values, every, chunk_size, executor)
        return np.imag(vals) / steps.reshape(n, *([1] * (vals.ndim - 1)))
    stencil = nm.STENCILS[method]
    moved = [c for c in stencil.offsets if c != 0]
    values = np.concatenate([x0 + c * steps for c in moved]).astype(x.dtype)
    vals = _evaluate(fv, x, values, np.tile(every, len(moved)), chunk_size, executor).astype(np.float64)
    by_offset = dict(zip(moved, vals.reshape(len(moved), n, *vals.shape[1:]), strict=True))
    if 0 in stencil.offsets:
        by_offset[0] = _points(fv, x.reshape(1, -1), x.shape).astype(np.float64)[0][None]
    total = sum(w * by_offset[c] for c, w in zip(stencil.offsets, stencil.weights, strict=True))
    return np.asarray(total / steps.reshape(n, *([1] * (vals.ndim - 1))))


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
    """Finite-difference gradient of a JAX-traceable scalar `f`, evaluated as ``jit(vmap(f))``; a pytree
    x leaf by leaf, as numgrad (each leaf vmapped with the others held fixed)."""
    if is_tree(x):
        options = {"h": h, "method": method, "chunk_size": chunk_size, "executor": executor}
        return _per_leaf(f, x, lambda fk, v: numerical_gradient(fk, v, **options))
    xa = np.asarray(x)
    d = _difference(_vectorized(f, batched), xa, h, method, chunk_size, executor)
    return d.reshape(xa.shape).astype(xa.dtype)


def numerical_diff(
    f: Callable[..., Any], x: float | ArrayLike, *, h: float | None = None, method: str = "central"
) -> float:
    xa = np.asarray(x, dtype=np.asarray(x).dtype if np.asarray(x).dtype.kind == "f" else np.float64)
    return float(_difference(_vectorized(f, False), xa, h, method, None, None)[0])


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
    if is_tree(x):
        options = {"h": h, "method": method, "chunk_size": chunk_size, "executor": executor}
        return _per_leaf(f, x, lambda fk, v: jacobian(fk, v, **options))
    xa = np.asarray(x)
    d = _difference(_vectorized(f, batched), xa, h, method, chunk_size, executor)  # (n, *out)
    out_shape = d.shape[1:]
    return np.moveaxis(d.reshape(xa.size, -1), 0, -1).reshape(*out_shape, *xa.shape).astype(xa.dtype)


def directional_derivative(
    f: Callable[..., Any], x: ArrayLike, v: ArrayLike, *, h: float | None = None, method: str = "central"
) -> float:
    xa, va = np.asarray(x), np.asarray(v)
    base = xa.astype(np.float64)
    scale = float(np.max(np.abs(va))) / max(1.0, float(np.max(np.abs(base), initial=0.0)))
    unit = jnp.asarray(va.astype(np.float64) / scale)

    def along(t: Any) -> Any:
        return f((base + t * unit).astype(jnp.result_type(xa.dtype, t.dtype)))

    return (
        float(_difference(_vectorized(along, False), np.zeros((), xa.dtype), h, method, None, None)[0])
        * scale
    )


def _per_leaf(f: Callable[..., Any], x: Any, one: Callable[[Any, Any], Any]) -> Any:
    """`one(f_k, leaf_k)` for every leaf of the pytree x, rebuilt as x's structure."""
    flat = float_leaves(x, "numgrad_reference")
    return flat.unflatten([one(WithLeaf(f, flat, k), leaf) for k, leaf in enumerate(flat.leaves)])

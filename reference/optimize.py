"""JAX twin of numgrad.book.optimize: the same descent with ``jax.grad`` (or JAX central differences when
`h` is given), run as one ``lax.scan``; the stopping decisions are numgrad's own, applied to the scanned path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from numpy.typing import ArrayLike

from numgrad.book.optimize import (
    DEFAULT_LR,
    DEFAULT_STEP_NUM,
    DescentResult,
    _final_status,
    _step_verdict,
    divergence_reason,
)

__all__ = ["DescentResult", "gradient_descent"]


def _central(f: Callable[..., Any], h: float | ArrayLike, shape: tuple[int, ...]) -> Callable[[Any], Any]:
    """The textbook ``(f(x + h·e_i) − f(x − h·e_i)) / 2h`` for every i, as one vmap over 2n points."""
    steps = jnp.broadcast_to(jnp.asarray(h, dtype=jnp.float64), shape).reshape(-1)
    n = steps.size
    moves = jnp.diag(steps).reshape(n, *shape)
    fv = jax.vmap(lambda p: jnp.reshape(f(p), ()))

    def grad(x: Any) -> Any:
        plus, minus = fv(x + moves.astype(x.dtype)), fv(x - moves.astype(x.dtype))
        return ((0.5 * plus - 0.5 * minus) / steps).reshape(shape)

    return grad


def _scalar(f: Callable[..., Any]) -> Callable[[Any], Any]:
    return lambda x: jnp.reshape(f(x), ())


@functools.lru_cache(maxsize=64)
def _scan(
    f: Callable[..., Any],
    grad: Callable[..., Any] | None,
    h_key: tuple[float, ...] | None,
    shape: tuple[int, ...],
    lr: float,
    step_num: int,
) -> Callable[[Any], Any]:
    """The whole descent as one jitted ``lax.scan``, compiled once per (f, grad, h, shape, lr, steps)."""
    scalar_f = _scalar(f)
    if grad is not None:
        g_fn = grad
    elif h_key is not None:
        g_fn = _central(f, np.asarray(h_key).reshape(shape), shape)
    else:
        g_fn = jax.grad(scalar_f)

    def body(x: Any, _: Any) -> tuple[Any, tuple[Any, Any, Any]]:
        g = jnp.asarray(g_fn(x))
        x_new = (x - lr * g).astype(x.dtype)
        return x_new, (x_new, scalar_f(x_new), jnp.all(jnp.isfinite(g)))

    return jax.jit(lambda x0: lax.scan(body, x0, None, length=step_num)[1])


def gradient_descent(
    f: Callable[..., Any],
    init_x: ArrayLike,
    lr: float = DEFAULT_LR,
    step_num: int = DEFAULT_STEP_NUM,
    *,
    grad: Callable[..., Any] | None = None,
    h: float | ArrayLike | None = None,
    tol: float | None = None,
) -> DescentResult:
    """Gradient descent of a JAX-traceable `f` (and `grad`); numgrad's :class:`DescentResult`."""
    a = np.asarray(init_x)
    x0 = jnp.asarray(a if a.dtype.kind == "f" else a.astype(np.float64))
    h_key = None if h is None else tuple(np.broadcast_to(np.asarray(h, np.float64), x0.shape).ravel())
    run = _scan(f, grad, h_key, x0.shape, float(lr), int(step_num))
    xs, fs, finite = run(x0)
    scalar_f = _scalar(f)
    xs, fs, finite = np.asarray(xs), np.asarray(fs, dtype=np.float64), np.asarray(finite)
    path = np.concatenate([np.asarray(x0)[None], xs])
    values = np.concatenate([[float(scalar_f(x0))], fs])
    steps, status = _stop(path, values, finite, tol)
    status = status or _final_status(path[: steps + 1], tol)
    return DescentResult(
        x=path[steps].copy(),
        path=path[: steps + 1],
        values=values[: steps + 1],
        status=status,
        steps=steps,
        reason=divergence_reason(status, path[: steps + 1], values[: steps + 1]),
    )


def _stop(path: Any, values: Any, finite: Any, tol: float | None) -> tuple[int, str | None]:
    """The step at which numgrad's loop would have stopped, and why (None: it took every step)."""
    for k in range(len(finite)):
        if not finite[k]:
            return k, "diverged"
        verdict = _step_verdict(float(values[0]), path[k], path[k + 1], float(values[k + 1]), tol)
        if verdict is not None:
            return k + 1, verdict
    return len(finite), None

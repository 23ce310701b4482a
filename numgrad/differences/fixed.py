"""The fixed-step path of the engine: a batched f's gradient at an explicit step h, where x fits one stack.

At ``numerical_gradient(f, x, batched=True, h=1e-4)`` the engine evaluates exactly the 2n points of the
textbook's central difference, in one call of f where they fit one cache-sized stack (x of up to 181
float64 elements). Around that call the general path (validation, the chunked evaluation, the
stencil's assembly for any method and dtype) cost about a third of what f itself does on the book's
softmax-CE (10,10), whose f costs about 1 µs a point. This path builds the one stack directly (x + h and
x − h written onto the diagonals of its two halves), calls f on it through the engine's own evaluation
and checks, and assembles the quotients with the stencil's own weights, in the general path's order: the
gradient is bitwise the general path's, and f sees the same stack (tests/differences/test_fixed.py). Its
explicit step is checked as the general path checks it
(:func:`numgrad.differences.sanity.explicit_step_moves`), and a non-finite value raises the same error.

A call this path cannot take (another method or h, chunks, an executor, a float32 or non-finite x, an x
too large for one stack) goes to the general path before f is called.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.common import numerics as nm
from numgrad.common.guard import unchanged
from numgrad.differences import sanity
from numgrad.differences import stacks as st
from numgrad.differences.engine import Problem, evaluate_stack, one_stack_call
from numgrad.differences.steps import _check_finite, _pass_points

__all__ = ["eligible", "gradient"]

_FLOAT64 = np.dtype(np.float64)
_MAX, _ALL = np.maximum.reduce, np.logical_and.reduce  # the reductions without ndarray's method wrappers
_FUNC = "numerical_gradient"
_CENTRAL = nm.STENCILS["central"]
_MOVED = _CENTRAL.moved  # (1, −1): no f(x) in the quotient
_REACH = max(abs(c) for c in _MOVED)  # the farthest offset: 1


def eligible(
    f: object, x: object, h: object, method: object, batched: object, chunk_size: object, executor: object
) -> bool:
    """Whether a call of numerical_gradient may take this path: h a positive finite Python float, and a
    batched central call at a float64 array x in the engine's own stacks
    (:func:`~numgrad.differences.engine.one_stack_call`)."""
    explicit = type(h) is float and 0 < h < math.inf
    return explicit and one_stack_call(f, x, method, batched, chunk_size, executor)


@functools.lru_cache(maxsize=32)
def _layout(n: int) -> NDArray[np.intp] | None:
    """The coordinate set in each of the 2n rows (x + h for every coordinate, then x − h), where the
    general path hands the rows to f in one stack (:func:`~numgrad.differences.stacks.chunk_bounds`); else
    None."""
    if len(st.chunk_bounds(2 * n, n * _FLOAT64.itemsize, nm.CHUNK_BYTES)) != 1:
        return None
    return nm.coordinates(n, len(_MOVED))  # read-only


def gradient(f: Any, x: NDArray[np.float64], h: float) -> NDArray[np.float64] | None:
    """numerical_gradient(f, x, batched=True, h=h) where :func:`eligible`; None, before f is called, where
    x is empty, not finite or too large for one stack: the general path takes the problem from the start
    (and says what is wrong with x)."""
    n = x.size
    coords = _layout(n) if n else None
    if coords is None:
        return None
    top = float(_MAX(np.abs(x), axis=None))  # NaN where any x_i is: x is finite where top < inf
    if not top < math.inf:
        return None
    p = Problem(_FUNC, f, x, None, "central", True, None, None)
    guard = unchanged(_FUNC, x)
    with guard:
        # a copy, as the general path's (f may write into x): the guard's own, which nothing writes into
        x0 = np.ravel(x).astype(np.float64) if guard.saved is None else guard.saved.reshape(-1)
        if not sanity.explicit_step_clears(_FLOAT64, top, h, h, _REACH):
            steps = np.full(n, h)  # checks the points the general path would build (x + h, then x − h)
            sanity.explicit_step_moves(p, x0, _pass_points(p, x0, steps, _MOVED), _MOVED, steps, given=True)
        st.settle_allocator()
        stack = np.repeat(x0.reshape(1, n), 2 * n, axis=0)  # the general path's one stack, built directly:
        flat = stack.reshape(-1)  # row k sets coordinate k mod n, on the diagonals of its two halves
        np.add(x0, _MOVED[0] * h, out=flat[: n * n : n + 1])  # c·h + x, as the general path's points
        np.add(x0, _MOVED[1] * h, out=flat[n * n :: n + 1])
        stack.flags.writeable = False
        vals = evaluate_stack(p, stack.reshape(2 * n, *x.shape))
        del stack, flat
        if vals.dtype != _FLOAT64:  # f's coarser values, as the general path takes them
            vals = vals.astype(_FLOAT64)
        deriv = _quotient(vals, n, h)
        if not _ALL(np.isfinite(deriv)):  # every value is in one quotient: a non-finite one makes it so
            _check_finite(p, vals, coords, "x ± h")
            _check_finite(p, deriv, np.arange(n), "the difference quotient")
    return deriv.reshape(x.shape)


def _quotient(vals: NDArray[np.float64], n: int, h: float) -> NDArray[np.float64]:
    """:func:`~numgrad.differences.steps.weighted_quotient` of the 2n values (x + h, then x − h) at the
    one step h, operation for operation (so bit for bit), in one buffer: the stencil's sum starts at 0
    (0 + w·f turns −0.0 into +0.0), adds w·f at each offset in turn and divides by h."""
    (w_up, w_down), up, down = _CENTRAL.weights, vals[:n], vals[n:]
    total = np.multiply(up, w_up)
    total += 0.0
    total += np.multiply(down, w_down)
    total /= h
    return total

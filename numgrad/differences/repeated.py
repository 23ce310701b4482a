"""The repeated-call path of the engine: a batched f's gradient at a small x, from its second call on.

From a batched f's second call the general engine (:func:`numgrad.differences.steps.difference`) evaluates
the probe, the pass at the steps f's last call chose, the truncation test's x + 2h and the refinement's
first points in one call of f, and counts them where the probe and the refinement choose them again
(``steps._joined``). Where all of that fits one stack (x of up to about 175 elements) the general machinery
around the call — chunks, points for any stencil and dtype, the records that carry them — costs half of
what f itself does on the book's softmax-CE (10,10), whose f costs about 1 µs a point. This path builds
the same stack directly and, where f's values are float64 and finite, the probe chooses the last steps
again and the truncation test keeps them, assembles the quotients itself and refines them with the engine's
own refinement. The points, the step rule, the tests and the refinement are the engine's, so the gradient
is bitwise the general engine's (tests/differences/test_repeated.py).

Anything else (other steps, halved steps, a non-finite or float32 value) is handed to the general engine
with f's values at the stack (:func:`~numgrad.differences.steps.joined_pass`), which goes on from them
exactly as from its own call: no point is evaluated twice. A call this path cannot take goes to the general
engine before f is called.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.common import numerics as nm
from numgrad.common.guard import unchanged
from numgrad.differences import stacks as st
from numgrad.differences.engine import Problem, evaluate_stack, one_stack_call
from numgrad.differences.steps import (
    Float32Input,
    _check_finite,
    _halve_if_truncated,
    _refine,
    _Refined,
    _remember,
    _stencil_points,
    difference,
    joined_pass,
    kept_pass,
    on_float32_input,
)

__all__ = ["eligible", "gradient"]

_FLOAT64 = np.dtype(np.float64)
_FUNC = "numerical_gradient"
_MOVED = nm.STENCILS["central"].moved  # (1, -1)


def eligible(
    f: object, x: object, h: object, method: object, batched: object, chunk_size: object, executor: object
) -> bool:
    """Whether a call of numerical_gradient may take this path: the automatic step, and a batched central
    call at a float64 array x in the engine's own stacks
    (:func:`~numgrad.differences.engine.one_stack_call`)."""
    return h is None and one_stack_call(f, x, method, batched, chunk_size, executor)


@dataclass(frozen=True)
class _Layout:
    """The one stack for x of n elements, as ``steps._joined`` lays it out: the probe's rows, then x with one
    coordinate set per row — x + h and x − h for every coordinate, then x + 2h at the truncation test's
    coordinates where the test applies (n of at least TRUNCATION_MIN_N), then the refinement's first
    points (x ± h/2 at its first suspects)."""

    probe: int  # the probe's rows
    rows: int  # without the refinement's points
    coords: NDArray[np.intp]  # the coordinate set in each row after the probe's, up to the refinement's
    offsets: NDArray[np.float64]  # ... and its point, x + offset·h there: 1, −1 (the pass), 2 (the test)
    where: NDArray[np.intp]  # ... and the flat position of that coordinate in the stack
    tested: NDArray[np.intp] | None  # the stack's rows at the truncation test's points, where it applies


@functools.lru_cache(maxsize=32)
def _layout(n: int) -> _Layout | None:
    """The stack's layout, where the general engine's first stack holds it with the most first suspects the
    refinement keeps (REFINE_SAMPLE); else None."""
    m, moved = nm.probe_size(n), np.array(_MOVED, dtype=np.float64)
    sample = nm.truncation_sample(n) if n >= nm.TRUNCATION_MIN_N else None
    coords, offsets = nm.coordinates(n, 2), np.repeat(moved, n)
    tested = None
    if sample is not None:  # x ± h are the pass's own points, only x + 2h is the test's
        own = [c for c in nm.TRUNCATION_OFFSETS.tolist() if c not in _MOVED]  # 2: x + 2h
        coords = np.concatenate([coords, np.tile(sample, len(own))])
        offsets = np.concatenate([offsets, np.repeat(own, len(sample))])
        tested = m + np.concatenate([sample, n + sample, 2 * n + np.arange(len(own) * len(sample))])
    where = st.joined_positions(m, coords, n)
    for array in (coords, offsets, where, tested):
        if array is not None:
            array.flags.writeable = False
    rows, capacity = m + len(coords), nm.CHUNK_BYTES // (n * _FLOAT64.itemsize)  # chunk_bounds' first
    if rows + 2 * nm.REFINE_SAMPLE > capacity:
        return None
    return _Layout(m, rows, coords, offsets, where, tested)


def gradient(f: Any, x: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """numerical_gradient(f, x, batched=True) where :func:`eligible` and f's last call at x's shape kept its
    steps (:func:`~numgrad.differences.steps.kept_pass`); None, before f is called, where it did not (or x
    is not finite, or too large for one stack): the general path takes the problem from the start."""
    n = x.size
    layout = _layout(n) if n else None
    if layout is None or not np.isfinite(x).all():  # the general path says what is wrong with x
        return None
    p = Problem(_FUNC, f, x, None, "central", True, None, None)
    last = kept_pass(p)
    if last is None:
        return None
    key, steps, head = last
    with unchanged(_FUNC, x):
        x0 = np.ravel(x).astype(np.float64)  # a copy, as the general path's: f may write into x
        length = nm.length_scales(x0)
        coords, where, m = layout.coords, layout.where, layout.probe
        # the engine's points (steps._pass_points, then _test_points' x + 2h), x + c·h, in one product
        values = layout.offsets * steps[coords] + x0[coords]
        points, first = values[: 2 * n], None
        if head is not None:  # the refinement's first halving at the last call's first suspects
            half = steps[head] / 2
            at, tiled = _stencil_points(p, x0, head, half)
            values, first = np.concatenate([values, at]), (head, half, tiled)
            where = np.concatenate([where, st.joined_positions(layout.rows, tiled, n)])
        rows = nm.probe_points(x0, x.dtype, length)
        stack = st.joined_stack(x0, rows, values, where, x.shape)
        raw = evaluate_stack(p, stack)
        del stack
        if raw.dtype == _FLOAT64 and np.isfinite(raw).all():
            chosen, f_scale, _ = nm.steps_from_probe(raw[:m], x0, x.dtype, "central", length, x.dtype)
            f0, passed = raw[0], raw[m : m + 2 * n]
            kept = np.array_equal(chosen, steps)
            if kept and layout.tested is not None:  # the truncation test, on the pass's points and x + 2h
                test = raw[layout.tested]
                kept = _halve_if_truncated(p, x0, steps, f_scale, f0, test)[0] is steps
            if kept:  # difference()'s two-point quotient over the representable displacement, refined
                plus, minus = passed[:n], passed[n:]
                deriv = (plus - minus) / ((points[:n] - x0) - (points[n:] - x0))
                second = (plus - f0) + (minus - f0)
                given = None if first is None else _Refined(*first, raw[layout.rows :])
                try:
                    deriv, _, _, suspects = _refine(p, x0, steps, deriv, second, f0, f_scale, passed, given)
                except Float32Input as found:  # f casts x to float32 (since its last call): on its grid
                    return on_float32_input(p, None, True, found.spent).derivative.reshape(x.shape)
                _remember(key, steps, False, suspects)
                if not np.isfinite(deriv).all():
                    _check_finite(p, deriv, np.arange(n), "the difference quotient")
                return np.asarray(deriv, dtype=np.float64).reshape(x.shape)
        d = difference(p, None, joined=joined_pass(p, steps, points, raw, first))
    return d.derivative.reshape(x.shape)

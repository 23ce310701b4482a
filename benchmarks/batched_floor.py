"""What bounds batched softmax-CE (10,10) against "the bound": the least any pass with numgrad's step rule pays.

    uv run python benchmarks/batched_floor.py            # 301 interleaved rounds (about 30 s)

The bound (bench_gradient.py) is one call of f on the 2n points, built before timing. numgrad's default
pass at a first call also calls f on the probe's 6 points first (the steps depend on what they return),
then (float64, n of at least TRUNCATION_MIN_N) on the step's truncation test's 12 points, fills the stack,
and tests the quotients for truncation; from f's second call the three go in one call of f, built for the
steps the last call chose (numgrad.differences.repeated builds that call's stack and finishes the pass where
the common case settles it; `general engine` is the same call with that path switched off, the engine's
general code around the same call). At h = 1e-4 the pass is the bound's own 2n points
(numgrad.differences.fixed builds their stack and assembles the quotients; `general path` is the same call
with that path off), and the row below them is those points built in the call and f on them, nothing else.
`minimal` below is the first-call pass and nothing else, in as few NumPy
operations as this script could find: no validation, no mutation guard, no refinement (the test finds
nothing to refine on this workload), no chunking (one stack of 200 points), and it returns bitwise
numgrad's gradient (asserted); `minimal_joined_pass` the same for the one-call pass of later calls, and
`guarded` that pass with what every public call does around its pass (the arguments validated, x compared
bitwise before and after): the least a one-call pass can do under numgrad's contract. The two rows after
it are what would be left without parts of that contract (`minimal_reused_pass`): later calls without the
probe, re-using the last steps while x and f keep their scale (as gradient descent does), and without the
truncation and refinement tests as well. Each row is the
minimum and the median over the rounds, in µs, of calls taken in turn; the parts (the calls of f on the
probe's and the truncation test's points alone, the fill of the stack alone) say where the time goes.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np
from one_stack_paths import general  # the one-stack paths switched off (benchmarks/ is on the path)

from numgrad.bench import harness as nb
from numgrad.bench.measure import interleaved_calls
from numgrad.common import numerics as nm
from numgrad.common.guard import unchanged
from numgrad.differences import steps
from numgrad.differences.engine import make_problem
from numgrad.differences.gradient import numerical_gradient

S, BASE = nm.probe_scale(np.float64), nm.base_step("central", np.float64)
THRESHOLD = nm._suspect_threshold("central", np.dtype(np.float64))
UNIT = nm.REFINE_NOISE["float64"] * nm.eps(np.float64) * nm.STENCILS["central"].rounding_gain


def _step_rule(v: list[float], length: Any, n: int) -> Any:
    """The steps from the probe's values f(x), four directions, one mirror point (numerics.steps_from_probe
    on this workload)."""
    f0 = v[0]
    slope = math.sqrt((((v[1] - v[5]) / 2) ** 2 + sum((a - f0) ** 2 for a in v[2:5])) / (4 * n)) / S
    factor = max(1.0, (nm.STENCILS["central"].step_const * abs(f0) / slope) ** (1 / 3))
    h = np.maximum(length, factor)
    h *= BASE
    return np.exp2(np.round(np.log2(h)))


def _truncated(up: Any, down: Any, up2: Any, f0: float, hs: Any) -> bool:
    """The step's truncation test at the sampled coordinates: halve the steps?"""
    rise, before = up - f0, f0 - down
    change = np.abs(((up2 - up) - rise) - (rise - before)) / (8 * hs)
    return 2 * int((change > UNIT * max(abs(f0), 1e-300) / hs).sum()) >= 4


def _quotients(up: Any, down: Any, f0: float, h: Any) -> Any:
    """The central quotients and the refinement test (which finds nothing on this workload)."""
    deriv = (up - down) / (2 * h)
    slopes = np.abs(deriv)
    top = slopes.max()
    slopes /= top
    bend = np.square(((up - f0) + (down - f0)) / top / h)
    assert np.flatnonzero(bend > slopes * THRESHOLD).size == 0
    return deriv


def minimal_pass(w: Any) -> Callable[[], Any]:
    """numgrad's central pass at the automatic step on this workload, with nothing else (float64, n > 4)."""
    x, f, n = w.x, w.batched, w.x.size
    directions = nm._signed_probe_directions(n)
    where = np.arange(0, 2 * n * n, n) + nm.coordinates(n, 2)  # element (k, coordinate of k), flat
    sample = nm.truncation_sample(n)

    def call() -> Any:
        x0 = x.reshape(-1).astype(np.float64)
        length = np.maximum(np.abs(x0), 1.0)
        probe = directions * (S * length)
        probe += x0
        probe[0] = x0
        v = f(probe.reshape(6, *x.shape)).tolist()  # the probe: f(x), four directions, one mirror point
        h = _step_rule(v, length, n)
        at, hs = x0[sample], h[sample]  # the step's truncation test: 12 points (x ± h, x + 2h), a call of f
        points = np.repeat(x0.reshape(1, -1), 12, axis=0)
        points[np.arange(12), np.tile(sample, 3)] = np.concatenate([at + hs, at - hs, at + 2 * hs])
        if _truncated(*f(points.reshape(12, *x.shape)).reshape(3, 4), v[0], hs):
            h = h / 2
        rows = np.repeat(x0.reshape(1, -1), 2 * n, axis=0)
        rows.reshape(-1)[where] = np.concatenate([x0 + h, x0 - h])
        vals = f(rows.reshape(2 * n, *x.shape))
        return _quotients(vals[:n], vals[n:], v[0], h).reshape(x.shape)

    return call


def minimal_joined_pass(w: Any) -> Callable[[], Any]:
    """The same pass as numgrad runs it from f's second call: the probe's 6 rows, the pass at the steps
    the last call chose and the truncation test's x + 2h in one call of f (206 + 4 points), then the step
    rule on the probe's values, which must give those steps again, the test and the quotients."""
    x, f, n = w.x, w.batched, w.x.size
    directions = nm._signed_probe_directions(n)
    sample = nm.truncation_sample(n)
    where = np.arange(0, (2 * n + 4) * n, n) + np.concatenate([nm.coordinates(n, 2), sample])
    last = np.ravel(numerical_gradient(w.batched, x, batched=True))  # (primes numgrad's own steps too)
    guess = None

    def call() -> Any:
        nonlocal guess
        x0 = x.reshape(-1).astype(np.float64)
        length = np.maximum(np.abs(x0), 1.0)
        h = guess if guess is not None else length * BASE  # the last call's steps (set below)
        rows = np.repeat(x0.reshape(1, -1), 6 + 2 * n + 4, axis=0)
        rows[:6] = directions * (S * length) + x0
        rows[0] = x0
        rows[6:].reshape(-1)[where] = np.concatenate([x0 + h, x0 - h, x0[sample] + 2 * h[sample]])
        vals = f(rows.reshape(len(rows), *x.shape))
        v = vals[:6].tolist()
        chosen = _step_rule(v, length, n)
        if guess is None or not np.array_equal(chosen, guess):
            guess = chosen  # a first call, or other steps: numgrad would evaluate again
            return call()
        up, down = vals[6 : 6 + n], vals[6 + n : 6 + 2 * n]
        assert not _truncated(up[sample], down[sample], vals[6 + 2 * n :], v[0], h[sample])  # kept
        return _quotients(up, down, v[0], h).reshape(x.shape)

    assert call().tobytes() == last.reshape(x.shape).tobytes()
    return call


def minimal_reused_pass(w: Any, tests: bool = True) -> Callable[[], Any]:
    """The one-call pass if later calls dropped the probe (the first option left to issue 17's filer): the
    last call's steps re-used while x's length scales and ``|f(x)| / RMS(g·L)`` stay within the factors
    gradient descent re-uses them by (numgrad.differences.reuse), checked on this call's own gradient.
    One call of f on f(x), the pass and (`tests`) the truncation test's x + 2h, then the test and the
    quotients with the refinement test; without `tests`, f(x) and the pass, the quotients and the check
    alone. Steps numgrad chose, so numgrad's bits (asserted)."""
    x, f, n = w.x, w.batched, w.x.size
    sample = nm.truncation_sample(n)
    coords = np.concatenate([nm.coordinates(n, 2), sample]) if tests else nm.coordinates(n, 2)
    where = np.arange(n, (1 + len(coords)) * n, n) + coords  # row 0 is x itself
    last = np.ravel(numerical_gradient(f, x, batched=True))
    x_last = x.reshape(-1).astype(np.float64)
    length_last = np.maximum(np.abs(x_last), 1.0)
    probe = nm._signed_probe_directions(n) * (S * length_last) + x_last
    probe[0] = x_last
    h = _step_rule(f(probe.reshape(len(probe), *x.shape)).tolist(), length_last, n)  # numgrad's steps
    ratio_last = abs(f(x[None])[0]) / math.sqrt(np.mean(np.square(last * length_last)))
    grow, factor = nm.REUSE_LENGTH_FACTOR, nm.REUSE_RATIO_FACTOR

    def call() -> Any:
        x0 = x.reshape(-1).astype(np.float64)
        length = np.maximum(np.abs(x0), 1.0)
        if not ((length <= grow * length_last).all() and (length_last <= grow * length).all()):
            raise RuntimeError("x's scale moved: the step would be probed afresh")
        rows = np.repeat(x0.reshape(1, -1), 1 + len(coords), axis=0)
        moved = [x0 + h, x0 - h] + ([x0[sample] + 2 * h[sample]] if tests else [])
        rows.reshape(-1)[where] = np.concatenate(moved)
        vals = f(rows.reshape(len(rows), *x.shape))
        f0, up, down = vals[0], vals[1 : 1 + n], vals[1 + n : 1 + 2 * n]
        if tests:
            assert not _truncated(up[sample], down[sample], vals[1 + 2 * n :], f0, h[sample])  # kept
            deriv = _quotients(up, down, f0, h)
        else:
            deriv = (up - down) / (2 * h)
        ratio = abs(f0) / math.sqrt(np.mean(np.square(deriv * length)))
        if not 1 / factor <= ratio / ratio_last <= factor:
            raise RuntimeError("f's scale moved: the step would be probed afresh")
        return deriv.reshape(x.shape)

    assert call().tobytes() == last.reshape(x.shape).tobytes()
    return call


def guarded(w: Any, call: Callable[[], Any]) -> Any:
    """`call` with what every public call of numgrad does around its pass: the arguments validated
    (:func:`~numgrad.differences.engine.make_problem`) and x compared bitwise before and after
    (:func:`~numgrad.common.guard.unchanged`)."""
    p = make_problem(
        "numerical_gradient", w.batched, w.x, out_shape=None, method="central", batched=True,
        chunk_size=None, executor=None,
    )  # fmt: skip
    with unchanged(p.func, p.x):
        return call()


def textbook_stack(w: Any) -> Callable[[], Any]:
    """The bound's 2n points built in the call (x ± 1e-4 at each coordinate, in one new stack) and f on
    them: what any pass at an explicit step pays before its quotients."""
    x, f, n = w.x, w.batched, w.x.size
    where = np.arange(0, 2 * n * n, n) + nm.coordinates(n, 2)

    def call() -> Any:
        x0 = x.reshape(-1)
        stack = np.repeat(x0.reshape(1, -1), 2 * n, axis=0)
        stack.reshape(-1)[where] = np.concatenate([x0 + 1e-4, x0 - 1e-4])
        return f(stack.reshape(2 * n, *x.shape))

    return call


def general_engine(w: Any) -> Callable[[], Any]:
    """numgrad's batched call with the repeated-call path (:mod:`numgrad.differences.repeated`) switched off:
    the general engine around the same one call of f, which returns the same bits."""
    return lambda: general(w.batched, w.x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=301)
    args = parser.parse_args()
    w = nb._softmax_ce(10)
    n = w.x.size
    minimal, minimal_joined = minimal_pass(w), minimal_joined_pass(w)
    reused, bare = minimal_reused_pass(w), minimal_reused_pass(w, tests=False)
    assert minimal().tobytes() == numerical_gradient(w.batched, w.x, batched=True).tobytes()
    probe = np.repeat(w.x.reshape(1, -1), 6, axis=0).reshape(6, *w.x.shape)
    twelve = np.repeat(w.x.reshape(1, -1), 12, axis=0).reshape(12, *w.x.shape)
    calls: dict[str, Callable[[], Any]] = {
        "bound: f on the 2n points (one call, stack built before)": lambda: nb._bound(w),
        "numgrad batched, automatic step": lambda: numerical_gradient(w.batched, w.x, batched=True),
        "  the same call, general engine (the repeated-call path off)": general_engine(w),
        "numgrad batched, automatic step, as a first call (no steps kept: 3 calls of f)": lambda: (
            steps._LAST_STEPS.clear(),
            numerical_gradient(w.batched, w.x, batched=True),
        ),
        "numgrad batched, h=1e-4 (no probe)": lambda: numerical_gradient(
            w.batched, w.x, batched=True, h=1e-4
        ),
        "  the same call, general path (the fixed-step path off)": lambda: general(w.batched, w.x, 1e-4),
        "  the 2n points at h=1e-4 built and f on them (the least an h=1e-4 pass pays)": textbook_stack(w),
        "minimal pass with numgrad's step rule": minimal,
        "minimal pass, probe, test and pass in one call (numgrad from f's second call)": minimal_joined,
        "  the same with numgrad's argument checks and mutation guard": lambda: guarded(w, minimal_joined),
        "  without the probe (the last steps re-used while x and f keep their scale), guarded": (
            lambda: guarded(w, reused)
        ),
        "  nor the truncation and refinement tests (f(x), the pass, the scale check), guarded": (
            lambda: guarded(w, bare)
        ),
        "  part: f on the probe's 6 points": lambda: w.batched(probe),
        "  part: f on the truncation test's 12 points": lambda: w.batched(twelve),
        "  part: filling the 2n-point stack": lambda: np.repeat(w.x.reshape(1, -1), 2 * n, axis=0),
    }
    times = interleaved_calls(calls, args.rounds)
    order = list(calls)
    bound = min(times[order[0]])
    print(f"machine: {nb.machine_info()}; {w.name}, µs, {args.rounds} rounds\n")
    print("| call | min | median | bound / call (min) |")
    print("|---|---|---|---|")
    for key in order:
        t = times[key]
        print(f"| {key} | {min(t) * 1e6:.1f} | {statistics.median(t) * 1e6:.1f} | {bound / min(t):.0%} |")


if __name__ == "__main__":
    main()

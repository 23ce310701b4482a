"""The automatic step, probed once and re-used over a sequence of nearby points (gradient descent).

The engine's step at x comes from a probe of f: the scale of each ``x_i`` (``L_i = max(1, |x_i|)``) and the
ratio of ``|f(x)|`` to the typical change of f (:func:`numgrad.common.numerics.steps_from_probe`). Along a
descent those change slowly, so :class:`StepReuse` probes at the first point and re-uses the steps while

- every ``L_i`` stays within a factor :data:`~numgrad.common.numerics.REUSE_LENGTH_FACTOR` of its value
  at the probe (the step is proportional to it), and
- ``|f(x)| / RMS(g·L)``, with g the last gradient, stays within a factor
  :data:`~numgrad.common.numerics.REUSE_RATIO_FACTOR` of its value at the probe (the step moves as its
  cube root: at most one power of two, the rounding the step rule applies anyway);

it probes again at the first point where either does not hold. Each pass with re-used steps is the
engine's own pass at those steps (representable displacements, shrinking out of f's domain), refinement
included until it has once re-measured at these steps and found no change beyond the rounding of f at the
points it evaluated; from then on, while the steps are re-used, that verdict stands and the re-measuring
is skipped (a change beyond that rounding keeps it running at every step).

The verdict is the engine's own measurement: where its test flags coordinates (near a minimum the slope
vanishes and its truncation model, curvature² / slope, flags every one), it halves their steps, and a
change between h and h/2 within the rounding of f at those points says that truncation at h is below it.
The truncation at h depends on x only through f's third derivative along ``e_i``; the steps and the
rounding unit (``|f|`` at the probe) stay those of the verdict while they are re-used, and a re-probe (a
change of the scale of x or of ``|f| / RMS(g·L)``) measures afresh. On x0² + x1² no re-measure finds
truncation (the central difference of a quadratic is exact to rounding), and the descent evaluates f 5
times a step instead of ~11; paths move by at most a few percent of the engine's own error estimate
(tests/differences/test_reuse.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.common import numerics as nm
from numgrad.differences import small
from numgrad.differences.engine import make_problem
from numgrad.differences.steps import difference


class StepReuse:
    """Gradients of one f at a sequence of points, re-using the automatic step (see the module)."""

    def __init__(self, f: Callable[..., Any], func: str = "numerical_gradient") -> None:
        self.f, self.func = f, func
        self.steps: small.SmallSteps | None = None
        self.length: list[float] = []  # L at the probe
        self.ratio = 0.0  # |f| / RMS(g·L) at the probe
        self.last: list[float] = []  # the last gradient, flat
        self.settled = False  # the refinement re-measured at these steps and found only rounding
        self.probes = 0  # probes evaluated (how often the step was chosen afresh)
        self.nfev = 0  # f evaluations spent, probes included
        self.grid: np.dtype[Any] | None = None  # f's values' precision where coarser than x's, at the probe

    def gradient(self, x: NDArray[Any], fx: float) -> NDArray[Any]:
        """The gradient of f at x, given f(x) = `fx`; a FloatingPointError where f is non-finite near x."""
        return np.array(self.flat_gradient(x, fx)).reshape(x.shape).astype(x.dtype, copy=False)

    def flat_gradient(self, x: NDArray[Any], fx: float, flat: list[float] | None = None) -> list[float]:
        """:meth:`gradient`, flat, as Python floats (float64 values). `flat`: x's elements as floats, from
        a caller that made x itself for the small path (a new C-contiguous float64 array of them)."""
        length = []  # numerics.length_scales, on floats
        for a in x.ravel().tolist() if flat is None else flat:
            a = abs(a)  # noqa: PLW2901
            length.append(a if a > 1.0 else 1.0)
        reuse = self._fits(length, fx)
        chosen = self.steps if reuse else None
        refine = not (reuse and self.settled)
        if self.grid is None and (flat is not None or small.eligible(x, "central", False, None, None)):
            try:  # a few elements: Python floats; anything to re-measure goes to the engine below
                g, steps, nfev, refined = small.gradient(  # positional: a keyword call costs more
                    self.func, self.f, x, chosen, fx if reuse else None, refine
                )
                self._passed(reuse, steps, length, fx, g, nfev, refined)  # type: ignore[arg-type]
                return g
            except small.Fallback:
                pass
        p = make_problem(
            self.func, self.f, x, out_shape=None, method="central", batched=False, chunk_size=None,
            executor=None,
        )  # fmt: skip
        given = None if chosen is None else (np.array(chosen.h), chosen.f_scale, chosen.variation, fx)
        if chosen is not None and self.grid is not None:  # re-used float32 steps: f's rounding as probed
            p = replace(p, grid=self.grid)
        d = difference(p, None, chosen=given, refine=refine)
        if not reuse or (d.grid is not None and self.grid is None):  # a probe (afresh where f was found
            reuse, self.grid = False, d.grid  # casting x to float32: the pass then probed on its grid)
        g = d.derivative.ravel().tolist()
        steps = small.SmallSteps(d.h.tolist(), d.f_scale, d.g_scale)
        self._passed(reuse, steps, length, fx, g, d.nfev, d.truncation)
        return g

    def _passed(
        self, reuse: bool, steps: small.SmallSteps, length: list[float], fx: float, g: list[float],
        nfev: int, refined: bool | None,
    ) -> None:  # fmt: skip
        """A pass's bookkeeping: the evaluations, a fresh probe's scales, the refinement's verdict."""
        self.nfev += nfev
        if reuse:
            self.last = g
        else:
            self.probes += 1
            self.steps, self.length, self.ratio, self.last = steps, length, _ratio(fx, g, length), g
            self.settled = False
        if refined is not None:
            self.settled = not refined

    def _fits(self, length: list[float], fx: float) -> bool:
        if self.steps is None or len(self.length) != len(length):
            return False
        grow = nm.REUSE_LENGTH_FACTOR
        for a, b in zip(length, self.length):  # noqa: B905  (equal lengths, tested above; strict costs)
            if not (a <= grow * b and b <= grow * a):
                return False
        ratio = _ratio(fx, self.last, length)
        if not (ratio > 0 and self.ratio > 0):
            return False
        return 1 / nm.REUSE_RATIO_FACTOR <= ratio / self.ratio <= nm.REUSE_RATIO_FACTOR


def _ratio(fx: float, g: list[float], length: list[float]) -> float:
    """``|f| / RMS(g·L)``: 0 where it is undefined (f or g zero, or non-finite)."""
    squares = []
    try:
        for a, b in zip(g, length):  # noqa: B905  (equal lengths)
            squares.append((a * b) ** 2)
        mean_square = math.fsum(squares) / len(g)  # (g·L)**2 summed exactly
    except OverflowError:  # a gradient beyond float range: the run is diverging, probe afresh
        return 0.0
    rms = math.sqrt(mean_square) if math.isfinite(mean_square) else 0.0
    out = abs(fx) / rms if rms > 0 else 0.0
    return out if math.isfinite(out) else 0.0

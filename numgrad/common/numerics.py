"""Every numerical constant of numgrad in one place: difference stencils, step rules and tolerances.

Steps and tolerances derive from the dtype's machine epsilon and the order of the stencil, so float32
and float64 get the right numbers without per-call magic.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray


@dataclass(frozen=True)
class Stencil:
    """A difference formula: ``f'(x) ≈ Σ weights[k] · f(x + offsets[k]·h) / h``, error ``O(h**order)``."""

    offsets: tuple[int, ...]
    weights: tuple[float, ...]
    order: int
    step_const: float  # C in the step factor (C·|f| / (|g|·L))**(1/(order+1)), see step_factor
    rounding_gain: float  # Σ|weights|: how much the rounding noise of f is amplified (times 1/h)
    # Leading truncation error for a log-like function of length scale ℓ, in units of |f'|·(h/ℓ)**p: the
    # stencil's coefficient of f^(p+1)·h**p times p! (the size of log's (p+1)-th derivative).
    truncation_const: float

    @property
    def moved(self) -> tuple[int, ...]:
        """The offsets that move x (f(x) itself is the probe's first value)."""
        return tuple(c for c in self.offsets if c != 0)


STENCILS: dict[str, Stencil] = {
    "central": Stencil((1, -1), (0.5, -0.5), 2, 30.0, 1.0, 2 / 6),
    "forward": Stencil((1, 0), (1.0, -1.0), 1, 10.0, 2.0, 1 / 2),
    "backward": Stencil((0, -1), (1.0, -1.0), 1, 10.0, 2.0, 1 / 2),
    # Richardson extrapolation of central differences at h and 2h: the 4th-order five-point stencil.
    "richardson": Stencil((1, -1, 2, -2), (8 / 12, -8 / 12, -1 / 12, 1 / 12), 4, 11.25, 1.5, 24 / 30),
}
METHODS: tuple[str, ...] = (*STENCILS, "complex")

COMPLEX_ERROR_ULPS = 8.0  # the complex step is exact to a few rounding units of the derivative
COMPLEX_STEP = 1e-20  # times max(1, |x_i|): no subtractive cancellation, so the step can be tiny
MAX_RELATIVE_STEP = 0.1  # h never exceeds this fraction of max(1, |x_i|), however flat f looks
MAX_STEP_SHRINKS = 8  # a chosen step whose points leave f's domain is quartered at most this often
PROBE_DIRECTIONS = 4  # random directions used to measure the scale of f and its gradient
CURVATURE_WEIGHT = 0.1  # curvature only guards stationary points (g ≈ 0), where the slope says nothing
PROBE_SEED = 20_240_601  # the probe's directions are fixed: results are deterministic
# Where f's values are coarser than x (a float64 x that f casts to float32), the probe's points lie at
# x's scale, far inside f's rounding: the second difference that guards stationary points is then mostly
# f's rounding (its own ~1 ulp of |f|, and the points' rounding to float32 times the slope). Bends below
# this many of the coarser dtype's ulps of |f| are taken as rounding, not curvature; the first
# differences, ~100 times farther above rounding, are taken as measured.
PROBE_NOISE_ULPS = 4.0
# float32's step constant C (see step_factor), where it differs from the stencil's: float32's steps are
# ~200× float64's relative to x, and the truncation the float64 constant accepts is large there (the central
# step 0.125 on a TwoLayerNet's W1 was 100% off on small elements, benchmarks/weak_accuracy.py). 15 halves
# it there; below 15 the huber loss's step halves too, and its error estimate (whose true error is
# float32's own rounding of f, whatever the step) turns over 100× pessimistic (test_estimate.py).
FLOAT32_STEP_CONST: dict[str, float] = {"central": 15.0}
# Difference quotients predicted worse than this share of the accuracy goal are re-measured. float32 needs
# the margin (its differences are coarse); float64's goal is already far below what the losses need.
REFINE_FRACTION = {"float64": 0.3, "float32": 0.05}
REFINE_SAMPLE = 2  # the worst-predicted coordinates tried first; if none shows truncation, stop there
MAX_REFINE_HALVINGS = 10  # at most h/64 when re-measuring a coordinate with a short length scale
# A change between h and h/2 below this many rounding units (eps·|f|) is noise, not truncation. float64:
# the change a smooth loss's rounding makes there is below one unit (0.3 for mean squared error and huber,
# under 1 for softmax cross-entropy), and the truncation a larger margin hides is the error left over: at 8
# units, 1.8e-9 normwise on binary cross-entropy against the promised 2e-9, and more once the truncation
# test below halves the step. float32 reads it only where ECnoise cannot measure f's noise.
REFINE_NOISE: dict[str, float] = {"float64": 2.0, "float32": 8.0}
# A re-measured coordinate whose change between steps grows while more than this many times the rounding
# noise of f at the points is not in the asymptotic regime (f oscillates within the step: sin at x = 1e8,
# steps of 512): its smallest change so far may be a coincidence of aliasing, so halving goes on instead of
# stopping there, and one still growing when the halvings run out did not settle. Growth that rounding
# explains (within the margin: the change at h/2^k of a settled quotient is at most a few noise units)
# still stops. The rounding is that of f at the points, far above |f(x)|'s near a minimum (x0² + x1² at
# 1e-9, where the book's descent fell back to the general path at 20 of its 100 steps: 2.3x the time).
REFINE_GROWTH_MARGIN = 16.0
# The step's truncation test (numgrad.differences.steps._halve_if_truncated): step_factor assumes f''' is a
# tenth of f'; a function whose third derivatives are far larger (Rosenbrock: 2400·x_i against slopes of
# ~1e3) keeps truncation above rounding at most coordinates, each too little for the refinement to chase
# (that costs 2 evaluations per coordinate). The truncation halving would remove from the quotient at h,
# |D(h) − D(h/2)| = h²·|f‴|/8, measured on this many seeded coordinates by the third difference of f at
# x − h, x, x + h, x + 2h (f(x) from the probe, x ± h the pass's own points), tells: where it is above
# rounding at half of them or more, every step is halved (truncation / 4, rounding × 2: the better trade
# once truncation is above 4/3 of rounding).
TRUNCATION_SAMPLE = 4
# ... for central differences in float64 on x of at least this many elements, where its 3 evaluations per
# sampled coordinate (1 net where the steps are kept: the pass re-uses x ± h; 3 where they are halved)
# stay within 10% of the pass. (Until issue 17's last round the test took x ± h/2 instead of x + 2h: 2
# net either way; element-by-element mode pays every evaluation in full.)
# float32's step has its own constant (FLOAT32_STEP_CONST) and its refinement measures f's noise: an
# ulp-model test would read float32's noise as truncation.
TRUNCATION_MIN_N = 80
TRUNCATION_OFFSETS = np.array([1.0, -1.0, 2.0])  # the test's points: x ± h and x + 2h
TRUNCATION_OFFSETS.flags.writeable = False
# float32: the change between h and h/2 is compared with f's noise measured by ECnoise (one line of
# NOISE_POINTS + 1 values) instead: below this many of its standard deviations (times the stencil's gain,
# over the step) it is noise. The ulp model's 8·eps·|f| is ~20× the noise a float32 f of a batch carries
# (TwoLayerNet, softmax-CE: σ ≈ 0.3–0.5 ulp of |f|), and at float32's coarse steps that margin hid
# truncation of 100% (benchmarks/weak_accuracy.py). float64 keeps the model: its margin is ~1e-5 of a
# difference there, and measuring would cost evaluations for nothing.
REFINE_NOISE_SIGMAS = 4.0
EXPLICIT_STEP_WARN = 0.01  # an explicit h that x + h rounds by more than 1% of itself warns
# A re-measured element whose best error estimate (the change between steps h and h/2, plus rounding) stays
# above this fraction of its value did not settle: its length scale is shorter than the steps tried.
UNRESOLVED_FRACTION = 0.01
BATCH_BYTES = 4 * 2**20  # memory budget of one stack of perturbed points handed to a batched f
# A local batched f gets stacks of at most this many bytes (and so does f in an executor's worker): a stack
# and f's temporary of this size share a core's L2 cache (1 MiB on this machine's AMD EPYC cores) and are
# reused from the heap, where stacks of megabytes are mapped fresh from the system at every call (glibc
# serves them by mmap and unmaps them on free) and pay a page fault per 4 KiB on first touch. Smaller stacks
# pay f's own fixed cost per call more often: MSE (100,10) costs 1.44–1.45 µs a point at 512 KiB, 1.51–1.59
# at 256 KiB, 1.7–1.9 at 128 KiB and 2 MiB (benchmarks/chunk_sizes.py, minimum of 21 rounds, two runs).
CHUNK_BYTES = 512 * 2**10
# ... which holds once glibc's thresholds have risen above them: the engine frees one untouched block of
# this size once per process (numgrad.differences.engine._settle_allocator), as any process that has
# freed a large array has done.
ALLOCATOR_SETTLE_BYTES = 8 * 2**20
# ... and the chunked path's re-used stack buffer is sized so that the heap block glibc hands out next
# starts on a line of this many bytes: that is where a batched f's first temporary of the stack's size lands
# (the block after the stack, from the top of the heap). NumPy's elementwise loops write a line-aligned
# output ~20% faster here (f's input's alignment does not matter), and where the block lands 16 or 48 bytes
# off a line, as the allocation history of a new process decides, batched MSE (100,10) written naturally
# read 3.5-3.7x the textbook loop instead of 3.9-4.2x (README, "Batched MSE (100,10) in a new process").
STACK_FOLLOWER_ALIGNMENT = 64
# A local batched f whose probe, pass and truncation test fit one stack of CHUNK_BYTES gets them in one call
# while the steps its last calls at x's shape chose still hold (differences.steps, _joined): the steps of
# this many (f, shape, dtype) are kept, the oldest dropped first
LAST_STEPS_KEPT = 8
# x of at most this many elements takes the engine's small-problem path (central, float64, element mode):
# the same arithmetic on Python floats, where NumPy's per-operation cost would dominate the call
SMALL_N = 16
# ... where x has at most PROBE_DIRECTIONS elements (the probe's directions are coordinate vectors), the
# automatic step is chosen without the probe's own points wherever it can be: f at x and at x ± the plain
# rule's steps (the first pass of every call there) give the probe's ratio |f| / variation from central
# slopes and the second difference along x_0; where every ratio within this factor of that estimate rounds
# to the same steps, they are taken (x0² + x1² at (3, 4): 5 evaluations, was 8; the steps, so the gradient,
# are the probe's); elsewhere the probe's points are evaluated and decide, as in the general path.
SMALL_PROBE_RATIO_MARGIN = 4 / 3
# ... and where the estimated variation scale is at least this many times what one rounding unit of f's
# largest value there moves the probe's (f = 1e8 + x0² + x1²: the curvature both see is rounding, 4.5×
# larger at the probe's closer points, and their steps differ; there the probe decides)
SMALL_PROBE_NOISE_MARGIN = 64.0
EXECUTOR_TASKS_PER_WORKER = 4  # chunks per executor worker: enough to balance, few enough to amortise


def precision(dtype: DTypeLike) -> str:
    """The row of the tolerance tables a dtype reads: "float32" (and narrower) or "float64"."""
    return "float32" if np.dtype(dtype).itemsize <= 4 else "float64"


@functools.lru_cache(maxsize=64)
def coordinates(n: int, repeats: int) -> NDArray[np.intp]:
    """The coordinate of each perturbed point, offset-major: ``0..n-1`` once per moved offset (read-only)."""
    coords = np.tile(np.arange(n, dtype=np.intp), repeats)
    coords.flags.writeable = False
    return coords


def eps(dtype: DTypeLike) -> float:
    """Machine epsilon of a real or complex floating dtype."""
    return _eps(np.dtype(dtype))


@functools.lru_cache(maxsize=64)
def _eps(dtype: np.dtype[Any]) -> float:
    return float(np.finfo(dtype).eps)


def base_step(method: str, dtype: DTypeLike) -> float:
    """The step for a unit-scale problem: ``eps**(1/(order+1))`` (cbrt(eps) for central)."""
    return _base_step(method, np.dtype(dtype))


# Far from 0 (|x_i| at least this), f may vary on a scale of 1 rather than |x_i| (sin at x = 1e8, whose
# step max(|x_i|, 1)·base is many periods): an element there that does not settle is retried at the unit
# step (below_unit). Closer to 1 the unit step differs too little from the first for the retry to
# resolve what the first could not.
UNIT_RETRY = 64.0


def below_unit(x: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Elements with 0 < |x_i| < 1, where f may vary on the scale of x_i itself (x ~ 1e-8), and with
    |x_i| ≥ UNIT_RETRY, where it may vary on a scale of 1 (sin at x = 1e8): the steps of max(|x_i|, 1)
    resolve neither. The engine's and the checks' retries at :func:`relative_steps`."""
    size = np.abs(x)
    return np.asarray(((x != 0) & (size < 1)) | (size >= UNIT_RETRY))


def relative_steps(x: NDArray[np.float64], method: str, dtype: DTypeLike) -> NDArray[np.float64]:
    """The retry's steps for elements of :func:`below_unit`: relative to min(|x_i|, 1) (``base·|x_i|``
    below 1, the unit step ``base`` far from 0), powers of two; and at least 4 spacings of x_i in `dtype`,
    so that x ± h/2 are points of their own (float32 at x = -1e5 is 0.0078 apart, the unit step 0.0039:
    both quotients were 0, and agreed)."""
    h = np.exp2(np.round(np.log2(base_step(method, dtype) * np.minimum(np.abs(x), 1.0))))
    return spaced(h, x, dtype)


def spaced(
    h: NDArray[np.float64], x: NDArray[np.float64], dtype: DTypeLike, k: int = 4
) -> NDArray[np.float64]:
    """The steps h, and at least k spacings of x_i in `dtype` (a power of two where k is): far from 0 a
    unit step is below x_i's spacing, and x ± h would be x itself."""
    near = np.minimum(np.abs(x), float(np.finfo(dtype).max) / 4).astype(dtype)  # cast, spacing stay finite
    return np.asarray(np.maximum(h, k * np.spacing(near).astype(np.float64)))


@functools.lru_cache(maxsize=64)
def _base_step(method: str, dtype: np.dtype[Any]) -> float:
    if method == "complex":
        return COMPLEX_STEP
    return float(eps(dtype) ** (1.0 / (STENCILS[method].order + 1)))


def step_factor(method: str, dtype: DTypeLike, ratio: Any) -> Any:
    """How much larger than the base step the optimal step is, given ``ratio = |f| / (|g|·L)``.

    Rounding error ``~ eps·|f|/h`` and truncation error ``~ h**p·|f^(p+1)|`` balance at
    ``h = (C'·eps·|f| / |f^(p+1)|)**(1/(p+1))``. With the higher derivative taken as a fixed fraction of
    the measured first-derivative scale, this is ``base_step·(C·ratio)**(1/(p+1))``. C is calibrated on
    chapter-4 losses, whose third derivatives are a tenth or less of their first (softmax-CE: p(1−p)(1−2p)
    against p − y). The factor is never below 1: the plain ``eps**(1/(p+1))`` rule is the floor. float32
    reads :data:`FLOAT32_STEP_CONST` where it names the method. Where f's third derivatives are far
    larger, the engine's truncation test (:data:`TRUNCATION_SAMPLE`) halves the step this gives.
    """
    stencil = STENCILS[method]
    const = stencil.step_const
    if precision(dtype) == "float32":
        const = FLOAT32_STEP_CONST.get(method, const)
    factor = (const * ratio) ** (1.0 / (stencil.order + 1))
    return max(1.0, factor) if isinstance(factor, float) else np.maximum(1.0, factor)


ESTIMATE_SAFETY = 4.0  # a check passes below this multiple of the engine's own error estimate


def estimated_tolerance(method: str, dtype: DTypeLike, estimate: float, scale: float) -> float:
    """Normwise relative tolerance: the engine's a-posteriori estimate (times a safety factor) relative
    to the gradient's scale, floored at the promised accuracy of the method and dtype."""
    relative = ESTIMATE_SAFETY * estimate / scale if scale > 0 else 0.0
    return max(accuracy(method, dtype), relative)


def length_scales(x0: NDArray[np.float64]) -> NDArray[np.float64]:
    """``L_i = max(1, |x_i|)``: the scale a step of x_i is relative to."""
    length = np.abs(x0)
    np.maximum(length, 1.0, out=length)
    return length


def probe_points(
    x0: NDArray[np.float64], dtype: DTypeLike, length: NDArray[np.float64] | None = None
) -> NDArray[Any]:
    """Where to measure the scales of f: x itself, ``x + s·L·z`` for a few fixed directions z, and the
    mirror point ``x − s·L·z₁`` of the first.

    z are the coordinates (times sqrt(n)) when n is small, else fixed-seed Gaussian vectors; s is a
    third of the central base step, so the probe stays as close to x as the difference points do. The
    first direction's central pair gives the curvature (the step's guard at stationary points); the
    others' forward differences from f(x) sample the slope as well as central ones would (their bias,
    ``s·z·Hz/2``, is ~1e-5 of the slope at s ≈ 2e-6), one evaluation each instead of two.
    """
    scaled = probe_scale(dtype) * (length_scales(x0) if length is None else length)
    points = scaled * _signed_probe_directions(x0.size)  # rows: 0, +z_1..+z_m, −z_1 (negation is exact)
    points += x0
    points[0] = x0
    return points.astype(dtype, copy=False)


@functools.lru_cache(maxsize=32)
def _signed_probe_directions(n: int) -> NDArray[np.float64]:
    if n <= PROBE_DIRECTIONS:
        z = np.sqrt(n) * np.eye(n)
    else:
        z = np.random.default_rng(PROBE_SEED).standard_normal((PROBE_DIRECTIONS, n))
    signed = np.concatenate([np.zeros((1, n)), z, -z[:1]])  # only the first direction is mirrored
    signed.flags.writeable = False
    return signed


def irregular_point(x0: NDArray[np.float64], dtype: DTypeLike) -> NDArray[Any]:
    """x moved by the probe's scale along a fixed-seed Gaussian direction: every coordinate's digits are
    arbitrary there (whatever x is: 0, integers), so a float64 f's value is not a float32 number (the
    Hessian's and hvp's points, x ± powers of two, can be: x² at 0, a linear f at integers)."""
    z = np.random.default_rng(PROBE_SEED).standard_normal(x0.size)
    return np.asarray((x0 + probe_scale(dtype) * length_scales(x0) * z).astype(dtype))


def float32_cell_point(x0: NDArray[np.float64]) -> NDArray[np.float64]:
    """x with every coordinate moved within its float32 rounding cell: to the other side of its nearest
    float32 c, a quarter of c's smaller gap from it, so ``float32(x'_i) = float32(x_i)`` and x'_i ≠ x_i.
    A function that casts its input to float32 sees the same point at x and x'; a float64 one changes by
    about ``Σ g_i·(x'_i − x_i)`` (:data:`FLOAT32_INPUT_MARGIN`). Coordinates whose float32 is 0, subnormal
    or beyond float32's range stay (their cells are too small or unbounded to move within)."""
    with np.errstate(over="ignore"):
        c = x0.astype(np.float32)
    size = np.abs(c)
    normal = np.isfinite(size) & (size >= np.finfo(np.float32).tiny)
    gap = (size - np.nextafter(size, np.float32(0))).astype(np.float64)  # the smaller gap, below |c|
    centre = c.astype(np.float64)
    away = np.where(x0 < centre, 0.25, -0.25) * gap  # to the side of c that x_i is not on
    return np.where(normal, centre + away, x0)


# A float64 x's function whose value at float32_cell_point is f(x) exactly, where its gradient predicts a
# change of more than this many ulps of |f(x)|, casts its input to float32 (or is no finer than float32
# at x): its steps, points and rounding follow float32 (see numgrad.differences.engine.float32_input)
FLOAT32_INPUT_MARGIN = 1e3


@functools.lru_cache(maxsize=32)
def truncation_sample(n: int) -> NDArray[np.intp]:
    """The coordinates of the step's truncation test: :data:`TRUNCATION_SAMPLE` of ``0..n-1``, seeded."""
    coords = np.sort(np.random.default_rng(PROBE_SEED).choice(n, TRUNCATION_SAMPLE, replace=False))
    coords.flags.writeable = False
    return coords


@functools.lru_cache(maxsize=32)
def truncation_coordinates(n: int) -> NDArray[np.intp]:
    """The coordinate of each of the truncation test's points: :func:`truncation_sample` once per offset
    of :data:`TRUNCATION_OFFSETS` (offset-major, read-only)."""
    tiled = np.tile(truncation_sample(n), len(TRUNCATION_OFFSETS))
    tiled.flags.writeable = False
    return tiled


def probe_size(n: int) -> int:
    """f evaluations of the probe for x of n elements: f(x), one point per direction, one mirror point."""
    return len(_signed_probe_directions(n))


def probe_scale(dtype: DTypeLike) -> float:
    return base_step("central", dtype) / 3


def steps_from_probe(
    vals: NDArray[Any],
    x0: NDArray[np.float64],
    dtype: DTypeLike,
    method: str,
    length: NDArray[np.float64] | None = None,
    step_dtype: DTypeLike | None = None,
) -> tuple[NDArray[np.float64], float, float]:
    """Per-coordinate steps from f at :func:`probe_points`; also ``|f(x)|`` and the variation scale.

    The variation scale is the typical change of f when one x_i moves by ``L_i = max(1, |x_i|)``: the
    RMS of ``g_i·L_i`` from first differences, or (weighted) the curvature from second differences.
    When a probe point left f's domain (non-finite value) the plain rule is used. `dtype` is the probe's
    (x's); `step_dtype`, where given, the precision whose step rule applies: f's values' where they are
    coarser than x (float32 values at a float64 x).
    """
    rule = dtype if step_dtype is None else step_dtype
    n, s = x0.size, probe_scale(dtype)
    m = len(vals) - 2  # directions; rows: f(x), f(x + s·L·z_k) for k = 1..m, f(x − s·L·z_1)
    length = length_scales(x0) if length is None else length
    # Values are divided by their largest magnitude u first, so that f up to float64's range neither
    # overflows the squares nor warns; the ratio below is free of u.
    if vals.ndim == 1:  # a scalar f (the common case): a handful of numbers, cheaper as Python floats
        f0, *rest = vals.real.tolist()
        f_scale = abs(f0)
        finite = math.isfinite(f0) and all(map(math.isfinite, rest))
        u = max(f_scale, *map(abs, rest)) if finite else 1.0
        if u > 1.0:
            f0, rest = f0 / u, [a / u for a in rest]
        first, mirror = rest[0], rest[m]
        diff_sq = ((first - mirror) / 2) ** 2 + sum((a - f0) ** 2 for a in rest[1:m]) if finite else 0.0
        sum_sq = ((first + mirror) / 2 - f0) ** 2 if finite else 0.0
    else:
        v = vals.reshape(len(vals), -1).astype(np.float64)
        f_scale = float(np.abs(v[0]).max())
        finite = bool(np.isfinite(v).all())
        u = max(1.0, float(np.abs(v).max())) if finite else 1.0
        v = v / u
        rises = np.concatenate([(v[1:2] - v[m + 1 :]) / 2, v[2 : m + 1] - v[0]])
        diff_sq = float(np.square(rises).sum(axis=0).max()) if finite else 0.0
        sum_sq = float(np.square((v[1] + v[m + 1]) / 2 - v[0]).max()) if finite else 0.0
    if not finite:
        return np.exp2(np.round(np.log2(base_step(method, rule) * length))), f_scale, 0.0
    u = max(u, 1.0)
    slope = math.sqrt(diff_sq / (m * n)) / s
    bend = math.sqrt(sum_sq)
    if eps(rule) > eps(dtype):  # f's values coarser than the probe's points: their rounding is no bend
        bend = max(0.0, bend - PROBE_NOISE_ULPS * eps(rule) * f_scale / u)
    curve = 2 * bend / (n * s * s)  # along the first direction
    scaled = max(slope, CURVATURE_WEIGHT * curve)  # the variation in units of u
    variation = scaled * u
    ratio = (f_scale / u) / scaled if scaled > 0 else 0.0  # flat or piecewise-constant: the plain rule
    # x_i's own magnitude sets a floor (x ± h must move x by a resolvable relative amount); the measured
    # scale of f sets the step wherever x_i is smaller than that.
    factor, base = float(step_factor(method, rule, ratio)), base_step(method, rule)
    h = np.maximum(length, factor) if factor > 1 else length.copy()  # length >= 1 already
    h *= base
    if factor * base > MAX_RELATIVE_STEP:  # else base·max(L, factor) <= MAX_RELATIVE_STEP·L already
        np.minimum(h, MAX_RELATIVE_STEP * length, out=h)
    np.log2(h, out=h)  # powers of two, so that x ± c·h are exact: in place, h is this call's own array
    np.rint(h, out=h)  # np.round's own kernel at 0 decimals, without its Python wrapper
    return np.exp2(h, out=h), f_scale, variation


def truncation_suspects(
    method: str,
    deriv: NDArray[np.float64],
    second: NDArray[np.float64],
    h: NDArray[np.float64],
    dtype: DTypeLike,
    head: int | None = None,
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    """The coordinates whose predicted truncation error is above the goal, worst first: the `head` worst
    (all where None); and, where a head was asked for, every flagged coordinate in index order with its
    sort key, which :func:`worst_first` puts in order when a refinement needs the rest (only when the head
    shows truncation: no full sort until then). A stable sort on the key: the worst first, ties in index
    order; the head is exactly that sort's head.

    Models a function whose length scale is ``ℓ = |slope / curvature|`` (as log(y) near 0), curvature
    ``second / h²`` from the pass's own points, so the predicted error is
    ``|slope|·(h/ℓ)**p·c_p = c_p·|second/h|**p / |slope|**(p−1)``. Where the slope vanishes nothing is
    predicted (a minimum, or flat). Suspects are re-measured at h/2, h/4, ...
    """
    order, const = STENCILS[method].order, STENCILS[method].truncation_const
    slope = np.abs(deriv)
    top = float(slope.max()) if slope.size else 0.0
    if not 0 < top < math.inf:
        return _NONE, _NONE, _NO_KEYS
    # in units of the largest slope (the test is homogeneous of degree `order`): no overflow near f's range
    slope /= top
    second = second / top
    with np.errstate(over="ignore"):  # a bend too large to square is flagged all the same
        bend = np.square(second / h) if order == 2 else np.abs(second / h) ** order
    weight = slope if order == 2 else slope ** (order - 1)
    # c·bend > goal·slope**(p−1): no division
    flagged = np.flatnonzero(bend > weight * _suspect_threshold(method, np.dtype(dtype)))
    if flagged.size == slope.size and (slope > 0).all():  # every coordinate (a quadratic): no gathers
        key = -const * bend / weight
    else:
        if flagged.size:
            flagged = flagged[slope[flagged] > 0]
        if flagged.size == 0:
            return _NONE, _NONE, _NO_KEYS
        key = -const * bend[flagged] / weight[flagged]
    if head is None or flagged.size <= head:
        return flagged[np.argsort(key, kind="stable")], _NONE, _NO_KEYS
    # the head of the stable sort: every key up to the head-th smallest (ties included), sorted stably
    candidates = np.flatnonzero(key <= np.partition(key, head - 1)[head - 1])
    return flagged[candidates[np.argsort(key[candidates], kind="stable")[:head]]], flagged, key


def worst_first(flagged: NDArray[np.intp], key: NDArray[np.float64], head: int) -> NDArray[np.intp]:
    """The flagged coordinates of :func:`truncation_suspects` after its head, in its order (the tail of the
    stable sort on the key whose head it returned)."""
    return flagged[np.argsort(key, kind="stable")[head:]]


_NONE = np.zeros(0, dtype=np.intp)
_NONE.flags.writeable = False
_NO_KEYS = np.zeros(0)
_NO_KEYS.flags.writeable = False


@functools.lru_cache(maxsize=64)
def _suspect_threshold(method: str, dtype: np.dtype[Any]) -> float:
    """``goal / c`` of :func:`truncation_suspects`: the share of the accuracy goal over the stencil's
    truncation constant."""
    goal = REFINE_FRACTION[precision(dtype)] * accuracy(method, dtype)
    return goal / STENCILS[method].truncation_const


def complex_steps(x0: NDArray[np.float64]) -> NDArray[np.float64]:
    return COMPLEX_STEP * np.maximum(1.0, np.abs(x0))


# Normwise relative error max|g − g_exact| / max|g_exact| that a well-scaled input must meet, by method
# and dtype: a safety margin of ~30–100 over the a priori estimate at the default step.
ACCURACY: dict[tuple[str, str], float] = {
    ("central", "float64"): 2e-9,
    ("central", "float32"): 1e-2,
    ("forward", "float64"): 2e-6,
    ("forward", "float32"): 1e-1,
    ("backward", "float64"): 2e-6,
    ("backward", "float32"): 1e-1,
    ("richardson", "float64"): 2e-10,
    ("richardson", "float32"): 1e-2,
    ("complex", "float64"): 1e-13,
    ("complex", "float32"): 1e-5,
}


# Issue 16's instances where the defaults are weakest (tests/differences/test_accuracy.py,
# benchmarks/weak_accuracy.py): its targets for the default method, elementwise relative error floored at
# 1e-3·max|g| — met in float64 (Rosenbrock, softmax-CE of logits ±50 and 1e12 × softmax-CE, seeds 0–4),
# out of reach in float32 for an f computing in float32, whose rounding bounds every step (the float32
# figure holds normwise) — and the elementwise bound that does hold in float32 (the best step per element,
# chosen knowing the truth, gets 1.4e-2–1.9e-2 there).
WEAK_TARGETS: dict[str, float] = {"float64": 1e-7, "float32": 3e-3}
WEAK_FLOAT32_ELEMENTWISE = 0.1
WEAK_EVALUATION_GROWTH = 1.1  # evaluations at most 10% above the engine's before the change


def accuracy(method: str, dtype: DTypeLike) -> float:
    """The normwise relative accuracy promised for `method` at `dtype` (see :data:`ACCURACY`)."""
    return ACCURACY[(method, precision(dtype))]


# Values of a numgrad function against its JAX twin: a few ulps of the dtype, scaled by the result.
VALUE_RTOL: dict[str, float] = {"float64": 1e-12, "float32": 2e-5}


def value_rtol(dtype: DTypeLike) -> float:
    return VALUE_RTOL[precision(dtype)]


# --------------------------------------------------------------------------------------------------
# Gradient descent (numgrad.book.optimize)

# f rising this many times max(1, |f(x0)|) above f(x0) is divergence: a fixed-rate descent that has
# climbed a million-fold has left the basin (lr = 10 on the book's x0² + x1² gets there at step 3).
DIVERGENCE_RISE = 1e6
# Path of numgrad's descent against its JAX twin: each step's gradient error is at most the method's
# accuracy times the step, and a contracting descent does not amplify it, so the paths differ by at most
# accuracy · sqrt(n) · (length of the path); this safety factor covers rounding in the steps themselves.
DESCENT_PATH_SAFETY = 10.0


def settled_step_rtol(dtype: DTypeLike) -> float:
    """Without `tol`, a descent whose last step is below this fraction of its first has settled:
    sqrt(eps), the relative change below which an iterate's leading half of digits no longer moves."""
    return float(np.sqrt(eps(dtype)))


def descent_path_tolerance(method: str, dtype: DTypeLike, n: int, path_length: float) -> float:
    """Largest coordinate difference expected between two descents from the same start whose gradients
    differ by the accuracy of `method` (see :data:`DESCENT_PATH_SAFETY`)."""
    return DESCENT_PATH_SAFETY * accuracy(method, dtype) * float(np.sqrt(n)) * path_length


# Gradient descent re-uses the automatic step (numgrad.differences.reuse) while every L_i = max(1, |x_i|)
# stays within this factor of its value at the probe (the step is proportional to L_i) ...
REUSE_LENGTH_FACTOR = 2.0
# ... and |f| / RMS(g·L) within this one: the central step moves as its cube root, so 8 is one power of two,
# the rounding the step rule applies anyway.
REUSE_RATIO_FACTOR = 8.0


# Scale-out (issue 7): executors and devices

DEFAULT_EXECUTOR_WORKERS = 2  # an executor that does not say how many tasks it runs at once (this machine)
DEVICE_BATCH_BYTES = 1 * 2**30  # perturbed points per chunk on an accelerator, summed over its devices

ROW_SUM_ULPS = 16.0  # a row of targets sums to 1 within this many ulps per class (soft labels round)

# Nets and training (numgrad.book.nets, numgrad.book.training): steps, the structured pass, tolerances

NET_STEP_METHOD = "central"  # TwoLayerNet.numerical_gradient is a central difference, like the book's
SERIES_RTOL_ULPS = 0.125  # a perturbed softmax sum by series is exact to this many ulps: below rounding
MAX_SERIES_TERMS = 24  # more terms than this means the perturbation is not small: exponentiate directly
SIGMOID_SLOPE_BOUND = 0.25  # max of sigmoid'(a): |sigmoid(a + d) − sigmoid(a)| <= d / 4 for every a
NET_BLOCK_ELEMENTS = 2**18  # one block of (sign, entry, hidden) values in the structured pass: ~2 MiB
# per temporary, so a block's dozen temporaries stay in cache instead of streaming through memory


def net_step(dtype: DTypeLike) -> float:
    """The default central step of every weight of a net: ``cbrt(eps)`` as a power of two (2⁻¹⁷ in
    float64), the engine's plain rule for weights up to 1 in size.

    One step for all weights, not one scaled by each weight's size: the loss's curvature along a weight
    comes from the inputs and the layer above, not from the weight itself, and a shared step lets the
    structured pass move every perturbed pre-activation by the same ``h·x_i``.
    """
    return float(np.exp2(np.round(np.log2(base_step(NET_STEP_METHOD, dtype)))))


def series_terms(r: float, dtype: DTypeLike) -> int | None:
    """Fewest Taylor terms K with ``Σ_k (u·w)^k / k!`` equal to ``exp(u·w)`` within rounding for
    ``|u·w| <= r``, or None when more than :data:`MAX_SERIES_TERMS` are needed.

    The remainder of a softmax sum ``Σ_c E_c·exp(u·w_c)`` relative to the sum is at most
    ``r^(K+1) / (K+1)! · exp(2r)``; it must stay below :data:`SERIES_RTOL_ULPS` ulps.
    """
    goal = SERIES_RTOL_ULPS * eps(dtype)
    term = r * np.exp(2 * r)  # r^(K+1)/(K+1)! · e^(2r) at K = 0
    for k in range(1, MAX_SERIES_TERMS + 1):
        term *= r / (k + 1)
        if term <= goal:
            return k
    return None


CENTRAL_ROUNDING_ULPS = 16.0  # a loss of a batch carries a few ulps of |loss|; the difference of two, 16


def central_rounding(f_scale: float, h: float, dtype: DTypeLike) -> float:
    """How far two central differences of the same f at the same step may differ by rounding alone:
    ``CENTRAL_ROUNDING_ULPS · eps · |f| / (2h)`` (the structured and the generic pass of a net)."""
    return CENTRAL_ROUNDING_ULPS * eps(dtype) * f_scale / (2 * h)


# Gradient checking (numgrad.checking.check)

# A hand-written backward pass rounds too: sums over hundreds of terms in float32 stay within this many
# units of roundoff of the exact gradient, normwise. Floors the tolerance by the analytic side's dtype.
ANALYTIC_ULPS = 64.0
# An element is a kink when its one-sided slopes disagree and the gap does not shrink with the step: a
# smooth f's gap (h·f'') halves when h halves, a kink's (the jump in slope) stays. Below this ratio: smooth.
KINK_PERSISTENCE = 0.75
KINK_NOISE = 16.0  # a gap between one-sided slopes below this many rounding units of f is noise
# A re-measured element whose estimate exceeds this fraction of its value has a length scale shorter than
# the step (log(y) for tiny y): its step is quartered while the estimate improves.
COARSE_STEP = 1e-3
# An element whose central difference at the pass's step misses the analytic value by its tolerance plus
# this many error estimates (the gap between its one-sided slopes, h·|f''|, which bounds the central
# difference's truncation, plus rounding), and whose analytic value is not between those slopes (not a
# kink), is wrong beyond doubt: it is not re-measured at h/2.
GROSS_MISS = 10.0
# f's noise is measured (checking.measure.noise_level) at x + t·h·e_j for these t: irregular, so that
# rounding of a nearly linear f does not repeat from point to point as it can on an even grid
NOISE_OFFSETS = (-0.5, -0.31, -0.17, -0.06, 0.0, 0.08, 0.21, 0.37, 0.47)
FAST_DIRECTIONS = 2  # fast mode: both at step t, then the one that missed most at t/2 (its error estimate)
FAST_EVALUATIONS = 6  # fast mode's budget of f evaluations (two per central difference), whatever n
# ... and one more for a float32 (float16) x: f at x as float64, which says where f computes and is f(x)
FAST_DTYPE_PROBE = 1
# f returning float64 values that are float32 numbers at this many points near x (besides x itself)
# computes in float32 (numgrad.differences.engine.on_float32_grid): its steps and rounding follow float32
FLOAT32_GRID_POINTS = 2
# Both fast modes' retry at the unit scale (far from 0) moves each x_i by at least this many of its spacings
# per step: a unit move there may round to a few ulps or to none, and a bug in that element go unseen
FAST_LEAST_SPACINGS = 8
# Fast mode's rounding of a directional derivative at step t is at least this many times f's noise
# measured at five points on the direction (one sample: the factor covers its low draws) over t.
FAST_NOISE_GAIN = 3.0
DEFAULT_CHECK_SEED = 0  # fast mode's random directions repeat run to run unless a seed is given


# gradient_descent records its path and values (steps + 1 rows of x.size + 1 numbers): a run that would
# record more than this many float64 numbers (1 GiB) is refused before it starts (step_num=10**12 ran for
# minutes with its memory growing)
DESCENT_RECORD_NUMBERS = 2**27


def analytic_floor(dtype: DTypeLike) -> float:
    """Normwise relative rounding allowed to an analytic gradient computed in `dtype`."""
    return ANALYTIC_ULPS * eps(dtype)


def check_floor(method: str, working: DTypeLike, analytic: DTypeLike) -> float:
    """The smallest normwise relative tolerance of a gradient check: the accuracy the method promises at
    the dtype the differences were taken in, or the analytic gradient's own rounding, whichever is larger."""
    return max(accuracy(method, working), analytic_floor(analytic))


# Second derivatives (numgrad.differences.hessian), estimates with their error (differences.estimate)

# A central second difference balances truncation h²·|f''''| against rounding eps·|f|/h²: its step is
# eps**(1/4) (2⁻¹³ in float64, 2⁻⁶ in float32) times max(1, |x_i|). The Richardson pair is (h, 2h).
HESSIAN_STEP_POWER = 0.25
# A default step whose points leave f's domain is shrunk to eps**(1/6)·|x_i| (the domain taken to end at 0,
# as the first-order engine takes it): for f varying on the scale d = |x_i| of the distance to the edge
# (sqrt, log), the Richardson value's truncation is ~(h/d)⁴ = eps**(2/3) and its rounding
# eps·|f| / (h²·|f''|) = eps**(2/3)·|f| / (d²·|f''|), balanced for the part of f near the edge.
HESSIAN_EDGE_STEP_POWER = 1.0 / 6.0
# check_hessian's fast mode: uᵀHw along this many seeded random direction pairs (u ≠ w, so an error in the
# antisymmetric part shows), 8 evaluations each (4 points at s and at 2s): 24 whatever n
HESSIAN_FAST_PAIRS = 3
# Σ|w| of the central second differences over their 1/(2·h_i·h_j) (off-diagonal: 1+1+1+1+1+1+2) and 1/h_i²
# (diagonal: 1+2+1): how much the rounding noise of f is amplified, times eps·|f| / (h_i·h_j).
HESSIAN_ROUNDING_GAIN = 4.0
# Extrapolating (4·D(h) − D(2h)) / 3 adds (4·r + r/4) / 3 of D(h)'s rounding r.
HESSIAN_EXTRAPOLATION_ROUNDING = (4.0 + 0.25) / 3.0
# Normwise relative accuracy a check of second derivatives may not ask below, by the dtype differences are
# taken in: rounding of a second difference at the default step is ~eps**(1/2) of |f| / |H|.
HESSIAN_ACCURACY: dict[str, float] = {"float64": 1e-6, "float32": 3e-2}
# A second difference at the smaller step above this share of f's largest |value| at the points: the step
# is not small against f's length scale ℓ (the share is ~(h/ℓ)², 1.5e-8·(max(1, |x_i|)/ℓ)² at the default
# step), so where D(h) and D(2h) also disagree their difference is no error estimate (aliasing: sin at
# x = 1e8) and the entry's truncation is unknown. A quadratic's pair agrees; 1e-3 still sees a sine of
# amplitude 1 on an offset of 100.
HESSIAN_COARSE_BEND = 1e-3
# ... and a coordinate's step that bends so is taken again at the unit scale eps**(1/4) where |x_i| is at
# least UNIT_RETRY (as first differences are: below_unit)
# check_hessian's fast mode with `grad`: a change of grad across x ± t·w above this share of grad's size at
# the points (~h/ℓ, against f's (h/ℓ)² above: the same length scale ℓ)
GRADIENT_COARSE_BEND = HESSIAN_COARSE_BEND**0.5
# The estimate record's error: truncation from the pair (h, h/2) (or (h, 2h)) and rounding, each with a
# safety factor, so that the error it reports bounds the true error (a function's rounding is a few ulps of
# |f|, not one: sums over a batch carry several).
ESTIMATE_TRUNCATION_SAFETY = 2.0
ESTIMATE_ROUNDING_ULPS = 4.0
# An element is flagged unreliable when its error estimate is above this fraction of its own size, is not
# mere rounding, and is above the method's promised normwise accuracy: the step is too coarse for it.
UNRELIABLE_FRACTION = 0.1
# f's noise measured by ECnoise (numgrad.differences.noise): m + 1 points on a line through x, at spacing
# noise_step·max(1, |x_i|)/sqrt(n) per coordinate. Levels of consecutive differences must agree within
# NOISE_AGREEMENT (ECnoise's test of |f|'s spread over the line is left out: f that is a small difference
# of large terms, the case this is for, moves by more than a tenth of itself there).
NOISE_POINTS = 8
NOISE_AGREEMENT = 4.0
# Measured noise above this many ulps of max|f| on the line is not rounding: a cancellation of four digits
# is allowed (1e3 + f − 1e3), more is a length scale shorter than the line's spacing.
NOISE_MAX_ULPS = 1e4
NOISE_SEED = 20_240_602
# A difference's rounding is bounded by this many standard deviations of the measured noise (the largest of
# ~1000 elements' noise is ~3.3 of them; the stencil's weights already add the values' noise up).
NOISE_SIGMAS = 3.0


def noise_step(dtype: DTypeLike) -> float:
    """ECnoise's spacing for a unit-scale x: ``eps**(1/4) / 16``, where the 6th differences of a function of
    length scale 0.01 are still far below rounding (``(δ/ℓ)**6 ≈ 1e-19`` in float64)."""
    return float(eps(dtype) ** 0.25 / 16)


def hessian_base_step(dtype: DTypeLike) -> float:
    """The smaller step of the Hessian's Richardson pair for a unit-scale x: ``eps**(1/4)``."""
    return float(eps(dtype) ** HESSIAN_STEP_POWER)


def hessian_steps(x0: NDArray[np.float64], dtype: DTypeLike) -> NDArray[np.float64]:
    """Per-coordinate steps ``eps**(1/4)·max(1, |x_i|)``, as powers of two (x ± h exact)."""
    return np.asarray(np.exp2(np.round(np.log2(hessian_base_step(dtype) * length_scales(x0)))))


def unit_hessian_steps(x0: NDArray[np.float64], dtype: DTypeLike) -> NDArray[np.float64]:
    """The unit-scale retry's steps ``eps**(1/4)`` (a power of two), and at least 4 spacings of x_i in
    `dtype` (at x = 1e13 the unit step is 1.2e-4, x's spacing 2e-3: x ± h was x, and the zero difference
    "agreed")."""
    return spaced(hessian_steps(np.zeros_like(x0), dtype), x0, dtype)


def hessian_accuracy(dtype: DTypeLike) -> float:
    return HESSIAN_ACCURACY[precision(dtype)]


def unreliable(
    value: NDArray[Any],
    error: NDArray[Any],
    truncation: NDArray[Any],
    rounding: NDArray[Any],
    accuracy: float,
) -> NDArray[np.bool_]:
    """Elements whose error estimate is above :data:`UNRELIABLE_FRACTION` of their value, is truncation
    rather than rounding (`rounding`: the ulp model's rounding term of the estimate), and is above the
    promised normwise `accuracy`; or whose rounding alone is above UNRELIABLE_FRACTION of the largest
    value (a given step so small that f's rounding over h² is most of what there is: h = 1e-12 for x² at
    3 gave 0, 1e-15 gave 3e14); or that are not finite."""
    scale = float(np.max(np.abs(value), initial=0.0, where=np.isfinite(value)))
    with np.errstate(invalid="ignore"):
        coarse = (
            (error > UNRELIABLE_FRACTION * np.abs(value))
            & (truncation > rounding)
            & (error > accuracy * scale)
        )
        noise = rounding > UNRELIABLE_FRACTION * scale
    return np.asarray(coarse | noise | ~np.isfinite(value) | ~np.isfinite(error))

"""Framework derivatives checked through seeded random projections, with check_vjp's machinery.

A vector-Jacobian product with cotangent u is the gradient of the scalar ``x ↦ <u, f(x)>``: checking
the VJPs an autodiff framework runs (a ``torch.autograd.Function``'s backward, a ``jax.custom_vjp``
rule) is a gradient check of that scalar against them. Every output enters one projection, its
cotangent scaled so that its VJP has unit size (a bug in any output shows at its own relative size);
on a failure each output is re-checked alone, which names it.

Full mode checks all inputs as :func:`numgrad.check_vjp` checks a pytree of one dtype: one full check
of the concatenated inputs (one probe for the steps, so n elements cost about n + 7 evaluations
however many inputs), each input judged at its own scale and reported on its own. Inputs of mixed
dtypes are checked one at a time, each in its own dtype; fast mode and second derivatives check the
inputs as one vector along random directions or at one scale (see :func:`run`).

numgrad.torch and numgrad.jax build a :class:`Problem` (the values, a NumPy-in NumPy-out evaluation of
the framework function, the cotangents and the analytic VJPs) and call :func:`run`. No framework is
imported here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.checking import check as _check
from numgrad.checking import measure as gc
from numgrad.checking.check import check_gradient
from numgrad.checking.core import array_report
from numgrad.checking.report import GradientReport
from numgrad.common import numerics as nm
from numgrad.common.validate import ANY_SEED, choice, seed_int
from numgrad.differences.engine import on_float32_grid

__all__ = [
    "Finding",
    "FrameworkReport",
    "Problem",
    "StructureError",
    "cotangent",
    "run",
    "run_apart",
    "seed_of",
    "stream",
]

Evaluate = Callable[[tuple[NDArray[Any], ...]], tuple[NDArray[Any], ...]]


class StructureError(ValueError):
    """The function's outputs changed structure between evaluations (never taken for a float64 failure)."""


@dataclass(frozen=True)
class Problem:
    """What a framework adapter hands to :func:`run`.

    ``evaluate(values)`` returns the differentiable outputs of the framework function at the checked
    inputs `values` (NumPy arrays, each cast to the dtype it should be computed in). ``vjps[k][j]`` is
    the analytic VJP of output k with cotangent ``cotangents[k]`` with respect to input j, computed by
    the framework at `inputs` in the user's own dtypes.
    """

    func: str  # the public function, for messages: "numgrad.torch.gradcheck"
    inputs: tuple[NDArray[Any], ...]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    evaluate: Evaluate
    cotangents: tuple[NDArray[np.float64], ...]
    vjps: tuple[tuple[NDArray[Any], ...], ...]
    what: str = "VJP"  # what is checked, for the report: "VJP", "JVP (transposed)", "double backward"


@dataclass(frozen=True)
class Finding:
    """One check: the outputs projected, the inputs checked, and check_gradient's report of it.

    When several inputs are checked as one vector, `input` names the one that holds the worst element
    and `element` its index there; `wrong` counts the elements beyond tolerance per input.
    """

    outputs: str
    input: str
    report: GradientReport
    element: tuple[int, ...] | None = None
    wrong: tuple[tuple[str, int, int], ...] = ()  # (input, wrong elements, elements)

    def __str__(self) -> str:
        lines = [f"{self.outputs} w.r.t. {self.input}: {self.report}"]
        if self.element is not None:
            lines.append(f"  {'worst is':<16}{self.input} at {self.element}")
        if self.wrong:
            per = ", ".join(f"{name} {bad} of {size}" for name, bad, size in self.wrong if bad)
            lines.append(f"  {'wrong elements':<16}{per}")
        return "\n".join(lines)


@dataclass(frozen=True)
class FrameworkReport:
    """Every check of a framework function's derivatives.

    Attributes
    ----------
    passed : bool
        Every check passed (kinks excepted, as in :func:`check_gradient`).
    findings : tuple of Finding
        One per checked input (one for all inputs together in fast mode and second order), then, when
        a check fails and the function has more than one output, the same per output alone, which says
        which output is wrong.
    nfev : int
        Evaluations of the user's function (the analytic pass included); ``seconds`` the wall time.
    """

    func: str
    what: str
    mode: str
    passed: bool
    findings: tuple[Finding, ...]
    nfev: int
    seconds: float
    notes: tuple[str, ...] = field(default=())

    @property
    def failures(self) -> tuple[Finding, ...]:
        """The failing checks, most specific first (a single output before the projection of all)."""
        bad = [f for f in self.findings if not f.report.passed]
        return tuple(sorted(bad, key=lambda f: "projected together" in f.outputs))

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        checks = len(self.findings)
        head = (
            f"{self.func}: {self.what} check {verdict} ({self.mode} mode, {checks} "
            f"check{'s' if checks != 1 else ''}, {self.nfev} evaluations of the function in "
            f"{self.seconds:.3f} s)"
        )
        scale = (
            "  values: the VJP with a seeded random cotangent u (the gradient of <u, output>), "
            "u scaled so the largest entry is 1"
        )
        shown = self.failures or self.findings[:1]
        return "\n".join([head, scale, *self.notes, *(str(f) for f in shown)])


def seed_of(seed: object, func: str) -> int | np.random.Generator:
    """An adapter's `seed` after numgrad's one seed check: a numpy.random.Generator as it is, a
    non-negative int, or None for the fixed default (so results repeat)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return nm.DEFAULT_CHECK_SEED if seed is None else seed_int(seed, func, expected=ANY_SEED)


def stream(seed: int | np.random.Generator, offset: int = 0) -> np.random.Generator:
    """Random stream `offset` of a check (0: the cotangents; 1: the cotangents of a second-order
    check's first derivative): ``default_rng(seed + offset)`` for an int seed, the Generator itself
    (drawn from in turn) when one is given."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed + offset)


def cotangent(shape: tuple[int, ...], rng: np.random.Generator) -> NDArray[np.float64]:
    """A seeded standard-normal cotangent (the caller rounds it to the output's dtype)."""
    return np.asarray(rng.standard_normal(shape), dtype=np.float64)


def run_apart(problem: Problem, *, together: bool, count: Callable[[], int], **opts: Any) -> FrameworkReport:
    """:func:`run`, with the inputs (in full mode) in groups differenced apart, each with the other inputs
    exactly as the user gave them: the float64 ones; the float32 ones f computes in float64 for (widened
    together, as run does); those whose outputs stay float32 when they alone are widened (f casts them
    down: kept in float32). Widening one input must not decide another's precision: widened float32
    inputs make f's outputs float64 while a float64 input's (or another input's) path still rounds to
    float32, which float64 steps then miss. One report, findings in the order of the inputs."""
    parts = (problem,) if together else _parts(problem)
    reports = [run(part, together=together, count=count, **opts) for part in parts]
    if len(reports) == 1:
        return reports[0]
    names = problem.input_names
    return replace(
        reports[0],
        passed=all(r.passed for r in reports),
        findings=tuple(sorted((f for r in reports for f in r.findings), key=lambda f: names.index(f.input))),
        nfev=count(),
        seconds=sum(r.seconds for r in reports),
        notes=tuple(dict.fromkeys(n for r in reports for n in r.notes)),
    )


def _parts(p: Problem) -> tuple[Problem, ...]:
    """The groups of :func:`run_apart` (p itself where every input is in one widened group)."""
    narrow = [j for j, v in enumerate(p.inputs) if v.dtype != np.float64]
    alone = {j: _widens(p, j) for j in narrow} if len(narrow) > 1 else {}  # one: run's own test
    groups = [
        (tuple(j for j, v in enumerate(p.inputs) if v.dtype == np.float64), False),
        (tuple(j for j in narrow if alone.get(j) is not False), False),
        (tuple(j for j in narrow if alone.get(j) is False), True),
    ]
    groups = [(js, keep) for js, keep in groups if js]
    if len(groups) == 1 and not groups[0][1]:
        return (p,)
    return tuple(_part(p, js, keep) for js, keep in groups)


def _widens(p: Problem, j: int) -> bool | None:
    """Whether f returns float64 outputs with input j alone in float64 (None: f cannot mix dtypes, as
    torch's matmul: j is then widened with the other float32 inputs, as f's float64 test decides)."""
    values = tuple(v.astype(np.float64) if i == j else v for i, v in enumerate(p.inputs))
    try:
        out = p.evaluate(values)
    except StructureError:
        raise
    except Exception:  # e.g. torch's RuntimeError of mixed dtypes: the test of all of them decides
        return None
    return all(o.dtype == np.float64 for o in out)


def _part(p: Problem, js: tuple[int, ...], keep: bool) -> Problem:
    """`p` for the inputs `js`, the others held as the user gave them (`keep`: js in their own dtype)."""

    def evaluate(values: tuple[NDArray[Any], ...]) -> tuple[NDArray[Any], ...]:
        point = list(p.inputs)
        for j, v in zip(js, values, strict=True):
            point[j] = v.astype(p.inputs[j].dtype) if keep else v
        return p.evaluate(tuple(point))

    return replace(
        p,
        inputs=tuple(p.inputs[j] for j in js),
        input_names=tuple(p.input_names[j] for j in js),
        evaluate=evaluate,
        vjps=tuple(tuple(row[j] for j in js) for row in p.vjps),
    )


def run(
    problem: Problem,
    *,
    mode: str,
    method: str,
    rtol: float | None,
    atol: float | None,
    seed: int | np.random.Generator,
    together: bool,
    count: Callable[[], int],
) -> FrameworkReport:
    """Check every input's VJPs. Full mode: all inputs of one dtype in one concatenated check, each
    judged at its own scale, so a 1e-4 bug in a small block is caught (mixed dtypes: one input at a
    time). With `together` all inputs are one vector judged at one scale: fast mode's six evaluations
    whatever their number, and second derivatives, whose blocks can be small by cancellation (layer
    norm's d²/dγdx), which a float32 double backward rounds relative to the whole vector.
    `seed` (an int or a Generator, see :func:`seed_of`) draws fast mode's directions; `count()` reads
    the adapter's evaluation counter."""
    start = time.perf_counter()
    p = problem
    meth = _options(p.func, method, mode)
    low, high = _check._bound(rtol, "rtol", p.func), _check._bound(atol, "atol", p.func)
    cached = _Cached(p)
    cached.promote = cached.computes_in_float64()

    def check(g: Callable[[NDArray[Any]], NDArray[Any]], x: NDArray[Any], a: NDArray[Any]) -> GradientReport:
        before = count()
        report = check_gradient(g, x, a, method=meth, mode=mode, rtol=low, atol=high, seed=seed)
        return replace(report, nfev=count() - before)  # func's evaluations (some of g's are cached)

    if together:
        findings = _together(p, cached, check, mode)
    elif mode == "full" and len({v.dtype for v in p.inputs}) == 1:
        findings = _concatenated(p, cached, lambda w: _joint(p, cached, w, meth, low, high, start, count))
    else:
        findings = _apart(p, cached, check)
    notes: tuple[str, ...] = ()
    if mode == "fast" and not all(f.report.passed for f in findings):
        notes = ("  fast mode checks random directions; mode='full' locates the output, input and element",)
    return FrameworkReport(
        p.func, p.what, mode, all(f.report.passed for f in findings), tuple(findings), count(),
        time.perf_counter() - start, notes,
    )  # fmt: skip


def _options(func: str, method: str, mode: str) -> str:
    meth = choice(method, ("auto", *nm.METHODS), func, "method")
    if mode == "fast" and meth not in ("auto", "central"):
        raise ValueError(
            f"{func}: mode='fast' takes central differences along random directions; method must be "
            f"'auto' or 'central', got {meth!r}. Use mode='full' for other methods"
        )
    return meth


def _together(
    p: Problem,
    cached: _Cached,
    check: Callable[[Callable[[NDArray[Any]], NDArray[Any]], NDArray[Any], NDArray[Any]], GradientReport],
    mode: str,
) -> list[Finding]:
    """All inputs as one vector at one scale; on a failure, each output alone."""
    every = tuple(range(len(p.output_names)))
    weights = _weights(p, range(len(p.inputs)))
    findings = []
    for k in (None, *every) if len(every) > 1 else (None,):
        w = weights if k is None else _alone(weights, k)
        report = check(cached.stacked(w), _stack(p.inputs), _stacked_vjp(p, w))
        name = _outputs_name(p, every) if k is None else f"output {p.output_names[k]}"
        findings.append(_stacked_finding(p, name, report, mode))
        if report.passed and k is None:
            break
    return findings


def _concatenated(
    p: Problem, cached: _Cached, joint: Callable[[NDArray[np.float64]], list[GradientReport]]
) -> list[Finding]:
    """Full mode, inputs of one dtype: one concatenated check of every output projected together, and
    on a failure one per output alone (which names it); each gives one finding per input."""
    every = tuple(range(len(p.output_names)))
    weights = _weights(p, range(len(p.inputs)))
    reports = joint(weights)
    findings = [Finding(_outputs_name(p, every), n, r) for n, r in zip(p.input_names, reports, strict=True)]
    if all(r.passed for r in reports) or len(every) == 1:
        return findings
    for k in every:
        name = f"output {p.output_names[k]}"
        findings += [
            Finding(name, n, r) for n, r in zip(p.input_names, joint(_alone(weights, k)), strict=True)
        ]
    return findings


def _apart(
    p: Problem,
    cached: _Cached,
    check: Callable[[Callable[[NDArray[Any]], NDArray[Any]], NDArray[Any], NDArray[Any]], GradientReport],
) -> list[Finding]:
    """Each input apart, the others held (inputs of mixed dtypes; fast mode of check_module): on a
    failure, each output alone."""
    every = tuple(range(len(p.output_names)))
    findings = []
    for j in range(len(p.inputs)):
        weights = _weights(p, [j])
        report = check(cached.single(j, weights), p.inputs[j].copy(), _vjp(p, j, weights))
        findings.append(Finding(_outputs_name(p, every), p.input_names[j], report))
        if not report.passed and len(every) > 1:
            findings.extend(_per_output(p, cached, j, weights, check))
    return findings


def _joint(
    p: Problem,
    cached: _Cached,
    weights: NDArray[np.float64],
    method: str,
    rtol: float | None,
    atol: float | None,
    start: float,
    count: Callable[[], int],
) -> list[GradientReport]:
    """check_vjp's full check of a pytree of one dtype: the inputs concatenated (one probe for the
    steps, one first pass, re-measures only where an element disagrees), each input judged at its own
    scale (its segment of the vector) and given its own report, whose nfev is the whole check's."""
    before = count()
    vector = _stack(p.inputs)
    analytic = _stacked_vjp(p, weights)
    coarser = analytic.dtype if nm.eps(analytic.dtype) > nm.eps(vector.dtype) else vector.dtype
    tol = gc.Tolerance(rtol, atol, method, str(coarser))
    offsets = tuple(int(o) for o in np.cumsum([0, *(v.size for v in p.inputs)]))
    o = gc.full_check(cached.stacked(weights), vector, analytic, method, tol, func=p.func, segments=offsets)
    tol, o = replace(tol, method=o.method), replace(o, nfev=count() - before)
    per = [f.name for f in fields(o) if isinstance(getattr(o, f.name), np.ndarray)]
    seconds = time.perf_counter() - start
    return [
        array_report(replace(o, **{k: getattr(o, k)[a:b] for k in per}), "full", tol, v, v.shape, seconds)
        for v, a, b in zip(p.inputs, offsets[:-1], offsets[1:], strict=True)
    ]


def _alone(weights: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """Output k's weight alone (the others' zero): its projection names a wrong output."""
    alone = np.zeros_like(weights)
    alone[k] = weights[k] if weights[k] else 1.0
    return alone


def _stacked_finding(p: Problem, outputs: str, report: GradientReport, mode: str) -> Finding:
    if mode == "fast":
        return Finding(outputs, ", ".join(p.input_names) + " together", report)
    sizes = [v.size for v in p.inputs]
    starts = np.cumsum([0, *sizes])
    flat = report.worst_index[0]
    j = int(np.searchsorted(starts, flat, side="right") - 1)
    element = tuple(int(i) for i in np.unravel_index(flat - starts[j], p.inputs[j].shape))
    beyond = (~(report.abs_errors <= report.tolerances)) & ~report.kinks
    wrong = tuple(
        (name, int(beyond[a:b].sum()), size)
        for name, a, b, size in zip(p.input_names, starts[:-1], starts[1:], sizes, strict=True)
    )
    return Finding(outputs, p.input_names[j], report, element, wrong if not report.passed else ())


def _per_output(
    p: Problem,
    cached: _Cached,
    j: int,
    weights: NDArray[np.float64],
    check: Callable[[Callable[[NDArray[Any]], NDArray[Any]], NDArray[Any], NDArray[Any]], GradientReport],
) -> list[Finding]:
    out = []
    for k in range(len(p.output_names)):
        alone = _alone(weights, k)
        report = check(cached.single(j, alone), p.inputs[j].copy(), _vjp(p, j, alone))
        out.append(Finding(f"output {p.output_names[k]}", p.input_names[j], report))
    return out


def _outputs_name(p: Problem, every: Sequence[int]) -> str:
    if len(every) == 1:
        return f"output {p.output_names[0]}"
    return "outputs " + ", ".join(p.output_names) + " (projected together)"


# --------------------------------------------------------------------------------------------------
# The projections


def _weights(p: Problem, inputs: Sequence[int] | range) -> NDArray[np.float64]:
    """Each output's cotangent scale: its VJP with respect to `inputs` then has unit largest entry."""
    sizes = np.array(
        [max((float(np.max(np.abs(p.vjps[k][j]), initial=0.0)) for j in inputs), default=0.0)
         for k in range(len(p.output_names))]
    )  # fmt: skip
    with np.errstate(divide="ignore"):
        return np.where(sizes > 0, 1.0 / np.where(sizes > 0, sizes, 1.0), 1.0)


def _float32_numbers(out: Sequence[NDArray[Any]]) -> bool:
    return on_float32_grid(np.concatenate([np.ravel(o).astype(np.float64) for o in out] or [np.zeros(0)]))


def _coarsest(arrays: Sequence[NDArray[Any]]) -> np.dtype[Any]:
    """The dtype with the largest epsilon among the analytic VJPs (their rounding sets the floor)."""
    dtypes = [a.dtype for a in arrays if a.dtype.kind == "f"] or [np.dtype(np.float64)]
    return max(dtypes, key=lambda d: float(np.finfo(d).eps))


def _vjp(p: Problem, j: int, weights: NDArray[np.float64]) -> NDArray[Any]:
    parts = [p.vjps[k][j] for k in range(len(p.output_names))]
    total = sum((w * part.astype(np.float64) for w, part in zip(weights, parts, strict=True)), np.zeros(()))
    return np.asarray(np.broadcast_to(total, p.inputs[j].shape), dtype=_coarsest(parts))


def _stack(values: Sequence[NDArray[Any]]) -> NDArray[Any]:
    dtype = np.result_type(*values)
    return np.concatenate([v.reshape(-1).astype(dtype) for v in values])


def _stacked_vjp(p: Problem, weights: NDArray[np.float64]) -> NDArray[Any]:
    pieces = [_vjp(p, j, weights) for j in range(len(p.inputs))]
    return np.concatenate([v.reshape(-1).astype(np.float64) for v in pieces]).astype(_coarsest(pieces))


class _Cached:
    """The scalar projections handed to check_gradient, with f at the unperturbed point evaluated once
    per dtype (check_gradient's own probes and the first pass all ask for it)."""

    def __init__(self, p: Problem) -> None:
        self.p = p
        self.base: dict[tuple[str, ...], tuple[NDArray[Any], ...]] = {}
        self.promote = False
        self.float32: bool | None = None  # float64 outputs that are float32 numbers (see narrow)

    def computes_in_float64(self) -> bool:
        """Whether the function returns float64 outputs for float64 inputs (then float32 inputs are
        differenced in float64); one evaluation, kept for check_gradient's own probes."""
        if all(v.dtype == np.float64 for v in self.p.inputs):
            return True
        try:
            out = self.outputs_at(tuple(v.astype(np.float64) for v in self.p.inputs))
        except StructureError:
            raise
        except Exception:  # a function that cannot run in float64 is differenced in its own dtype
            return False
        return all(o.dtype == np.float64 for o in out)

    def outputs_at(self, values: tuple[NDArray[Any], ...]) -> tuple[NDArray[Any], ...]:
        key = tuple(str(v.dtype) for v in values)
        unperturbed = all(
            v.shape == x.shape and np.array_equal(v, x.astype(v.dtype))
            for v, x in zip(values, self.p.inputs, strict=True)
        )
        if unperturbed and key in self.base:
            return self.base[key]
        out = self.p.evaluate(values)
        if len(out) != len(self.p.cotangents) or any(
            o.shape != u.shape for o, u in zip(out, self.p.cotangents, strict=True)
        ):
            raise StructureError(
                f"{self.p.func}: the function's outputs changed structure between evaluations: first "
                f"shapes {[u.shape for u in self.p.cotangents]}, then {[o.shape for o in out]}"
            )
        if unperturbed:
            self.base[key] = out
        return out

    def project(self, values: tuple[NDArray[Any], ...], weights: NDArray[np.float64]) -> NDArray[Any]:
        """<u, f(values)> in the outputs' dtype; in float32 where float64 outputs at float64 inputs are
        float32 numbers (:meth:`narrow`), so that check_gradient takes float32's steps (the sum with
        float64 cotangents has float64 digits, and the steps rounded away inside the function)."""
        out = self.outputs_at(values)
        value = sum(
            (w * float(np.sum(u * o.astype(np.float64)))
             for w, u, o in zip(weights, self.p.cotangents, out, strict=True) if w),
            0.0,
        )  # fmt: skip
        dtype = np.result_type(*out) if out else np.float64
        if dtype == np.float64 and all(v.dtype == np.float64 for v in values) and self.narrow(values, out):
            dtype = np.dtype(np.float32)
        return np.asarray(value, dtype=dtype)

    def narrow(self, values: tuple[NDArray[Any], ...], out: tuple[NDArray[Any], ...]) -> bool:
        """Whether the function computes in float32 and returns float64 (a float32 module fed float64
        inputs; a float64 input's gradient computed in float32, cast back by autograd): its outputs are
        float32 numbers (engine.on_float32_grid) here and at inputs moved off every grid
        (numerics.irregular_point: at round inputs a float64 function's can be). Decided once; one
        evaluation, where the first look says float32."""
        if self.float32 is None:
            self.float32 = _float32_numbers(out)
            if self.float32:
                moved = tuple(
                    nm.irregular_point(np.ravel(v).astype(np.float64), v.dtype).reshape(v.shape)
                    for v in values
                )
                there = self.p.evaluate(moved)
                self.float32 = all(o.dtype == np.float64 for o in there) and _float32_numbers(there)
        return self.float32

    def dtypes(self, x: NDArray[Any]) -> list[np.dtype[Any]]:
        """Where each input is computed: all in float64 when x arrived in float64 and the function
        computes in float64; otherwise each in its own dtype."""
        wide = self.promote and x.dtype == np.float64
        return [np.dtype(np.float64) if wide else v.dtype for v in self.p.inputs]

    def single(self, j: int, weights: NDArray[np.float64]) -> Callable[[NDArray[Any]], NDArray[Any]]:
        def g(x: NDArray[Any]) -> NDArray[Any]:
            dts = self.dtypes(x)
            values = tuple(
                (x if i == j else v).astype(dts[i], copy=True) for i, v in enumerate(self.p.inputs)
            )
            return self.project(values, weights)

        return g

    def stacked(self, weights: NDArray[np.float64]) -> Callable[[NDArray[Any]], NDArray[Any]]:
        sizes = np.cumsum([v.size for v in self.p.inputs])[:-1]

        def g(z: NDArray[Any]) -> NDArray[Any]:
            dts = self.dtypes(z)
            pieces = np.split(np.ravel(z), sizes)
            values = tuple(
                piece.reshape(v.shape).astype(dt, copy=True)
                for piece, v, dt in zip(pieces, self.p.inputs, dts, strict=True)
            )
            return self.project(values, weights)

        return g

"""Framework derivatives checked through seeded random projections onto :func:`check_gradient`.

A vector-Jacobian product with cotangent u is the gradient of the scalar ``x ↦ <u, f(x)>``: checking
the VJPs an autodiff framework runs (a ``torch.autograd.Function``'s backward, a ``jax.custom_vjp``
rule) is :func:`check_gradient` of that scalar against them. Every output enters one projection per
checked input, its cotangent scaled so that its VJP there has unit size (a bug in any output shows at
its own relative size); on a failure each output is re-checked alone, which names it.

numgrad.torch and numgrad.jax build a :class:`Problem` (the values, a NumPy-in NumPy-out evaluation of
the framework function, the cotangents and the analytic VJPs) and call :func:`run`. No framework is
imported here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.checking.check import check_gradient
from numgrad.checking.report import GradientReport

__all__ = ["Finding", "FrameworkReport", "Problem", "StructureError", "cotangent", "run"]

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
        One per checked input (all inputs together in fast mode), then, for each failing one with more
        than one output, one per output, which says which output is wrong.
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


def cotangent(shape: tuple[int, ...], rng: np.random.Generator) -> NDArray[np.float64]:
    """A seeded standard-normal cotangent (the caller rounds it to the output's dtype)."""
    return np.asarray(rng.standard_normal(shape), dtype=np.float64)


def run(
    problem: Problem,
    *,
    mode: str,
    method: str,
    rtol: float | None,
    atol: float | None,
    seed: int | None,
    together: bool,
    count: Callable[[], int],
) -> FrameworkReport:
    """Check every input's VJPs, each input apart (the floor relative to its own VJP, so a 1e-4 bug in
    a small block is caught), or with `together` all inputs as one vector: fast mode's six evaluations
    whatever their number, and second derivatives, whose blocks can be small by cancellation (layer
    norm's d²/dγdx), which a float32 double backward rounds relative to the whole vector.
    `count()` reads the adapter's evaluation counter."""
    start = time.perf_counter()
    p = problem
    cached = _Cached(p)
    cached.promote = cached.computes_in_float64()

    def check(g: Callable[[NDArray[Any]], NDArray[Any]], x: NDArray[Any], a: NDArray[Any]) -> GradientReport:
        return check_gradient(g, x, a, method=method, mode=mode, rtol=rtol, atol=atol, seed=seed)

    findings: list[Finding] = []
    every = tuple(range(len(p.output_names)))
    if together:
        weights = _weights(p, range(len(p.inputs)))
        alone = np.eye(len(every)) * weights if len(every) > 1 else None
        for k, w in [(None, weights)] + ([] if alone is None else list(enumerate(alone))):
            report = check(cached.stacked(w), _stack(p.inputs), _stacked_vjp(p, w))
            name = _outputs_name(p, every) if k is None else f"output {p.output_names[k]}"
            findings.append(_stacked_finding(p, name, report, mode))
            if report.passed and k is None:
                break
    else:
        for j in range(len(p.inputs)):
            weights = _weights(p, [j])
            report = check(cached.single(j, weights), p.inputs[j].copy(), _vjp(p, j, weights))
            findings.append(Finding(_outputs_name(p, every), p.input_names[j], report))
            if not report.passed and len(every) > 1:
                findings.extend(_per_output(p, cached, j, weights, check))
    notes: tuple[str, ...] = ()
    if mode == "fast" and not all(f.report.passed for f in findings):
        notes = ("  fast mode checks random directions; mode='full' locates the output, input and element",)
    return FrameworkReport(
        p.func, p.what, mode, all(f.report.passed for f in findings), tuple(findings), count(),
        time.perf_counter() - start, notes,
    )  # fmt: skip


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
        alone = np.zeros_like(weights)
        alone[k] = weights[k] if weights[k] else 1.0
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

    def project(self, out: tuple[NDArray[Any], ...], weights: NDArray[np.float64]) -> NDArray[Any]:
        value = sum(
            (w * float(np.sum(u * o.astype(np.float64)))
             for w, u, o in zip(weights, self.p.cotangents, out, strict=True) if w),
            0.0,
        )  # fmt: skip
        dtype = np.result_type(*out) if out else np.float64
        return np.asarray(value, dtype=dtype)

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
            return self.project(self.outputs_at(values), weights)

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
            return self.project(self.outputs_at(values), weights)

        return g

"""The report of a gradient check: the same fixed fields whatever the options, as text and as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.checking import text as _checktext

__all__ = ["GradientReport", "LeafSummary", "index_of", "ratio_to_tolerance"]

LISTED = 10  # worst elements and kinks listed by to_dict() and str()


@dataclass(frozen=True)
class LeafSummary:
    """One leaf of a pytree x in a full-mode report: where it is, and how its checks went."""

    path: str  # the key path, e.g. "['W1']"
    shape: tuple[int, ...]
    dtype: str
    working_dtype: str
    checks: int
    failures: int
    kinks: int
    max_abs_error: float
    worst_index: tuple[int, ...]  # inside the leaf
    analytic: float
    numerical: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.failures == 0

    def line(self) -> str:
        verdict = "ok" if self.passed else f"WRONG at {self.failures} of {self.checks}"
        kinks = f", {self.kinks} kinks" if self.kinks else ""
        return (
            f"{self.path or 'x'} {self.shape} {self.dtype}: {verdict}{kinks}; worst {self.worst_index}: "
            f"analytic {self.analytic:.6g}, numerical {self.numerical:.6g} (error "
            f"{abs(self.analytic - self.numerical):.1e}, tolerance {self.tolerance:.1e})"
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shape"], d["worst_index"], d["passed"] = list(self.shape), list(self.worst_index), self.passed
        return d


@dataclass(frozen=True, eq=False)
class GradientReport:
    """The result of :func:`check_gradient`: the same fields whatever the options.

    A *check* is one element of x in full mode and one random direction in fast mode; the arrays hold
    one entry per check (x's shape in full mode, ``(directions,)`` in fast mode).

    Attributes
    ----------
    passed : bool
        Every check within its tolerance (kinks excepted).
    mode, method : str
        ``"full"`` or ``"fast"``; the difference method of the first pass (what ``"auto"`` chose).
    dtype, working_dtype : str
        x's dtype, and the dtype the differences were taken in (float64 for float32 x whenever f
        computes in float64 for a float64 argument).
    max_abs_error, max_rel_error : float
        Largest ``|analytic − numerical|`` over the checks, and the largest relative to the gradient's
        scale (full: ``max|numerical|``; fast: ``max|grad|·‖v‖``), so near-zero entries do not blow up.
    worst_index : tuple of int
        The check with the largest error relative to its tolerance (an index into x in full mode).
    analytic, numerical, tolerance : float
        Values there; ``tolerance_source`` says how that tolerance was derived.
    step : float
        The difference step at the worst check; ``steps`` holds all of them.
    nfev : int
        Evaluations of f spent; ``seconds`` the wall time of the whole check.
    failures : int
        Checks beyond tolerance; ``kinks`` marks the elements where f has a kink (never failures).
    message : str
        One line: the verdict, and where to look next.
    worst_leaf : str
        The key path of the leaf holding the worst check when x is a pytree (``"['W1']"``, ``"[1]"``);
        ``""`` for a single array and in fast mode (a direction moves every leaf).
    leaves : tuple of LeafSummary
        Full mode on a pytree: one summary per leaf, in x's order (empty for a single array). The
        per-check arrays then hold the leaves one after another, flattened.
    kind : str
        What was checked: ``"gradient"``, ``"vjp"``, ``"jvp"`` or ``"jacobian"``. For the last three
        the checks compare ``uᵀJ`` for a seeded cotangent u (the gradient of ``⟨u, f(x)⟩``).
    worst_output : tuple of int or None
        check_jacobian, when it fails: the output index of the worst (output, input) pair;
        ``pair_analytic`` and ``pair_numerical`` are the Jacobian's entries there.
    """

    passed: bool
    mode: str
    method: str
    dtype: str
    working_dtype: str
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic: float
    numerical: float
    tolerance: float
    tolerance_source: str
    step: float
    nfev: int
    seconds: float
    failures: int
    message: str
    analytic_values: NDArray[np.float64]
    numerical_values: NDArray[np.float64]
    abs_errors: NDArray[np.float64]
    tolerances: NDArray[np.float64]
    steps: NDArray[np.float64]
    kinks: NDArray[np.bool_]
    worst_leaf: str = ""
    leaves: tuple[LeafSummary, ...] = ()
    kind: str = "gradient"
    worst_output: tuple[int, ...] | None = None
    pair_analytic: float = float("nan")
    pair_numerical: float = float("nan")

    @property
    def kink_count(self) -> int:
        return int(np.count_nonzero(self.kinks))

    def worst(self, count: int = LISTED) -> list[tuple[int, ...]]:
        """Indices of the checks with the largest error relative to tolerance, worst first."""
        ratios = ratio_to_tolerance(self.abs_errors, self.tolerances, self.kinks)
        order = np.argsort(-ratios.reshape(-1), kind="stable")
        return [index_of(int(j), self.abs_errors.shape) for j in order[:count]]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values: the scalars, the worst checks and the kinks."""
        plain = {k: getattr(self, k) for k in _SCALARS}
        flat = np.flatnonzero(self.kinks.reshape(-1))[:LISTED]
        pair = None
        if self.worst_output is not None:
            pair = {"output": list(self.worst_output), "input": list(self.worst_index),
                    "analytic": self.pair_analytic, "numerical": self.pair_numerical}  # fmt: skip
        return {
            **plain,
            "worst_index": list(self.worst_index),
            "worst_leaf": self.worst_leaf,
            "kind": self.kind,
            "worst_pair": pair,
            "leaves": [leaf.to_dict() for leaf in self.leaves],
            "checks": int(self.abs_errors.size),
            "kinks": self.kink_count,
            "kink_indices": [list(index_of(int(j), self.kinks.shape)) for j in flat],
            "worst": [
                {
                    "index": list(i),
                    **self._leaf_of(i),
                    "analytic": float(self.analytic_values[i]),
                    "numerical": float(self.numerical_values[i]),
                    "abs_error": float(self.abs_errors[i]),
                    "tolerance": float(self.tolerances[i]),
                }
                for i in self.worst()
                if not self.kinks[i]
            ],
        }

    def _leaf_of(self, i: tuple[int, ...]) -> dict[str, Any]:
        """For a pytree: the leaf path and the index inside it of flat check i."""
        if not self.leaves:
            return {}
        j = int(i[0])
        for leaf in self.leaves:
            if j < leaf.checks:
                return {"leaf": leaf.path, "leaf_index": list(index_of(j, leaf.shape))}
            j -= leaf.checks
        return {}

    def __str__(self) -> str:
        what = "element" if self.mode == "full" else "direction"
        error = abs(self.analytic - self.numerical)
        where = f"{self.worst_leaf} {self.worst_index}" if self.worst_leaf else str(self.worst_index)
        rows = [
            (f"worst {what}", where),
            ("analytic", f"{self.analytic:.9g}"),
            ("numerical", f"{self.numerical:.9g}"),
            ("error there", f"{error:.2e}   tolerance {self.tolerance:.2e}: {self.tolerance_source}"),
            ("max errors", f"abs {self.max_abs_error:.2e}, rel {self.max_rel_error:.2e}"),
            ("kinks", _checktext.kink_line(self.mode, self.kinks)),
            ("step", f"{self.step:.2e} (differences in {self.working_dtype})"),
            ("evaluations", f"{self.nfev} of f in {self.seconds:.3f} s"),
        ]
        if self.kind != "gradient":
            rows.insert(0, ("checked", _checktext.KINDS[self.kind]))
        if self.worst_output is not None:
            rows.insert(1, ("worst pair", f"output {self.worst_output}, input {where}: jac "
                        f"{self.pair_analytic:.9g}, numerical {self.pair_numerical:.9g}"))  # fmt: skip
        lines = [self.message, *(f"  {k:<16}{v}" for k, v in rows)]
        if self.leaves:
            lines += ["  leaves", *(f"    {leaf.line()}" for leaf in self.leaves)]
        return "\n".join(lines)


_SCALARS = (
    "passed", "mode", "method", "dtype", "working_dtype", "max_abs_error", "max_rel_error", "analytic",
    "numerical", "tolerance", "tolerance_source", "step", "nfev", "seconds", "failures", "message",
)  # fmt: skip


def ratio_to_tolerance(err: NDArray[Any], tol: NDArray[Any], kinks: NDArray[Any]) -> NDArray[np.float64]:
    """error / tolerance, kinks ranked last (0 tolerance: inf when there is an error)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # 1e308 over a tiny tolerance: inf
        r = np.where(tol > 0, err / tol, np.where(err > 0, np.inf, 0.0))
    return np.asarray(np.where(kinks, -1.0, r), dtype=np.float64)


def index_of(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()

"""The checker behind check_gradient, check_vjp, check_jvp and check_jacobian: one array or a pytree.

Everything is a gradient check of a scalar g at x (for the vector checks, ``g = ⟨u, f⟩`` for a seeded
cotangent u). A single array goes through the full or fast check as it always did. A pytree is checked
leaf by leaf in full mode — each leaf perturbed in place as its own array, with its own dtype, step,
promotion to float64, tolerance floor and scale, so a function that reads its parameters from a closure
(``lambda p: net.loss(x, t)`` over ``net.params``) works as it does for one array — and along random
directions of the whole concatenated tree in fast mode. The leaves' outcomes join into one report that
names the leaf.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.checking import fast as _fastcheck
from numgrad.checking import measure as gc
from numgrad.checking import text as _checktext
from numgrad.checking.report import GradientReport, LeafSummary, index_of, ratio_to_tolerance
from numgrad.common import numerics as nm
from numgrad.common.guard import unchanged_tree
from numgrad.common.trees import Flat, WithLeaf, disjoint_leaves, flatten
from numgrad.common.validate import finite_point, real_floating_array

__all__ = ["Checked", "array_report", "check_flat", "point"]


def point(x: Any, func: str) -> Flat:
    """x as a pytree of real floating arrays (a single array-like: one leaf at the root path ``''``)."""

    def leaf(value: Any, path: str) -> NDArray[Any]:
        if path and not isinstance(value, np.ndarray):
            raise TypeError(
                f"{func}: every leaf of x must be a NumPy float array; got {type(value).__name__} at "
                f"{path}. Wrap it: np.asarray(value, dtype=np.float64)"
            )
        a = finite_point(real_floating_array(value, func, f"x{path}"), func, f"x{path}")
        if path and not a.flags.writeable:
            raise ValueError(
                f"{func}: x{path} is read-only, but the check perturbs the leaves in place (so that a "
                f"function reading them from a closure sees the perturbation); pass a copy"
            )
        return a

    return disjoint_leaves(flatten(x, func, "x", leaf=leaf), func)


@dataclass(frozen=True)
class Checked:
    """What to check: g, the point as a pytree, and the analytic gradient leaf by leaf."""

    func: str
    g: Callable[..., Any]
    flat: Flat
    analytic: list[NDArray[Any]]
    kind: str = "gradient"


def _tolerance(rtol: float | None, atol: float | None, method: str, x: Any, a: Any) -> gc.Tolerance:
    coarser = a.dtype if nm.eps(a.dtype) > nm.eps(x.dtype) else x.dtype
    return gc.Tolerance(rtol, atol, method, str(coarser))


def check_flat(
    c: Checked,
    *,
    method: str,
    mode: str,
    rtol: float | None,
    atol: float | None,
    rng: np.random.Generator,
    executor: Executor | None,
    seconds: Callable[[], float],
    linear: _fastcheck.Linear | None = None,
) -> GradientReport:
    """The report of g's gradient check at the tree (fast mode: `linear` in place of the gradient).
    Every leaf comes back bitwise as it was, or a MutatedArgumentError says which g wrote into."""
    with unchanged_tree(c.func, c.flat.leaves, c.flat.paths):
        return _check_flat(c, method, mode, rtol, atol, rng, executor, seconds, linear)


def _check_flat(
    c: Checked,
    method: str,
    mode: str,
    rtol: float | None,
    atol: float | None,
    rng: np.random.Generator,
    executor: Executor | None,
    seconds: Callable[[], float],
    linear: _fastcheck.Linear | None,
) -> GradientReport:
    if mode == "fast":
        return _fast(c, rtol, atol, rng, seconds, linear)
    if c.flat.single:
        x, a = c.flat.leaves[0], c.analytic[0]
        tol = _tolerance(rtol, atol, method, x, a)
        o = gc.full_check(c.g, x, a, method, tol, executor=executor, func=c.func)
        return array_report(o, "full", replace(tol, method=o.method), x, x.shape, seconds(), c.kind)
    if len({leaf.dtype for leaf in c.flat.leaves}) == 1:
        return _concatenated_full(c, method, rtol, atol, executor, seconds)
    by_leaf: dict[int, tuple[gc.Outcome, gc.Tolerance]] = {}
    for ks in _dtype_groups(c.flat.leaves):  # mixed dtypes: each dtype's leaves differenced in their own
        by_leaf.update(zip(ks, _group_full(c, ks, method, rtol, atol, executor), strict=True))
    return _tree_report(c, [by_leaf[k] for k in range(len(c.flat.leaves))], seconds)


def _dtype_groups(leaves: tuple[Any, ...]) -> list[tuple[int, ...]]:
    """The leaves' indices grouped by dtype, in order of first appearance."""
    groups: dict[np.dtype[Any], list[int]] = {}
    for k, leaf in enumerate(leaves):
        groups.setdefault(leaf.dtype, []).append(k)
    return [tuple(ks) for ks in groups.values()]


def _group_full(
    c: Checked,
    ks: tuple[int, ...],
    method: str,
    rtol: float | None,
    atol: float | None,
    executor: Executor | None,
) -> list[tuple[gc.Outcome, gc.Tolerance]]:
    """One full check of the leaves `ks` (of one dtype) as one vector, the others held: one step probe
    and one float64 test for the group, not one per leaf. Each leaf is judged at its own scale; the
    group's evaluations are counted on its first leaf."""
    leaves = [c.flat.leaves[k] for k in ks]
    if len(ks) == 1:
        tol = _tolerance(rtol, atol, method, leaves[0], c.analytic[ks[0]])
        g_k = WithLeaf(c.g, c.flat, ks[0])
        o = gc.full_check(g_k, leaves[0], c.analytic[ks[0]], method, tol, executor=executor, func=c.func)
        return [(o, replace(tol, method=o.method))]
    vector = np.concatenate([leaf.reshape(-1) for leaf in leaves])
    analytic = [c.analytic[k] for k in ks]
    joined = np.concatenate([a.reshape(-1) for a in analytic]).astype(np.result_type(*analytic))
    tol = _tolerance(rtol, atol, method, vector, joined)
    offsets = tuple(int(v) for v in np.concatenate([[0], np.cumsum([leaf.size for leaf in leaves])]))
    saved = [leaf.copy() for leaf in leaves]
    try:
        o = gc.full_check(
            _Group(c.g, c.flat, ks, vector), vector, joined, method, tol, executor=executor, func=c.func,
            segments=offsets,
        )  # fmt: skip
    finally:
        for leaf, old in zip(leaves, saved, strict=True):
            np.copyto(leaf, old)
    tol = replace(tol, method=o.method)
    parts = []
    for j in range(len(ks)):
        cut = {k: getattr(o, k)[offsets[j] : offsets[j + 1]] for k in _ARRAYS}
        parts.append((replace(o, **cut, nfev=o.nfev if j == 0 else 0), tol))
    return parts


def _concatenated_full(
    c: Checked,
    method: str,
    rtol: float | None,
    atol: float | None,
    executor: Executor | None,
    seconds: Callable[[], float],
) -> GradientReport:
    """Leaves of one dtype: one full check of the concatenated vector (one probe for the steps, so n
    elements cost about n + 6 evaluations however many leaves), each leaf judged at its own scale."""
    leaves = c.flat.leaves
    vector = c.flat.concatenate(leaves, leaves[0].dtype)
    analytic = c.flat.concatenate(c.analytic, np.result_type(*c.analytic))
    tol = _tolerance(rtol, atol, method, vector, analytic)
    saved = [leaf.copy() for leaf in leaves]
    call = _Concatenated(c.g, c.flat, vector)
    try:
        o = gc.full_check(
            call, vector, analytic, method, tol, executor=executor, func=c.func, segments=c.flat.offsets
        )
    finally:
        for leaf, old in zip(leaves, saved, strict=True):
            np.copyto(leaf, old)
    tol = replace(tol, method=o.method)
    o_ = c.flat.offsets
    parts = [
        (replace(o, **{k: getattr(o, k)[o_[j] : o_[j + 1]] for k in _ARRAYS}), tol)
        for j in range(len(leaves))
    ]
    return _tree_report(c, parts, seconds, joined=o)


def _joined(values: list[str]) -> str:
    return "/".join(dict.fromkeys(values))


def _tree_report(
    c: Checked,
    outcomes: list[tuple[gc.Outcome, gc.Tolerance]],
    seconds: Callable[[], float],
    joined: gc.Outcome | None = None,
) -> GradientReport:
    """One report from the leaves' outcomes (or, `joined`, one outcome of them all, cut in `outcomes`)."""
    if joined is None:
        os_ = [o for o, _ in outcomes]
        arrays = {k: np.concatenate([getattr(o, k).reshape(-1) for o in os_]) for k in _ARRAYS}
        joined = gc.Outcome(
            **arrays,
            nfev=sum(o.nfev for o in os_),
            working_dtype=_joined([o.working_dtype for o in os_]),
            method=_joined([o.method for o in os_]),
        )
    n = joined.analytic.size
    worst = int(np.argmax(ratio_to_tolerance(joined.abs_error, joined.tolerance, joined.kinks)))
    k, inner = c.flat.leaf_of(worst)
    # the words of the worst leaf's tolerance speak of the dtype its differences were taken in
    words = replace(joined, working_dtype=outcomes[k][0].working_dtype)
    base = array_report(words, "full", outcomes[k][1], c.flat.leaves[k], (n,), seconds(), c.kind)
    base = replace(base, working_dtype=joined.working_dtype)
    path = c.flat.paths[k]
    return replace(
        base,
        dtype=_joined([str(leaf.dtype) for leaf in c.flat.leaves]),
        worst_index=inner,
        worst_leaf=path,
        leaves=tuple(_summary(c.flat, j, o) for j, (o, _) in enumerate(outcomes)),
        message=_checktext.message(base.passed, base.failures, joined, "full", inner, c.kind, path),
    )


_ARRAYS = ("analytic", "numerical", "tolerance", "source", "scale", "steps", "kinks")


def _summary(flat: Flat, k: int, o: gc.Outcome) -> LeafSummary:
    err, judged = o.abs_error, ~o.kinks
    worst = int(np.argmax(ratio_to_tolerance(err, o.tolerance, o.kinks)))
    leaf = flat.leaves[k]
    return LeafSummary(
        path=flat.paths[k],
        shape=tuple(leaf.shape),
        dtype=str(leaf.dtype),
        working_dtype=o.working_dtype,
        checks=int(err.size),
        failures=int(o.beyond.sum()),
        kinks=int(o.kinks.sum()),
        max_abs_error=float(np.max(err[judged], initial=0.0)),
        worst_index=index_of(worst, tuple(leaf.shape)),
        analytic=float(o.analytic[worst]),
        numerical=float(o.numerical[worst]),
        tolerance=float(o.tolerance[worst]),
    )


# --------------------------------------------------------------------------------------------------
# Fast mode on a pytree: random directions of the concatenated leaves


@dataclass
class _Group:
    """g of the concatenated leaves `ks` (one dtype), the others the caller's own. Called with the
    check's own vector (perturbed in place), it writes the point into the caller's leaves, so closures
    over them see it; called with another array (a float64 copy, an executor's row), it hands g views of
    that array in place of those leaves."""

    g: Callable[..., Any]
    flat: Flat
    ks: tuple[int, ...]
    vector: NDArray[Any]

    def __call__(self, v: Any) -> Any:
        sizes = [self.flat.leaves[k].size for k in self.ks]
        parts = np.split(np.ravel(np.asarray(v)), np.cumsum(sizes)[:-1])
        if v is self.vector:
            for k, part in zip(self.ks, parts, strict=True):
                np.copyto(self.flat.leaves[k], part.reshape(self.flat.leaves[k].shape))
            return self.g(self.flat.unflatten(self.flat.leaves))
        leaves = list(self.flat.leaves)
        for k, part in zip(self.ks, parts, strict=True):
            leaves[k] = part.reshape(self.flat.leaves[k].shape)
        return self.g(self.flat.unflatten(leaves))


@dataclass
class _Concatenated:
    """g of the concatenated leaves. Called with the check's own vector (perturbed in place), it writes
    the point into the caller's leaves, so closures over them see it; called with another array (a
    float64 copy, an executor's row), it hands g views of that array shaped as the leaves."""

    g: Callable[..., Any]
    flat: Flat
    vector: NDArray[Any]
    write: bool = True  # False for leaves of mixed dtypes: rounding into a float32 leaf moves the point

    def __call__(self, v: Any) -> Any:
        if v is self.vector and self.write:
            for leaf, part in zip(self.flat.leaves, self.flat.views(v), strict=True):
                np.copyto(leaf, part, casting="unsafe")
            return self.g(self.flat.unflatten(self.flat.leaves))
        return self.g(self.flat.unflatten(self.flat.views(np.asarray(v))))


def _fast(
    c: Checked,
    rtol: float | None,
    atol: float | None,
    rng: np.random.Generator,
    seconds: Callable[[], float],
    linear: _fastcheck.Linear | None,
) -> GradientReport:
    leaves = c.flat.leaves
    dtype = np.result_type(*leaves)
    coarsest = max([*leaves, *c.analytic], key=lambda a: nm.eps(a.dtype)).dtype
    tol = gc.Tolerance(rtol, atol, "central", str(coarsest))
    if c.flat.single:
        x = leaves[0]
        o = _fastcheck.fast_check(c.g, x, linear or c.analytic[0], tol, rng, func=c.func)
        return array_report(o, "fast", tol, x, (o.analytic.size,), seconds(), c.kind)
    vector = c.flat.concatenate(leaves, dtype)
    # leaves of mixed dtypes: f gets views of the float64 vector (as if promoted), not the caller's leaves
    call = _Concatenated(c.g, c.flat, vector, write=len({leaf.dtype for leaf in leaves}) == 1)
    saved = [leaf.copy() for leaf in leaves]
    analytic = linear or c.flat.concatenate(c.analytic)
    try:
        o = _fastcheck.fast_check(call, vector, analytic, tol, rng, func=c.func)
    finally:
        for leaf, old in zip(leaves, saved, strict=True):
            np.copyto(leaf, old)
    report = array_report(o, "fast", tol, vector, (o.analytic.size,), seconds(), c.kind)
    return replace(report, dtype=_joined([str(leaf.dtype) for leaf in leaves]))


# --------------------------------------------------------------------------------------------------
# The report of one array


def array_report(
    o: gc.Outcome,
    mode: str,
    t: gc.Tolerance,
    x: NDArray[Any],
    shape: tuple[int, ...],
    seconds: float,
    kind: str = "gradient",
) -> GradientReport:
    err, tol, beyond, judged = o.abs_error, o.tolerance, o.beyond, ~o.kinks
    worst = int(np.argmax(ratio_to_tolerance(err, tol, o.kinks)))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(o.scale > 0, err / o.scale, np.where(err > 0, np.inf, 0.0))
    passed = not beyond.any()
    return GradientReport(
        passed=passed,
        mode=mode,
        method=t.method,
        dtype=str(x.dtype),
        working_dtype=o.working_dtype,
        max_abs_error=float(np.max(err[judged], initial=0.0)),
        max_rel_error=float(np.max(rel[judged], initial=0.0)),
        worst_index=index_of(worst, shape),
        analytic=float(o.analytic[worst]),
        numerical=float(o.numerical[worst]),
        tolerance=float(tol[worst]),
        tolerance_source=_checktext.source(o, worst, t, mode),
        step=float(o.steps[worst]),
        nfev=o.nfev,
        seconds=seconds,
        failures=int(beyond.sum()),
        message=_checktext.message(passed, int(beyond.sum()), o, mode, index_of(worst, shape), kind),
        analytic_values=o.analytic.reshape(shape),
        numerical_values=o.numerical.reshape(shape),
        abs_errors=err.reshape(shape),
        tolerances=tol.reshape(shape),
        steps=o.steps.reshape(shape),
        kinks=o.kinks.reshape(shape),
        kind=kind,
    )

"""Which layer is wrong: check every layer of a chapter-5-style stack in isolation, in order.

A layer has ``forward(x)`` and ``backward(dout)``, and keeps each parameter and its gradient as
attributes (``W`` and ``dW``, ``b`` and ``db``, ``gamma`` and ``dgamma``). :func:`check_layers` runs the
stack forward once, keeping the input each layer saw, then checks each layer's backward — its dx and its
parameter gradients — with :func:`numgrad.checking.vector.check_vjp` at that input, and reports the
first layer whose backward is wrong and where. An end-to-end check can only say that the sum is wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad.checking.report import GradientReport
from numgrad.checking.vector import check_vjp
from numgrad.common import numerics as nm
from numgrad.common.guard import MutatedArgumentError, NumericalWarning, changed_at
from numgrad.common.validate import named_as, real_floating_array, seed_generator

__all__ = ["LayerCheck", "LayersReport", "check_layers", "layer_parameters"]

FUNC = "check_layers"
ONLY_READ = (
    "check_layers needs forward and backward to only read the parameters, the input and t: update "
    "parameters outside backward (an optimizer's step), and copy an input before modifying it (x = x.copy())"
)


@dataclass(frozen=True)
class LayerCheck:
    """One layer's check: its position and name, the parameters found, and the VJP report."""

    index: int
    name: str
    params: tuple[str, ...]
    report: GradientReport

    @property
    def passed(self) -> bool:
        return self.report.passed

    def line(self) -> str:
        inputs = ", ".join(("x", *self.params))
        r = self.report
        if r.passed:
            return f"[{self.index}] {self.name} ({inputs}): ok ({r.nfev} evaluations)"
        return (
            f"[{self.index}] {self.name} ({inputs}): WRONG at {r.failures} elements, worst {r.worst_leaf} "
            f"{r.worst_index}: backward {r.analytic:.6g}, numerical {r.numerical:.6g} "
            f"(tolerance {r.tolerance:.1e})"
        )


@dataclass(frozen=True, eq=False)
class LayersReport:
    """The result of :func:`check_layers`.

    Attributes
    ----------
    passed : bool
        Every layer's backward within tolerance.
    first_wrong : int or None
        Position of the first layer whose backward is wrong (None when all pass).
    layers : tuple of LayerCheck
        One per layer, in order; ``layers[i].report`` is that layer's full :class:`GradientReport`
        (leaves ``['x']`` for dx and ``['W']``, ``['b']``, ... for the parameter gradients).
    message : str
        One line: the verdict, and the first wrong layer and leaf.
    nfev, seconds : int, float
        Forward calls of layers spent, over all checks, and the wall time.
    """

    passed: bool
    first_wrong: int | None
    layers: tuple[LayerCheck, ...]
    message: str
    nfev: int
    seconds: float

    def __str__(self) -> str:
        return "\n".join([self.message, *(f"  {c.line()}" for c in self.layers)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "first_wrong": self.first_wrong,
            "message": self.message,
            "nfev": self.nfev,
            "seconds": self.seconds,
            "layers": [
                {"index": c.index, "name": c.name, "params": list(c.params), "report": c.report.to_dict()}
                for c in self.layers
            ],
        }


def layer_parameters(layer: object) -> tuple[str, ...]:
    """Names of the layer's parameters: float array attributes ``p`` with a gradient attribute ``dp``.

    Looked up before the stack runs, so caches that forward sets (``self.x``) are not taken for
    parameters; ``x`` itself never is.
    """
    found = getattr(layer, "__dict__", {})
    return tuple(
        name
        for name, value in found.items()
        if name != "x"
        and isinstance(value, np.ndarray)
        and value.dtype.kind == "f"
        and hasattr(layer, f"d{name}")
    )


def _named(layers: object) -> list[tuple[str, Any]]:
    if isinstance(layers, Mapping):
        return [(str(k), v) for k, v in layers.items()]
    if isinstance(layers, Sequence) and not isinstance(layers, str | bytes):
        return [(type(v).__name__, v) for v in layers]
    raise TypeError(
        f"{FUNC}: layers must be a list of layer objects (or a dict of them, as the book's "
        f"OrderedDict); got {type(layers).__name__}"
    )


def _validated(layers: object) -> list[tuple[str, Any, tuple[str, ...]]]:
    named = _named(layers)
    if not named:
        raise ValueError(f"{FUNC}: layers must hold at least one layer; got an empty {type(layers).__name__}")
    out = []
    for i, (name, layer) in enumerate(named):
        for method in ("forward", "backward"):
            if not callable(getattr(layer, method, None)):
                what = "forward(x)" if method == "forward" else "backward(dout)"
                raise TypeError(
                    f"{FUNC}: layers[{i}] ({name}, a {type(layer).__name__}) has no {what}; every layer "
                    f"needs forward(x) and backward(dout), with parameters and their gradients as "
                    f"attributes (W and dW), as in chapter 5 of the book"
                )
        out.append((name, layer, layer_parameters(layer)))
    return out


@dataclass(frozen=True)
class _Isolated:
    """One layer as a function of its input and parameters, and its backward as their VJP."""

    layer: Any
    params: tuple[str, ...]
    extra: tuple[Any, ...]  # t, for a loss layer at the end
    name: str
    index: int

    def call(self, method: str, arg: Any) -> Any:
        """``layer.forward(arg, *extra)`` or ``layer.backward(arg)``; afterwards the parameters (the arrays
        and the attributes bound to them), forward's input and t are as before — put back, and a
        MutatedArgumentError naming the layer, the method and the array if the user's code changed them.
        backward may write into dout: it is check_vjp's copy of the cotangent."""
        bound = [(p, getattr(self.layer, p)) for p in self.params]
        watched = [(f"its parameter {p}", p, a) for p, a in bound]
        watched += [("the targets t", "t", t) for t in self.extra]  # backward may write into self.t
        if method == "forward":
            watched.append(("its input x", "x", arg))
        saved = [a.copy() for *_, a in watched]
        where = f"{FUNC}: layers[{self.index}] ({self.name}): {method}"
        try:
            out = getattr(self.layer, method)(arg, *(self.extra if method == "forward" else ()))
        except BaseException as exc:
            if (what := _put_back(self.layer, bound, watched, saved)) is not None:
                if isinstance(exc, NumericalWarning | FloatingPointError):  # a verdict on corrupted values
                    raise MutatedArgumentError(f"{where} {what}. {ONLY_READ}") from exc
                exc.add_note(f"{where} also {what}")
            raise
        if (what := _put_back(self.layer, bound, watched, saved)) is not None:
            raise MutatedArgumentError(f"{where} {what}. {ONLY_READ}")
        return out

    def forward(self, tree: dict[str, Any]) -> Any:
        saved = {p: getattr(self.layer, p) for p in self.params}
        try:
            for p in self.params:
                setattr(self.layer, p, tree[p])
            return self.call("forward", tree["x"])
        finally:
            for p, value in saved.items():
                setattr(self.layer, p, value)

    def vjp(self, x: NDArray[Any]) -> Callable[[Any], dict[str, Any]]:
        def pullback(dout: Any) -> dict[str, Any]:
            self.call("forward", x.copy())  # caches at the layer's own input
            grads = {"x": self.call("backward", dout)}
            for p in self.params:
                g = getattr(self.layer, f"d{p}")
                if g is None:
                    raise ValueError(
                        f"{FUNC}: layers[{self.index}] ({self.name}): backward left d{p} None; it must set "
                        f"the gradient of {p}"
                    )
                grads[p] = np.array(g)
            return grads

        return pullback


def _put_back(
    layer: Any, bound: list[tuple[str, Any]], watched: list[tuple[str, str, Any]], saved: list[Any]
) -> str | None:
    """Rebind the parameters and restore the watched arrays bitwise; what the user's code did, or None."""
    done = None
    for p, a in bound:
        if getattr(layer, p) is not a:
            setattr(layer, p, a)
            done = done or f"replaced its parameter {p} (self.{p} = ...); the layer's {p} has been put back"
    for (label, name, a), old in zip(watched, saved, strict=True):
        if (j := changed_at(a, old)) is not None:
            was, now = old.reshape(-1)[j].item(), a.reshape(-1)[j].item()
            np.copyto(a, old)
            at = tuple(int(i) for i in np.unravel_index(j, a.shape))
            done = done or (
                f"wrote into {label} (element {at} changed from {was!r} to {now!r}); {name} has been "
                f"restored bitwise"
            )
    return done


def _where(r: GradientReport) -> str:
    if r.mode == "fast":
        return "fast mode cannot say where; run check_layers(..., mode='full')"
    name = r.worst_leaf[2:-2]  # "['W']" -> "W"
    return f"d{name} at {r.worst_index} (leaf {r.worst_leaf})"


def check_layers(
    layers: Sequence[Any] | Mapping[str, Any],
    x: ArrayLike,
    *,
    t: ArrayLike | None = None,
    mode: str = "full",
    rtol: float | None = None,
    atol: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> LayersReport:
    """Check each layer's backward in isolation, at the input it saw, and name the first wrong one.

    Parameters
    ----------
    layers : list of layer objects, or a dict of them (in order)
        Each with ``forward(x)``, ``backward(dout)`` (returning dx) and parameter / gradient attribute
        pairs (``W``/``dW``; see :func:`layer_parameters`).
    x : float array
        The input of the first layer.
    t : array, optional
        Targets: the last layer is then a loss layer, called ``forward(x, t)`` and ``backward(1)``.
    mode, rtol, atol, seed
        As in :func:`numgrad.check_vjp`, for every layer.

    Returns
    -------
    LayersReport
        ``first_wrong``, and per layer its :class:`GradientReport` (leaf ``['x']`` is dx).

    Raises
    ------
    TypeError
        If a layer lacks forward or backward, or x is not a float array.
    MutatedArgumentError
        If a layer's forward or backward wrote into (or rebound) a parameter or t, or forward into its
        input; the message names the layer, the method and the array, which has been put back bitwise.
        backward gets a copy of dout, so it may write into it (as the book's Relu does).

    Examples
    --------
    >>> class Scale:
    ...     def __init__(self): self.W = np.array([2.0, 3.0]); self.dW = None
    ...     def forward(self, x): self.x = x; return x * self.W
    ...     def backward(self, dout): self.dW = (dout * self.x).sum(0); return dout * self.W
    >>> x = np.array([[1.0, -1.0], [0.5, 2.0]])
    >>> check_layers([Scale(), Scale()], x).passed
    True
    """
    start = time.perf_counter()
    stack = _validated(layers)
    h = real_floating_array(x, FUNC, "x").copy()
    extra = () if t is None else (np.array(t),)  # a copy: the caller's t is never handed to a layer
    rng = seed_generator(seed, FUNC, default=nm.DEFAULT_CHECK_SEED)  # as check_vjp: the same report every run
    isos = [
        _Isolated(layer, params, extra if i == len(stack) - 1 else (), name, i)
        for i, (name, layer, params) in enumerate(stack)
    ]
    inputs = []
    for iso in isos:
        inputs.append(h.copy())
        h = np.asarray(iso.call("forward", h))
    checks, nfev = [], len(stack)
    for iso, seen in zip(isos, inputs, strict=True):
        tree = {"x": seen.copy(), **{p: getattr(iso.layer, p) for p in iso.params}}
        with named_as("check_vjp", f"{FUNC}: layer [{iso.index}] {iso.name}"):  # in this layer's name
            report = check_vjp(iso.forward, tree, iso.vjp(seen), mode=mode, rtol=rtol, atol=atol, seed=rng)
        checks.append(LayerCheck(iso.index, iso.name, iso.params, report))
        nfev += report.nfev
    for iso, seen in zip(isos, inputs, strict=True):
        iso.call("forward", seen.copy())  # caches as after a plain pass
    wrong = next((c for c in checks if not c.passed), None)
    if wrong is None:
        message = f"every layer's backward ok ({len(checks)} layers, {nfev} layer evaluations)"
    else:
        message = (
            f"layer [{wrong.index}] {wrong.name} is the first whose backward is WRONG: {_where(wrong.report)}"
        )
    return LayersReport(
        passed=wrong is None,
        first_wrong=None if wrong is None else wrong.index,
        layers=tuple(checks),
        message=message,
        nfev=nfev,
        seconds=time.perf_counter() - start,
    )

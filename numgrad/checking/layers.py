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
from numgrad.common.validate import real_floating_array

__all__ = ["LayerCheck", "LayersReport", "check_layers", "layer_parameters"]

FUNC = "check_layers"


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

    def forward(self, tree: dict[str, Any]) -> Any:
        saved = {p: getattr(self.layer, p) for p in self.params}
        try:
            for p in self.params:
                setattr(self.layer, p, tree[p])
            return self.layer.forward(tree["x"], *self.extra)
        finally:
            for p, value in saved.items():
                setattr(self.layer, p, value)

    def vjp(self, x: NDArray[Any]) -> Callable[[Any], dict[str, Any]]:
        def pullback(dout: Any) -> dict[str, Any]:
            self.layer.forward(x.copy(), *self.extra)  # caches at the layer's own input
            grads = {"x": self.layer.backward(dout)}
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
    extra = () if t is None else (np.asarray(t),)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    inputs = []
    for i, (_, layer, _) in enumerate(stack):
        inputs.append(h.copy())
        h = np.asarray(layer.forward(h, *(extra if i == len(stack) - 1 else ())))
    checks, nfev = [], len(stack)
    for i, ((name, layer, params), seen) in enumerate(zip(stack, inputs, strict=True)):
        iso = _Isolated(layer, params, extra if i == len(stack) - 1 else (), name, i)
        tree = {"x": seen.copy(), **{p: getattr(layer, p) for p in params}}
        report = check_vjp(iso.forward, tree, iso.vjp(seen), mode=mode, rtol=rtol, atol=atol, seed=rng)
        checks.append(LayerCheck(i, name, params, report))
        nfev += report.nfev
    for i, ((_, layer, _), seen) in enumerate(zip(stack, inputs, strict=True)):
        layer.forward(seen.copy(), *(extra if i == len(stack) - 1 else ()))  # caches as after a plain pass
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

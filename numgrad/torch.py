"""PyTorch adapter: check the backward autograd runs with numgrad, in torch's calling convention.

``numgrad.torch.gradcheck(func, inputs)`` is a drop-in for ``torch.autograd.gradcheck``: it checks
the VJPs autograd computes (your ``torch.autograd.Function.backward``) against numgrad's differences of
``func`` itself, with tolerances from numgrad's error estimates, so correct float32 code passes and a
bug of relative size 1e-4 is caught in float32 and float64. A float32 ``func`` that computes in float64
for float64 input is differenced in float64; the analytic side is always your own backward at your own
dtype. CPU tensors only: a tensor on another device is refused with a message that says so.

Needs the optional extra: ``pip install "numgrad[torch]"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.checking import projected
from numgrad.checking.projected import FrameworkReport
from numgrad.checking.report import GradientReport
from numgrad.common.validate import callable_arg, choice

try:
    import torch
    from torch.autograd.gradcheck import GradcheckError as _TorchGradcheckError
except ImportError as exc:  # tests/adapters/test_torch.py runs this in a subprocess without torch
    raise ImportError(
        'numgrad.torch needs PyTorch, an optional extra of numgrad: pip install "numgrad[torch]"'
    ) from exc

__all__ = [
    "FrameworkReport",
    "GradcheckError",
    "check_backward",
    "check_module",
    "gradcheck",
    "gradgradcheck",
]


class GradcheckError(_TorchGradcheckError):  # type: ignore[misc, unused-ignore]  # Any without torch
    """torch's ``GradcheckError`` (code that catches it keeps working), carrying numgrad's report."""

    def __init__(self, report: FrameworkReport) -> None:
        super().__init__(str(report))
        self.report = report


DTYPES = (torch.float32, torch.float64)  # what numgrad differences; float16/bfloat16 are refused
MODES = ("full", "fast")


def gradcheck(
    func: Callable[..., Any],
    inputs: torch.Tensor | Sequence[Any],
    *,
    mode: str = "full",
    method: str = "auto",
    rtol: float | None = None,
    atol: float | None = None,
    raise_exception: bool = True,
    seed: int | np.random.Generator | None = None,
) -> bool:
    """Check the backward of `func` at `inputs`, as ``torch.autograd.gradcheck`` does.

    Parameters
    ----------
    func : callable
        ``func(*inputs)`` returning a tensor or a tuple of tensors (non-floating outputs are ignored).
    inputs : Tensor or tuple
        The inputs; tensors with ``requires_grad=True`` (float32 or float64, on the CPU) are checked,
        everything else is passed through unchanged.
    mode : {"full", "fast"}
        ``"full"`` checks every element of every checked input (and locates the wrong one);
        ``"fast"`` checks random directions through all inputs together: at most 8 evaluations of
        func whatever the size.
    method, rtol, atol
        As in :func:`numgrad.check_gradient` (tolerances from numgrad's error estimates unless
        `rtol`/`atol` are given).
    seed : int or numpy.random.Generator, optional
        Draws the cotangents and fast mode's directions (default: a fixed seed, so results repeat).
    raise_exception : bool
        Raise on failure (default), else return False.

    Returns
    -------
    bool
        True when every VJP agrees with the differences of func.

    Raises
    ------
    torch.autograd.gradcheck.GradcheckError
        When a check fails: the message is numgrad's report (which output, which input, which element,
        analytic vs numerical, the tolerance and why); ``err.report`` holds the
        :class:`FrameworkReport`.

    Examples
    --------
    >>> x = torch.randn(4, 3, dtype=torch.float32, requires_grad=True)
    >>> gradcheck(torch.tanh, (x,))
    True
    """
    return _verdict(check_backward(func, inputs, mode=mode, method=method, rtol=rtol, atol=atol, seed=seed),
                    raise_exception)  # fmt: skip


def gradgradcheck(
    func: Callable[..., Any],
    inputs: torch.Tensor | Sequence[Any],
    grad_outputs: torch.Tensor | Sequence[torch.Tensor] | None = None,
    *,
    mode: str = "full",
    method: str = "auto",
    rtol: float | None = None,
    atol: float | None = None,
    raise_exception: bool = True,
    seed: int | np.random.Generator | None = None,
) -> bool:
    """Check the double backward of `func`, as ``torch.autograd.gradgradcheck`` does.

    The function checked is the first derivative ``x ↦ VJP(func, x, grad_outputs)`` (computed by your
    backward with ``create_graph=True``); its VJPs are autograd's double backward. `grad_outputs`
    defaults to seeded random cotangents. Options as in :func:`gradcheck`.

    Examples
    --------
    >>> x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    >>> gradgradcheck(lambda v: (v**3).sum(), (x,))
    True
    """
    name = "numgrad.torch.gradgradcheck"
    fn = callable_arg(func, name, "func")
    items = _items(name, inputs)
    checked = _checked(name, items)
    given = projected.seed_of(seed, name)
    first = _first_derivative(name, fn, items, checked, grad_outputs, projected.stream(given, 1))
    report = _check(name, first, items, mode=mode, method=method, rtol=rtol, atol=atol, seed=given,
                    what="double backward", together=True)  # fmt: skip
    return _verdict(report, raise_exception)


def check_backward(
    func: Callable[..., Any],
    inputs: torch.Tensor | Sequence[Any],
    *,
    mode: str = "full",
    method: str = "auto",
    rtol: float | None = None,
    atol: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> FrameworkReport:
    """:func:`gradcheck`'s checks, returned as a :class:`FrameworkReport` instead of a bool.

    Examples
    --------
    >>> x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    >>> r = check_backward(torch.sin, (x,))
    >>> r.passed, r.findings[0].input
    (True, 'inputs[0]')
    """
    name = "numgrad.torch.gradcheck"
    fn = callable_arg(func, name, "func")
    items = _items(name, inputs)
    return _check(name, fn, items, mode=mode, method=method, rtol=rtol, atol=atol,
                  seed=projected.seed_of(seed, name), what="VJP", together=mode == "fast")  # fmt: skip


def check_module(
    module: torch.nn.Module,
    inputs: torch.Tensor | Sequence[Any],
    loss_fn: Callable[[Any], torch.Tensor] | None = None,
    *,
    mode: str = "full",
    method: str = "auto",
    rtol: float | None = None,
    atol: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> dict[str, GradientReport]:
    """Check the gradient of every parameter of `module` (where a custom layer's backward usually breaks).

    The scalar checked is ``loss_fn(module(*inputs))``, or a seeded random projection of the output
    when `loss_fn` is None. Parameters are substituted with ``torch.func.functional_call``, so the
    module's parameters, buffers (BatchNorm statistics) and ``.grad`` stay as they were.

    Returns
    -------
    dict of str to GradientReport
        One report per parameter that requires grad, keyed by its name in ``named_parameters()``.

    Examples
    --------
    >>> layer = torch.nn.Linear(3, 2).double()
    >>> reports = check_module(layer, (torch.randn(4, 3, dtype=torch.float64),))
    >>> sorted(reports), all(r.passed for r in reports.values())
    (['bias', 'weight'], True)
    """
    name = "numgrad.torch.check_module"
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"{name}: module must be a torch.nn.Module; got {type(module).__name__}")
    held = _items(name, inputs, need_tensor=False)
    if loss_fn is not None:
        callable_arg(loss_fn, name, "loss_fn")
    named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError(f"{name}: module {type(module).__name__} has no parameter with requires_grad=True")
    names = tuple(n for n, _ in named)
    buffers = dict(module.named_buffers())

    def loss(*values: Any) -> Any:
        params, rest = values[: len(names)], values[len(names) :]
        wide = params[0].dtype
        state = {k: b.detach().clone().to(wide) if b.is_floating_point() else b.detach().clone()
                 for k, b in buffers.items()}  # fmt: skip
        state.update(zip(names, params, strict=True))
        out = torch.func.functional_call(module, state, tuple(rest))
        return out if loss_fn is None else loss_fn(out)

    items = tuple(p for _, p in named) + held
    report = _check(name, loss, items, mode=mode, method=method, rtol=rtol, atol=atol,
                    seed=projected.seed_of(seed, name), what="parameter gradient", together=False,
                    labels=names, only=len(names))  # fmt: skip
    first: dict[str, GradientReport] = {}
    for f in report.findings:
        first.setdefault(f.input, f.report)
    return first


# --------------------------------------------------------------------------------------------------
# The check


def _verdict(report: FrameworkReport, raise_exception: bool) -> bool:
    if not isinstance(raise_exception, bool):
        raise TypeError(f"{report.func}: raise_exception must be a bool; got {raise_exception!r}")
    if report.passed or not raise_exception:
        return report.passed
    raise GradcheckError(report)


def _check(
    name: str,
    func: Callable[..., Any],
    items: tuple[Any, ...],
    *,
    mode: str,
    method: str,
    rtol: float | None,
    atol: float | None,
    seed: int | np.random.Generator,
    what: str,
    together: bool,
    labels: tuple[str, ...] | None = None,
    only: int | None = None,
) -> FrameworkReport:
    md = choice(mode, MODES, name, "mode")
    checked = _checked(name, items, only)
    with _state() as run:
        problem = _problem(name, func, items, checked, projected.stream(seed), run, what, labels)
        return projected.run_apart(problem, mode=md, method=method, rtol=rtol, atol=atol, seed=seed,
                                   together=together, count=lambda: run.calls)  # fmt: skip


@dataclass
class _Run:
    """Torch's global state at the start (restored at the end) and the evaluations spent."""

    rng: torch.Tensor
    default_dtype: torch.dtype
    calls: int = 0

    def call(self, func: Callable[..., Any], args: Sequence[Any], wide: bool) -> Any:
        """func(*args) with the RNG as it was at the start (dropout draws the same mask every time) and,
        for a float64 evaluation of float32 inputs, float64 as the default dtype."""
        self.calls += 1
        torch.set_rng_state(self.rng)
        torch.set_default_dtype(torch.float64 if wide else self.default_dtype)
        try:
            with torch.enable_grad():
                return func(*args)
        finally:
            torch.set_default_dtype(self.default_dtype)


@contextmanager
def _state() -> Iterator[_Run]:
    grad, dtype, rng = torch.is_grad_enabled(), torch.get_default_dtype(), torch.get_rng_state()
    try:
        yield _Run(rng.clone(), dtype)
    finally:
        torch.set_grad_enabled(grad)
        torch.set_default_dtype(dtype)
        torch.set_rng_state(rng)


def _problem(
    name: str,
    func: Callable[..., Any],
    items: tuple[Any, ...],
    checked: tuple[int, ...],
    rng: np.random.Generator,
    run: _Run,
    what: str,
    labels: tuple[str, ...] | None,
) -> projected.Problem:
    """The analytic pass (autograd at the user's inputs, in their dtypes) and the numeric evaluation."""
    xs = [_fresh(t) for t in items]
    outs = _outputs(name, run.call(func, xs, wide=False), items)
    diff = tuple(k for k, o in enumerate(outs) if o.is_floating_point())
    if not diff:
        raise TypeError(
            f"{name}: func returned no floating tensor (got {[str(o.dtype) for o in outs]}); there is "
            f"nothing to differentiate"
        )
    cotangents, vjps = [], []
    for k in diff:
        o = outs[k]
        u = torch.from_numpy(projected.cotangent(tuple(o.shape), rng)).to(o.dtype)
        cotangents.append(u.double().numpy())
        grads: Sequence[torch.Tensor | None] = [None] * len(checked)
        if o.requires_grad:
            grads = torch.autograd.grad(o, [xs[i] for i in checked], u, retain_graph=True, allow_unused=True)
        vjps.append(tuple(_numpy(g, items[i]) for g, i in zip(grads, checked, strict=True)))
    count = len(outs)

    def evaluate(values: tuple[NDArray[Any], ...]) -> tuple[NDArray[Any], ...]:
        wide = any(v.dtype != _np_dtype(items[i]) for v, i in zip(values, checked, strict=True))
        args = [_held(t, wide) for t in items]
        for v, i in zip(values, checked, strict=True):
            args[i] = torch.from_numpy(v).requires_grad_(True)
        got = _outputs(name, run.call(func, args, wide), items)
        if len(got) != count:
            raise projected.StructureError(
                f"{name}: func returned {count} outputs at the given inputs and {len(got)} at a perturbed "
                f"point; its outputs must keep their structure"
            )
        return tuple(got[k].detach().numpy().copy() for k in diff)

    names = labels or tuple(f"inputs[{i}]" for i in checked)
    return projected.Problem(
        func=name,
        inputs=tuple(items[i].detach().numpy().copy() for i in checked),
        input_names=names,
        output_names=tuple(str(k) for k in diff) if len(outs) > 1 else ("0",),
        evaluate=evaluate,
        cotangents=tuple(cotangents),
        vjps=tuple(vjps),
        what=what,
    )


def _first_derivative(
    name: str,
    func: Callable[..., Any],
    items: tuple[Any, ...],
    checked: tuple[int, ...],
    grad_outputs: torch.Tensor | Sequence[torch.Tensor] | None,
    rng: np.random.Generator,
) -> Callable[..., Any]:
    """``x ↦ VJP(func, x, u)`` through the user's backward with create_graph=True (its own VJPs are
    the double backward); u is `grad_outputs` or seeded random, drawn at the user's inputs."""
    with _state() as run:
        outs = _outputs(name, run.call(func, [_fresh(t) for t in items], wide=False), items)
    diff = [k for k, o in enumerate(outs) if o.is_floating_point()]
    if grad_outputs is None:
        us = [torch.from_numpy(projected.cotangent(tuple(outs[k].shape), rng)) for k in diff]
    else:
        given = (grad_outputs,) if isinstance(grad_outputs, torch.Tensor) else tuple(grad_outputs)
        shapes = [tuple(outs[k].shape) for k in diff]
        fits = [
            isinstance(g, torch.Tensor) and tuple(g.shape) == s for g, s in zip(given, shapes, strict=False)
        ]
        if len(given) != len(diff) or not all(fits):
            raise ValueError(
                f"{name}: grad_outputs must be one tensor per floating output, of shapes {shapes}; got "
                f"{[tuple(g.shape) if isinstance(g, torch.Tensor) else type(g).__name__ for g in given]}"
            )
        us = [g.detach().clone() for g in given]

    def first(*args: Any) -> tuple[torch.Tensor, ...]:
        got = _outputs(name, func(*args), items)
        pairs = [(got[k], u.to(got[k].dtype)) for k, u in zip(diff, us, strict=True) if got[k].requires_grad]
        xs = [args[i] for i in checked]
        if not pairs:
            return tuple(torch.zeros_like(x) for x in xs)
        grads = torch.autograd.grad([o for o, _ in pairs], xs, [u for _, u in pairs], create_graph=True,
                                    allow_unused=True)  # fmt: skip
        return tuple(torch.zeros_like(x) if g is None else g for g, x in zip(grads, xs, strict=True))

    return first


# --------------------------------------------------------------------------------------------------
# Validation and conversion


def _items(name: str, inputs: object, need_tensor: bool = True) -> tuple[Any, ...]:
    if isinstance(inputs, torch.Tensor):
        items: tuple[Any, ...] = (inputs,)
    elif isinstance(inputs, tuple | list):
        items = tuple(inputs)
    else:
        raise TypeError(f"{name}: inputs must be a tensor or a tuple of tensors; got {type(inputs).__name__}")
    tensors = [(i, t) for i, t in enumerate(items) if isinstance(t, torch.Tensor)]
    devices = {str(t.device) for _, t in tensors}
    if len(devices) > 1:
        where = ", ".join(f"inputs[{i}] on {t.device}" for i, t in tensors)
        raise ValueError(f"{name}: inputs must all be on one device; got {where}")
    for i, t in tensors:
        if t.device.type != "cpu":
            raise ValueError(
                f"{name}: numgrad.torch checks CPU tensors; inputs[{i}] is on {t.device}. Move the inputs "
                f"(and func's parameters) to the CPU with .cpu() to check them"
            )
        if t.layout != torch.strided:
            raise TypeError(f"{name}: inputs[{i}] must be a dense tensor; got layout {t.layout}")
    if need_tensor and not tensors:
        raise TypeError(f"{name}: inputs hold no tensor; got {[type(t).__name__ for t in items]}")
    return items


def _checked(name: str, items: tuple[Any, ...], only: int | None = None) -> tuple[int, ...]:
    pool = items if only is None else items[:only]
    checked = tuple(i for i, t in enumerate(pool) if isinstance(t, torch.Tensor) and t.requires_grad)
    for i in checked:
        if items[i].dtype not in DTYPES:
            raise TypeError(
                f"{name}: inputs[{i}] requires grad but is {items[i].dtype}; numgrad checks float32 and "
                f"float64 tensors: pass inputs[{i}].double()"
            )
    if not checked:
        kinds = ", ".join(_describe(t) for t in items)
        hint = (
            " (integer tensors cannot require grad: pass x.double().requires_grad_())"
            if any(isinstance(t, torch.Tensor) and not t.is_floating_point() for t in items)
            else ""
        )
        raise ValueError(
            f"{name}: no input requires grad, so there is nothing to check; got ({kinds}). Set "
            f"requires_grad=True on the tensors to check{hint}"
        )
    return checked


def _describe(t: object) -> str:
    if isinstance(t, torch.Tensor):
        return f"{t.dtype} tensor, requires_grad={t.requires_grad}"
    return type(t).__name__


def _outputs(name: str, out: object, items: tuple[Any, ...]) -> tuple[torch.Tensor, ...]:
    outs = (out,) if isinstance(out, torch.Tensor) else out
    if not isinstance(outs, tuple | list) or not outs:
        raise TypeError(f"{name}: func must return a tensor or a tuple of tensors; got {type(out).__name__}")
    for k, o in enumerate(outs):
        if not isinstance(o, torch.Tensor):
            raise TypeError(
                f"{name}: func must return a tensor or a tuple of tensors; output {k} is {type(o).__name__}"
            )
        if o.device.type != "cpu":
            raise ValueError(f"{name}: output {k} of func is on {o.device}; numgrad.torch checks CPU tensors")
        if o.is_complex():
            raise TypeError(f"{name}: output {k} of func is complex ({o.dtype}); numgrad checks real outputs")
    return tuple(outs)


def _fresh(t: object) -> Any:
    """A leaf copy of a user's tensor (their tensor, its requires_grad and .grad are never touched)."""
    if isinstance(t, torch.Tensor):
        return t.detach().clone().requires_grad_(t.requires_grad)
    return t


def _held(t: object, wide: bool) -> Any:
    if isinstance(t, torch.Tensor):
        c = t.detach().clone()
        return c.double() if wide and c.is_floating_point() else c
    return t


def _np_dtype(t: torch.Tensor) -> np.dtype[Any]:
    return np.dtype(np.float32) if t.dtype == torch.float32 else np.dtype(np.float64)


def _numpy(g: torch.Tensor | None, like: torch.Tensor) -> NDArray[Any]:
    if g is None:
        return np.zeros(tuple(like.shape), dtype=_np_dtype(like))
    return np.asarray(g.detach().numpy().copy())

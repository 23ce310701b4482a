"""numgrad.torch / numgrad.jax against torch.autograd.gradcheck and jax.test_util.check_grads.

The suite of tests/adapters/layers.py (affine, softmax, layer norm, attention, conv1d), each as a
torch.autograd.Function and as a jax.custom_vjp rule, with the correct backward and with planted bugs
of relative size 1e-4 to 1 (the largest error is that fraction of the largest gradient entry). Every
checker sees the same inputs in float32 and float64 (JAX: float32 with x64 off, float64 with x64 on).
Counted: false alarms (a correct backward failed), misses (a planted bug passed), evaluations of the
function (a counting wrapper), time. Then the cost: full mode against torch's default gradcheck on
each input, and fast mode's evaluations as the size grows. Last, second order: numgrad.torch's
gradgradcheck against torch's on the same layers, with the backward right and its own derivative
(the double backward) off by a relative 1e-4 to 1 (``torch_layers.second_order``).

    uv pip install --find-links /opt/wheels "torch==2.13.0+cpu"   # once (the torch extra, CPU build)
    uv run --no-sync python benchmarks/bench_frameworks.py
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import torch
from jax.test_util import check_grads as jax_check_grads

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "adapters"))
import jax_layers as jl
import torch_layers as tl
from layers import BUG_SIZES, LAYERS

import numgrad.jax as nj
import numgrad.torch as nt


class Counted:
    """func with a call counter (what each checker spends)."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func, self.calls = func, 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.func(*args)


def run(check: Callable[[Counted], Any], func: Callable[..., Any]) -> tuple[bool, int, float]:
    """(passed, evaluations, seconds). A checker returns passed, or (passed, nfev) where the wrapper
    cannot count (numgrad.jax compiles f, so the wrapper sees traces, not evaluations)."""
    counted = Counted(func)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that float32 input will likely fail
        got = check(counted)
    seconds = time.perf_counter() - start
    passed, calls = got if isinstance(got, tuple) else (got, counted.calls)
    return bool(passed), calls, seconds


def raises_assertion(call: Callable[[], Any]) -> bool:
    try:
        call()
    except AssertionError:
        return False
    return True


def numgrad_jax(f: Callable[..., Any], args: tuple[Any, ...], mode: str) -> tuple[bool, int]:
    try:
        report = nj.check_grads(f, args, 1, ["rev"], mode=mode)
    except AssertionError as err:
        nfev = int(str(err).split(" evaluations of the function")[0].rsplit(" ", 1)[1])
        return False, nfev
    return True, report.nfev


def torch_checkers(xs: tuple[torch.Tensor, ...]) -> dict[str, Callable[[Counted], bool]]:
    return {
        "numgrad.torch.gradcheck (full)": lambda f: nt.gradcheck(f, xs, raise_exception=False),
        "numgrad.torch.gradcheck (fast)": lambda f: nt.gradcheck(f, xs, mode="fast", raise_exception=False),
        "torch.autograd.gradcheck": lambda f: torch.autograd.gradcheck(f, xs, raise_exception=False),
        "torch.autograd.gradcheck (fast_mode)": lambda f: torch.autograd.gradcheck(
            f, xs, fast_mode=True, raise_exception=False
        ),
    }


def jax_checkers(args: tuple[Any, ...]) -> dict[str, Callable[[Counted], bool]]:
    return {
        "numgrad.jax.check_grads (full)": lambda f: numgrad_jax(f, args, "full"),
        "numgrad.jax.check_grads (fast)": lambda f: numgrad_jax(f, args, "fast"),
        "jax.test_util.check_grads": lambda f: raises_assertion(lambda: jax_check_grads(f, args, 1, ["rev"])),
    }


def suite(framework: str, dtype: str) -> dict[str, dict[str, Any]]:
    """Every checker on every layer, correct and with each bug: alarms, misses, evaluations, time."""
    rows: dict[str, dict[str, Any]] = {}
    for layer in LAYERS:
        if framework == "torch":
            xs = tl.inputs(layer, getattr(torch, dtype))
            checkers, make = torch_checkers(xs), lambda d, lay=layer: tl.function(lay, d)
        else:
            args = jl.inputs(layer, dtype)
            checkers, make = jax_checkers(args), lambda d, lay=layer: jl.function(lay, d)
        for name, check in checkers.items():
            row = rows.setdefault(name, {"alarms": 0, "misses": [], "evals": [], "seconds": 0.0})
            for delta in (0.0, *BUG_SIZES):
                passed, calls, seconds = run(check, make(delta))
                row["evals"].append(calls)
                row["seconds"] += seconds
                if delta == 0.0 and not passed:
                    row["alarms"] += 1
                if delta and passed:
                    row["misses"].append(f"{layer.name} {delta:g}")
    return rows


def warm_up() -> None:
    """One run of every checker first, so that no row pays the frameworks' first-call costs."""
    layer = LAYERS[0]
    for check in torch_checkers(tl.inputs(layer, torch.float32)).values():
        run(check, tl.function(layer))
    for check in jax_checkers(jl.inputs(layer, "float32")).values():
        run(check, jl.function(layer))


def print_suite() -> None:
    print(
        "| framework, dtype | checker | false alarms (of 5 correct) | missed bugs (of 25) | evaluations per check (median, max) | time, all 30 checks |"
    )
    print("|---|---|---|---|---|---|")
    for framework, dtype, x64 in [("torch", "float32", False), ("torch", "float64", False),
                                  ("jax", "float32", False), ("jax", "float64", True)]:  # fmt: skip
        jax.config.update("jax_enable_x64", x64)
        for name, row in suite(framework, dtype).items():
            missed = row["misses"]
            sizes = [m.rsplit(" ", 1)[1] for m in missed]
            by_size = ", ".join(f"{d}: {sizes.count(d)}" for d in dict.fromkeys(sizes))
            smallest = f" (by bug size {by_size})" if missed else ""
            print(
                f"| {framework} {dtype} | {name} | {row['alarms']} | {len(missed)}{smallest} | "
                f"{int(np.median(row['evals']))}, {max(row['evals'])} | {row['seconds']:.2f} s |"
            )
    jax.config.update("jax_enable_x64", False)


def print_cost() -> None:
    print("\n| layer | elements checked | dtype | numgrad full | torch.autograd.gradcheck | numgrad fast |")
    print("|---|---|---|---|---|---|")
    for layer in LAYERS:
        for dtype in (torch.float32, torch.float64):
            xs = tl.inputs(layer, dtype)
            counts = [
                run(check, tl.function(layer))[1]
                for name, check in torch_checkers(xs).items()
                if name
                in (
                    "numgrad.torch.gradcheck (full)",
                    "torch.autograd.gradcheck",
                    "numgrad.torch.gradcheck (fast)",
                )
            ]
            full, fast, theirs = counts
            print(
                f"| {layer.name} | {sum(x.numel() for x in xs)} | {str(dtype)[6:]} | {full} | {theirs} | {fast} |"
            )
    print("\n| n (tanh(x)·w, two inputs of n/2) | numgrad fast: evaluations | time |")
    print("|---|---|---|")
    for n in (10, 1_000, 100_000, 1_000_000):
        x = torch.randn(n // 2, dtype=torch.float32, requires_grad=True)
        w = torch.randn(n // 2, dtype=torch.float32, requires_grad=True)
        passed, calls, seconds = run(
            lambda f: nt.gradcheck(f, (x, w), mode="fast"), lambda a, b: torch.tanh(a) * b
        )
        assert passed
        print(f"| {n:,} | {calls} | {seconds * 1e3:.1f} ms |")


def print_second_order() -> None:
    print(
        "\n| dtype | checker | false alarms (of 5 correct) | missed second-order bugs (of 25) | evaluations, correct layers (per layer) |"
    )
    print("|---|---|---|---|---|")
    checkers = {
        "numgrad.torch.gradgradcheck": lambda xs: lambda f: nt.gradgradcheck(f, xs, raise_exception=False),
        "torch.autograd.gradgradcheck": lambda xs: (
            lambda f: torch.autograd.gradgradcheck(f, xs, raise_exception=False)
        ),
    }
    for dtype in (torch.float32, torch.float64):
        for name, make in checkers.items():
            alarms, missed, evals = 0, [], []
            for layer in LAYERS:
                check = make(tl.inputs(layer, dtype))
                for delta in (0.0, *BUG_SIZES):
                    passed, calls, _ = run(check, tl.second_order(layer, delta))
                    if delta == 0.0:
                        alarms += not passed
                        evals.append(str(calls))
                    elif passed:
                        missed.append(f"{delta:g}")
            by_size = ", ".join(f"{d}: {missed.count(d)}" for d in dict.fromkeys(missed))
            smallest = f" (by bug size {by_size})" if missed else ""
            print(f"| {str(dtype)[6:]} | {name} | {alarms} | {len(missed)}{smallest} | {', '.join(evals)} |")


if __name__ == "__main__":
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, jax {jax.__version__}, numpy {np.__version__}; bugs of relative size {BUG_SIZES}\n"
    )
    warm_up()
    print_suite()
    print_cost()
    print_second_order()

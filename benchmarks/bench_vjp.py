"""Checking hand-written backward passes: numgrad.check_vjp beside jax.test_util.check_grads and
torch.autograd.gradcheck on the same NumPy layers, in one run.

    uv run python benchmarks/bench_vjp.py

The layers are the zoo of tests/layer_zoo.py (affine, sigmoid, softmax, layer norm, conv1d, embedding
with repeated indices, attention, an RNN cell, a residual block, dropout with a fixed mask), each with
a correct backward and planted bugs. For JAX each layer becomes a ``jax.custom_vjp`` whose forward and
backward call the NumPy layer through ``jax.pure_callback``; for torch (when importable) an
``autograd.Function`` doing the same; both take the layer's input and parameters as separate
arguments. A checker is right on a layer when it passes the correct backward; it catches a bug when
it fails the planted one. Evaluations count calls of the NumPy forward; times are the best of REPEATS.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numgrad_reference  # noqa: F401  (float64 in JAX)
import numpy as np
from jax.test_util import check_grads

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from layer_zoo import ZOO, as_function, build, tree_of

from numgrad import check_vjp

REPEATS = 3
DTYPES = ("float64", "float32")


class Counted:
    """The layer's f(tree), counting calls (evaluations of the forward)."""

    def __init__(self, f: Callable[[Any], Any]) -> None:
        self.f, self.calls = f, 0

    def __call__(self, tree: Any) -> Any:
        self.calls += 1
        return self.f(tree)


def _numgrad(layer: Any, x: Any, mode: str) -> tuple[bool, int]:
    f, vjp = as_function(layer)
    counted = Counted(f)
    report = check_vjp(counted, tree_of(layer, x), vjp, mode=mode)
    return report.passed, counted.calls


def _jax(layer: Any, x: Any) -> tuple[bool, int]:
    f, vjp = as_function(layer)
    counted = Counted(f)
    names = list(tree_of(layer, x))
    point = tree_of(layer, x)
    out = jax.ShapeDtypeStruct(np.shape(f(point)), np.asarray(f(point)).dtype)
    shapes = [jax.ShapeDtypeStruct(np.shape(point[k]), point[k].dtype) for k in names]

    def forward_np(*leaves: Any) -> Any:
        return np.asarray(counted(dict(zip(names, map(np.asarray, leaves), strict=True))), dtype=out.dtype)

    def backward_np(*args: Any) -> Any:
        *leaves, dout = map(np.asarray, args)
        f(dict(zip(names, leaves, strict=True)))  # caches at this point, as check_vjp does
        g = vjp(np.array(dout))
        return tuple(np.asarray(g[k], dtype=point[k].dtype) for k in names)

    @jax.custom_vjp
    def layer_fn(*leaves: Any) -> Any:
        return jax.pure_callback(forward_np, out, *leaves)

    def fwd(*leaves: Any) -> Any:
        return layer_fn(*leaves), leaves

    def bwd(leaves: Any, dout: Any) -> Any:
        return jax.pure_callback(backward_np, tuple(shapes), *leaves, dout)

    layer_fn.defvjp(fwd, bwd)
    try:
        check_grads(layer_fn, tuple(jnp.asarray(point[k]) for k in names), order=1, modes=["rev"])
    except AssertionError:
        return False, counted.calls
    return True, counted.calls


def _torch(layer: Any, x: Any) -> tuple[bool, int] | None:
    try:
        import torch
    except ImportError:
        return None
    f, vjp = as_function(layer)
    counted = Counted(f)
    names = list(tree_of(layer, x))
    point = tree_of(layer, x)

    class Layer(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, *leaves: Any) -> Any:
            ctx.save_for_backward(*leaves)
            arrays = [t.detach().numpy() for t in leaves]
            return torch.from_numpy(np.asarray(counted(dict(zip(names, arrays, strict=True)))).copy())

        @staticmethod
        def backward(ctx: Any, dout: Any) -> Any:
            arrays = [t.detach().numpy() for t in ctx.saved_tensors]
            f(dict(zip(names, arrays, strict=True)))
            g = vjp(dout.detach().numpy().copy())
            return tuple(
                torch.from_numpy(np.asarray(g[k], dtype=arrays[i].dtype).copy()) for i, k in enumerate(names)
            )

    inputs = tuple(torch.tensor(point[k], requires_grad=True) for k in names)
    with warnings.catch_warnings():  # float32 inputs: gradcheck warns that it will likely fail (it does)
        warnings.simplefilter("ignore", UserWarning)
        try:
            ok = bool(torch.autograd.gradcheck(Layer.apply, inputs, raise_exception=False))
        except Exception:
            ok = False
    return ok, counted.calls


def _timed(run: Callable[[], Any]) -> tuple[Any, float]:
    best, result = float("inf"), None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return result, best


def main() -> None:
    checkers: dict[str, Callable[[Any, Any], Any]] = {
        "numgrad check_vjp full": lambda layer, x: _numgrad(layer, x, "full"),
        "numgrad check_vjp fast": lambda layer, x: _numgrad(layer, x, "fast"),
        "jax check_grads (rev)": _jax,
        "torch gradcheck": _torch,
    }
    print(
        "| checker | dtype | correct layers passed | planted bugs caught | evaluations: median / max / max − n | time per layer (median) |"
    )
    print("|---|---|---|---|---|---|")
    for name, checker in checkers.items():
        for dtype in DTYPES:
            passed = caught = bugs = 0
            evals, times, over = [], [], []
            skipped = False
            for entry in ZOO:
                layer, x = build(entry, np.dtype(dtype))
                got, seconds = _timed(lambda layer=layer, x=x: checker(layer, x))
                if got is None:
                    skipped = True
                    break
                passed += got[0]
                evals.append(got[1])
                over.append(got[1] - sum(np.size(v) for v in tree_of(layer, x).values()))
                times.append(seconds)
                for bug in entry.bugs:
                    layer, x = build(entry, np.dtype(dtype), bug)
                    result = checker(layer, x)
                    bugs += 1
                    caught += not result[0]
            if skipped:
                print(f"| {name} | {dtype} | torch not importable: skipped | | | |")
                continue
            print(
                f"| {name} | {dtype} | {passed}/{len(ZOO)} | {caught}/{bugs} | {int(np.median(evals))} / {max(evals)} / {max(over):+d} | "
                f"{1e3 * float(np.median(times)):.2f} ms |"
            )
    sizes = [sum(np.size(v) for v in tree_of(*build(e, np.float64)).values()) for e in ZOO]
    print(f"\nlayers' inputs + parameters n: median {int(np.median(sizes))}, range {min(sizes)}–{max(sizes)}")


if __name__ == "__main__":
    main()

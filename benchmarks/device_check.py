"""Time the JAX finite-difference twin against jax.grad on the devices JAX sees (a GPU when there is one).

Two workloads: the loss of the chapter-4 two-layer net (784, 50, 10) on a batch of 100, as a function of
its 39,760 flat parameters, and a large smooth function of n = 10^5 variables. The twin evaluates 2n
perturbed points, sharded across all devices; jax.grad is one reverse pass. Prints a short table; runs in a
few minutes on one GPU. ``--quick`` uses small sizes so that it runs on a CPU in seconds (the test suite
does that).

    uv run python benchmarks/device_check.py            # on the GPU machine
    uv run python benchmarks/device_check.py --quick    # anywhere
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

NET = (784, 50, 10)  # the book's TwoLayerNet(784, 50, 10)
BATCH = 100  # the book's mini-batch
N_SMOOTH = 100_000  # the "large smooth function"
QUICK_NET = (64, 16, 10)
QUICK_BATCH = 20
QUICK_N = 2_000
WEIGHT_INIT_STD = 0.01  # the book's weight_init_std
SEED = 0
# The twin is a central difference at numgrad's chosen step: ~1e-9 normwise against jax.grad in float64.
# This bound only catches a broken run (wrong sharding, padding or unpacking), not a slightly worse step.
AGREEMENT = 1e-6


class Row(NamedTuple):
    case: str
    params: int
    evaluations: int
    fd_first: float  # seconds, compilation included
    fd: float  # seconds, best of --repeat
    grad: float  # seconds, jax.grad (jitted), best of --repeat
    error: float  # max|g_fd − g_grad| / max|g_grad|


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return int(text)


def net_sizes(text: str) -> tuple[int, int, int]:
    parts = text.split(",")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"must be three positive integers I,H,O such as 784,50,10; got {text!r}"
        )
    return int(parts[0]), int(parts[1]), int(parts[2])


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a CPU (seconds)")
    parser.add_argument("--sizes", type=net_sizes, default=None, help="the net's sizes I,H,O (784,50,10)")
    parser.add_argument("--n", type=positive_int, default=None, help=f"smooth function size ({N_SMOOTH:,})")
    parser.add_argument(
        "--repeat", type=positive_int, default=3, help="timed runs per case; the best is shown"
    )
    return parser.parse_args(argv)


def net_loss(sizes: tuple[int, int, int], batch: int) -> tuple[Callable[[Any], Any], np.ndarray]:
    """The two-layer net's loss as a function of its flat parameters (W1, b1, W2, b2), and those params."""
    import jax.numpy as jnp

    inputs, hidden, outputs = sizes
    rng = np.random.default_rng(SEED)
    x = jnp.asarray(rng.random((batch, inputs)))
    t = jnp.asarray(rng.integers(0, outputs, batch))
    shapes = [(inputs, hidden), (hidden,), (hidden, outputs), (outputs,)]
    cuts = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]
    theta = np.concatenate([
        WEIGHT_INIT_STD * rng.standard_normal(inputs * hidden), np.zeros(hidden),
        WEIGHT_INIT_STD * rng.standard_normal(hidden * outputs), np.zeros(outputs),
    ])  # fmt: skip

    def loss(params: Any) -> Any:
        W1, b1, W2, b2 = (p.reshape(s) for p, s in zip(jnp.split(params, cuts), shapes, strict=True))
        a1 = 1 / (1 + jnp.exp(-(x @ W1 + b1)))  # sigmoid hidden layer
        z = a1 @ W2 + b2
        y = jnp.exp(z - z.max(axis=1, keepdims=True))
        y = y / y.sum(axis=1, keepdims=True)  # softmax output
        return -jnp.sum(jnp.log(y[jnp.arange(batch), t] + 1e-7)) / batch  # the book's cross entropy

    return loss, theta


def smooth(n: int) -> tuple[Callable[[Any], Any], np.ndarray]:
    """A smooth, coupled function of n variables and a point to differentiate it at."""
    import jax.numpy as jnp

    def f(x: Any) -> Any:
        return jnp.sum(jnp.log(jnp.cosh(x))) + 0.5 * jnp.sum(x**2) + jnp.sin(jnp.sum(x) / x.size)

    return f, np.random.default_rng(SEED).uniform(-2.0, 2.0, n)


def best(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(case: str, f: Callable[[Any], Any], x: np.ndarray, repeat: int) -> Row:
    import jax
    import jax.numpy as jnp
    import numgrad_reference.gradient as rg

    start = time.perf_counter()
    g_fd = rg.numerical_gradient(f, x)  # returns a NumPy array: the devices have finished
    fd_first = time.perf_counter() - start
    fd = best(lambda: rg.numerical_gradient(f, x), repeat)
    grad = jax.jit(jax.grad(f))
    xj = jnp.asarray(x)
    g_ad = np.asarray(grad(xj).block_until_ready())
    t_grad = best(lambda: grad(xj).block_until_ready(), repeat)
    error = float(np.max(np.abs(g_fd - g_ad)) / np.max(np.abs(g_ad)))
    return Row(case, x.size, 2 * x.size, fd_first, fd, t_grad, error)


def table(rows: list[Row]) -> str:
    head = (f"{'case':<28} {'params':>8} {'FD evals':>9} {'FD 1st (s)':>11} {'FD (s)':>9} "
            f"{'jax.grad (s)':>13} {'FD/grad':>9} {'rel error':>10}  status")  # fmt: skip
    lines = [head, "-" * len(head)]
    for r in rows:
        status = "ok" if r.error <= AGREEMENT else "FAIL"
        lines.append(
            f"{r.case:<28} {r.params:>8,} {r.evaluations:>9,} {r.fd_first:>11.3f} {r.fd:>9.3f} "
            f"{r.grad:>13.5f} {r.fd / r.grad:>9.0f} {r.error:>10.1e}  {status}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    import jax
    import numgrad_reference  # noqa: F401  (float64 in JAX)

    sizes = args.sizes or (QUICK_NET if args.quick else NET)
    batch = QUICK_BATCH if args.quick else BATCH
    n = args.n or (QUICK_N if args.quick else N_SMOOTH)
    devices = jax.devices()
    print(f"JAX {jax.__version__}, backend {jax.default_backend()}: {len(devices)} device(s), "
          f"{devices[0].device_kind}; the FD twin shards its perturbations across all of them")  # fmt: skip
    start = time.perf_counter()
    loss, theta = net_loss(sizes, batch)
    f, x = smooth(n)
    rows = [
        measure(f"net {sizes}, batch {batch}", loss, theta, args.repeat),
        measure(f"smooth n={n:,}", f, x, args.repeat),
    ]
    print(table(rows))
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0 if all(r.error <= AGREEMENT for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The descent and two-layer-net families of `numgrad bench` (rows built differently from the
gradient workloads of :mod:`numgrad.bench.harness`: a whole descent, or a net's four parameter arrays)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.bench.measure import (
    REPEATS,
    TIME_BUDGET,
    Array,
    BenchRow,
    book_workload,
    median_seconds,
    relative_error,
    textbook_gradient,
)

DESCENT_STEPS = 100  # the book's gradient_descent(f, init_x=(-3, 4), lr=0.1, step_num=100)


def _textbook_descent(f: Callable[[Array], Any], init_x: Array, lr: float, step_num: int) -> Array:
    """The book's gradient_descent with its numerical_gradient (it mutates x, so it gets a copy)."""
    x = init_x.copy()
    for _ in range(step_num):
        x -= lr * textbook_gradient(f, x)
    return x


def _descent_evaluations(
    descent: Callable[..., Any], f: Callable[[Array], Any], start: Array, **options: Any
) -> int:
    """How many times one descent evaluates f (its gradients, probes and refinements, and the values it
    records), counted on a run of its own."""
    calls = 0

    def counted(x: Array) -> Any:
        nonlocal calls
        calls += 1
        return f(x)

    descent(counted, start, 0.1, DESCENT_STEPS, **options)
    return calls


def descent_rows(*, repeats: int = REPEATS, budget: float = TIME_BUDGET) -> list[BenchRow]:
    """100 steps of gradient descent on the book's function: textbook, numgrad (h=1e-4 and default),
    and the JAX twin (lax.scan over jax.grad); error is the final point's distance from the twin's."""
    import jax
    import numgrad_reference  # noqa: F401
    import numgrad_reference.optimize as ro

    from numgrad.book.optimize import gradient_descent

    w = book_workload(0)
    start = np.array([-3.0, 4.0])
    book = functools.partial(_textbook_descent, w.f, start, 0.1, DESCENT_STEPS)
    ours_book = functools.partial(gradient_descent, w.f, start, 0.1, DESCENT_STEPS, h=1e-4)
    ours = functools.partial(gradient_descent, w.f, start, 0.1, DESCENT_STEPS)
    twin = functools.partial(ro.gradient_descent, w.jax_f, start, 0.1, DESCENT_STEPS)
    twin()  # compile once, apart
    exact = np.asarray(jax.device_get(twin().x), dtype=np.float64)
    runs: list[tuple[str, Callable[[], Any], Callable[[], Any], int]] = [
        ("textbook loop", book, book, _descent_evaluations(_textbook_descent, w.f, start)),
        ("numgrad gradient_descent, h=1e-4", ours_book, lambda: ours_book().x,
         _descent_evaluations(gradient_descent, w.f, start, h=1e-4)),
        ("numgrad gradient_descent", ours, lambda: ours().x,
         _descent_evaluations(gradient_descent, w.f, start)),
        ("JAX twin (lax.scan, jax.grad)", twin, lambda: twin().x, 0),  # autodiff: f is traced, not sampled
    ]  # fmt: skip
    times = {name: median_seconds(run, repeats, budget) for name, run, _, _ in runs}
    t_book, t_jax = times["textbook loop"], times["JAX twin (lax.scan, jax.grad)"]
    rows = []
    for name, _, final, points in runs:
        err = float(np.max(np.abs(np.asarray(final(), dtype=np.float64) - exact)))
        t = times[name]
        note = "error: |x_final − x_final of the JAX twin| (absolute)"
        rows.append(
            BenchRow(
                "book descent, 100 steps", "descent", 2, name, t, t_book / t, t / t_jax, err, points, note
            )
        )
    return rows


NET_SIZES = {"net-64": (64, 50, 10), "net-784": (784, 50, 10)}
NET_BATCH = 100
NET_TEXTBOOK_SAMPLE = 4000  # parameters the textbook loop visits on the large net; the rest is extrapolated


def _net_data(sizes: tuple[int, int, int]) -> tuple[Array, NDArray[np.intp]]:
    """A batch of 100 MNIST training images: 28×28 for 784 inputs, 8×8 average-pooled (of the
    24×24 centre) for 64."""
    from numgrad.book.data import load_mnist

    (x, t), _ = load_mnist(flatten=False)
    x, t = x[:NET_BATCH, 0].astype(np.float64), t[:NET_BATCH].astype(np.intp)
    if sizes[0] == 64:
        x = x[:, 2:26, 2:26].reshape(NET_BATCH, 8, 3, 8, 3).mean(axis=(2, 4))
    return x.reshape(NET_BATCH, -1), t


def net_rows(name: str, *, repeats: int = REPEATS, budget: float = TIME_BUDGET) -> list[BenchRow]:
    """TwoLayerNet at batch 100: the textbook loop over every parameter (sampled on the large net and
    extrapolated), the structured numerical gradient, backprop, and jax.grad of the twin's loss."""
    import jax
    import numgrad_reference  # noqa: F401
    import numgrad_reference.nets as rn

    from numgrad.book.nets import TwoLayerNet

    sizes = NET_SIZES[name]
    x, t = _net_data(sizes)
    net = TwoLayerNet(*sizes, seed=0)

    def flat(g: dict[str, Any]) -> Array:
        return np.concatenate([np.ravel(g[k]) for k in ("W1", "b1", "W2", "b2")])

    grad: Any = jax.jit(jax.grad(lambda p: rn.two_layer_loss(p, x, t)))
    params = {k: jax.numpy.asarray(v) for k, v in net.params.items()}
    exact = flat({k: np.asarray(v) for k, v in grad(params).items()})
    t_jax = median_seconds(lambda: jax.block_until_ready(grad(params)), repeats, budget)  # type: ignore[no-untyped-call]
    n = exact.size
    book_seconds, book_grad, book_calls, note = _net_textbook(net, x, t, n)
    rows = [("textbook loop", book_seconds, book_grad, book_calls, note)]
    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "numgrad TwoLayerNet.numerical_gradient": lambda: net.numerical_gradient(x, t),
        "numgrad TwoLayerNet.gradient (backprop)": lambda: net.gradient(x, t),
    }
    for label, run in runs.items():
        calls = _loss_calls(net, run)  # f evals: calls of net.loss, counted
        note = f"{2 * n} perturbed losses computed from the net's structure" if "numerical" in label else ""
        rows.append((label, median_seconds(run, repeats, budget), flat(run()), calls, note))
    rows.append(("jax.grad (jit)", t_jax, exact, 0, ""))
    return [
        BenchRow(f"net {sizes}, batch {NET_BATCH}", "nets", n, label, sec, book_seconds / sec, sec / t_jax,
                 relative_error(g, exact), points, note)
        for label, sec, g, points, note in rows
    ]  # fmt: skip


def _loss_calls(net: Any, run: Callable[[], Any]) -> int:
    """How many times `run` calls ``net.loss`` (counted on a run of its own)."""
    calls = 0
    loss = net.loss

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return loss(*args, **kwargs)

    net.loss = counted  # an instance attribute, found before the method
    try:
        run()
    finally:
        del net.loss
    return calls


def _net_textbook(net: Any, x: Array, t: NDArray[np.intp], n: int) -> tuple[float, Array, int, str]:
    """The book's loop over every parameter of the net (seconds, gradient, calls of net.loss counted);
    on a large net a sample, extrapolated."""
    loss = lambda _: net.loss(x, t)  # noqa: E731  (the book's idiom)
    if n <= NET_TEXTBOOK_SAMPLE:
        calls = _loss_calls(net, lambda: [textbook_gradient(loss, p) for p in net.params.values()])
        start = time.perf_counter()
        grads = [textbook_gradient(loss, net.params[k]) for k in ("W1", "b1", "W2", "b2")]
        return time.perf_counter() - start, np.concatenate([g.ravel() for g in grads]), calls, ""
    w1 = net.params["W1"]
    rows = max(1, NET_TEXTBOOK_SAMPLE // w1.shape[1])
    part = w1[:rows]  # a view: the loop perturbs the net's own weights in place
    calls = _loss_calls(net, lambda: textbook_gradient(loss, part))
    start = time.perf_counter()
    sample = textbook_gradient(loss, part)
    per_param = (time.perf_counter() - start) / part.size
    grads = [net.numerical_gradient(x, t, h=1e-4)[k].ravel() for k in ("W1", "b1", "W2", "b2")]
    grads[0][: part.size] = sample.ravel()  # the sampled rows are the loop's own numbers
    note = (
        f"timed and counted on {part.size} of {n} parameters ({calls} calls of net.loss), extrapolated; "
        f"other values from the structured pass"
    )
    return per_param * n, np.concatenate(grads), round(calls / part.size * n), note

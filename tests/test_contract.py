"""The written contract ("What numgrad guarantees" in the README), table-driven across the API and the CLI.

Every API case asserts the exception type, the words of its message, and that the caller's arrays are
bitwise unchanged afterwards; every CLI case asserts exit 2, one line on stderr naming the command, and
that nothing was written. Issue 16's examples are pinned one by one at the end.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

import numgrad as ng
from numgrad.commands.cli import main

X = np.array([1.0, 2.0, 3.0])
POOL = ThreadPoolExecutor(2)


def square(v: Any) -> Any:
    return np.sum(v**2)


def grad_square(v: Any) -> Any:
    return 2 * v


def batched_square(s: Any) -> Any:
    return np.sum(s**2, axis=1)


# f and grad that break the contract's assumptions, each in one way


def writes_other(v: Any) -> Any:  # writes an element other than the one numgrad perturbs
    v[-1] += 1.0
    return np.sum(v**2)


def writes_first(v: Any) -> Any:  # writes the element numgrad perturbs first
    v[0] = 99.0
    return np.sum(v**2)


def writes_stack(s: Any) -> Any:
    s[:, 0] += 1.0
    return np.sum(s**2, axis=1)


def writes_then_raises(v: Any) -> Any:
    v[-1] = -5.0
    raise ZeroDivisionError("boom")


def grad_writes(v: Any) -> Any:
    v[0] = 99.0
    return 2 * v


def raises(v: Any) -> Any:
    raise ZeroDivisionError("boom")


def returns_text(v: Any) -> Any:
    return "one"


def returns_vector(v: Any) -> Any:
    return np.ones(2)


def returns_complex(v: Any) -> Any:
    return np.sum(v**2) + 5j * v[0]


def returns_nan(v: Any) -> Any:
    return float("nan")


def real_only(v: Any) -> Any:
    return float(np.real(np.sum(v**2)))


def jac_writes(v: Any) -> Any:
    v[0] = 5.0
    return 2 * v


# --------------------------------------------------------------------------------------------------
# The table: (id, call, arrays, exception, words). `call(**arrays)` must raise; the arrays are the
# caller's data and must come back bitwise unchanged.

NG = ng.numerical_gradient
CASES: list[tuple[str, Any, dict[str, Any], type[BaseException], str]] = []


def case(name: str, call: Any, arrays: dict[str, Any], error: type[BaseException], words: str) -> None:
    CASES.append((name, call, arrays, error, words))


# Bad x, for every function that takes a point
POINT_FUNCS = {
    "numerical_gradient": lambda x: NG(square, x),
    "numerical_gradient-batched": lambda x: NG(batched_square, x, batched=True),
    "jacobian": lambda x: ng.jacobian(grad_square, x),
    "check_gradient": lambda x: ng.check_gradient(square, x, np.zeros(np.shape(x))),
    "check_gradient-fast": lambda x: ng.check_gradient(square, x, np.zeros(np.shape(x)), mode="fast"),
    "assert_gradient_close": lambda x: ng.assert_gradient_close(square, x, np.zeros(np.shape(x))),
    "directional_derivative": lambda x: ng.directional_derivative(square, x, np.ones(np.shape(x))),
    "gradient_descent": lambda x: ng.gradient_descent(square, x),
}
BAD_POINTS = [
    ("empty", np.array([]), ValueError, "at least one element"),
    ("inf", np.array([1.0, np.inf]), ValueError, r"must be finite.*got .*inf"),
    ("nan", np.array([np.nan, 1.0]), ValueError, r"must be finite.*got .*nan"),
    ("complex", np.array([1.0 + 1j, 2.0]), TypeError, "real"),
    ("text", np.array(["a", "b"]), TypeError, "must be"),
]
for fname, call in POINT_FUNCS.items():
    for kind, x, error, words in BAD_POINTS:
        said = "numeric" if fname == "gradient_descent" and kind == "text" else words
        case(f"{fname}-x-{kind}", lambda x, call=call: call(x), {"x": x}, error, said)
for fname in ("numerical_gradient", "jacobian", "check_gradient", "directional_derivative"):
    case(
        f"{fname}-x-int", lambda x, c=POINT_FUNCS[fname]: c(x), {"x": np.array([1, 2])}, TypeError, "floating"
    )

# f that writes into its argument: every mode of every derivative function
MODES = {
    "loop": {},
    "forward": {"method": "forward"},
    "backward": {"method": "backward"},
    "richardson": {"method": "richardson"},
    "complex": {"method": "complex"},
    "h": {"h": 1e-4},
    "executor": {"executor": POOL},
}
for mode, kw in MODES.items():
    for fn in (writes_other, writes_first):
        case(
            f"numerical_gradient-{fn.__name__}-{mode}",
            lambda x, fn=fn, kw=kw: NG(fn, x, **kw),
            {"x": X.copy()},
            ng.MutatedArgumentError,
            "^numerical_gradient: f wrote into its argument",  # named in a worker too
        )
for mode, kw in {
    "batched": {"batched": True},
    "batched-executor": {"batched": True, "executor": POOL},
}.items():
    case(f"numerical_gradient-writes_stack-{mode}", lambda x, kw=kw: NG(writes_stack, x, **kw),
         {"x": X.copy()}, ng.MutatedArgumentError, "^numerical_gradient: .*batched f wrote into its argument")  # fmt: skip
case("numerical_gradient-writes-2d", lambda x: NG(writes_other, x), {"x": np.ones((2, 3))},
     ng.MutatedArgumentError, r"element \(1, 0\) of x changed from 1.0 to 2.0")  # fmt: skip
case("numerical_gradient-writes-fortran", lambda x: NG(writes_first, x),
     {"x": np.asfortranarray(np.ones((2, 3)))}, ng.MutatedArgumentError, "restored bitwise")  # fmt: skip
case("numerical_gradient-writes-float32", lambda x: NG(writes_other, x), {"x": X.astype(np.float32)},
     ng.MutatedArgumentError, "restored bitwise")  # fmt: skip
case("numerical_gradient-writes-then-raises", lambda x: NG(writes_then_raises, x), {"x": X.copy()},
     ZeroDivisionError, "boom")  # fmt: skip
case("jacobian-writes", lambda x: ng.jacobian(jac_writes, x), {"x": X.copy()}, ng.MutatedArgumentError,
     "jacobian: f wrote into its argument")  # fmt: skip
case("jacobian-writes-batched", lambda x: ng.jacobian(lambda s: writes_stack(s)[:, None] * s, x, batched=True),
     {"x": X.copy()}, ng.MutatedArgumentError, "wrote into")  # fmt: skip
for mode in ("full", "fast"):
    for method in ("auto", "central"):
        case(f"check_gradient-f-writes-{mode}-{method}",
             lambda x, m=mode, me=method: ng.check_gradient(writes_other, x, 2 * X, mode=m, method=me),
             {"x": X.copy()}, ng.MutatedArgumentError, "check_gradient: f wrote into")  # fmt: skip
    case(f"check_gradient-grad-writes-{mode}", lambda x, m=mode: ng.check_gradient(square, x, grad_writes, mode=m),
         {"x": X.copy()}, ng.MutatedArgumentError, "check_gradient: grad wrote into")  # fmt: skip
case("check_gradient-float32-writes", lambda x: ng.check_gradient(writes_other, x, 2 * x),
     {"x": X.astype(np.float32)}, ng.MutatedArgumentError, "wrote into")  # fmt: skip
case("check_gradient-executor-writes", lambda x: ng.check_gradient(writes_other, x, 2 * x, executor=POOL),
     {"x": X.copy()}, ng.MutatedArgumentError, "wrote into")  # fmt: skip
case("assert_gradient_close-writes", lambda x: ng.assert_gradient_close(writes_first, x, 2 * x),
     {"x": X.copy()}, ng.MutatedArgumentError, "wrote into")  # fmt: skip
# check_vjp / check_jvp / check_jacobian: f writing at its first call (x itself, before any perturbation),
# and the user's vjp, jvp or jac(x) writing into x (through a closure or its argument)
VECTOR_CHECKS = {
    "check_vjp": lambda f, x, d: ng.check_vjp(f, x, lambda u: d(x) * u),
    "check_jvp": lambda f, x, d: ng.check_jvp(f, x, lambda t: d(x) * t),
    "check_jacobian": lambda f, x, d: ng.check_jacobian(f, x, lambda v: np.diag(d(v))),
}
for name, check in VECTOR_CHECKS.items():
    for mode in ("full", "fast"):
        case(f"{name}-f-writes-{mode}", lambda x, c=check: c(lambda v: writes_first(v) * v, x, grad_square),
             {"x": X.copy()}, ng.MutatedArgumentError, f"{name}: f wrote into")  # fmt: skip
    who = {"check_vjp": "vjp", "check_jvp": "jvp", "check_jacobian": "jac"}[name]
    case(f"{name}-{who}-writes", lambda x, c=check: c(np.square, x, grad_writes), {"x": X.copy()},
         ng.MutatedArgumentError, f"{name}: {who} wrote into")  # fmt: skip
case("check_vjp-f-writes-pytree", lambda w: ng.check_vjp(lambda t: writes_first(t["w"]) * t["w"], {"w": w},
     lambda u: {"w": 2 * u}), {"w": X.copy()}, ng.MutatedArgumentError, r"x\['w'\] has been restored")  # fmt: skip
case("gradient_descent-writes", lambda x: ng.gradient_descent(writes_other, x, step_num=3),
     {"x": X.copy()}, ng.MutatedArgumentError, "wrote into")  # fmt: skip
case("gradient_descent-writes-h", lambda x: ng.gradient_descent(writes_first, x, step_num=3, h=1e-4),
     {"x": X.copy()}, ng.MutatedArgumentError, "wrote into")  # fmt: skip

# f that returns the wrong thing, or raises
RESULTS = [
    (raises, ZeroDivisionError, "boom"),
    (returns_text, TypeError, "must return a number"),
    (returns_vector, ValueError, "must return a scalar"),
    (returns_complex, TypeError, "complex value"),
    (returns_nan, FloatingPointError, r"non-finite value \(nan\)"),
]
for fn, error, words in RESULTS:
    for mode, kw in {
        "loop": {},
        "h": {"h": 1e-3},
        "forward": {"method": "forward"},
        "executor": {"executor": POOL},
    }.items():
        if mode == "executor" and fn is returns_vector:
            words_here = "must return shape"
        elif mode == "executor" and fn in (returns_text, returns_complex):
            words_here = "numbers|complex"
        else:
            words_here = words
        case(f"numerical_gradient-{fn.__name__}-{mode}", lambda x, fn=fn, kw=kw: NG(fn, x, **kw),
             {"x": X.copy()}, error, words_here)  # fmt: skip
    case(f"check_gradient-{fn.__name__}", lambda x, fn=fn: ng.check_gradient(fn, x, 2 * x), {"x": X.copy()},
         error, words if fn is not returns_vector else "scalar")  # fmt: skip
case("complex-method-real-f", lambda x: NG(real_only, x, method="complex"), {"x": X.copy()}, TypeError,
     "method='complex' needs f to carry complex input")  # fmt: skip
case("batched-wrong-shape", lambda x: NG(square, x, batched=True), {"x": X.copy()}, ValueError,
     "batched f must return shape")  # fmt: skip
case("batched-complex", lambda x: NG(lambda s: np.sum(s, axis=1) * 1j, x, batched=True), {"x": X.copy()},
     TypeError, "complex")  # fmt: skip
case(
    "gradient_descent-f-raises",
    lambda x: ng.gradient_descent(raises, x),
    {"x": X.copy()},
    ZeroDivisionError,
    "boom",
)
case("gradient_descent-f-complex", lambda x: ng.gradient_descent(returns_complex, x), {"x": X.copy()},
     TypeError, "real number")  # fmt: skip
case("gradient_descent-f-nan-start", lambda x: ng.gradient_descent(returns_nan, x), {"x": X.copy()},
     ValueError, "f\\(init_x\\) must be finite")  # fmt: skip

# Options
OPTIONS = [
    ({"method": "nope"}, ValueError, "method must be one of"),
    ({"h": 0.0}, ValueError, "h must be positive"),
    ({"h": -1.0}, ValueError, "h must be positive"),
    ({"h": float("nan")}, ValueError, "h must be positive"),
    ({"h": float("inf")}, ValueError, "h must be positive"),
    ({"h": np.ones(5)}, ValueError, "h must be a positive number or an array of x's shape"),
    ({"h": 1e-20}, ValueError, r"h=1e-20 does not move x at index \(0,\)"),
    ({"h": "big"}, ValueError, "h must be a positive number"),
    ({"chunk_size": 0}, ValueError, "chunk_size must be a positive integer"),
    ({"chunk_size": 1.5}, ValueError, "chunk_size must be a positive integer"),
    ({"executor": "pool"}, TypeError, "executor must be a concurrent.futures.Executor"),
    ({"batched": "yes"}, TypeError, "batched must be True or False"),
]
for kw, error, words in OPTIONS:
    label = "-".join(f"{k}={v!r}"[:18] for k, v in kw.items())
    case(f"numerical_gradient-{label}", lambda x, kw=kw: NG(square, x, **kw), {"x": X.copy()}, error, words)
    if "executor" not in kw and "batched" not in kw and "chunk_size" not in kw:
        case(
            f"jacobian-{label}",
            lambda x, kw=kw: ng.jacobian(grad_square, x, **kw),
            {"x": X.copy()},
            error,
            words,
        )
case(
    "numerical_gradient-f-not-callable", lambda x: NG(3, x), {"x": X.copy()}, TypeError, "f must be callable"
)
_ro = np.ones(3)
_ro.flags.writeable = False
case("numerical_gradient-read-only", lambda x: NG(square, x), {"x": _ro}, ValueError, "x is read-only")
case(
    "numerical_diff-array",
    lambda x: ng.numerical_diff(np.sin, x),
    {"x": X.copy()},
    ValueError,
    "must be a scalar",
)
for kind, leaf, words in [("empty", np.array([]), "must have at least one element"),
                          ("nan", np.array([1.0, np.nan]), "must be finite")]:  # fmt: skip
    case(f"numerical_gradient-pytree-{kind}-leaf", lambda b: NG(lambda t: np.sum(t["a"] ** 2), {"a": X.copy(), "b": b}),
         {"b": leaf}, ValueError, rf"numerical_gradient: x\['b'\] {words}")  # fmt: skip
case("numerical_gradient-ragged-list", lambda: NG(square, [[1.0, 2.0], [3.0]]), {}, ValueError,
     "numerical_gradient: x must be an array of numbers; got a ragged list")  # fmt: skip
case("check_gradient-ragged-list", lambda: ng.check_gradient(square, [[1.0], [2.0, 3.0]], grad_square), {},
     ValueError, "check_gradient: x must be an array of numbers; got a ragged list")  # fmt: skip
case("numerical_diff-int-beyond-float64", lambda: ng.numerical_diff(np.sin, 10**400), {}, ValueError,
     "numerical_diff: x must be within float64's range")  # fmt: skip
case("softmax-no-classes", lambda: ng.softmax(np.zeros((2, 0))), {}, ValueError,
     r"softmax: x's last axis \(the classes\) is empty; got shape \(2, 0\)")  # fmt: skip
case("check_jvp-jvp-returns-none", lambda x: ng.check_jvp(np.sin, x, lambda v: None), {"x": X.copy()},
     TypeError, r"check_jvp: jvp\(v\) must return a floating array; got NoneType")  # fmt: skip
case("plot_gradient_errors-directory",
     lambda x: ng.plot_gradient_errors(ng.check_gradient(square, x, grad_square), os.path.dirname(__file__)),
     {"x": X.copy()}, IsADirectoryError, "plot file .* is a directory; give a file name in it")  # fmt: skip
case(
    "numerical_diff-h-tiny",
    lambda: ng.numerical_diff(np.sin, 1e8, h=1e-12),
    {},
    ValueError,
    "does not move x",
)
case("directional_derivative-v-shape", lambda x: ng.directional_derivative(square, x, np.ones(2)), {"x": X.copy()},
     ValueError, "v must have x's shape")  # fmt: skip
case("directional_derivative-v-zero", lambda x: ng.directional_derivative(square, x, np.zeros(3)),
     {"x": X.copy()}, ValueError, "finite and non-zero")  # fmt: skip
case("directional_derivative-v-inf", lambda x: ng.directional_derivative(square, x, np.array([np.inf, 0, 0])),
     {"x": X.copy()}, ValueError, "finite and non-zero")  # fmt: skip

CHECK_OPTIONS = [
    ({"seed": -1}, ValueError, "seed must be a non-negative int below 2\\*\\*128; got -1"),
    ({"seed": 2**200}, ValueError, "seed must be a non-negative int"),
    ({"seed": 1.5}, TypeError, "seed must be a non-negative int, a numpy.random.Generator or None"),
    ({"seed": True}, TypeError, "seed must be a non-negative int"),
    ({"seed": "0"}, TypeError, "seed must be"),
    ({"rtol": -1.0}, ValueError, "rtol must be finite and non-negative"),
    ({"atol": float("nan")}, ValueError, "atol must be finite and non-negative"),
    ({"atol": "1"}, TypeError, "atol must be a number"),
    ({"mode": "quick"}, ValueError, "mode must be one of"),
    ({"method": "forward", "mode": "fast"}, ValueError, "mode='fast' takes central differences"),
    ({"method": "nope"}, ValueError, "method must be one of"),
    ({"executor": 3}, TypeError, "executor must be a concurrent.futures.Executor"),
]
for kw, error, words in CHECK_OPTIONS:
    label = "-".join(f"{k}={v!r}"[:18] for k, v in kw.items())
    for fname, fn in (
        ("check_gradient", ng.check_gradient),
        ("assert_gradient_close", ng.assert_gradient_close),
    ):
        case(
            f"{fname}-{label}",
            lambda x, fn=fn, kw=kw: fn(square, x, 2 * x, **kw),
            {"x": X.copy()},
            error,
            words,
        )
case("check_gradient-grad-shape", lambda x: ng.check_gradient(square, x, np.ones(2)), {"x": X.copy()},
     ValueError, "grad must have x's shape")  # fmt: skip
case("check_gradient-grad-transpose", lambda x: ng.check_gradient(square, x, np.ones((3, 2))),
     {"x": np.ones((2, 3))}, ValueError, "transpose")  # fmt: skip
case("check_gradient-grad-text", lambda x: ng.check_gradient(square, x, np.array(["a"] * 3)), {"x": X.copy()},
     TypeError, "grad must be a real numeric array")  # fmt: skip
case("check_gradient-grad-raises", lambda x: ng.check_gradient(square, x, raises), {"x": X.copy()},
     ZeroDivisionError, "boom")  # fmt: skip
case("check_gradient-grad-fn-shape", lambda x: ng.check_gradient(square, x, lambda v: v[:2]), {"x": X.copy()},
     ValueError, r"grad\(x\) must have x's shape")  # fmt: skip

DESCENT_OPTIONS = [
    ({"lr": 0.0}, ValueError, "lr must be a positive finite number"),
    ({"lr": float("inf")}, ValueError, "lr must be a positive finite number"),
    ({"step_num": 0}, ValueError, "step_num must be a positive integer"),
    ({"tol": -1.0}, ValueError, "tol must be a positive finite number"),
    ({"h": 0.0}, ValueError, "h must be a positive finite number"),
    ({"grad": 3}, TypeError, "grad must be callable"),
    ({"grad": grad_square, "h": 1e-4}, ValueError, "h is the step of the numerical gradient"),
    ({"grad": lambda v: v[:2]}, ValueError, "grad must return init_x's shape"),
]
for kw, error, words in DESCENT_OPTIONS:
    label = "-".join(f"{k}={v!r}"[:18] for k, v in kw.items())
    case(f"gradient_descent-{label}", lambda x, kw=kw: ng.gradient_descent(square, x, **kw), {"x": X.copy()},
         error, words)  # fmt: skip

# Losses: impossible targets and logits
P = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
LOSSES = [
    (
        "bce-t-2",
        ng.binary_cross_entropy,
        np.array([0.9, 0.2]),
        np.array([2.0, 0.0]),
        "probabilities in \\[0, 1\\]",
    ),
    ("bce-t-negative", ng.binary_cross_entropy, np.array([0.9, 0.2]), np.array([-1.0, 0.0]), "got -1.0"),
    ("bce-t-nan", ng.binary_cross_entropy, np.array([0.9, 0.2]), np.array([np.nan, 0.0]), "at position 0"),
    ("bce-shape", ng.binary_cross_entropy, np.array([0.9, 0.2]), np.array([1.0]), "same shape"),
    ("ce-row-1.2", ng.cross_entropy_error, P, np.array([[0.6, 0.6, 0.0], [0, 1, 0]]), "row 0 sums to 1.2"),
    ("ce-row-0", ng.cross_entropy_error, P, np.zeros((2, 3)), "probability distribution"),
    ("ce-row-negative", ng.cross_entropy_error, P, np.array([[1.5, -0.5, 0], [0, 1, 0]]), "non-negative"),
    ("ce-label-range", ng.cross_entropy_error, P, np.array([0, 3]), "labels must lie in \\[0, 3\\)"),
    ("ce-label-negative", ng.cross_entropy_error, P, np.array([-1, 0]), "labels must lie in"),
    ("ce-label-float", ng.cross_entropy_error, P, np.array([0.0, 1.0]), "integer class labels"),
    ("ce-label-shape", ng.cross_entropy_error, P, np.array([0, 1, 2]), "integer labels of shape \\(2,\\)"),
    ("sce-row-1.2", ng.softmax_cross_entropy, P, np.array([[0.6, 0.6, 0.0], [0, 1, 0]]), "sums to 1.2"),
    ("sce-posinf", ng.softmax_cross_entropy, np.array([[np.inf, 0.0]]), np.array([0]), "finite or -inf"),
    ("sce-nan", ng.softmax_cross_entropy, np.array([[np.nan, 0.0]]), np.array([0]), "finite or -inf"),
    (
        "sce-all-masked",
        ng.softmax_cross_entropy,
        np.array([[-np.inf, -np.inf]]),
        np.array([0]),
        "masks every",
    ),
    ("sce-empty-classes", ng.softmax_cross_entropy, np.zeros((2, 0)), np.array([0, 0]), "C >= 1"),
    ("hinge-two-hot", ng.hinge_loss, P, np.array([[1, 1, 0], [0, 1, 0]]), "one-hot"),
    ("hinge-values", ng.hinge_loss, np.array([0.5, 1.0]), np.array([2.0, 1.0]), "binary targets"),
    ("mse-shape", ng.mean_squared_error, np.ones(3), np.ones(2), "same shape"),
    ("huber-shape", ng.huber_loss, np.ones(3), np.ones(2), "same shape"),
]
for name, loss, y, t, words in LOSSES:
    case(f"loss-{name}", lambda y, t, loss=loss: loss(y, t), {"y": y, "t": t}, ValueError if "float" not in name
         else TypeError, words)  # fmt: skip
case("huber-delta", lambda y, t: ng.huber_loss(y, t, delta=0.0), {"y": np.ones(2), "t": np.ones(2)},
     ValueError, "delta must be a positive number")  # fmt: skip

# Seeds, validated in one place for every function that takes one
SEEDED = {
    "TwoLayerNet": lambda s: ng.TwoLayerNet(4, 3, 2, seed=s),
    "SimpleNet": lambda s: ng.SimpleNet(seed=s),
    "random_trials": lambda s: ng.random_trials(2, seed=s),
    "check_gradient": lambda s: ng.check_gradient(square, X.copy(), 2 * X, seed=s, mode="fast"),
}
for fname, make in SEEDED.items():
    case(
        f"{fname}-seed-negative",
        lambda make=make: make(-1),
        {},
        ValueError,
        f"{fname}: seed must be a non-negative",
    )
    case(
        f"{fname}-seed-float",
        lambda make=make: make(0.5),
        {},
        TypeError,
        f"{fname}: seed must be a non-negative",
    )
case("train-seed-negative", lambda: ng.train(ng.TwoLayerNet(784, 3, 10), np.zeros((4, 784)), np.zeros(4, int),
     np.zeros((4, 784)), np.zeros(4, int), iters=1, batch_size=2, seed=-1), {}, ValueError, "train: seed")  # fmt: skip
case("train-seed-float", lambda: ng.train(ng.TwoLayerNet(784, 3, 10), np.zeros((4, 784)), np.zeros(4, int),
     np.zeros((4, 784)), np.zeros(4, int), iters=1, batch_size=2, seed=1.5), {}, TypeError,
     "train: seed must be a non-negative int or None; got float 1.5")  # fmt: skip
case("sweep-seed-float", lambda: ng.sweep(np.zeros((4, 784)), np.zeros(4, int), ng.grid_trials({"lr": [0.1]}),
     seed=1.5), {}, TypeError, "sweep: seed must be a non-negative int; got float 1.5")  # fmt: skip


@pytest.mark.parametrize(
    ("call", "arrays", "error", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_gets_a_clear_error_and_the_callers_data_is_unchanged(call, arrays, error, words):
    before = {k: v.copy() for k, v in arrays.items()}
    with pytest.raises(error, match=words):
        call(**arrays)
    for name, value in arrays.items():
        assert value.dtype == before[name].dtype
        assert value.tobytes() == before[name].tobytes(), f"{name} changed: {before[name]} -> {value}"


def test_the_table_is_large():
    assert len(CASES) >= 150, len(CASES)


# --------------------------------------------------------------------------------------------------
# The CLI: bad input is exit 2 and one line on stderr


@pytest.fixture
def modules(tmp_path, monkeypatch):
    (tmp_path / "hostile.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            def f(x): return np.sum(x**2)
            def g(x): return 2 * x
            def boom(x): raise ZeroDivisionError("boom")
            def leaves(x): raise SystemExit(0)
            def cplx(x): return np.sum(x**2) + 1j * x[0]
            def writes(x):
                x[0] = 7.0
                return np.sum(x**2)
            """
        )
    )
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(0)\ndef f(x): return x.sum()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


TINY = ["--iters", "1", "--batch-size", "2", "--hidden", "2"]
CLI = [
    (
        "check-plot-missing-dir",
        ["check", "hostile:f", "--shape", "3", "--grad", "hostile:g", "--plot", "nodir/x.png"],
        "directory 'nodir' does not exist",
    ),
    (
        "check-plot-is-dir",
        ["check", "hostile:f", "--shape", "3", "--grad", "hostile:g", "--plot", "."],
        "is a directory",
    ),
    (
        "check-seed",
        ["check", "hostile:f", "--shape", "3", "--grad", "hostile:g", "--seed", "-1"],
        "--seed must be",
    ),
    ("check-builtins-seed", ["check", "--seed", "-1"], "--seed must be a non-negative integer"),
    (
        "check-huge-shape",
        ["check", "hostile:f", "--shape", "100000,100000", "--grad", "hostile:g"],
        "10,000,000,000",
    ),
    ("check-shape-zero", ["check", "hostile:f", "--shape", "0", "--grad", "hostile:g"], "must be positive"),
    (
        "check-f-raises",
        ["check", "hostile:boom", "--shape", "3", "--grad", "hostile:g"],
        "ZeroDivisionError: boom",
    ),
    (
        "check-f-exits",
        ["check", "hostile:leaves", "--shape", "3", "--grad", "hostile:g"],
        r"called sys.exit\(0\)",
    ),
    ("check-f-complex", ["check", "hostile:cplx", "--shape", "3", "--grad", "hostile:g"], "complex value"),
    (
        "check-f-writes",
        ["check", "hostile:writes", "--shape", "3", "--grad", "hostile:g"],
        "wrote into its argument",
    ),
    ("check-module-exits", ["check", "exits:f", "--shape", "3"], r"importing 'exits' called sys.exit\(0\)"),
    (
        "check-examples",
        ["check", "hostile:f", "--shape", "3", "--grad", "hostile:g", "--examples", "0"],
        "at least 1",
    ),
    ("train-plot-missing-dir", ["train", *TINY, "--plot", "nodir/x.png"], "does not exist"),
    ("train-seed", ["train", *TINY, "--seed", "-1"], "--seed must be a non-negative integer"),
    ("train-huge-hidden", ["train", "--hidden", "100000000"], "--hidden 100000000"),
    ("train-huge-batch", ["train", "--batch-size", "1000000000"], "--batch-size 1000000000"),
    ("sweep-lr-inf", ["sweep", "--grid", "lr=inf"], "positive and finite"),
    ("sweep-lr-negative", ["sweep", "--grid", "lr=-1"], "positive and finite"),
    ("sweep-huge-hidden", ["sweep", "--grid", "hidden=100000000"], "hidden=100000000"),
    ("sweep-seed", ["sweep", "--grid", "lr=0.1", "--seed", "-1"], "--seed must be"),
    ("sweep-plot-missing-dir", ["sweep", "--grid", "lr=0.1", "--plot", "nodir/s.png"], "does not exist"),
    ("bench-repeats", ["bench", "--repeats", "0"], "--repeats must be a positive integer"),
    (
        "descend-f-raises",
        ["descend", "--function", "hostile:boom", "--start", "1", "2"],
        "ZeroDivisionError: boom",
    ),
    ("descend-f-complex", ["descend", "--function", "hostile:cplx", "--start", "1", "2"], "real number"),
    ("descend-inf-start", ["descend", "--start", "inf", "1"], "init_x must be finite"),
    ("descend-plot-missing-dir", ["descend", "--plot", "nodir/d.png"], "does not exist"),
]


@pytest.mark.parametrize(("argv", "words"), [c[1:] for c in CLI], ids=[c[0] for c in CLI])
def test_cli_bad_input_is_exit_2_and_one_line(modules, capsys, argv, words):
    before = sorted(p.name for p in modules.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"numgrad {argv[0]}: "), err
    assert re.search(words, err), err
    assert sorted(p.name for p in modules.iterdir() if p.name != "__pycache__") == [
        n for n in before if n != "__pycache__"
    ]  # nothing created: no directory for --plot, no partial files


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_cli_unwritable_plot_directory(modules, capsys):
    locked = modules / "locked"
    locked.mkdir(mode=0o555)
    assert main(["check", "hostile:f", "--shape", "3", "--grad", "hostile:g", "--plot", "locked/x.png"]) == 2
    assert "permission denied" in capsys.readouterr().err


def test_cli_unknown_bench_family_is_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:  # argparse's choices: its usage line, then the error
        main(["bench", "--family", "nosuch"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nosuch'" in err
    assert "Traceback" not in err


def test_cli_failed_check_is_exit_1_not_2(modules, capsys):
    (modules / "wrong.py").write_text(
        "import numpy as np\ndef f(x): return np.sum(x**2)\ndef g(x): return 3 * x\n"
    )
    assert main(["check", "wrong:f", "--shape", "3", "--grad", "wrong:g", "--examples", "1"]) == 1


# --------------------------------------------------------------------------------------------------
# Issue 16's examples, one by one


def test_example_f_writes_into_x():
    x = np.array([1.0, 2.0])

    def f(v):
        v[1] += 1.0
        return np.sum(v**2)

    with pytest.raises(ng.MutatedArgumentError, match=r"element \(1,\) of x changed from 2.0"):
        ng.numerical_gradient(f, x)
    assert x.tolist() == [1.0, 2.0]


def test_example_grad_writes_into_x():
    x = np.array([1.0, 2.0, 3.0])

    def g(v):
        v[0] = 99.0
        return 2 * v

    with pytest.raises(ng.MutatedArgumentError, match="grad wrote into its argument"):
        ng.check_gradient(lambda v: np.sum(v**2), x, g)
    assert x.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("f", "x", "exact"),
    [
        (lambda v: 1e160 * np.sum(v**2), np.ones(3), np.full(3, 2e160)),
        (lambda v: np.sum(np.exp(v)), 700 + np.arange(8.0) / 2, np.exp(700 + np.arange(8.0) / 2)),
        (lambda v: 1e300 * np.sum(v**2) / 3, np.ones(3), np.full(3, 2e300 / 3)),
    ],
    ids=["1e160", "exp-700", "1e300"],
)
def test_example_huge_f_is_differenced(f, x, exact):
    g = ng.numerical_gradient(f, x)
    np.testing.assert_allclose(g, exact, rtol=1e-7)


def test_example_f_beyond_float64_is_a_clear_error():
    with pytest.raises(FloatingPointError, match="non-finite value \\(inf\\) at x"):
        ng.numerical_gradient(lambda v: 1.7e308 * np.sum(v**2), np.ones(3))


def test_example_descent_on_minus_x_squared_diverges():
    r = ng.gradient_descent(lambda v: -(v[0] ** 2), np.array([-3.0, 4.0]), lr=1.0, step_num=2000)
    assert r.status == "diverged"
    assert r.steps < 2000


def test_example_empty_x():
    with pytest.raises(ValueError, match="numerical_gradient: x must have at least one element"):
        ng.numerical_gradient(np.sum, np.array([]))


def test_example_seed_minus_one():
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="check_gradient: seed must be a non-negative int"):
        ng.check_gradient(lambda v: np.sum(v**2), x, 2 * x, seed=-1)


def test_example_tiny_length_scale_is_differenced_correctly():
    x = 1e-8 * np.random.default_rng(0).uniform(0.5, 2.0, 10)
    g = ng.numerical_gradient(lambda v: np.sum(np.log(1 + (v / 1e-8) ** 2)), x)  # no warning: it settled
    u = x / 1e-8
    np.testing.assert_allclose(g, 2 * u / (1 + u**2) / 1e-8, rtol=1e-8)


def test_a_length_scale_that_cannot_be_resolved_is_flagged():
    x = 3 + 1e-8 * np.random.default_rng(0).uniform(0.5, 2.0, 10)  # |x| ~ 3: the step cannot follow x
    with pytest.warns(ng.NumericalWarning, match="10 of 10 elements may be inaccurate"):
        ng.numerical_gradient(lambda v: np.sum(np.log(1 + ((v - 3) / 1e-8) ** 2)), x)


def test_example_h_too_small_is_an_error():
    with pytest.raises(ValueError, match="h=1e-20 does not move x"):
        ng.numerical_gradient(lambda v: np.sum(v**2), np.array([3.0, 4.0]), h=1e-20)


def test_example_h_nearly_too_small_warns():
    with pytest.warns(ng.NumericalWarning, match="catastrophic cancellation"):
        ng.numerical_gradient(lambda v: np.sum(v**2), np.array([3.0, 4.0]), h=1e-15)


def test_book_step_does_not_warn():
    assert ng.numerical_diff(lambda x: 0.01 * x**2 + 0.1 * x, 5.0, h=1e-4) == 0.1999999999990898


def test_example_complex_result_is_an_error():
    with pytest.raises(TypeError, match="imaginary part would be dropped"):
        ng.numerical_gradient(lambda v: np.sum(v**2) + 5j * v[0], np.array([1.0, 2.0]))


def test_example_masked_logits():
    z = np.array([[-np.inf, 1.0, 0.0]])
    assert ng.softmax_cross_entropy(z, [1]) == pytest.approx(np.log1p(np.exp(-1.0)), rel=1e-15)
    assert ng.softmax_cross_entropy(z, np.array([[0.0, 1.0, 0.0]])) == pytest.approx(0.31326168751822286)
    assert ng.softmax_cross_entropy(z, [0]) == np.inf  # the target itself is masked: probability 0


def test_example_binary_target_outside_0_1():
    with pytest.raises(ValueError, match="binary_cross_entropy: t must hold probabilities in \\[0, 1\\]"):
        ng.binary_cross_entropy(np.array([0.9, 0.2]), np.array([2.0, 0.0]))


def test_soft_targets_are_accepted():
    assert float(ng.binary_cross_entropy([0.5], [0.5])) == pytest.approx(-np.log(0.5 + 1e-7))
    assert float(ng.cross_entropy_error([[0.5, 0.5]], [[0.5, 0.5]])) == pytest.approx(-np.log(0.5 + 1e-7))


def test_example_one_hot_rows_summing_to_1_2():
    with pytest.raises(ValueError, match=r"row 0 sums to 1\.2"):
        ng.cross_entropy_error(np.array([[0.5, 0.5]]), np.array([[0.6, 0.6]]))


def test_example_sqrt_near_zero_shrinks_the_step():
    x = np.array([1e-12, 1.0])
    g = ng.numerical_gradient(lambda v: np.sum(np.sqrt(v)), x)
    np.testing.assert_allclose(g, 0.5 / np.sqrt(x), rtol=1e-6)


def test_log_near_zero_shrinks_the_step():
    x = np.array([1e-300, 1.0])
    np.testing.assert_allclose(ng.numerical_gradient(lambda v: np.sum(np.log(v)), x), 1 / x, rtol=1e-6)


# --------------------------------------------------------------------------------------------------
# The suite's public calls under python -W error: no warning leaks


def test_public_calls_under_warnings_as_errors(tmp_path):
    script = textwrap.dedent(
        """
        import numpy as np, numgrad as ng
        from concurrent.futures import ThreadPoolExecutor
        ng.numerical_gradient(lambda v: 1e160 * np.sum(v**2), np.ones(3))
        ng.numerical_gradient(lambda v: np.sum(np.exp(v)), 700 + np.arange(8.0) / 2)
        ng.numerical_gradient(lambda v: np.sum(np.sqrt(v)), np.array([1e-12, 1.0]))
        ng.numerical_gradient(lambda v: np.sum(v**2), np.ones(3), batched=False, executor=ThreadPoolExecutor(2))
        ng.gradient_descent(lambda v: -v[0]**2, np.array([-3., 4.]), lr=1.0, step_num=2000)
        ng.gradient_descent(lambda v: v[0]**2 + v[1]**2, [-3.0, 4.0], lr=10.0)
        ng.softmax_cross_entropy(np.array([[-np.inf, 1.0, 0.0]]), [1])
        ng.check_gradient(lambda v: np.sum(np.abs(v)), np.array([0.0, 1.0]), np.array([0.0, 1.0]))
        ng.jacobian(lambda v: np.array([v[0] * v[1], np.exp(v[0])]), np.array([2.0, 3.0]))
        for bad in (np.array([1.0, np.inf]), np.array([])):
            try:
                ng.numerical_gradient(np.sum, bad)
            except ValueError:
                pass
        for f in (lambda v: np.sum(v**2) + 5j * v[0], lambda v: np.log(v[0] - 10.0)):
            try:
                ng.numerical_gradient(f, np.array([1.0, 2.0]))
            except (TypeError, FloatingPointError):
                pass
        print("clean")
        """
    )
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "clean"


def test_cli_under_warnings_as_errors(tmp_path):
    (tmp_path / "m.py").write_text("import numpy as np\ndef f(x): return np.sum(x**2) + 1j * x[0]\n"
                                   "def g(x): return 2 * x\n")  # fmt: skip
    for argv in (["check", "m:f", "--shape", "3", "--grad", "m:g"], ["descend", "--start", "inf", "1"]):
        run = subprocess.run([sys.executable, "-W", "error", "-m", "numgrad", *argv], capture_output=True,
                             text=True, cwd=tmp_path, timeout=300, check=False)  # fmt: skip
        assert run.returncode == 2, run.stderr
        assert run.stderr.count("\n") == 1, run.stderr
        assert "Warning" not in run.stderr, run.stderr


@pytest.mark.parametrize("h", ["1e-4", b"0.1", True, np.array(["a"])])
def test_a_step_that_is_text_or_a_bool_is_refused(h):
    # np.asarray read "1e-4" and True as numbers: the call ran with h = 1e-4 or 1
    for call in (ng.numerical_gradient, ng.jacobian, ng.hessian):
        with pytest.raises(ValueError, match=r"h must be a positive number"):
            call(lambda v: np.sum(v**2), np.array([3.0, 4.0]), h=h)

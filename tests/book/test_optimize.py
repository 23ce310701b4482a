"""numgrad.book.optimize: the book's descent numbers, the recorded path, divergence, and the JAX twin."""

import math

import numgrad_reference.optimize
import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

import numgrad
from numgrad.book.classics import CLASSICS, book, rosenbrock
from numgrad.book.optimize import DescentResult, gradient_descent
from numgrad.common import numerics as nm

START = (-3.0, 4.0)
BOOK_X = {
    0.1: [-6.111107928998789e-10, 8.148143905314271e-10],
    1e-10: [-2.999999939999995, 3.9999999199999934],
}
BOOK_STATUS = {0.1: "converged", 10.0: "diverged", 1e-10: "max_steps"}


def _path_length(path):
    return float(np.sum(np.linalg.norm(np.diff(path.reshape(len(path), -1), axis=0), axis=1)))


# --------------------------------------------------------------------------------------------------
# The book


@pytest.mark.parametrize("lr", list(BOOK_X), ids=["lr=0.1", "lr=1e-10"])
def test_book_numbers(lr):
    r = gradient_descent(book, np.array(START), lr=lr, step_num=100, h=1e-4)
    assert r.x.tolist() == BOOK_X[lr]


@pytest.mark.parametrize(("lr", "status"), list(BOOK_STATUS.items()), ids=["lr=0.1", "lr=10", "lr=1e-10"])
@pytest.mark.parametrize("h", [1e-4, None], ids=["h=1e-4", "h=auto"])
def test_book_status(lr, status, h):
    r = gradient_descent(book, np.array(START), lr=lr, step_num=100, h=h)
    assert r.status == status
    assert r.steps == (3 if status == "diverged" else 100)  # 25·361³ is the first value past the rise


def test_book_divergence_stops_at_the_exploding_value():
    r = gradient_descent(book, np.array(START), lr=10.0, step_num=100, h=1e-4)
    assert r.values[-2] - r.values[0] <= nm.DIVERGENCE_RISE * r.values[0] < r.values[-1] - r.values[0]
    np.testing.assert_allclose(r.x, (-19.0) ** 3 * np.array(START), rtol=nm.accuracy("central", "float64"))


def test_twin_reproduces_the_book_with_h():
    ours = gradient_descent(book, np.array(START), lr=0.1, h=1e-4)
    twin = numgrad_reference.optimize.gradient_descent(book, np.array(START), lr=0.1, h=1e-4)
    tol = nm.descent_path_tolerance("central", "float64", 2, _path_length(ours.path))
    assert twin.status == ours.status
    np.testing.assert_allclose(twin.path, ours.path, rtol=0, atol=tol)


# --------------------------------------------------------------------------------------------------
# The record


def test_init_x_is_never_mutated_and_x_is_a_new_array():
    x0 = np.array(START)
    r = gradient_descent(book, x0, lr=0.1)
    assert x0.tolist() == list(START)
    assert not np.shares_memory(r.x, x0)
    assert not np.shares_memory(r.x, r.path)
    assert not np.shares_memory(r.path, x0)


def test_integer_start_becomes_a_float_copy():
    ints = np.array([-3, 4])
    r = gradient_descent(book, ints, lr=0.1, h=1e-4)
    assert r.path.dtype == np.float64
    assert r.x.tolist() == BOOK_X[0.1]
    assert ints.dtype.kind == "i"
    assert ints.tolist() == [-3, 4]


@pytest.mark.parametrize("shape", [(), (2,), (2, 3)], ids=["0-d", "vector", "matrix"])
def test_path_shape_first_row_and_values(shape):
    x0 = np.arange(1.0, 1.0 + np.prod(shape, dtype=int)).reshape(shape)
    r = gradient_descent(lambda x: np.sum(x**2), x0, lr=0.05, step_num=7)
    assert isinstance(r, DescentResult)
    assert r.path.shape == (8, *shape)
    assert r.x.shape == shape
    assert r.values.shape == (8,)
    assert r.path[0].tolist() == x0.tolist()
    assert r.values.tolist() == [float(np.sum(p**2)) for p in r.path]
    assert r.x.tolist() == r.path[-1].tolist()
    assert r.steps == 7


def test_float32_start_stays_float32():
    r = gradient_descent(book, np.array(START, dtype=np.float32), lr=0.1)
    assert r.path.dtype == np.float32
    assert r.x.dtype == np.float32
    assert r.values.dtype == np.float64
    np.testing.assert_allclose(r.x, 0.8**100 * np.array(START), atol=nm.accuracy("central", "float32"))


def test_given_gradient_is_used():
    calls = []

    def grad(x):
        calls.append(x.copy())
        return 2 * x

    r = gradient_descent(book, np.array(START), lr=0.1, step_num=5, grad=grad)
    expected = np.array(START)
    for _ in range(5):
        expected = expected - 0.1 * (2 * expected)
    assert len(calls) == 5
    assert r.x.tolist() == expected.tolist()


def test_tol_stops_at_the_first_short_step():
    r = gradient_descent(book, np.array(START), lr=0.1, step_num=1000, tol=1e-3)
    lengths = np.linalg.norm(np.diff(r.path, axis=0), axis=1)
    assert r.status == "converged"
    assert lengths[-1] < 1e-3 <= lengths[-2]
    assert r.steps == 1 + math.ceil(math.log(1e-3 / 1.0) / math.log(0.8))  # step k has length 0.8**k


def test_tol_not_reached_is_max_steps():
    r = gradient_descent(book, np.array(START), lr=0.1, step_num=10, tol=1e-12)
    assert (r.status, r.steps) == ("max_steps", 10)


def test_start_at_the_minimum_has_converged():
    r = gradient_descent(book, np.zeros(2), lr=0.1, step_num=3)
    assert (r.status, r.x.tolist()) == ("converged", [0.0, 0.0])


def test_overflow_is_diverged_without_warnings():
    # the first step lands near −4e303, where x⁴ overflows: inf is recorded, no warning escapes
    r = gradient_descent(lambda x: x[0] ** 4, np.array([10.0]), lr=1e300, step_num=50)
    assert (r.status, r.steps) == ("diverged", 1)
    assert r.values[-1] == np.inf


def test_non_finite_value_is_diverged():
    # x − log(x)/2 from 2 at lr = 4: f' = 0.75, so the first step lands on −1, where log is nan
    r = gradient_descent(lambda x: x[0] - 0.5 * np.log(x[0]), np.array([2.0]), lr=4.0, step_num=20)
    assert (r.status, r.steps) == ("diverged", 1)
    assert not np.isfinite(r.values[-1])
    assert len(r.path) == r.steps + 1


def test_non_finite_gradient_stops_before_stepping():
    r = gradient_descent(book, np.array(START), lr=0.1, step_num=10, grad=lambda x: np.full(2, np.nan))
    assert (r.status, r.steps, r.path.shape) == ("diverged", 0, (1, 2))


def test_top_level_exports():
    assert numgrad.gradient_descent is gradient_descent
    assert numgrad.DescentResult is DescentResult


def test_twin_has_the_same_public_names_and_signatures():
    import inspect

    import numgrad.book.optimize

    assert numgrad_reference.optimize.__all__ == numgrad.book.optimize.__all__
    for name in numgrad.book.optimize.__all__:
        ours, twin = getattr(numgrad.book.optimize, name), getattr(numgrad_reference.optimize, name)
        assert inspect.signature(ours) == inspect.signature(twin), name


@pytest.mark.parametrize("name", list(CLASSICS))
def test_classics_agree_with_the_twin(name):
    c = CLASSICS[name]
    lr, steps = c.lrs[0], 200
    ours = gradient_descent(c.f, np.array(c.start), lr=lr, step_num=steps)
    twin = numgrad_reference.optimize.gradient_descent(c.f, np.array(c.start), lr=lr, step_num=steps)
    tol = nm.descent_path_tolerance("central", "float64", 2, _path_length(ours.path))
    assert (twin.status, twin.steps) == (ours.status, ours.steps)
    np.testing.assert_allclose(twin.path, ours.path, rtol=0, atol=tol)


def test_rosenbrock_diverges_at_lr_1e_2():
    r = gradient_descent(rosenbrock, np.array([-1.2, 1.0]), lr=1e-2, step_num=100)
    t = numgrad_reference.optimize.gradient_descent(rosenbrock, np.array([-1.2, 1.0]), lr=1e-2, step_num=100)
    assert (r.status, r.steps) == (t.status, t.steps) == ("diverged", 3)


# --------------------------------------------------------------------------------------------------
# Input validation


def _vector(x):
    return x * 1.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"f": 3}, TypeError, "f must be callable"),
        ({"init_x": np.array([1j, 2.0])}, TypeError, "init_x must be real"),
        ({"init_x": "ab"}, TypeError, "init_x must be numeric"),
        ({"init_x": [np.nan, 1.0]}, ValueError, "init_x must be finite"),
        ({"lr": 0.0}, ValueError, "lr must be a positive finite number; got 0.0"),
        ({"lr": -0.1}, ValueError, "lr must be a positive"),
        ({"lr": np.inf}, ValueError, "lr must be a positive"),
        ({"lr": "0.1"}, ValueError, "lr must be a positive"),
        ({"step_num": 0}, ValueError, "step_num must be a positive integer; got 0"),
        ({"step_num": 2.5}, ValueError, "step_num must be a positive integer"),
        ({"tol": 0.0}, ValueError, "tol must be a positive"),
        ({"grad": "g"}, TypeError, "grad must be callable"),
        ({"grad": lambda x: 2 * x, "h": 1e-4}, ValueError, "h is the step of the numerical gradient"),
        ({"grad": lambda x: np.zeros(3)}, ValueError, r"grad must return init_x's shape \(2,\); got \(3,\)"),
        ({"f": _vector}, ValueError, r"f must return a scalar; got an array of shape \(2,\)"),
        ({"f": lambda x: "x"}, TypeError, "f must return a real number"),
        ({"f": lambda x: np.log(x[0])}, ValueError, r"f\(init_x\) must be finite"),
        ({"h": -1.0}, ValueError, "h must be a positive finite number or an array of init_x's shape"),
        ({"h": [1e-4, 1e-4, 1e-4]}, ValueError, r"h must be .* shape \(2,\); got \[0.0001, 0.0001, 0.0001\]"),
    ],
    ids=[
        "f-not-callable", "complex-start", "string-start", "nan-start", "lr-zero", "lr-negative",
        "lr-inf", "lr-string", "step-num-zero", "step-num-float", "tol-zero", "grad-not-callable",
        "h-with-grad", "grad-wrong-shape", "f-not-scalar", "f-not-number", "f-not-finite-at-start",
        "h-negative", "h-wrong-shape",
    ],
)  # fmt: skip
def test_input_validation(kwargs, error, match):
    args = {"f": book, "init_x": np.array(START), "lr": 0.1, "step_num": 5, **kwargs}
    with pytest.raises(error, match=f"gradient_descent: {match}"):
        gradient_descent(args.pop("f"), args.pop("init_x"), **args)


# --------------------------------------------------------------------------------------------------
# Properties over convex quadratics f(x) = ½ (x − c)ᵀ A (x − c), A = Q diag(λ) Qᵀ


def quadratic(a, c):
    def f(x):
        d = x - c
        return 0.5 * ((d @ a) @ d)

    return f


@st.composite
def quadratic_descent(draw, *, rate):
    """A quadratic with eigenvalues in [L/10, L], a start with a fair share along the top eigenvector,
    and lr = rate·(1/L) for rate drawn from the given interval."""
    n = draw(st.integers(1, 4), label="n")
    top = draw(st.floats(0.1, 10.0), label="L")
    rest = draw(st.lists(st.floats(0.1, 1.0), min_size=n - 1, max_size=n - 1), label="λ/L")
    lam = top * np.array([1.0, *rest])
    q, _ = np.linalg.qr(np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal((n, n)))
    a = (q * lam) @ q.T
    a = (a + a.T) / 2
    c = np.array(draw(st.lists(st.floats(-3.0, 3.0), min_size=n, max_size=n)))
    lead = draw(st.floats(0.2, 1.0)) * draw(st.sampled_from([-1.0, 1.0]))
    u = np.array([lead, *draw(st.lists(st.floats(-1.0, 1.0), min_size=n - 1, max_size=n - 1))])
    x0 = c + draw(st.floats(0.5, 5.0), label="radius") * (q @ u) / np.linalg.norm(u)
    lr = draw(st.floats(*rate), label="lr·L") / top
    note(f"eigenvalues {lam}, centre {c}, start {x0}, lr {lr}")
    return quadratic(a, c), x0, lr, float(lam.min())


@given(quadratic_descent(rate=(0.3, 0.99)))
def test_below_one_over_l_values_decrease_and_converge(case):
    # Every step shrinks by at least (1 − lr·μ), so a tol of rtol × the first step is met within
    # log(rtol) / log(1 − lr·μ) steps; stopping there keeps the run above the rounding floor of the
    # finite differences, where steps turn to noise and "decrease" no longer means anything.
    f, x0, lr, mu = case
    rtol = nm.settled_step_rtol("float64")
    first = gradient_descent(f, x0, lr=lr, step_num=1)
    tol = rtol * float(np.linalg.norm(first.path[1] - first.path[0]))
    bound = 2 + math.ceil(math.log(rtol) / math.log1p(-lr * mu))
    r = gradient_descent(f, x0, lr=lr, step_num=bound, tol=tol)
    note(f"values {r.values}")
    assert np.all(np.diff(r.values) < 0)
    assert r.status == "converged"
    assert r.values[-1] <= rtol * r.values[0]


@given(quadratic_descent(rate=(2.5, 5.0)))
def test_above_two_over_l_diverges(case):
    f, x0, lr, _ = case
    r = gradient_descent(f, x0, lr=lr, step_num=150)
    note(f"values {r.values}")
    assert r.status == "diverged"
    assert r.steps < 150
    rise = r.values[-1] - r.values[0]
    assert not np.isfinite(rise) or rise > nm.DIVERGENCE_RISE * max(1.0, abs(r.values[0]))


@settings(max_examples=10)
@given(quadratic_descent(rate=(0.3, 0.99)))
def test_twin_agrees_along_the_path(case):
    f, x0, lr, _ = case
    ours = gradient_descent(f, x0, lr=lr, step_num=60)
    twin = numgrad_reference.optimize.gradient_descent(f, x0, lr=lr, step_num=60)
    assert (twin.status, twin.steps) == (ours.status, ours.steps)
    tol = nm.descent_path_tolerance("central", "float64", x0.size, _path_length(ours.path))
    note(f"max path difference {np.max(np.abs(twin.path - ours.path))}, tolerance {tol}")
    np.testing.assert_allclose(twin.path, ours.path, rtol=0, atol=tol)


@settings(max_examples=10)
@given(quadratic_descent(rate=(2.5, 5.0)))
def test_twin_diverges_at_the_same_step(case):
    f, x0, lr, _ = case
    ours = gradient_descent(f, x0, lr=lr, step_num=150)
    twin = numgrad_reference.optimize.gradient_descent(f, x0, lr=lr, step_num=150)
    assert (twin.status, twin.steps) == (ours.status, ours.steps) == ("diverged", ours.steps)


# --------------------------------------------------------------------------------------------------
# The book's reader: print(gradient_descent(...)) and the result used as the final array


def test_print_is_short_and_leads_with_the_final_x():
    r = gradient_descent(book, np.array(START), lr=0.1, step_num=100, h=1e-4)
    text = str(r)
    assert text == repr(r)
    assert "\n" not in text
    assert len(text) < 160
    assert text.startswith(
        "DescentResult(x=[-6.11110793e-10,  8.14814391e-10], status='converged', steps=100"
    )
    assert "path (101, 2)" in text


def test_repr_of_a_large_x_is_summarised():
    r = gradient_descent(lambda x: float(np.sum(x**2)), np.ones((20, 30)), lr=0.1, step_num=2)
    text = repr(r)
    assert "..." in text
    assert "(x of shape (20, 30), flattened)" in text
    assert len(text) < 200


def test_the_result_works_where_the_book_uses_an_array():
    r = gradient_descent(book, np.array(START), lr=1e-10, step_num=100, h=1e-4)
    assert (r + 0).tolist() == BOOK_X[1e-10]
    assert isinstance(r + 0, np.ndarray)
    assert np.asarray(r).tolist() == BOOK_X[1e-10]
    assert np.asarray(r).dtype == np.float64
    assert (2 * r - r).tolist() == BOOK_X[1e-10]
    assert np.linalg.norm(r) == pytest.approx(5.0, rel=1e-7)
    assert r[0] == BOOK_X[1e-10][0]
    assert len(r) == 2
    assert r.tolist() == BOOK_X[1e-10]
    assert (r == r.x).all()
    assert r.path.shape == (101, 2)  # the record stays
    assert np.array(r, copy=True) is not r.x


def test_the_result_cannot_be_changed_in_place():
    r = gradient_descent(book, np.array(START), lr=0.1, step_num=3, h=1e-4)
    before = r.x.copy()
    with pytest.raises(TypeError, match="DescentResult is a record and cannot be changed in place"):
        r += 1
    assert r.x.tolist() == before.tolist()


def test_a_run_whose_record_could_not_fit_is_refused_before_it_starts():
    # step_num=10**12 ran for minutes with its memory growing: the path and values are kept for the result
    calls = []

    def f(v):
        calls.append(1)
        return float(np.sum(v**2))

    with pytest.raises(ValueError, match=r"gradient_descent: step_num=1000000000000 would record"):
        gradient_descent(f, np.array([3.0, 4.0]), lr=0.1, step_num=10**12)
    assert calls == []


@pytest.mark.parametrize(
    ("run", "reason"),
    [
        (lambda: gradient_descent(book, np.array([3.0, 4.0]), lr=10.0, step_num=100), "f rose from 25 to"),
        (
            lambda: gradient_descent(
                lambda v: float(np.log(v[0]) + v[1] ** 2), np.array([1e-300, 1.0]), lr=0.1
            ),
            "f was not finite at the last point",
        ),
        (
            lambda: gradient_descent(
                book, np.array([3.0, 4.0]), lr=0.1, grad=lambda v: np.array([np.nan, 1.0])
            ),
            "the gradient at the last point was not finite",
        ),
    ],
    ids=["rose", "f not finite", "gradient not finite"],
)
def test_a_diverged_run_says_which_check_ended_it(run, reason):
    # before: status "diverged", steps 0, and nothing about why
    r = run()
    assert r.status == "diverged"
    assert r.reason.startswith(reason)
    assert f"reason={r.reason!r}" in repr(r)


def test_a_run_that_did_not_diverge_has_no_reason_and_the_twin_says_the_same():
    assert gradient_descent(book, np.array([3.0, 4.0]), lr=0.1).reason == ""
    for lr, reason in ((0.1, ""), (10.0, "f rose from 25 to")):
        ours = gradient_descent(book, np.array([3.0, 4.0]), lr=lr, step_num=100, h=1e-4)
        twin = numgrad_reference.optimize.gradient_descent(book, np.array([3.0, 4.0]), lr, 100, h=1e-4)
        assert ours.reason.startswith(reason)
        assert twin.reason.startswith(reason)
        assert bool(ours.reason) == bool(reason)

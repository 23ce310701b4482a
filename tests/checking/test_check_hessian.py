"""check_hessian: wrong second derivatives are caught and located; right ones pass in float64 and float32."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numgrad_reference  # noqa: F401  (float64 in JAX)
import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numgrad.checking.hessian import assert_hessian_close, check_hessian
from numgrad.checking.report import GradientReport
from numgrad.common.guard import MutatedArgumentError

RNG = np.random.default_rng(7)
A = RNG.standard_normal((5, 5))  # not symmetric: the Hessian of v·A·v is A + Aᵀ
X = RNG.standard_normal(5)


def f(v):
    return v @ A @ v + np.sum(v**4) + v[0] * v[1] * v[2]


def grad(v):
    g = (A + A.T) @ v + 4 * v**3
    g[0] += v[1] * v[2]
    g[1] += v[0] * v[2]
    g[2] += v[0] * v[1]
    return g


def hess(v):
    H = A + A.T + np.diag(12 * v**2)
    H[0, 1] += v[2]
    H[1, 0] += v[2]
    H[0, 2] += v[1]
    H[2, 0] += v[1]
    H[1, 2] += v[0]
    H[2, 1] += v[0]
    return H


def missing_mixed_term(v):
    H = hess(v)
    H[1, 2] -= v[0]
    H[2, 1] -= v[0]
    return H


def diagonal_times_2(v):
    H = hess(v)
    H[3, 3] *= 2
    return H


def symmetric_part_halved(v):
    """(A + Aᵀ)/2 where A + Aᵀ belongs: the Hessian of v·A·v taken as 'A symmetrised'."""
    return hess(v) - (A + A.T) / 2


def only_symmetric_part_right(v):
    """2A in place of A + Aᵀ: the symmetric part is right, the matrix is not symmetric."""
    return hess(v) - (A + A.T) + 2 * A


BUGS = {
    "missing-mixed-term": (missing_mixed_term, {(1, 2), (2, 1)}),
    "diagonal-times-2": (diagonal_times_2, {(3, 3)}),
    "symmetric-part-halved": (symmetric_part_halved, None),
    "only-symmetric-part-right": (only_symmetric_part_right, None),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("form", ["array", "hvp", "gradgrad"])
def test_right_hessian_passes(form, dtype):
    x = X.astype(dtype)
    H = hess(X).astype(dtype)
    report = _check(form, x, H)
    assert isinstance(report, GradientReport)
    assert report.passed, str(report)
    assert report.abs_errors.shape == (5, 5)
    assert report.working_dtype == "float64"  # f computes in float64: differenced there


def _check(form, x, H):
    if form == "array":
        return check_hessian(f, x, H)
    if form == "hvp":
        return check_hessian(f, x, lambda v: H @ v)
    return check_hessian(f, x, lambda v: H @ v, grad=grad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("form", ["array", "hvp", "gradgrad"])
@pytest.mark.parametrize("bug", list(BUGS))
def test_wrong_hessian_is_caught_and_located(bug, form, dtype):
    wrong, where = BUGS[bug]
    H = wrong(X)
    report = _check(form, X.astype(dtype), H.astype(dtype))
    assert not report.passed
    bad = {tuple(i) for i in np.argwhere(np.abs(H - hess(X)) > 1e-9)}
    assert report.worst_index in bad
    if where is not None:
        assert report.failures == len(where)
        assert bad == where
    if bug == "only-symmetric-part-right":
        assert "not symmetric" in report.message


def test_float32_function_computing_in_float32_has_no_false_alarm():
    A32 = A.astype(np.float32)

    def f32(v):
        return (v @ A32 @ v + np.sum(v**4)).astype(np.float32)

    x = X.astype(np.float32)
    right = (A32 + A32.T + np.diag(12 * x**2)).astype(np.float32)
    report = check_hessian(f32, x, right)
    assert report.passed, str(report)
    assert report.working_dtype == "float32"
    wrong = right.copy()
    wrong[0, 4] = wrong[4, 0] = 0
    assert check_hessian(f32, x, wrong).worst_index in {(0, 4), (4, 0)}


def test_gradgradcheck_catches_a_hessian_that_is_not_the_derivative_of_the_gradient():
    """pytorch#99523's shape of bug: the gradient is right, its hand-written derivative is not."""
    report = check_hessian(f, X, lambda v: missing_mixed_term(X) @ v, grad=grad)
    assert not report.passed
    assert report.worst_index in {(1, 2), (2, 1)}
    assert report.method == "gradient differences"
    assert report.nfev <= 4 * X.size + 17  # two passes of central differences of grad, probe, noise line


def test_closure_idiom_and_caller_data_intact():
    W = np.array([[0.5, -1.0], [2.0, 0.25]])
    before = W.copy()
    H = np.diag(6 * W.reshape(-1)).reshape(2, 2, 2, 2)
    H_before = H.copy()
    report = check_hessian(lambda _: np.sum(W**3), W, H)  # f reads W from the closure
    assert report.passed, str(report)
    assert report.worst_index.__len__() == 4
    np.testing.assert_array_equal(W, before)
    np.testing.assert_array_equal(H, H_before)


def test_explicit_tolerances():
    H = hess(X)
    H[0, 0] += 1e-3
    assert check_hessian(f, X, H, atol=1e-2).passed
    assert not check_hessian(f, X, H, rtol=0.0, atol=1e-5).passed


def test_assert_hessian_close_raises_with_the_report():
    assert assert_hessian_close(f, X, hess(X)).passed
    with pytest.raises(AssertionError, match=r"Hessian WRONG at 1 of 25 entries; worst at index \(3, 3\)"):
        assert_hessian_close(f, X, diagonal_times_2(X))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: check_hessian(f, X, np.eye(4)), ValueError, r"check_hessian: hess must have shape x.shape \+ x.shape = \(5, 5\); got \(4, 4\)"),
        (lambda: check_hessian(f, X.reshape(5, 1), np.eye(5)), ValueError, "reshape it to x.shape"),
        (lambda: check_hessian(f, X, "eye"), TypeError, "check_hessian: hess must be a real numeric array"),
        (lambda: check_hessian(f, X, lambda v: v[:2]), ValueError, r"check_hessian: hess\(v\) must return x's shape"),
        (lambda: check_hessian(3, X, np.eye(5)), TypeError, "check_hessian: f must be callable"),
        (lambda: check_hessian(f, X, np.eye(5), grad=4), TypeError, "check_hessian: grad must be callable"),
        (lambda: check_hessian(f, np.arange(5), np.eye(5)), TypeError, "check_hessian: x must be a floating"),
        (lambda: check_hessian(f, X, np.eye(5), rtol=-1.0), ValueError, "check_hessian: rtol must be finite and non-negative"),
        (lambda: check_hessian(f, np.ones(0), np.ones((0, 0))), ValueError, "x must have at least one element"),
    ],
    ids=["hess-shape", "flat-hess", "hess-not-numeric", "hvp-shape", "f", "grad", "int-x", "rtol", "empty"],
)  # fmt: skip
def test_input_validation(call, error, match):
    with pytest.raises(error, match=match):
        call()


def grad_writing_into_its_argument(v):
    g = grad(v)
    v[1] = 7.0
    return g


def grad_finite_only_at_x(v):
    return grad(v) if np.array_equal(v, X) else np.full(5, np.nan)


SHAPE = r"check_hessian: grad\(x\) must have shape \(5,\); got shape "
NUMERIC = r"check_hessian: grad\(x\) must be a real numeric array of shape \(5,\); got "
BAD_GRADS = {  # what grad returns: both modes say so, in the same words
    "short": (lambda v: grad(v)[:2], ValueError, SHAPE + r"\(2,\)"),
    "column": (lambda v: grad(v)[:, None], ValueError, SHAPE + r"\(5, 1\)"),
    "scalar": (lambda v: 1.0, ValueError, SHAPE + r"\(\)"),
    "none": (lambda v: None, TypeError, NUMERIC + "NoneType"),
    "str": (lambda v: "abc", TypeError, NUMERIC + "str"),
    "complex": (lambda v: grad(v) + 1j, TypeError, NUMERIC + "complex128 array"),
    "nan": (lambda v: grad(v) * np.nan, FloatingPointError, "check_hessian: grad returned a non-finite value"),
    "writes": (grad_writing_into_its_argument, MutatedArgumentError, r"check_hessian: grad wrote into its argument \(element \(1,\) of x"),
}  # fmt: skip


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("bad", "error", "match"), list(BAD_GRADS.values()), ids=list(BAD_GRADS))
def test_a_bad_result_of_grad_is_named_in_both_modes(bad, error, match, dtype, mode):
    x = X.astype(dtype)
    before = x.copy()
    with pytest.raises(error, match=match):
        check_hessian(f, x, hess(X), grad=bad, mode=mode)
    assert x.tobytes() == before.tobytes()


def f_writing_into_its_argument(v):
    v[0] += 1.0
    return f(v)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda x: check_hessian(lambda v: v, x, hess(X)), ValueError, r"check_hessian: f must return a scalar; got an array of shape \(5,\)"),
        (lambda x: check_hessian(lambda v: None, x, hess(X)), TypeError, "check_hessian: f must return a number; got NoneType"),
        (lambda x: check_hessian(lambda v: np.nan, x, hess(X)), FloatingPointError, r"check_hessian: f is not finite at x itself \(nan\)"),
        (lambda x: check_hessian(f_writing_into_its_argument, x, hess(X)), MutatedArgumentError, r"check_hessian: f wrote into its argument \(element \(0,\) of x"),
        (lambda x: check_hessian(f, np.r_[x[:4], np.nan], hess(X)), ValueError, r"check_hessian: x must be finite .*; got nan at index \(4,\)"),
        (lambda x: check_hessian(f, np.r_[x[:4], np.nan], hess(X), grad=grad), ValueError, r"check_hessian: x must be finite .*; got nan at index \(4,\)"),
        (lambda x: check_hessian(f, x, hess(X), grad=lambda v: np.where(np.arange(5) == 3, np.nan, grad(v))), FloatingPointError, r"check_hessian: grad returned a non-finite value \(nan\) at x itself, in grad\(x\)\[3\]; the second derivative there is undefined"),
        (lambda x: check_hessian(f, x, hess(X), grad=grad_finite_only_at_x), FloatingPointError, r"check_hessian: grad returned a non-finite value \(nan\) near x, in grad\(x\)\[0\] at a step of .* along x\[\d\]"),
    ],
    ids=["f-vector", "f-none", "f-nan", "f-writes", "x-nan", "x-nan-grad", "grad-nan-at-x", "grad-nan-near-x"],
)  # fmt: skip
def test_full_mode_errors_name_check_hessian_and_whether_f_or_grad(call, error, match):
    x = X.copy()
    with pytest.raises(error, match=match):
        call(x)
    assert x.tobytes() == X.tobytes()


def smooth(x, xp=np):
    v = x.reshape(-1).astype(xp.float64)
    return xp.sum(xp.sin(v) * v**2) + 0.5 * xp.sum(v) ** 2 + xp.log(1 + xp.sum(v**2))


@st.composite
def points_and_entries(draw):
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    x = draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
                        elements=st.floats(-2, 2, width=32, allow_subnormal=False)))  # fmt: skip
    i, j = draw(st.integers(0, x.size - 1)), draw(st.integers(0, x.size - 1))
    note(f"{x.dtype} {x.shape} entry ({i}, {j})")
    return x, i, j


@settings(max_examples=15, deadline=None)
@given(points_and_entries())
def test_right_passes_and_one_wrong_entry_is_located(drawn):
    x, i, j = drawn
    n = x.size
    exact = np.asarray(jax.jit(jax.hessian(lambda z: smooth(z, jnp)))(jnp.asarray(x, dtype=jnp.float64)))
    H = exact.reshape(n, n).astype(x.dtype)
    right = check_hessian(smooth, x, H.reshape(x.shape * 2))
    assert right.passed, str(right)
    wrong = H.copy()
    bump = 0.05 * float(np.abs(H).max())
    wrong[i, j] += bump
    wrong[j, i] += bump if i != j else 0.0
    report = check_hessian(smooth, x, wrong.reshape(x.shape * 2))
    assert not report.passed
    row = int(np.ravel_multi_index(report.worst_index[: x.ndim], x.shape))
    col = int(np.ravel_multi_index(report.worst_index[x.ndim :], x.shape))
    assert {row, col} == {i, j}


def test_report_serialises_and_draws_as_a_matrix(tmp_path):
    from numgrad.checking.check import plot_gradient_errors

    report = check_hessian(f, X, missing_mixed_term(X))
    plain = report.to_dict()
    assert plain["passed"] is False
    assert plain["checks"] == 25
    assert plain["worst"][0]["index"] in ([1, 2], [2, 1])
    assert plot_gradient_errors(report, tmp_path / "hessian.png").stat().st_size > 0


def _sine_product_hessian(x):
    s0, c0, s1, c1 = np.sin(x[0]), np.cos(x[0]), np.sin(x[1]), np.cos(x[1])
    return np.array([[-s0 * s1, c0 * c1], [c0 * c1, -s0 * s1]])


def _sine_product_grad(v):
    return np.array([np.cos(v[0]) * np.sin(v[1]), np.sin(v[0]) * np.cos(v[1])])


@pytest.mark.parametrize(
    ("x", "bug"),
    [([1e8, 1.0], 0.01), ([1e12, 1.0], 0.01), ([1e13, 1e13 + 3.7], 0.05)],
    ids=["1e8", "1e12", "1e13"],
)
@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("with_grad", [False, True], ids=["f", "gradgrad"])
def test_a_step_coarse_against_f_neither_false_alarms_nor_hides_an_error(with_grad, mode, x, bug):
    # at x = 1e8 the default steps (1.6e4 in full mode, moves of 1e8 per unit in fast mode) alias sin:
    # the exact Hessian was called WRONG; now the steps are taken again at the unit scale. Beyond 1e12
    # the unit step is below x's spacing: full mode's x ± h was x (a Hessian of 0, "reliable"), fast
    # mode's moves rounded to none (every pair 0 = 0: any Hessian passed); now both move a few spacings
    # (at 1e13 fast mode's moves are 0.03, whose error estimate is a few percent: it resolves 5%). With
    # grad the steps (6e2 at x = 1e8 in full mode, moves of 6e2 per unit in fast mode) spanned a hundred
    # of cos's periods: the exact Hessian was called WRONG in both modes too
    def f(v):
        return np.sin(v[0]) * np.sin(v[1])

    grad = _sine_product_grad if with_grad else None
    x = np.array(x)
    exact = _sine_product_hessian(x)
    right = check_hessian(f, x, exact, grad=grad, mode=mode)
    assert right.passed
    if with_grad:  # the retry counted: 4k + 10 calls for k columns in full mode, the 12 again in fast
        assert right.nfev == {"full": 36 if x[1] == 1.0 else 40, "fast": 24}[mode]
    for entry in [(0, 0), (0, 1), (1, 1)]:
        wrong = exact.copy()
        wrong[entry] *= 1 + bug
        wrong[entry[::-1]] = wrong[entry]
        assert not check_hessian(f, x, wrong, grad=grad, mode=mode).passed, entry


def test_gradgradcheck_near_zero_spends_no_retry():
    x = np.array([100.0, 1.0])  # far enough for UNIT_RETRY, near enough for the default step
    exact = _sine_product_hessian(x)
    f = lambda v: np.sin(v[0]) * np.sin(v[1])  # noqa: E731
    assert check_hessian(f, x, exact, grad=_sine_product_grad, mode="fast").nfev == 12
    assert check_hessian(f, x, exact, grad=_sine_product_grad).nfev == 22


def test_an_entry_without_an_error_estimate_is_judged_by_the_floor():
    # sin(1e6·x) at x = 3e4 is coarse even at the unit step: its error is unknown (inf), which must not
    # widen its tolerance to infinity (a wrong entry there passed)
    def f(v):
        return np.sin(1e6 * v[0]) + v[1] ** 2

    x = np.array([3e4, 1.0])
    numerical = __import__("numgrad").estimate_hessian(f, x)
    assert np.isinf(numerical.error[0, 0])
    wrong = numerical.derivative * np.array([[1.5, 1.0], [1.0, 1.0]])
    report = check_hessian(f, x, wrong)
    assert not report.passed
    assert report.worst_index == (0, 0)
    assert np.isfinite(report.tolerance)
    assert "floor" in report.tolerance_source

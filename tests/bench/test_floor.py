"""benchmarks/batched_floor.py: its floors are numgrad's pass with nothing else, so they must return
numgrad's gradient bitwise, and its guarded row must do what numgrad's guard does (values only: speed is
not asserted here)."""

from dataclasses import replace

import numpy as np
import pytest
from bench_scripts import load

from numgrad.bench import harness as nb
from numgrad.common.guard import MutatedArgumentError
from numgrad.differences import repeated, steps
from numgrad.differences.gradient import numerical_gradient

floor = load("batched_floor")


@pytest.fixture(scope="module")
def workload():
    return nb._softmax_ce(10)


def test_minimal_first_call_pass_is_numgrads_bits(workload):
    steps._LAST_STEPS.clear()
    expected = numerical_gradient(workload.batched, workload.x, batched=True)
    got = floor.minimal_pass(workload)()
    assert got.shape == workload.x.shape
    assert got.tobytes() == expected.tobytes()


def test_minimal_joined_pass_is_numgrads_bits_in_one_call_of_f(workload):
    calls = []

    def counted(s):
        calls.append(len(s))
        return workload.batched(s)

    w = replace(workload, batched=counted)
    call = floor.minimal_joined_pass(w)  # asserts numgrad's bits itself, after numgrad's own call
    calls.clear()
    got = call()
    assert calls == [6 + 2 * w.n + 4]  # the probe, the pass and the test's x + 2h: one call of f
    assert got.tobytes() == numerical_gradient(workload.batched, workload.x, batched=True).tobytes()


@pytest.mark.parametrize("tests", [True, False])
def test_reused_step_floor_is_numgrads_bits_in_one_call_of_f_without_the_probe(workload, tests):
    calls = []

    def counted(s):
        calls.append(np.array(s))
        return workload.batched(s)

    w = replace(workload, batched=counted)
    call = floor.minimal_reused_pass(w, tests=tests)  # asserts numgrad's bits itself
    calls.clear()
    got = call()
    n = w.n
    assert [len(s) for s in calls] == [1 + 2 * n + (4 if tests else 0)]  # f(x), the pass (and x + 2h)
    flat = calls[0].reshape(len(calls[0]), -1)
    x0 = workload.x.reshape(-1)
    assert flat[0].tobytes() == x0.tobytes()  # f(x) itself, no probe point
    changed = (flat[1:] != x0).sum(axis=1)
    assert (changed == 1).all()  # every other row moves one coordinate
    assert got.tobytes() == numerical_gradient(workload.batched, workload.x, batched=True).tobytes()


def test_reused_step_floor_stops_where_x_or_f_changes_scale(workload):
    x = workload.x.copy()
    call = floor.minimal_reused_pass(replace(workload, x=x))
    x *= 3.0  # |x_i| three times larger: beyond REUSE_LENGTH_FACTOR
    with pytest.raises(RuntimeError, match="x's scale moved"):
        call()
    offset = [0.0]
    shifted = replace(workload, batched=lambda s: workload.batched(s) + offset[0])
    call = floor.minimal_reused_pass(shifted)
    offset[0] = 1e3  # |f| / RMS(g·L) ~400 times larger: beyond REUSE_RATIO_FACTOR
    with pytest.raises(RuntimeError, match="f's scale moved"):
        call()


def test_guarded_floor_validates_and_restores_like_numgrad(workload):
    x = workload.x.copy()
    w = replace(workload, x=x)
    call = floor.minimal_joined_pass(w)
    assert floor.guarded(w, call).tobytes() == call().tobytes()

    def writes():
        x[0, 0] += 1.0
        return call()

    with pytest.raises(MutatedArgumentError, match=r"numerical_gradient"):
        floor.guarded(w, writes)
    assert x.tobytes() == workload.x.tobytes()  # restored bitwise
    bad = replace(w, x=x.astype(np.int64))
    with pytest.raises(TypeError, match=r"numerical_gradient: x"):
        floor.guarded(bad, call)


def test_general_engine_row_is_numgrads_bits_without_the_repeated_path(workload, monkeypatch):
    steps._LAST_STEPS.clear()
    numerical_gradient(workload.batched, workload.x, batched=True)  # the steps a later call keeps
    expected = numerical_gradient(workload.batched, workload.x, batched=True)
    taken = []
    original = repeated.gradient
    monkeypatch.setattr(repeated, "gradient", lambda *args: taken.append(1) or original(*args))
    assert floor.general_engine(workload)().tobytes() == expected.tobytes()
    assert taken == []  # the general engine's own call
    assert numerical_gradient(workload.batched, workload.x, batched=True).tobytes() == expected.tobytes()
    assert taken == [1]  # and the row left the path switched on


def test_textbook_stack_row_is_the_bounds_points_built_in_the_call(workload):
    seen = []

    def recorded(s):
        seen.append(np.array(s))
        return workload.batched(s)

    vals = floor.textbook_stack(replace(workload, batched=recorded))()
    bound_grad, evaluations = nb._bound(replace(workload, batched=recorded))
    assert evaluations == 2 * workload.x.size
    assert seen[0].tobytes() == seen[1].tobytes()  # the same 2n points as the bound's stack
    n = workload.x.size
    assert ((vals[:n] - vals[n:]) / 2e-4).reshape(workload.x.shape).tobytes() == bound_grad.tobytes()

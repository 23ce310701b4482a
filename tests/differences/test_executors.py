"""Perturbations on executors: a process pool and a real Dask cluster give bitwise the local result; what
cannot travel, a worker that raises and a worker that dies give clear errors, and nothing half-written.

The functions sent to workers live at module level here: spawned workers import them by name.
"""

import multiprocessing
import os
import sys
import threading
import types
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numgrad.common import numerics as nm
from numgrad.differences import engine as _engine
from numgrad.differences import executors as _executor
from numgrad.differences import steps as _difference
from numgrad.differences.gradient import jacobian, numerical_gradient

SPAWN = multiprocessing.get_context("spawn")  # what Python 3.14 does by default; fork is unsafe with JAX


def smooth(x):
    return np.sum(np.sin(x) * x**2) + np.prod(np.cos(x)) + 0.1 * np.sum(x) ** 2


def smooth_batched(stack):
    axes = tuple(range(1, stack.ndim))
    return (
        np.sum(np.sin(stack) * stack**2, axis=axes)
        + np.prod(np.cos(stack), axis=axes)
        + 0.1 * np.sum(stack, axis=axes) ** 2
    )


def vector_valued(x):
    flat = x.reshape(-1)
    return np.array([np.sum(x**2), np.prod(np.sin(x)), flat[0] * flat[-1]])


def raises_when_moved(x):
    if x.reshape(-1)[2] != 0.5:
        raise ValueError("the black box refused this point")
    return float(np.sum(x**2))


def exits_when_moved(x):
    if x.reshape(-1)[0] != 0.5:
        os._exit(3)  # a black box that takes its process down with it
    return float(np.sum(x**2))


def rows_sizes(stack):
    return np.full(len(stack), float(len(stack)))


class Recording(Executor):
    """Runs tasks at once in this thread and records how many points each carried."""

    def __init__(self):
        self.sizes = []

    def submit(self, fn, /, *args, **kwargs):
        fut = Future()
        base, values = args[1], args[2]
        self.sizes.append(len(base) if values is None else len(values))
        fut.set_result(fn(*args, **kwargs))
        return fut


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(2, mp_context=SPAWN) as ex:
        yield ex


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    # Threads in this process, but a real scheduler and workers talking TCP on 127.0.0.1: every task is
    # serialized (cloudpickle) and sent over a socket. Starts in a fraction of a second.
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, host="127.0.0.1", protocol="tcp://",
            dashboard_address=":0",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        yield client


@pytest.fixture(params=["process-pool", "dask"])
def executor(request):
    if request.param == "process-pool":
        return request.getfixturevalue("pool")
    return request.getfixturevalue("dask_client").get_executor()


POINT = np.array([0.3, -1.2, 0.5, 2.0, -0.7, 1.1, 0.0])


@pytest.mark.parametrize(
    ("f", "batched", "method", "h"),
    [
        (smooth, False, "central", None),
        (smooth, False, "central", 1e-4),
        (smooth, False, "forward", None),
        (smooth, False, "richardson", None),
        (smooth, False, "complex", None),
        (smooth_batched, True, "central", None),
        (smooth_batched, True, "backward", None),
    ],
    ids=["central", "central-h", "forward", "richardson", "complex", "batched-central", "batched-backward"],
)
def test_gradient_bitwise_equal_to_local(executor, f, batched, method, h):
    local = numerical_gradient(f, POINT.copy(), h=h, method=method, batched=batched)
    x = POINT.copy()
    remote = numerical_gradient(f, x, h=h, method=method, batched=batched, executor=executor)
    np.testing.assert_array_equal(remote, local)
    np.testing.assert_array_equal(x, POINT)


def test_jacobian_bitwise_equal_to_local(executor):
    x = POINT.reshape(7, 1)
    local = jacobian(vector_valued, x)
    np.testing.assert_array_equal(jacobian(vector_valued, x, executor=executor), local)


@pytest.mark.parametrize("h", [None, 1e-3], ids=["chosen-step", "given-step"])
def test_difference_with_error_bitwise_equal_to_local(executor, h):
    """The engine path of check_gradient(..., executor=): the pass and its error estimate."""

    def run(ex, batched):
        f = smooth_batched if batched else smooth
        p = _engine.make_problem(
            "check_gradient", f, POINT.copy(), out_shape=None, method="central", batched=batched,
            chunk_size=None, executor=ex,
        )  # fmt: skip
        return _difference.difference_with_error(p, h)

    (local, local_err), (remote, remote_err) = run(None, False), run(executor, True)
    np.testing.assert_array_equal(remote.derivative, local.derivative)
    np.testing.assert_array_equal(remote_err, local_err)
    assert remote.nfev == local.nfev


@st.composite
def points(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    x = draw(hnp.arrays(dtype, shape, elements=st.floats(-3, 3, width=32)))
    note(f"x = {x!r}")
    return x


# Dask's threads (the module's cluster may be up) use the global `random` while hypothesis draws, which
# hypothesis takes for a strategy using it: not this strategy's doing.
@pytest.mark.filterwarnings("ignore:Do not use the .random. module inside strategies")
@given(x=points(), chunk_size=st.none() | st.integers(1, 7))
def test_process_pool_bitwise_property(pool, x, chunk_size):
    local = numerical_gradient(smooth, x.copy())
    remote = numerical_gradient(smooth, x, chunk_size=chunk_size, executor=pool)
    assert remote.dtype == x.dtype
    np.testing.assert_array_equal(remote, local)


def test_dask_sends_lambdas_and_closures(dask_client):
    scale = 3.0
    closure = lambda x: scale * smooth(x)  # noqa: E731 (the point: a lambda closing over a local)
    local = numerical_gradient(closure, POINT.copy())
    np.testing.assert_array_equal(
        numerical_gradient(closure, POINT, executor=dask_client.get_executor()), local
    )


def test_thread_pool_needs_no_pickling():
    with ThreadPoolExecutor(2) as ex:
        np.testing.assert_array_equal(
            numerical_gradient(lambda x: 1.0 * smooth(x), POINT, executor=ex),
            numerical_gradient(smooth, POINT.copy()),
        )


def _closure_over_lock():
    lock = threading.Lock()

    def f(x):
        with lock:
            return smooth(x)

    return f


@pytest.mark.parametrize(
    ("make_executor", "f", "error", "match"),
    [
        (object, smooth, TypeError, r"numerical_gradient: executor must be a concurrent\.futures"),
        (lambda: "dask", smooth, TypeError, r"executor must be .*got str"),
        (lambda: ProcessPoolExecutor(1, mp_context=SPAWN), lambda x: np.sum(x**2), TypeError,
         r"numerical_gradient: f cannot be sent to the process pool .*define f at module level"),
        (lambda: ProcessPoolExecutor(1, mp_context=SPAWN), _closure_over_lock(), TypeError,
         r"cannot be sent to the process pool .*lambdas, local functions and closures"),
    ],
    ids=["not-an-executor", "a-string", "lambda-to-process-pool", "closure-to-process-pool"],
)  # fmt: skip
def test_input_validation(make_executor, f, error, match):
    ex = make_executor()
    try:
        with pytest.raises(error, match=match):
            numerical_gradient(f, POINT, executor=ex)
    finally:
        if isinstance(ex, Executor):
            ex.shutdown()


def test_dask_unserializable_closure_says_what_to_do(dask_client):
    with pytest.raises(TypeError, match=r"f could not be sent to the executor's workers .*_thread\.lock"):
        numerical_gradient(_closure_over_lock(), POINT, executor=dask_client.get_executor())


def test_worker_that_raises(executor):
    x = np.full(5, 0.5)
    before = x.copy()
    with pytest.raises(ValueError, match="refused") as info:
        numerical_gradient(raises_when_moved, x, h=1e-3, executor=executor)
    notes = "\n".join(info.value.__notes__)
    assert "raised by f at x perturbed at index (2,)" in notes
    assert "numerical_gradient: f raised in an executor worker" in notes
    assert "nothing was returned and x is unchanged" in notes
    np.testing.assert_array_equal(x, before)


def test_worker_that_dies_breaks_the_pool_with_a_clear_error():
    x = np.full(4, 0.5)
    before = x.copy()
    with ProcessPoolExecutor(1, mp_context=SPAWN) as ex:
        with pytest.raises(BrokenProcessPool, match=r"numerical_gradient: a worker process died .*os\._exit"):
            numerical_gradient(exits_when_moved, x, h=1e-3, executor=ex)
        with pytest.raises(BrokenProcessPool, match="numerical_gradient: the executor refused"):
            numerical_gradient(smooth, x, executor=ex)
    np.testing.assert_array_equal(x, before)


@pytest.mark.slow
def test_dask_worker_that_dies():
    """A worker process of a real Dask cluster exits: Dask gives up (no retries here), numgrad says why."""
    distributed = pytest.importorskip("distributed")
    import dask

    x = np.full(4, 0.5)
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0",
            silence_logs=50,
        ) as cluster,
        distributed.Client(cluster) as client,
        pytest.raises(distributed.KilledWorker, match="numerical_gradient: Dask workers died"),
    ):  # fmt: skip
        numerical_gradient(exits_when_moved, x, h=1e-3, executor=client.get_executor())
    np.testing.assert_array_equal(x, np.full(4, 0.5))


def test_worker_that_cannot_import_f(pool, monkeypatch):
    """f importable here but not in the spawned worker (as for f typed into a notebook)."""
    ghost = types.ModuleType("numgrad_ghost_module")
    exec("import numpy as np\ndef f(x):\n    return float(np.sum(x**2))\n", ghost.__dict__)
    monkeypatch.setitem(sys.modules, "numgrad_ghost_module", ghost)
    with pytest.raises(
        TypeError, match=r"f could not be unpickled in the worker process .*importable module"
    ):
        numerical_gradient(ghost.f, POINT, executor=pool)


def test_shut_down_executor():
    ex = ThreadPoolExecutor(1)
    ex.shutdown()
    with pytest.raises(RuntimeError, match="numerical_gradient: the executor refused a chunk"):
        numerical_gradient(smooth, POINT, executor=ex)


def test_local_batched_error_says_nothing_was_returned():
    def broken(stack):
        raise ArithmeticError("no")

    with pytest.raises(ArithmeticError, match=r"batched f on a stack of \d+ points"):
        numerical_gradient(broken, POINT, batched=True)


# --------------------------------------------------------------------------------------------------
# Default chunking


def test_default_chunks_are_a_few_per_worker():
    ex = Recording()
    numerical_gradient(smooth, np.linspace(-1, 1, 40), h=1e-3, executor=ex)
    tasks = nm.EXECUTOR_TASKS_PER_WORKER * nm.DEFAULT_EXECUTOR_WORKERS
    assert len(ex.sizes) == tasks
    assert sum(ex.sizes) == 80


def test_chunk_size_overrides_the_default():
    ex = Recording()
    numerical_gradient(smooth, np.linspace(-1, 1, 10), h=1e-3, chunk_size=3, executor=ex)
    assert ex.sizes == [3] * 6 + [2]


def test_batched_f_sees_chunks_of_the_default_size(pool):
    # rows_sizes returns its own chunk size: with h given, the 2n = 24 points go out as 8 chunks of 3
    out = _engine.evaluate(
        _engine.make_problem(
            "numerical_gradient", rows_sizes, np.zeros(12), out_shape=None, method="central", batched=True,
            chunk_size=None, executor=pool,
        ),
        np.zeros(24),
        np.tile(np.arange(12), 2),
    )  # fmt: skip
    np.testing.assert_array_equal(out, np.full(24, 3.0))


def test_a_worker_hands_a_batched_f_cache_sized_stacks(pool):
    """A task of up to 4 MiB reaches f in CHUNK_BYTES stacks inside the worker, as on the local machine:
    (100, 10) float64 is 8 kB a point, so each of the 8 tasks of 250 points goes to f in calls of at
    most CHUNK_BYTES // 8000."""
    x = np.zeros((100, 10))
    task = nm.BATCH_BYTES // x.nbytes  # points per task by the memory budget alone
    tasks = nm.EXECUTOR_TASKS_PER_WORKER * _executor.executor_workers(pool)
    out = _engine.evaluate(
        _engine.make_problem(
            "numerical_gradient", rows_sizes, x, out_shape=None, method="central", batched=True,
            chunk_size=None, executor=pool,
        ),
        np.zeros(2 * x.size),
        np.tile(np.arange(x.size), 2),
    )  # fmt: skip
    per_task = min(task, -(-2 * x.size // tasks))
    assert per_task > nm.CHUNK_BYTES // x.nbytes  # the worker has something to split
    assert out.max() <= nm.CHUNK_BYTES // x.nbytes
    assert out.min() >= out.max() - 1  # nearly equal chunks within a task


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: ProcessPoolExecutor(3, mp_context=SPAWN), 3),
        (lambda: ThreadPoolExecutor(5), 5),
        (Recording, nm.DEFAULT_EXECUTOR_WORKERS),
    ],
    ids=["process-pool", "thread-pool", "unknown"],
)
def test_executor_workers(make, expected):
    ex = make()
    try:
        assert _executor.executor_workers(ex) == expected
    finally:
        ex.shutdown()


def test_executor_workers_of_dask(dask_client):
    assert _executor.executor_workers(dask_client.get_executor()) == 2


@pytest.mark.parametrize("wrong", [False, True], ids=["correct", "planted-bug"])
def test_check_gradient_with_executor_equals_local(executor, wrong):
    """check_gradient(..., executor=) reports bitwise what the local check reports."""
    from numgrad.checking.check import check_gradient

    x = np.linspace(-1.0, 1.5, 7)
    local_grad = numerical_gradient(smooth, x, method="richardson")
    grad = local_grad * (1.01 if wrong else 1.0)
    local = check_gradient(smooth, x, grad)
    remote = check_gradient(smooth, x, grad, executor=executor)
    assert remote.passed is local.passed is (not wrong)
    assert remote.max_abs_error == local.max_abs_error
    assert remote.numerical_values.tobytes() == local.numerical_values.tobytes()
    assert remote.nfev == local.nfev


def test_check_gradient_executor_must_be_an_executor():
    from numgrad.checking.check import check_gradient

    with pytest.raises(TypeError, match=r"check_gradient: executor must be a concurrent.futures.Executor"):
        check_gradient(smooth, np.ones(3), np.ones(3), executor="pool")

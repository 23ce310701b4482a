"""Local batched evaluation: cache-sized chunks from one re-used stack (issue 17)."""

from __future__ import annotations

import platform
import subprocess
import sys

import numpy as np
import pytest

from numgrad.common import numerics as nm
from numgrad.differences.gradient import numerical_gradient

T = np.random.default_rng(3).random((100, 10))


def mse(stack):
    return 0.5 * ((stack - T) ** 2).sum(axis=(-1, -2))


def test_default_chunks_fit_the_cache_budget():
    """(100, 10) float64: 8 kB per point, so at most CHUNK_BYTES // 8000 points per call of f."""
    sizes = []

    def f(stack):
        sizes.append(len(stack))
        return mse(stack)

    y = np.random.default_rng(4).random((100, 10))
    numerical_gradient(f, y, batched=True, h=1e-4)
    assert sum(sizes) == 2 * y.size
    assert max(sizes) == nm.CHUNK_BYTES // y[None].nbytes
    assert max(sizes) - min(sizes) <= 1  # nearly equal chunks


@pytest.mark.parametrize("h", [None, 1e-4], ids=["auto", "h=1e-4"])
def test_reused_stack_gives_the_bits_of_fresh_stacks(h):
    """Every chunk sees exactly its own points: the same gradient as one call per point."""
    y = np.random.default_rng(5).random((100, 10))
    reused = numerical_gradient(mse, y, batched=True, h=h)
    one_by_one = numerical_gradient(mse, y, batched=True, h=h, chunk_size=1)
    assert reused.tobytes() == one_by_one.tobytes()
    np.testing.assert_allclose(reused, y - T, rtol=1e-6, atol=1e-9)


def test_results_that_view_the_stack_are_copied():
    """f may return a view of its argument: values are taken before the stack is reused."""
    x = np.arange(6.0)
    g = numerical_gradient(lambda s: s[:, 2], x, batched=True, h=0.5, chunk_size=2)
    assert g.tolist() == [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]


def test_a_batched_f_that_writes_into_its_stack_is_told():
    def f(stack):
        stack -= 1.0
        return stack.sum(axis=1)

    x = np.ones(4)
    with pytest.raises(ValueError, match=r"a batched f wrote into its argument.*copy inside f"):
        numerical_gradient(f, x, batched=True)
    assert x.tolist() == [1.0] * 4


def test_the_allocator_is_settled_once_per_process(monkeypatch):
    """The first local batched call frees one untouched block (glibc's thresholds rise); later calls do not."""
    from numgrad.differences import stacks

    monkeypatch.setattr(stacks, "_allocator_settled", False)
    sizes = []
    real_empty = np.empty

    def watching_empty(shape, *args, **kwargs):
        sizes.append(shape)
        return real_empty(shape, *args, **kwargs)

    monkeypatch.setattr(stacks.np, "empty", watching_empty)
    for _ in range(2):
        numerical_gradient(mse, np.zeros((100, 10)), batched=True, h=1e-4)
    assert sizes.count(nm.ALLOCATOR_SETTLE_BYTES) == 1
    assert stacks._allocator_settled is True


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize("count", [1, 3, 65])
def test_repeated_rows_are_np_repeats_rows_in_a_buffer_a_few_bytes_longer(dtype, count):
    from numgrad.differences import stacks

    base = (np.arange(1, 8) / 3).astype(dtype)
    rows = stacks.repeated_rows(base, count)
    expected = np.repeat(base.reshape(1, -1), count, axis=0)
    assert rows.shape == expected.shape
    assert rows.dtype == expected.dtype
    assert rows.tobytes() == expected.tobytes()
    assert rows.flags.c_contiguous
    assert rows.flags.writeable
    buffer = rows
    while buffer.base is not None:
        buffer = buffer.base
    assert rows.nbytes <= buffer.nbytes < rows.nbytes + 2 * nm.STACK_FOLLOWER_ALIGNMENT


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="placement follows glibc's malloc")
def test_f_first_temporary_of_its_stacks_size_lands_on_a_cache_line():
    """In a new process, a batched MSE's temporary ``s - T`` (the heap block after the chunked path's stack
    buffer) starts on a line in every chunk of the pass from the re-used buffer (np.repeat's buffer left it
    32 bytes off in every one). The probe's and the tests' own stacks, and the joined first stack of a later
    automatic-step call, are single stacks (np.repeat's): at most 3 stacks of a call are not the pass's."""
    code = (
        "import numpy as np\n"
        "from numgrad import numerical_gradient\n"
        "rng = np.random.default_rng(0)\n"
        "Y, T = rng.random((100, 10)), rng.random((100, 10))\n"
        "seen = []\n"
        "def f(s):\n"
        "    d = s - T\n"
        "    seen.append(d.ctypes.data % " + str(nm.STACK_FOLLOWER_ALIGNMENT) + ")\n"
        "    d **= 2\n"
        "    return 0.5 * d.sum(axis=(-1, -2))\n"
        "for h in (1e-4, None, None):\n"
        "    seen.clear()\n"
        "    numerical_gradient(f, Y, batched=True, h=h)\n"
        "    print(len(seen), sum(a != 0 for a in seen))\n"
    )
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    calls = [tuple(map(int, line.split())) for line in got.splitlines()]
    assert len(calls) == 3
    assert calls[0] == (31, 0)  # h=1e-4: 2000 points in 31 chunks of the re-used buffer, every one on a line
    for stacks_of_f, off_a_line in calls[1:]:
        assert stacks_of_f >= 31
        assert off_a_line <= 3

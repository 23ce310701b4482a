"""The JAX finite-difference twin on several devices: the perturbation batch is sharded across them and
the values are those of one device.

Four CPU devices need XLA_FLAGS set before JAX starts, so that run happens in a subprocess; this process
(one device) computes the same cases and compares.
"""

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numgrad_reference.gradient as rg
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEVICES = 4

# The cases, as source: run here and in the four-device subprocess.
CASES = """
import jax, jax.numpy as jnp, numpy as np
import numgrad_reference.gradient as rg

def smooth(x):
    return jnp.sum(jnp.sin(x) * x**2) + jnp.prod(jnp.cos(x)) + 0.1 * jnp.sum(x) ** 2

def vector(x):
    return jnp.stack([jnp.sum(x**2), jnp.prod(jnp.sin(x))])

seen = []

def batched(stack):
    seen.append(len(stack.sharding.device_set))
    return jnp.sum(jnp.sin(stack) * stack**2, axis=(1, 2))

x7 = np.linspace(-1.5, 2.0, 7)
x23 = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
results = {
    "central": rg.numerical_gradient(smooth, x7),
    "central-chunks-of-5": rg.numerical_gradient(smooth, x7, chunk_size=5),
    "forward-float32": rg.numerical_gradient(smooth, x7.astype(np.float32), method="forward"),
    "richardson": rg.numerical_gradient(smooth, x7, method="richardson"),
    "complex": rg.numerical_gradient(smooth, x7, method="complex"),
    "book-step": rg.numerical_gradient(smooth, x7, h=1e-4),
    "jacobian": rg.jacobian(vector, x7, chunk_size=3),
    "batched": rg.numerical_gradient(batched, x23, batched=True, chunk_size=4),
    "scalar": np.asarray(rg.numerical_diff(lambda t: jnp.sin(t) * t, 0.7)),
}
"""

CHILD = (
    CASES
    + """
import sys
assert jax.device_count() == int(sys.argv[2]), jax.devices()
results["batched-devices"] = np.asarray(seen)
np.savez(sys.argv[1], **results)
"""
)


def run_cases() -> dict:
    scope: dict = {}
    exec(CASES, scope)
    return {**scope["results"], "batched-devices": np.asarray(scope["seen"])}


@pytest.fixture(scope="module")
def on_four_devices(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharding") / "four.npz"
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={DEVICES}",
        "JAX_PLATFORMS": "cpu",
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), str(DEVICES)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(out) as data:
        return dict(data)


@pytest.fixture(scope="module")
def on_this_process():
    return run_cases()


@pytest.mark.parametrize(
    "case",
    ["central", "central-chunks-of-5", "forward-float32", "richardson", "complex", "book-step", "jacobian",
     "batched", "scalar"],
)  # fmt: skip
def test_sharded_twin_equals_one_device(on_four_devices, on_this_process, case):
    np.testing.assert_array_equal(on_four_devices[case], on_this_process[case])
    assert on_four_devices[case].dtype == on_this_process[case].dtype


def test_batch_really_spans_the_devices(on_four_devices, on_this_process):
    """The batched f received stacks sharded over all four devices (one device here)."""
    assert set(on_four_devices["batched-devices"].tolist()) == {DEVICES}
    assert set(on_this_process["batched-devices"].tolist()) == {jax.device_count()}


def test_padding_does_not_change_values():
    """Chunks padded with copies of x (chunk sizes 1, 3 and 8 of 14 points) give the same values."""

    def f(x):
        return jnp.sum(jnp.exp(0.3 * x) * x)

    x = np.linspace(-1, 1, 7)
    whole = rg.numerical_gradient(f, x)
    for size in (1, 3, 8):
        np.testing.assert_array_equal(rg.numerical_gradient(f, x, chunk_size=size), whole)


def test_rows_are_the_perturbed_points():
    flat = np.array([1.0, 2.0, 3.0])
    rows = rg._rows(jnp.asarray(flat), jnp.array([9.0, 8.0]), jnp.array([2, 0]), (3,))
    np.testing.assert_array_equal(np.asarray(rows), [[1.0, 2.0, 9.0], [8.0, 2.0, 3.0]])


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--sizes"], "expected one argument"),
        (["--sizes", "784,50"], "argument --sizes: must be three positive integers I,H,O"),
        (["--repeat", "0"], "argument --repeat: must be a positive integer; got '0'"),
        (["--n", "1e5"], "argument --n: must be a positive integer; got '1e5'"),
        (["--what"], "unrecognized arguments"),
    ],
    ids=["sizes-missing", "sizes-two", "repeat-zero", "n-float", "unknown-flag"],
)
def test_input_validation(argv, match, capsys):
    """benchmarks/device_check.py refuses bad arguments (argparse exits with status 2)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import device_check
    finally:
        sys.path.pop(0)
    with pytest.raises(SystemExit) as info:
        device_check.main(argv)
    assert info.value.code == 2
    assert match in capsys.readouterr().err


def test_device_check_runs_quick_on_cpu():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "device_check.py"), "--quick", "--repeat", "1"],
        cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for row in ("net (", "smooth n="):
        assert row in out
    assert "jax.grad" in out
    assert "FAIL" not in out

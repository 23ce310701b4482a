"""`numgrad check` through numgrad.commands.cli.main([...]): the twin table, a user's target, and bad targets."""

from __future__ import annotations

import json
import textwrap

import pytest

import numgrad.checking.catalog
import numgrad.checking.twins
from numgrad.commands.cli import main

TARGETS = textwrap.dedent(
    """
    import numpy as np

    LABELS = np.random.default_rng(0).integers(0, 3, 4)
    NOT_A_FUNCTION = 3

    def loss(z):
        s = z - z.max(axis=1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        return -np.sum(logp[np.arange(4), LABELS]) / 4

    def grad(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        p[np.arange(4), LABELS] -= 1
        return p / 4

    def bad_grad(z):
        return grad(z) * 4  # forgot 1/N

    def transposed(z):
        return grad(z).T

    def vector(z):
        return z.sum(axis=1)

    def smooth(x):
        import jax.numpy as jnp
        return jnp.sum(jnp.sin(x) * x)

    def relu_sum(x):
        return np.sum(np.maximum(x, 0))

    def relu_grad(x):
        return (x > 0).astype(x.dtype)
    """
)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """rich wraps tables to the terminal; tests read them unwrapped."""
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def targets(tmp_path, monkeypatch):
    (tmp_path / "user_targets.py").write_text(TARGETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def few_builtins(monkeypatch):
    """Two built-ins at one shape: the table's plumbing, in a second."""
    cases = tuple(c for c in numgrad.checking.catalog.CASES if c.name in ("sigmoid", "mean_squared_error"))
    monkeypatch.setattr(numgrad.checking.catalog, "CASES", cases)
    monkeypatch.setattr(numgrad.checking.twins, "CASES", cases)
    monkeypatch.setattr(numgrad.checking.twins, "SHAPES", ((3, 4),))


def one_line(err):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["check", "no_such_module_xyz:f", "--shape", "4,3"], "cannot import module 'no_such_module_xyz'"),
        (["check", "user_targets:missing", "--shape", "4,3"], "module 'user_targets' has no attribute 'missing'"),
        (["check", "user_targets:NOT_A_FUNCTION", "--shape", "4,3"], "is not callable (it is a int)"),
        (["check", "user_targets", "--shape", "4,3"], "must look like MODULE:FUNC"),
        (["check", "missing_file.py:loss", "--shape", "4,3"], "cannot load 'missing_file.py': no such file"),
        (["check", "user_targets:loss", "--shape", "4", "--grad", "user_targets:grad"], "AxisError"),
        (["check", "user_targets:vector", "--shape", "4,3", "--grad", "user_targets:grad"], "f must return a scalar"),
        (["check", "user_targets:loss", "--shape", "4,3", "--grad", "user_targets:transposed"], "it is the transpose"),
        (["check", "user_targets:loss", "--shape", "4,x"], "--shape must be comma-separated sizes"),
        (["check", "user_targets:loss", "--shape", "4,0"], "--shape sizes must be positive"),
        (["check", "user_targets:loss"], "target mode needs --shape"),
        (["check", "user_targets:loss", "--shape", "4,3"], "not differentiable by JAX"),
        (["check", "user_targets:loss", "--shape", "4,3", "--grad", "user_targets:grad", "--examples", "0"], "--examples must be at least 1"),
        (["check", "user_targets:loss", "--shape", "4,3", "--mode", "fast", "--plot", "x.png"], "--plot draws one cell per element"),
        (["check", "--shape", "4,3"], "--shape need a target"),
    ],
    ids=[
        "missing-module", "missing-attribute", "not-callable", "no-colon", "missing-file", "f-raises-at-shape",
        "f-not-scalar", "grad-transposed", "shape-garbage", "shape-zero", "no-shape", "numpy-without-grad",
        "examples-zero", "plot-fast", "flags-without-target",
    ],
)  # fmt: skip
def test_input_validation(targets, capsys, argv, match):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    line = one_line(err)
    assert line.startswith("numgrad check: ")
    assert match in line
    assert out == ""


def test_a_correct_gradient_passes(targets, capsys):
    argv = ["check", "user_targets:loss", "--shape", "4,3", "--grad", "user_targets:grad", "--examples", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 passed, 0 failed" in out
    assert "float64 #1" in out


def test_a_wrong_gradient_fails_with_the_report(targets, capsys):
    argv = [
        "check",
        "user_targets:loss",
        "--shape",
        "4,3",
        "--grad",
        "user_targets:bad_grad",
        "--dtype",
        "float32",
    ]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "0 passed, 5 failed" in out
    assert "gradient WRONG at 12 of 12 elements" in out


def test_json_output_is_only_json(targets, capsys):
    argv = ["check", "user_targets:loss", "--shape", "4,3", "--grad", "user_targets:bad_grad", "--json",
            "--mode", "fast", "--examples", "3", "--seed", "7"]  # fmt: skip
    assert main(argv) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is False
    assert data["seed"] == 7
    assert [e["example"] for e in data["examples"]] == [0, 1, 2]
    assert all(e["mode"] == "fast" and e["nfev"] <= 6 for e in data["examples"])
    assert "mode='full'" in data["examples"][0]["message"]


def test_without_grad_jax_grad_is_the_reference(targets, capsys):
    argv = [
        "check",
        "user_targets:smooth",
        "--shape",
        "3",
        "--dtype",
        "float32",
        "--dtype",
        "float64",
        "--examples",
        "1",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "jax.grad vs numgrad" in out
    assert "2 passed, 0 failed" in out


def test_file_path_targets_and_plot(targets, capsys):
    png = targets / "out" / "errors.png"
    png.parent.mkdir()  # numgrad check does not create directories (tests/test_contract.py)
    argv = ["check", "user_targets.py:loss", "--shape", "4,3", "--grad", "user_targets.py:bad_grad",
            "--examples", "1", "--plot", str(png)]  # fmt: skip
    assert main(argv) == 1
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert f"heatmap: {png}" in capsys.readouterr().out


def test_kinks_are_counted_not_failed(targets, capsys):
    argv = ["check", "user_targets:relu_sum", "--shape", "6", "--grad", "user_targets:relu_grad", "--json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is True


def test_builtins_table(few_builtins, capsys):
    assert main(["check", "--dtype", "float64"]) == 0
    out = capsys.readouterr().out
    assert "sigmoid" in out
    assert "mean_squared_error" in out
    assert "2 passed, 0 failed" in out


def test_builtins_json(few_builtins, capsys):
    assert main(["check", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is True
    assert {(r["function"], r["dtype"]) for r in data["rows"]} == {
        (f, d) for f in ("sigmoid", "mean_squared_error") for d in ("float64", "float32")
    }
    assert all(r["gradient_abs_error"] <= r["gradient_tolerance"] for r in data["rows"])


def test_builtins_exit_1_when_a_twin_disagrees(few_builtins, monkeypatch, capsys):
    monkeypatch.setattr(numgrad.checking.twins, "compare", lambda *args: (0.0, 1.0, 1.0, 1e-9))
    assert main(["check", "--dtype", "float32"]) == 1
    assert "0 passed, 2 failed" in capsys.readouterr().out


def test_a_repeated_dtype_is_checked_once(few_builtins, capsys):
    assert main(["check", "--dtype", "float64", "--dtype", "float64", "--json"]) == 0
    once = json.loads(capsys.readouterr().out)["rows"]
    assert main(["check", "--dtype", "float64", "--json"]) == 0
    assert len(once) == len(json.loads(capsys.readouterr().out)["rows"])

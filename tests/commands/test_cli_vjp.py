"""`numgrad check MODULE:FUNC --vjp/--jvp` and `--shapes`: a user's backward and forward-mode rules, on
arrays and pytrees, through numgrad.commands.cli.main([...])."""

from __future__ import annotations

import json
import textwrap

import pytest

from numgrad.commands.cli import main

LAYERS = textwrap.dedent(
    """
    import numpy as np

    X = np.random.default_rng(0).standard_normal((2, 3))

    def affine(p):
        return np.tanh(X @ p["W"] + p["b"])

    def affine_backward(p, dout):
        dz = dout * (1 - affine(p) ** 2)
        return {"W": X.T @ dz, "b": dz.sum(axis=0)}

    def affine_backward_db_mean(p, dout):
        g = affine_backward(p, dout)
        g["b"] = g["b"] / 2
        return g

    def layer(x):
        return np.sin(x) * 2

    def layer_backward(x, dout):
        return 2 * np.cos(x) * dout

    def layer_jvp(x, v):
        return 2 * np.cos(x) * v

    def layer_jvp_wrong(x, v):
        return np.cos(x) * v

    def missing_b(p, dout):
        return {"W": affine_backward(p, dout)["W"]}

    def smooth_tree(p):
        import jax.numpy as jnp
        return jnp.sum(jnp.sin(p["a"])) + jnp.sum(p["b"] ** 2)
    """
)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def layers(tmp_path, monkeypatch):
    (tmp_path / "user_layers.py").write_text(LAYERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


SHAPES = '{"W": [3, 4], "b": [4]}'


def test_a_correct_backward_of_a_pytree_passes(layers, capsys):
    argv = ["check", "user_layers:affine", "--shapes", SHAPES, "--vjp", "user_layers:affine_backward", "--examples", "2",
            "--dtype", "float32", "--dtype", "float64"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "4 passed, 0 failed" in out
    assert "vjp user_layers:affine_backward" in out


def test_a_wrong_backward_names_the_leaf(layers, capsys):
    argv = [
        "check",
        "user_layers:affine",
        "--shapes",
        SHAPES,
        "--vjp",
        "user_layers:affine_backward_db_mean",
        "--json",
    ]
    assert main(argv) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is False
    assert data["shapes"] == {"W": [3, 4], "b": [4]}
    assert {e["worst_leaf"] for e in data["examples"]} == {"['b']"}
    assert all(e["kind"] == "vjp" for e in data["examples"])


@pytest.mark.parametrize(
    ("flag", "fn", "code"),
    [("--vjp", "layer_backward", 0), ("--jvp", "layer_jvp", 0), ("--jvp", "layer_jvp_wrong", 1)],
)
def test_vjp_and_jvp_of_one_array(layers, capsys, flag, fn, code):
    argv = [
        "check",
        "user_layers:layer",
        "--shape",
        "5",
        flag,
        f"user_layers:{fn}",
        "--mode",
        "fast",
        "--examples",
        "2",
    ]
    assert main(argv) == code
    assert f"{2 - code * 2} passed, {code * 2} failed" in capsys.readouterr().out


def test_jax_grad_of_a_pytree_is_the_default_reference(layers, capsys):
    assert (
        main(["check", "user_layers:smooth_tree", "--shapes", '{"a": [3], "b": [2, 2]}', "--examples", "1"])
        == 0
    )
    assert "1 passed, 0 failed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--shapes", "{W: 3}"], "--shapes must be JSON like"),
        (["--shapes", '{"W": [3, 0]}'], "--shapes['W']: sizes must be positive; got [3, 0]"),
        (["--shapes", '{"W": 3}'], "--shapes['W'] must be a shape (a list of sizes)"),
        (["--shapes", "{}"], "--shapes must be a shape (a list of sizes), or a non-empty dict"),
        (["--shapes", SHAPES, "--shape", "3"], "give --shape (one array) or --shapes (a pytree), not both"),
        (
            [
                "--shapes",
                SHAPES,
                "--vjp",
                "user_layers:affine_backward",
                "--grad",
                "user_layers:affine_backward",
            ],
            "give one of --grad, --vjp, --jvp",
        ),
        (["--shapes", SHAPES, "--vjp", "user_layers:missing_b"], "vjp(u) is missing the key 'b' at ['b']"),
        (["--shapes", SHAPES, "--vjp", "user_layers:nope"], "module 'user_layers' has no attribute 'nope'"),
    ],
    ids=[
        "bad-json",
        "zero-size",
        "not-a-shape",
        "empty",
        "both",
        "two-references",
        "missing-key",
        "missing-vjp",
    ],
)
def test_input_validation(layers, capsys, argv, match):
    assert main(["check", "user_layers:affine", *argv]) == 2
    out, err = capsys.readouterr()
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("numgrad check: ")
    assert match in lines[0]
    assert out == ""


def test_target_flags_need_a_target(capsys):
    assert main(["check", "--vjp", "m:f"]) == 2
    assert "--vjp need a target" in capsys.readouterr().err

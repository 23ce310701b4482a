"""`numgrad check MODULE:FUNC --hessian MODULE:HESS` through numgrad.commands.cli.main([...])."""

from __future__ import annotations

import json
import textwrap

import pytest

from numgrad.commands.cli import main

TARGETS = textwrap.dedent(
    """
    import numpy as np

    def f(x):
        return np.sum(np.sin(x) * x**2) + x[0] * x[1]

    def hess(x):
        d = 2 * np.sin(x) + 4 * x * np.cos(x) - x**2 * np.sin(x)
        H = np.diag(d)
        H[0, 1] += 1
        H[1, 0] += 1
        return H

    def hess_missing_mixed(x):
        H = hess(x)
        H[0, 1] = H[1, 0] = 0
        return H

    def hess_flat(x):
        return hess(x).reshape(-1)

    def hvp(x, v):
        return hess(x) @ v

    def hvp_half(x, v):  # only the symmetric part's diagonal: the mixed term is halved
        H = hess(x)
        H[0, 1] = H[1, 0] = 0.5
        return H @ v

    def loss(p):
        return np.sum(p["W"] ** 2 * p["b"][0]) + np.sum(p["b"] ** 3)

    def loss_hess(p):
        W, b = p["W"], p["b"]
        WW = np.diag(np.full(W.size, 2 * b[0])).reshape(W.shape * 2)
        Wb = np.zeros(W.shape + b.shape)
        Wb[..., 0] = 2 * W
        bb = np.diag(6 * b)
        bb[0, 0] += 0.0
        return {"W": {"W": WW, "b": Wb}, "b": {"W": np.moveaxis(Wb, -1, 0), "b": bb}}

    def loss_hvp(p, v):
        H = loss_hess(p)
        W = np.tensordot(H["W"]["W"], v["W"], axes=2) + H["W"]["b"] @ v["b"]
        b = np.tensordot(H["b"]["W"], v["W"], axes=2) + H["b"]["b"] @ v["b"]
        return {"W": W, "b": b}

    def loss_hvp_no_cross(p, v):
        H = loss_hess(p)
        return {"W": np.tensordot(H["W"]["W"], v["W"], axes=2), "b": H["b"]["b"] @ v["b"]}

    def loss_hess_array(p):
        return np.eye(8)

    def loss_hvp_missing(p, v):
        return {"W": v["W"]}
    """
)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def targets(tmp_path, monkeypatch):
    (tmp_path / "hess_targets.py").write_text(TARGETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_right_hessian_passes(targets, capsys):
    argv = ["check", "hess_targets:f", "--shape", "4", "--hessian", "hess_targets:hess", "--examples", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "hess_targets:hess vs numgrad's numerical Hessian" in out
    assert "2 passed, 0 failed" in out


def test_wrong_hessian_fails_and_is_located(targets, capsys):
    argv = ["check", "hess_targets:f", "--shape", "4", "--hessian", "hess_targets:hess_missing_mixed", "--json",
            "--examples", "1", "--dtype", "float32"]  # fmt: skip
    assert main(argv) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False
    assert report["hessian"] == "hess_targets:hess_missing_mixed"
    assert report["examples"][0]["worst_index"] in ([0, 1], [1, 0])


SHAPES = '{"W": [2, 3], "b": [2]}'


@pytest.mark.parametrize(("name", "code"), [("hess", 0), ("hess_missing_mixed", 1)])
def test_fast_mode_checks_random_direction_pairs(targets, capsys, name, code):
    argv = ["check", "hess_targets:f", "--shape", "30", "--hessian", f"hess_targets:{name}", "--mode", "fast",
            "--json", "--examples", "2"]  # fmt: skip
    assert main(argv) == code
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "fast"
    assert all(e["nfev"] == 8 * 3 for e in report["examples"])  # 3 pairs whatever n (n = 30: 1,871 in full)


def test_a_right_hvp_passes_and_a_wrong_one_fails(targets, capsys):
    right = ["check", "hess_targets:f", "--shape", "4", "--hvp", "hess_targets:hvp", "--examples", "2"]
    assert main(right) == 0
    assert "hess_targets:hvp vs numgrad's numerical Hessian" in capsys.readouterr().out
    wrong = [
        "check",
        "hess_targets:f",
        "--shape",
        "4",
        "--hvp",
        "hess_targets:hvp_half",
        "--json",
        "--examples",
        "1",
    ]
    assert main(wrong) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["hvp"] == "hess_targets:hvp_half"
    assert report["examples"][0]["worst_index"] in ([0, 1], [1, 0])


@pytest.mark.parametrize("option", ["--hessian", "--hvp"])
def test_pytree_shapes_with_a_tree_hessian_or_hvp(targets, capsys, option):
    name = "hess_targets:loss_hess" if option == "--hessian" else "hess_targets:loss_hvp"
    argv = [
        "check",
        "hess_targets:loss",
        "--shapes",
        SHAPES,
        option,
        name,
        "--examples",
        "2",
        "--dtype",
        "float32",
    ]
    assert main(argv) == 0, capsys.readouterr()
    assert "2 passed, 0 failed" in capsys.readouterr().out


def test_a_tree_hvp_missing_its_cross_terms_is_located_by_leaves(targets, capsys):
    argv = ["check", "hess_targets:loss", "--shapes", SHAPES, "--hvp", "hess_targets:loss_hvp_no_cross", "--json",
            "--examples", "1"]  # fmt: skip
    assert main(argv) == 1
    report = json.loads(capsys.readouterr().out)["examples"][0]
    assert report["worst_leaf"] in ("['W']['b']", "['b']['W']")


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["check", "hess_targets:f", "--shape", "4", "--hessian", "hess_targets:nope"], "has no attribute 'nope'"),
        (["check", "hess_targets:f", "--shape", "4", "--hessian", "hess_targets:hess_flat"], "hess must have shape"),
        (["check", "hess_targets:f", "--shape", "4", "--hessian", "hess_targets:hess", "--plot", "h.png"], "--hessian checks a Hessian, whose entries have no heatmap"),
        (["check", "--hessian", "hess_targets:hess"], "--hessian need a target"),
        (["check", "hess_targets:f", "--shape", "4", "--hvp", "hess_targets:hvp", "--hessian", "hess_targets:hess"], "give one of --grad, --vjp, --jvp, --hessian, --hvp; got --hessian, --hvp"),
        (["check", "hess_targets:f", "--shape", "4", "--hvp", "hess_targets:hvp", "--plot", "h.svg"], "--hvp checks a Hessian, whose entries have no heatmap"),
        (["check", "hess_targets:loss", "--shapes", SHAPES, "--hvp", "hess_targets:loss_hvp_missing"], "check_hessian: hess(v) is missing the key 'b'"),
        (["check", "hess_targets:loss", "--shapes", SHAPES, "--hessian", "hess_targets:loss_hess_array"], "check_hessian: hess must be a dict like x"),
    ],
    ids=["missing", "flat", "hessian-plot", "no-target", "hvp-and-hessian", "hvp-plot", "hvp-tree-missing-key",
         "array-hess-for-tree"],
)  # fmt: skip
def test_input_validation(targets, capsys, argv, match):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err
    assert "Traceback" not in err

"""Optional parts without their extra: one line naming the extra, exit 2 from the CLI, an ImportError
from the library (each missing module is simulated with ``sys.modules[name] = None``)."""

from __future__ import annotations

import importlib
import sys
import tomllib
from pathlib import Path

import pytest

from numgrad.commands.cli import main
from numgrad.common.extras import EXTRA_OF, MissingExtraError, missing_extra, require

ROOT = Path(__file__).resolve().parents[2]


def _hide(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


def test_jax_is_a_core_dependency_and_every_extra_named_exists():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {d.split(">")[0].split("=")[0] for d in project["dependencies"]}
    assert {"numpy", "matplotlib", "rich", "jax", "scipy"} <= core
    extras = project["optional-dependencies"]
    for dist, extra in EXTRA_OF.values():
        if extra is None:
            assert dist in core
        else:
            assert any(req.startswith(dist) for req in extras[extra]), (dist, extra)
    assert not any(d.startswith(("hypothesis", "distributed")) for d in project["dependencies"])


def test_import_numgrad_testing_without_hypothesis_names_the_extra(monkeypatch):
    _hide(monkeypatch, "hypothesis", "hypothesis.extra")
    monkeypatch.delitem(sys.modules, "numgrad.testing", raising=False)
    with pytest.raises(ImportError, match=r"^numgrad.testing needs hypothesis, which is not installed: "
                       r"pip install 'numgrad\[testing\]'$") as info:  # fmt: skip
        importlib.import_module("numgrad.testing")
    assert isinstance(info.value, MissingExtraError)
    assert "\n" not in str(info.value)


def test_require_names_the_extra_and_passes_unknown_modules_through(monkeypatch):
    _hide(monkeypatch, "distributed")
    with pytest.raises(MissingExtraError, match=r"^x needs distributed, which is not installed: pip install 'numgrad\[dask\]'$"):
        require("distributed", needed_by="x")
    _hide(monkeypatch, "scipy")
    with pytest.raises(MissingExtraError, match=r"a dependency of numgrad that is not installed: pip install scipy$"):
        require("scipy", needed_by="numgrad bench")
    with pytest.raises(ModuleNotFoundError) as info:
        require("no_such_module_anywhere", needed_by="x")
    assert not isinstance(info.value, MissingExtraError)
    other = ModuleNotFoundError("nope", name="nope")
    assert missing_extra(other, needed_by="x") is other


@pytest.mark.parametrize(
    ("argv", "hidden", "fix"),
    [
        (["check"], ("jax",), "pip install jax"),
        (["bench", "--family", "scaling"], ("scipy",), "pip install scipy"),
    ],
    ids=["check-without-jax", "bench-without-scipy"],
)  # fmt: skip
def test_cli_without_a_dependency_is_one_line_and_exit_2(monkeypatch, capsys, argv, hidden, fix):
    _hide(monkeypatch, *hidden)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"numgrad {argv[0]} needs ")
    assert err.strip().endswith(fix)

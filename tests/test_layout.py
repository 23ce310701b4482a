"""The package's architecture: import-linter contracts, and what a built wheel installs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [sys.executable, "-c", LINT],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_contracts_are_kept():
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_a_cycle_breaks_the_contract(tmp_path):
    """The acyclic contract as numgrad states it fails on a package whose modules import each other."""
    pkg = tmp_path / "cyclic"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclic import b\n")
    (pkg / "b.py").write_text("from cyclic import a\n")
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [tool.importlinter]
            root_package = "cyclic"
            [[tool.importlinter.contracts]]
            name = "acyclic"
            type = "acyclic_siblings"
            ancestors = ["cyclic"]
            """
        )
    )
    run = _lint(tmp_path)
    assert run.returncode == 1
    assert "BROKEN" in run.stdout


def _uv() -> list[str] | None:
    if shutil.which("uv"):
        return ["uv"]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True, check=False)
    return [sys.executable, "-m", "uv"] if probe.returncode == 0 else None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed: the wheel is built with `uv build`")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [*uv, "build", "--wheel", "--out-dir", str(out), str(ROOT)], check=True, capture_output=True
    )
    (built,) = out.glob("numgrad-*.whl")
    return built


@pytest.mark.slow
def test_wheel_installs_the_twins_under_numgrads_own_name(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"numgrad", "numgrad_reference"}
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "numgrad").rglob("*.py")}
    assert sources <= names, sorted(sources - names)
    twins = {f"numgrad_reference/{p.name}" for p in (ROOT / "reference").glob("*.py")}
    assert twins <= names
    assert {"numgrad/py.typed", "numgrad/book/datasets/mnist_5k.npz"} <= names


@pytest.mark.slow
def test_installed_wheel_imports_from_site_packages(wheel, tmp_path):
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)  # a pure-Python wheel installs by unpacking into site-packages
    probe = (
        "import numgrad, numgrad_reference, importlib.util as u; "
        "print(numgrad.__file__); print(numgrad_reference.__file__); print(u.find_spec('reference'))"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    numgrad_file, twin_file, reference = run.stdout.split()
    assert numgrad_file.startswith(str(target))
    assert twin_file.startswith(str(target / "numgrad_reference"))
    assert reference == "None"


@pytest.mark.slow
def test_wheel_requires_jax_and_scipy_and_keeps_hypothesis_an_extra(wheel):
    """A plain `pip install` brings everything the commands need; hypothesis and distributed are extras."""
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        requires = [line.split(":", 1)[1].strip() for line in zf.read(meta).decode().splitlines()
                    if line.startswith("Requires-Dist:")]  # fmt: skip
    plain = {r.split(">")[0].split(";")[0].strip() for r in requires if "extra ==" not in r}
    assert {"numpy", "matplotlib", "rich", "jax", "scipy"} <= plain
    assert any(r.startswith("hypothesis") and "extra == \"testing\"" in r for r in requires)
    assert any(r.startswith("distributed") and "extra == \"dask\"" in r for r in requires)
    assert "hypothesis" not in plain
    assert any(r.startswith("torch") and "extra == \"torch\"" in r for r in requires)  # numgrad.torch's
    assert "torch" not in plain

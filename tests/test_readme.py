"""Every Python example in README.md runs, in the README's order, as a reader would paste them.

The blocks share one namespace (a later block continues an earlier one, as the README reads). Each top-level
statement runs on its own; one whose comment names an exception (``# AssertionError: ...``, ``# raises
GradcheckError``) may raise that exception and no other; a block that prints and is followed by the
```text block of what it prints must print those lines (timings aside). A block that uses names only the next block
defines (the API summary before its worked example) runs after that block. Blocks that need torch run where
torch is installed. The few that train nets for minutes, or start process pools and a Dask cluster, are
compiled always and run with ``NUMGRAD_README_ALL=1`` (``NUMGRAD_README_ALL=1 uv run pytest
tests/test_readme.py``); :data:`LONG` says which and why.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RUN_ALL = os.environ.get("NUMGRAD_README_ALL") == "1"
HAS_TORCH = importlib.util.find_spec("torch") is not None

# Blocks run only with NUMGRAD_README_ALL=1, by what they call: training for 600 numerical-gradient
# iterations, sweeps and the three-way search comparison take minutes, not seconds.
LONG = re.compile(r"\btrain\(|\bsweep\(|\bcompare_searches\(")
SCRIPT = "# blackbox.py"  # a script of its own (process pools import f from it), continued by the next block
CONTINUES_SCRIPT = "# continuing in blackbox.py"


@dataclass(frozen=True)
class Block:
    line: int  # the README line of the block's first line of code
    source: str

    @property
    def needs_torch(self) -> bool:
        return re.search(r"\btorch\b", self.source) is not None

    def __str__(self) -> str:
        return f"README.md:{self.line}"


def readme_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    return [
        Block(text[: m.start(1)].count("\n") + 1, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    ]


BLOCKS = readme_blocks()


def printed_outputs() -> dict[int, str]:
    """The ```text block shown right after a Python block that prints (at most one line of prose between),
    by that Python block's first line: what the example says it prints."""
    text = README.read_text(encoding="utf-8")
    fence = r"((?:(?!```).)*?)"  # a block's body: no fence inside
    shown = rf"^```python\n{fence}^```\n\n(?:[^`\n][^\n]*\n\n)?```text\n{fence}^```"
    return {
        text[: m.start(1)].count("\n") + 1: m.group(2)
        for m in re.finditer(shown, text, flags=re.S | re.M)
        if "print(" in m.group(1)
    }


def _same_output(shown: str, printed: str) -> list[str]:
    """The shown lines missing from what the block printed (`...` elides lines; timings may differ)."""
    seconds = re.compile(r"\b\d+\.\d+ s\b")
    got = {seconds.sub("T s", line.rstrip()) for line in printed.splitlines()}
    return [
        line
        for line in shown.splitlines()
        if line.strip() != "..." and seconds.sub("T s", line.rstrip()) not in got
    ]


def _allowed(lines: list[str]) -> set[str]:
    """Exception names in the comments of a statement's lines."""
    comments = " ".join(line.partition("#")[2] for line in lines if "#" in line)
    return set(re.findall(r"\b([A-Z]\w*(?:Error|Exception))\b", comments))


def _run_block(block: Block, namespace: dict[str, object]) -> None:
    tree = ast.parse(block.source, filename=str(README))
    ast.increment_lineno(tree, block.line - 1)
    lines = block.source.splitlines()
    for stmt in tree.body:
        first, last = stmt.lineno - block.line, (stmt.end_lineno or stmt.lineno) - block.line
        allowed = _allowed(lines[first : last + 1])
        code = compile(ast.Module(body=[stmt], type_ignores=[]), str(README), "exec")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the README shows results; warnings have their own tests
            try:
                exec(code, namespace)
            except Exception as exc:
                names = {k.__name__ for k in type(exc).__mro__}
                if not names & allowed:
                    raise AssertionError(
                        f"README.md:{stmt.lineno}: {type(exc).__name__}: {exc}"
                        + (f" (its comment allows {sorted(allowed)})" if allowed else "")
                    ) from exc


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 20
    for block in BLOCKS:
        compile(block.source, str(block), "exec")  # every block, long ones included, is valid Python


@pytest.mark.slow  # ~20 s on an idle machine: JAX's check_grads at order 2, the classics against their twins
def test_every_readme_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples write errors.png, sweep.db, ...
    namespace: dict[str, object] = {"__name__": "readme"}
    pending: Block | None = None  # a summary block waiting for the example after it
    ran, skipped = [], []
    printed: dict[int, str] = {}
    for block in BLOCKS:
        if block.source.startswith((SCRIPT, CONTINUES_SCRIPT)):
            continue  # test_the_scale_out_script_runs
        if (block.needs_torch and not HAS_TORCH) or (LONG.search(block.source) and not RUN_ALL):
            skipped.append(block)
            continue
        try:
            with contextlib.redirect_stdout(out := io.StringIO()):
                _run_block(block, namespace)
        except AssertionError as exc:
            if pending is None and isinstance(exc.__cause__, NameError):
                pending = block
                continue
            raise
        ran.append(block)
        printed[block.line] = out.getvalue()
        if pending is not None:
            _run_block(pending, namespace)
            ran.append(pending)
            pending = None
    assert pending is None, f"{pending} uses names no later block defines"
    shown = printed_outputs()
    assert len(shown) >= 3, sorted(shown)
    for line, text in shown.items():
        if line in printed:  # (a block that needs torch, where torch is missing, did not run)
            missing = _same_output(text, printed[line])
            assert not missing, f"README.md:{line} prints other lines than it shows: {missing}"
    assert len(ran) + len(skipped) == sum(not b.source.startswith((SCRIPT, CONTINUES_SCRIPT)) for b in BLOCKS)
    assert len(ran) >= 15, [str(b) for b in skipped]


@pytest.mark.skipif(not RUN_ALL, reason="starts a process pool and a Dask cluster: NUMGRAD_README_ALL=1")
def test_the_scale_out_script_runs(tmp_path):
    (script,) = [b for b in BLOCKS if b.source.startswith(SCRIPT)]
    (rest,) = [b for b in BLOCKS if b.source.startswith(CONTINUES_SCRIPT)]
    assert 'if __name__ == "__main__":' in script.source
    (tmp_path / "blackbox.py").write_text(script.source + textwrap.indent(rest.source, "    "))
    run = subprocess.run([sys.executable, "blackbox.py"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]


def test_shown_output_is_compared_line_by_line():
    shown = "report WRONG at 3 of 4\n  ...\n  evaluations 75 of f in 0.010 s\n"
    assert _same_output(shown, "report WRONG at 3 of 4\n  x\n  evaluations 75 of f in 0.004 s\n") == []
    assert _same_output(shown, "report WRONG at 2 of 4\n  evaluations 66 of f in 0.004 s\n") == [
        "report WRONG at 3 of 4",
        "  evaluations 75 of f in 0.010 s",
    ]


def test_a_wrong_example_fails_the_test(tmp_path, monkeypatch):
    """The runner is not a rubber stamp: a statement that raises without saying so fails, one whose comment
    names its exception passes, and only with that exception."""
    ok = Block(1, "x = 1\nassert x == 2  # AssertionError: shown on purpose\n")
    _run_block(ok, {})
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        _run_block(Block(1, "1 / 0\n"), {})
    with pytest.raises(AssertionError, match="allows"):
        _run_block(Block(1, "1 / 0  # ValueError when wrong\n"), {})

"""The adapters are optional: numgrad never imports them, and numgrad.torch without torch says how to get it."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)


def test_numgrad_torch_without_torch_names_the_extra():
    run = _run(
        "import sys\n"
        "sys.modules['torch'] = None  # as if torch were not installed\n"
        "try:\n"
        "    import numgrad.torch\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert run.returncode == 0, run.stderr
    assert 'numgrad.torch needs PyTorch, an optional extra of numgrad: pip install "numgrad[torch]"' in run.stdout


def test_import_numgrad_loads_neither_adapter_nor_torch():
    run = _run("import sys, numgrad; print(sorted(m for m in ('torch', 'numgrad.torch', 'numgrad.jax') if m in sys.modules))")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"

"""The scripts of benchmarks/ as modules, for the tests that check what they compute (benchmarks/ is not a
package: each script is loaded from its file)."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str) -> ModuleType:
    """benchmarks/<name>.py, imported under `name`, with benchmarks/ on the path as when it runs (its
    scripts import each other)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as an import registers it (dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module

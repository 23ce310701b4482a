"""The one loader of ``MODULE:FUNC`` targets, for every command (`check`, `descend`, ...)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["TargetError", "first_line", "load"]


class TargetError(ValueError):
    """A target that cannot be loaded or checked: the message is the one line the user sees."""


def load(spec: str, what: str) -> Callable[..., Any]:
    """The callable named by ``MODULE:NAME`` or ``path/to/file.py:NAME`` (the current directory first)."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise TargetError(f"{what} must look like MODULE:FUNC or path/to/file.py:FUNC; got {spec!r}")
    module = _import(module_name)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise TargetError(f"{what} {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise TargetError(f"{what} {spec!r} is not callable (it is a {type(obj).__name__})")
    return obj  # type: ignore[no-any-return]


def _import(name: str) -> Any:
    try:
        if name.endswith(".py"):
            spec = importlib.util.spec_from_file_location(os.path.basename(name)[:-3], name)
            if spec is None or spec.loader is None or not os.path.isfile(name):
                raise TargetError(f"cannot load {name!r}: no such file")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
        with _cwd_on_path():
            return importlib.import_module(name)
    except (TargetError, KeyboardInterrupt):
        raise
    except SystemExit as exc:  # else `numgrad check` would exit 0 with no output: a CI gate's pass
        raise TargetError(
            f"importing {name!r} called sys.exit({exc.code!r}); a target module must not exit at import "
            f"(put script code under if __name__ == '__main__':)"
        ) from None
    except ImportError as exc:
        raise TargetError(f"cannot import module {name!r} ({first_line(exc)})") from None
    except BaseException as exc:  # a bare BaseException or GeneratorExit too: one line, not a traceback
        raise TargetError(f"importing {name!r} raised {type(exc).__name__}: {first_line(exc)}") from None


@contextlib.contextmanager
def _cwd_on_path() -> Iterator[None]:
    """`numgrad check mymod:f` finds mymod.py in the current directory, as `python -m` would."""
    added = os.getcwd() not in sys.path
    if added:
        sys.path.insert(0, os.getcwd())
    try:
        yield
    finally:
        if added:
            sys.path.remove(os.getcwd())


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""

"""Optional dependencies: which extra installs each one, and the one-line error when it is missing.

A plain ``pip install numgrad`` brings NumPy, matplotlib, rich and JAX: the library, the book and
``numgrad check`` work. The rest is opt-in, one extra per part::

    pip install 'numgrad[testing]'   # numgrad.testing (hypothesis)
    pip install 'numgrad[bench]'     # numgrad bench (SciPy's methods are timed too)
    pip install 'numgrad[dask]'      # Dask executors for the scale-out
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRA_OF", "MissingExtraError", "missing_extra", "require"]

# top-level module -> (distribution to install, numgrad extra that brings it)
EXTRA_OF: dict[str, tuple[str, str]] = {
    "jax": ("jax", "jax"),
    "jaxlib": ("jax", "jax"),
    "hypothesis": ("hypothesis", "testing"),
    "scipy": ("scipy", "bench"),
    "distributed": ("distributed", "dask"),
    "dask": ("distributed", "dask"),
}


class MissingExtraError(ModuleNotFoundError):
    """An optional part of numgrad was used without its extra; the message is one line that says which."""


def missing_extra(exc: ModuleNotFoundError, *, needed_by: str) -> ModuleNotFoundError:
    """The one-line error for `exc` when the missing module belongs to an extra, else `exc` itself."""
    top = (exc.name or "").partition(".")[0]
    if top not in EXTRA_OF:
        return exc
    dist, extra = EXTRA_OF[top]
    line = f"{needed_by} needs {dist}, which is not installed: pip install 'numgrad[{extra}]'"
    err = MissingExtraError(line)
    err.name = exc.name
    return err


def require(module: str, *, needed_by: str) -> ModuleType:
    """Import `module` or raise :class:`MissingExtraError` naming the extra to install.

    Examples
    --------
    >>> require("numpy", needed_by="numgrad").__name__
    'numpy'
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise missing_extra(exc, needed_by=needed_by) from None

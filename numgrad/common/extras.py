"""Optional dependencies: which extra installs each one, and the one-line error when it is missing.

A plain ``pip install numgrad`` brings NumPy, matplotlib, rich, JAX and SciPy: the library, the book
and every command work. The rest is opt-in, one extra per part::

    pip install 'numgrad[testing]'   # numgrad.testing (hypothesis)
    pip install 'numgrad[dask]'      # Dask executors for the scale-out
    pip install 'numgrad[tune]'      # Bayesian search in numgrad sweep --bayes (Optuna)
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRA_OF", "MissingExtraError", "missing_extra", "require"]

# top-level module -> (distribution to install, numgrad extra that brings it; None: a core dependency
# that is missing all the same, as after `pip install --no-deps`)
EXTRA_OF: dict[str, tuple[str, str | None]] = {
    "jax": ("jax", None),
    "jaxlib": ("jax", None),
    "scipy": ("scipy", None),
    "hypothesis": ("hypothesis", "testing"),
    "distributed": ("distributed", "dask"),
    "dask": ("distributed", "dask"),
    "optuna": ("optuna", "tune"),
    "sqlalchemy": ("optuna", "tune"),
}


class MissingExtraError(ModuleNotFoundError):
    """An optional part of numgrad was used without its extra; the message is one line that says which."""


def missing_extra(exc: ModuleNotFoundError, *, needed_by: str) -> ModuleNotFoundError:
    """The one-line error for `exc` when the missing module belongs to an extra, else `exc` itself."""
    top = (exc.name or "").partition(".")[0]
    if top not in EXTRA_OF:
        return exc
    dist, extra = EXTRA_OF[top]
    if extra is None:
        line = f"{needed_by} needs {dist}, a dependency of numgrad that is not installed: pip install {dist}"
    else:
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

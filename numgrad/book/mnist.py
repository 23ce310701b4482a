"""Reading MNIST: the embedded 5,000-image subset, the standard IDX files, and the book's ``mnist.pkl``.

Every reader returns ``{"train_img", "train_label", "test_img", "test_label"}`` as uint8 arrays, images
flattened to (N, 784), the layout of the book's ``mnist.pkl``; every failure says which file, what was
expected there and what was found.
"""

from __future__ import annotations

import gzip
import importlib
import io
import os
import pickle
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

U8 = NDArray[np.uint8]
KEYS = ("train_img", "train_label", "test_img", "test_label")
IMAGE_SIDE = 28  # MNIST images are 28×28
PIXELS = IMAGE_SIDE * IMAGE_SIDE
CLASSES = 10
EMBEDDED = ("datasets", "mnist_5k.npz")  # package data: 500 images of each digit
PICKLE_NAME = "mnist.pkl"  # the book's cache of the four IDX files
IDX_NAMES = {  # the names of the files on LeCun's page and in the book's dataset/mnist.py
    "train_img": "train-images-idx3-ubyte.gz",
    "train_label": "train-labels-idx1-ubyte.gz",
    "test_img": "t10k-images-idx3-ubyte.gz",
    "test_label": "t10k-labels-idx1-ubyte.gz",
}
IDX_UBYTE = 0x08  # the IDX type code of unsigned bytes
# A pickle may name only these globals: what NumPy arrays are made of. Anything else (os.system, ...) is
# refused, so a hostile mnist.pkl cannot run code.
PICKLE_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
}  # fmt: skip


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which is not part of a NumPy array")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module.removeprefix("numpy.core.")  # NumPy 2 moved numpy.core
        return getattr(importlib.import_module(module), name)


def _error(path: Path, expected: str, got: str) -> ValueError:
    return ValueError(f"load_mnist: {path} is not {expected}: {got}")


def read_idx(path: Path, ndim: int) -> U8:
    """An IDX file of unsigned bytes with `ndim` dimensions, gzipped (``.gz``) or not."""
    what = f"an IDX file of unsigned bytes with {ndim} dimension{'s' * (ndim > 1)}"
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise _error(path, f"a readable {'gzip ' * (path.suffix == '.gz')}file", str(exc)) from None
    magic = int.from_bytes(raw[:4], "big")
    if len(raw) < 4 or magic != (IDX_UBYTE << 8 | ndim):
        raise _error(path, what, f"expected magic number 0x{IDX_UBYTE << 8 | ndim:08x}, got 0x{magic:08x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise _error(path, what, f"only {len(raw)} bytes, fewer than its {header}-byte header")
    dims = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    size = int(np.prod(dims))
    if len(raw) - header != size:
        raise _error(
            path, what, f"its header promises {size} values of shape {dims}, it holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_pickle(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = _ArraysOnly(fh).load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError) as exc:
        raise _error(path, "the book's mnist.pkl (a pickled dict of NumPy arrays)", str(exc)) from None
    if not isinstance(data, dict) or any(k not in data for k in KEYS):
        have = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise _error(path, "the book's mnist.pkl", f"expected a dict with keys {', '.join(KEYS)}; got {have}")
    return data


def _checked(data: dict[str, Any], where: Path | str) -> dict[str, U8]:
    """Images (N, 784) and labels (N,) of uint8, counts matching, labels in [0, 10)."""
    out: dict[str, U8] = {}
    for part in ("train", "test"):
        img, lab = np.asarray(data[f"{part}_img"]), np.asarray(data[f"{part}_label"])
        if img.dtype != np.uint8 or img.ndim < 2 or int(np.prod(img.shape[1:])) != PIXELS:
            raise ValueError(
                f"load_mnist: {where}: {part} images must be uint8 28×28 images; got {img.dtype} of "
                f"shape {img.shape}"
            )
        if (
            lab.shape != (len(img),)
            or lab.dtype.kind not in "iu"
            or np.any(lab >= CLASSES)
            or np.any(lab < 0)
        ):
            raise ValueError(
                f"load_mnist: {where}: {part} labels must be {len(img)} digits 0–9, one per image; got "
                f"{lab.dtype} of shape {lab.shape}"
            )
        out[f"{part}_img"], out[f"{part}_label"] = img.reshape(len(img), PIXELS), lab.astype(np.uint8)
    return out


def _idx_file(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def read_directory(path: str | os.PathLike[str]) -> dict[str, U8]:
    """The book's ``mnist.pkl`` in `path` if there is one, else the four standard IDX files."""
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"load_mnist: path must be a directory holding MNIST files; {directory} is "
                                f"{'a file' if directory.exists() else 'missing'}")  # fmt: skip
    if (directory / PICKLE_NAME).is_file():
        return _checked(read_pickle(directory / PICKLE_NAME), directory / PICKLE_NAME)
    files = {key: _idx_file(directory, name) for key, name in IDX_NAMES.items()}
    missing = [IDX_NAMES[k] for k, f in files.items() if f is None]
    if missing:
        raise FileNotFoundError(
            f"load_mnist: no MNIST data in {directory}: expected {PICKLE_NAME} (the book's pickle) or the "
            f"four IDX files {', '.join(IDX_NAMES.values())} (gzipped or not); missing: {', '.join(missing)}"
        )
    data = {key: read_idx(f, 3 if key.endswith("img") else 1) for key, f in files.items() if f is not None}
    return _checked(data, directory)


def read_embedded() -> tuple[U8, U8]:
    """The 5,000 embedded images (5000, 784) and labels (5000,), uint8."""
    resource = resources.files("numgrad.book").joinpath(*EMBEDDED)
    with resource.open("rb") as fh, np.load(io.BytesIO(fh.read())) as npz:
        images, labels = npz["images"], npz["labels"]
    return images.reshape(len(images), PIXELS), labels.astype(np.uint8)

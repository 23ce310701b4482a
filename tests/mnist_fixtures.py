"""Small MNIST-format files for tests: IDX (gzipped or not) and the book's mnist.pkl, written to a tmp dir."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

IDX_NAMES = {
    "train_img": "train-images-idx3-ubyte.gz",
    "train_label": "train-labels-idx1-ubyte.gz",
    "test_img": "t10k-images-idx3-ubyte.gz",
    "test_label": "t10k-labels-idx1-ubyte.gz",
}


def tiny_mnist(n_train: int = 12, n_test: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """Random uint8 28×28 images and digit labels, as the four arrays of the book's mnist.pkl."""
    rng = np.random.default_rng(seed)
    return {
        "train_img": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_label": (np.arange(n_train) % 10).astype(np.uint8),
        "test_img": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_label": (np.arange(n_test) % 10).astype(np.uint8),
    }


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding: magic 0x0000 08 ndim, big-endian dimensions, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(directory: Path, data: dict[str, np.ndarray], *, gz: bool = True) -> Path:
    for key, name in IDX_NAMES.items():
        raw = idx_bytes(data[key])
        if gz:
            (directory / name).write_bytes(gzip.compress(raw))
        else:
            (directory / name.removesuffix(".gz")).write_bytes(raw)
    return directory


def write_pickle(directory: Path, data: dict[str, np.ndarray]) -> Path:
    flat = {k: v.reshape(len(v), -1) if k.endswith("img") else v for k, v in data.items()}
    with (directory / "mnist.pkl").open("wb") as fh:
        pickle.dump(flat, fh, -1)
    return directory

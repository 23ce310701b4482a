"""Data for chapter 4: one-hot labels, seeded mini-batches and MNIST, with the book's dtypes and shapes.

``load_mnist()`` needs no download: it serves a 5,000-image MNIST subset shipped with numgrad (500 of each
digit), split into a fixed, class-balanced 4,000 training and 1,000 test images. ``load_mnist(path=DIR)``
reads the full MNIST from the standard IDX files or the book's ``mnist.pkl``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad.book import mnist as files
from numgrad.common.validate import class_labels, positive_int

__all__ = ["epoch_batches", "load_mnist", "one_hot", "sample_batch", "stratified_split"]

EMBEDDED_TEST_FRACTION = 0.2  # 100 of each digit's 500 embedded images: the 4,000 / 1,000 split
EMBEDDED_SPLIT_SEED = 20_160_924  # fixed, so every call on every machine gets the same split
Pair = tuple[NDArray[Any], NDArray[Any]]


def _generator(rng: object, func: str) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{func}: rng must be a numpy.random.Generator; got {type(rng).__name__}. "
            f"Pass rng=np.random.default_rng(seed)"
        )
    return rng


def _pair(x: ArrayLike, t: ArrayLike, func: str) -> Pair:
    xa, ta = np.asarray(x), np.asarray(t)
    if xa.ndim == 0 or ta.ndim == 0 or len(xa) != len(ta) or len(xa) == 0:
        raise ValueError(
            f"{func}: x and t must hold the same positive number of samples along axis 0; got shapes "
            f"{xa.shape} and {ta.shape}"
        )
    return xa, ta


def _classes(t: NDArray[Any], func: str) -> NDArray[np.intp]:
    """Class of each sample from labels (N,) or one-hot rows (N, C)."""
    if t.ndim == 2:
        return np.asarray(np.argmax(t, axis=1), dtype=np.intp)
    if t.ndim != 1:
        raise ValueError(f"{func}: t must be labels (N,) or one-hot rows (N, C); got shape {t.shape}")
    return class_labels(t, np.iinfo(np.intp).max, func)  # integers, none negative


def one_hot(labels: ArrayLike, num_classes: int | None = None) -> NDArray[np.float64]:
    """One-hot rows of integer `labels`: shape ``labels.shape + (num_classes,)``, float64 as the book's.

    Parameters
    ----------
    labels : array_like of int, any shape
    num_classes : int, optional
        Number of classes; by default ``max(labels) + 1``.

    Raises
    ------
    TypeError
        If labels are not integers.
    ValueError
        If a label is negative or not below `num_classes`, or the classes of empty labels are unknown.

    Examples
    --------
    >>> one_hot([2, 0], 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    a = np.asarray(labels)
    if num_classes is None:
        if a.dtype.kind not in "iu":
            class_labels(a, 1, "one_hot", "labels")  # the TypeError for non-integer labels
        if a.size == 0:
            raise ValueError("one_hot: num_classes cannot be inferred from empty labels; pass num_classes")
        num_classes = max(int(np.max(a)) + 1, 1)
    c = positive_int(num_classes, "one_hot", "num_classes")
    idx = class_labels(a, c, "one_hot", "labels")
    return np.asarray(np.eye(c)[idx], dtype=np.float64)


def sample_batch(x: ArrayLike, t: ArrayLike, batch_size: int, *, rng: np.random.Generator) -> Pair:
    """A mini-batch drawn with replacement, as the book's ``np.random.choice(train_size, batch_size)``.

    Returns copies ``(x[mask], t[mask])`` of shape ``(batch_size, ...)``.

    Examples
    --------
    >>> xb, tb = sample_batch(np.arange(10.0)[:, None], np.arange(10), 4, rng=np.random.default_rng(0))
    >>> xb.shape, tb.shape
    ((4, 1), (4,))
    """
    xa, ta = _pair(x, t, "sample_batch")
    size = positive_int(batch_size, "sample_batch", "batch_size")
    mask = _generator(rng, "sample_batch").integers(0, len(xa), size)
    return xa[mask], ta[mask]


def epoch_batches(
    x: ArrayLike, t: ArrayLike, batch_size: int, *, rng: np.random.Generator, drop_last: bool = False
) -> Iterator[Pair]:
    """One epoch of mini-batches without replacement: every sample once, in a random order.

    The last batch is smaller when `batch_size` does not divide N, unless ``drop_last=True``.

    Examples
    --------
    >>> batches = epoch_batches(np.zeros((10, 2)), np.arange(10), 4, rng=np.random.default_rng(0))
    >>> [len(tb) for _, tb in batches]
    [4, 4, 2]
    """
    xa, ta = _pair(x, t, "epoch_batches")
    size = positive_int(batch_size, "epoch_batches", "batch_size")
    order = _generator(rng, "epoch_batches").permutation(len(xa))
    stop = len(xa) - len(xa) % size if drop_last else len(xa)
    for a in range(0, stop, size):
        yield xa[order[a : a + size]], ta[order[a : a + size]]


def stratified_split(
    x: ArrayLike, t: ArrayLike, fraction: float, *, rng: np.random.Generator
) -> tuple[Pair, Pair]:
    """Split into ``(rest, held_out)`` with ``round(fraction·n_c)`` samples of each class c held out.

    Both parts come in a random order. `t` holds labels (N,) or one-hot rows (N, C).

    Examples
    --------
    >>> (xa, ta), (xb, tb) = stratified_split(np.zeros((10, 1)), np.arange(10) % 2, 0.2,
    ...                                       rng=np.random.default_rng(0))
    >>> sorted(tb.tolist()), len(ta)
    ([0, 1], 8)
    """
    xa, ta = _pair(x, t, "stratified_split")
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction < 1:
        raise ValueError(f"stratified_split: fraction must lie in (0, 1); got {fraction!r}")
    gen = _generator(rng, "stratified_split")
    classes = _classes(ta, "stratified_split")
    held = np.zeros(len(xa), dtype=bool)
    for c in np.unique(classes):
        members = np.flatnonzero(classes == c)
        held[gen.choice(members, round(fraction * len(members)), replace=False)] = True
    keep, out = gen.permutation(np.flatnonzero(~held)), gen.permutation(np.flatnonzero(held))
    return (xa[keep], ta[keep]), (xa[out], ta[out])


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"load_mnist: {name} must be True or False; got {value!r}")
    return bool(value)


def load_mnist(
    *,
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    path: str | os.PathLike[str] | None = None,
) -> tuple[Pair, Pair]:
    """MNIST as ``(x_train, t_train), (x_test, t_test)``, in the book's dtypes and shapes.

    Parameters
    ----------
    normalize : bool
        Images as float32 in [0, 1] (else uint8 in 0–255).
    flatten : bool
        Images as rows (N, 784) (else (N, 1, 28, 28)).
    one_hot_label : bool
        Labels as float64 one-hot rows (N, 10) (else uint8 (N,)).
    path : str or path-like, optional
        A directory with the book's ``mnist.pkl`` or the standard IDX files
        (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``,
        ``t10k-labels-idx1-ubyte.gz``, gzipped or not). By default the embedded 5,000 images, split into
        4,000 training and 1,000 test images (400 and 100 of each digit), the same split on every call.

    Raises
    ------
    FileNotFoundError
        If `path` is not a directory or holds neither ``mnist.pkl`` nor the four IDX files.
    ValueError
        If a file is corrupt or not what its name says (wrong magic number, truncated, mismatched counts).

    Examples
    --------
    >>> (x_train, t_train), (x_test, t_test) = load_mnist()
    >>> x_train.shape, x_train.dtype, t_train.shape, x_test.shape
    ((4000, 784), dtype('float32'), (4000,), (1000, 784))
    """
    flags = [
        _flag(v, n)
        for v, n in ((normalize, "normalize"), (flatten, "flatten"), (one_hot_label, "one_hot_label"))
    ]
    if path is not None and not isinstance(path, str | os.PathLike):
        raise TypeError(f"load_mnist: path must be a directory name or None; got {type(path).__name__}")
    if path is None:
        images, labels = files.read_embedded()
        rng = np.random.default_rng(EMBEDDED_SPLIT_SEED)
        (x_train, t_train), (x_test, t_test) = stratified_split(
            images, labels, EMBEDDED_TEST_FRACTION, rng=rng
        )
    else:
        data = files.read_directory(path)
        x_train, t_train, x_test, t_test = (data[k] for k in files.KEYS)
    return _book_format(x_train, t_train, *flags), _book_format(x_test, t_test, *flags)


def _book_format(
    x: NDArray[np.uint8], t: NDArray[np.uint8], normalize: bool, flatten: bool, hot: bool
) -> Pair:
    images: NDArray[Any] = x.astype(np.float32) / np.float32(255.0) if normalize else x.copy()
    if not flatten:
        images = images.reshape(-1, 1, files.IMAGE_SIDE, files.IMAGE_SIDE)
    return images, one_hot(t, files.CLASSES) if hot else t.copy()

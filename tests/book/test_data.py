"""numgrad.book.data: one-hot, mini-batches, the stratified split and MNIST in the book's dtypes and shapes,
from the embedded subset and from IDX / pickle files written here."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from mnist_fixtures import IDX_NAMES, idx_bytes, tiny_mnist, write_idx, write_pickle

from numgrad.book.data import epoch_batches, load_mnist, one_hot, sample_batch, stratified_split

RNG = np.random.default_rng(0)
U8 = np.uint8
X10, T10 = np.arange(20.0).reshape(10, 2), np.arange(10)


class Hostile:
    """Unpickling this would run a shell command."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: one_hot([0.0, 1.0]), TypeError, "one_hot: labels must hold integer class labels"),
        (lambda: one_hot([0, -1], 3), ValueError, r"labels must lie in \[0, 3\); got -1 at position 1"),
        (lambda: one_hot([0, 3], 3), ValueError, r"labels must lie in \[0, 3\); got 3"),
        (lambda: one_hot(np.array([], dtype=int)), ValueError, "cannot be inferred from empty labels"),
        (lambda: one_hot([1], 0), ValueError, "num_classes must be a positive integer"),
        (lambda: sample_batch(X10, T10, 3, rng=0), TypeError, "rng must be a numpy.random.Generator"),
        (lambda: sample_batch(X10, T10, 0, rng=RNG), ValueError, "batch_size must be a positive integer"),
        (lambda: sample_batch(X10, T10[:5], 3, rng=RNG), ValueError, r"same positive number of samples"),
        (lambda: next(epoch_batches(X10, T10, -2, rng=RNG)), ValueError, "epoch_batches: batch_size"),
        (lambda: next(epoch_batches(X10, T10, 2, rng=None)), TypeError, "epoch_batches: rng must be"),
        (lambda: stratified_split(X10, T10, 1.5, rng=RNG), ValueError, r"fraction must lie in \(0, 1\)"),
        (lambda: stratified_split(X10, T10 * 0.5, 0.2, rng=RNG), TypeError, "integer class labels"),
        (lambda: load_mnist(normalize=1), TypeError, "load_mnist: normalize must be True or False"),
        (lambda: load_mnist(path=3), TypeError, "load_mnist: path must be a directory name or None"),
        (lambda: load_mnist(path="/no/such/dir"), FileNotFoundError, "/no/such/dir is missing"),
    ],
    ids=[
        "one-hot-float-labels", "one-hot-negative", "one-hot-too-large", "one-hot-empty",
        "one-hot-zero-classes", "batch-rng-int", "batch-size-zero", "batch-length-mismatch",
        "epoch-negative-size", "epoch-rng-none",
        "split-fraction", "split-float-labels", "mnist-flag-int", "mnist-path-int", "mnist-missing-dir",
    ],
)  # fmt: skip
def test_input_validation(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------------------------------------
# one_hot and mini-batches


@given(hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=6), elements=st.integers(0, 9)))
def test_one_hot_rows_mark_the_labels(labels):
    hot = one_hot(labels, 10)
    assert hot.shape == (*labels.shape, 10)
    assert hot.dtype == np.float64
    np.testing.assert_array_equal(np.argmax(hot, axis=-1), labels)
    np.testing.assert_array_equal(hot.sum(axis=-1), 1.0)


def test_one_hot_infers_the_classes():
    np.testing.assert_array_equal(one_hot([2, 0]), [[0, 0, 1], [1, 0, 0]])


@st.composite
def datasets(draw):
    n = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**16))
    batch = draw(st.integers(1, 50))
    note(f"N={n} batch={batch} seed={seed}")
    return np.arange(n * 3.0).reshape(n, 3), np.arange(n) % 4, batch, seed


@given(datasets())
def test_sample_batch_draws_matching_rows_with_replacement(data):
    x, t, batch, seed = data
    xb, tb = sample_batch(x, t, batch, rng=np.random.default_rng(seed))
    assert xb.shape == (batch, 3)
    assert tb.shape == (batch,)
    rows = (xb[:, 0] / 3).astype(int)  # row r of x starts with 3r
    np.testing.assert_array_equal(tb, t[rows])
    again = sample_batch(x, t, batch, rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(again[0], xb)


def test_sample_batch_repeats_rows_as_the_book_does():
    xb, _ = sample_batch(X10, T10, 50, rng=np.random.default_rng(1))  # more than N: only with replacement
    assert len(np.unique(xb[:, 0])) < 50


@given(datasets())
def test_epoch_batches_visit_every_sample_once(data):
    x, t, batch, seed = data
    batches = list(epoch_batches(x, t, batch, rng=np.random.default_rng(seed)))
    assert all(len(tb) == batch for _, tb in batches[:-1])
    seen = np.concatenate([xb[:, 0] for xb, _ in batches])
    np.testing.assert_array_equal(np.sort(seen), x[:, 0])
    for xb, tb in batches:
        np.testing.assert_array_equal(tb, t[(xb[:, 0] / 3).astype(int)])
    dropped = list(epoch_batches(x, t, batch, rng=np.random.default_rng(seed), drop_last=True))
    assert sum(len(tb) for _, tb in dropped) == len(x) - len(x) % batch


@given(st.integers(0, 2**16), st.sampled_from([0.1, 0.25, 0.5]), st.booleans())
def test_stratified_split_holds_out_a_share_of_every_class(seed, fraction, hot):
    t = np.repeat(np.arange(4), [8, 12, 20, 4])
    x = np.arange(len(t) * 2.0).reshape(-1, 2)
    (xa, ta), (xb, tb) = stratified_split(
        x, one_hot(t) if hot else t, fraction, rng=np.random.default_rng(seed)
    )
    held = np.argmax(tb, axis=1) if hot else tb
    np.testing.assert_array_equal(np.bincount(held, minlength=4), np.round(fraction * np.bincount(t)))
    np.testing.assert_array_equal(np.sort(np.concatenate([xa[:, 0], xb[:, 0]])), x[:, 0])
    assert len(ta) + len(tb) == len(t)


# ---------------------------------------------------------------------------------------------------
# The embedded MNIST subset


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("flatten", [True, False])
@pytest.mark.parametrize("one_hot_label", [True, False])
def test_load_mnist_has_the_books_dtypes_and_shapes(normalize, flatten, one_hot_label):
    (x_train, t_train), (x_test, _) = load_mnist(
        normalize=normalize, flatten=flatten, one_hot_label=one_hot_label
    )
    image = (784,) if flatten else (1, 28, 28)
    assert x_train.shape == (4000, *image)
    assert x_test.shape == (1000, *image)
    assert x_train.dtype == x_test.dtype == (np.float32 if normalize else np.uint8)
    assert x_train.max() == (1.0 if normalize else 255)
    assert x_train.min() == 0
    assert t_train.shape == ((4000, 10) if one_hot_label else (4000,))
    assert t_train.dtype == (np.float64 if one_hot_label else np.uint8)


def test_embedded_split_is_fixed_balanced_and_disjoint():
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=False)
    np.testing.assert_array_equal(np.bincount(t_train), [400] * 10)
    np.testing.assert_array_equal(np.bincount(t_test), [100] * 10)
    assert not {r.tobytes() for r in x_train} & {r.tobytes() for r in x_test}
    (again, labels), _ = load_mnist(normalize=False)
    np.testing.assert_array_equal(again, x_train)
    np.testing.assert_array_equal(labels, t_train)
    assert len(set(t_train[:20].tolist())) > 1  # shuffled, not sorted by digit


def test_load_mnist_returns_fresh_arrays():
    (x_train, _), _ = load_mnist()
    x_train[:] = 0.5
    (again, _), _ = load_mnist()
    assert again.min() == 0.0


# ---------------------------------------------------------------------------------------------------
# Files: IDX (gzipped or not) and the book's mnist.pkl


@pytest.mark.parametrize("writer", ["idx-gz", "idx-raw", "pickle"])
def test_load_mnist_reads_standard_files(tmp_path, writer):
    data = tiny_mnist()
    if writer == "pickle":
        write_pickle(tmp_path, data)
    else:
        write_idx(tmp_path, data, gz=writer == "idx-gz")
    (x_train, _), (_, t_test) = load_mnist(path=tmp_path, normalize=False)
    np.testing.assert_array_equal(x_train, data["train_img"].reshape(12, 784))
    np.testing.assert_array_equal(t_test, data["test_label"])
    (xf, th), _ = load_mnist(path=str(tmp_path), flatten=False, one_hot_label=True)
    assert xf.shape == (12, 1, 28, 28)
    assert xf.dtype == np.float32
    np.testing.assert_allclose(xf[3, 0], data["train_img"][3] / 255.0, rtol=1e-7)
    np.testing.assert_array_equal(np.argmax(th, axis=1), data["train_label"])


def test_the_pickle_comes_first(tmp_path):
    write_idx(tmp_path, tiny_mnist(seed=1))
    write_pickle(tmp_path, tiny_mnist(n_train=7, seed=2))
    (x_train, _), _ = load_mnist(path=tmp_path)
    assert len(x_train) == 7


def _corrupt(key, array, cut=0):
    """A maker of a directory whose file `key` holds `array` (gzipped IDX, `cut` bytes short)."""

    def make(path):
        write_idx(path, tiny_mnist())
        raw = array if isinstance(array, bytes) else idx_bytes(array)
        (path / IDX_NAMES[key]).write_bytes(
            raw if isinstance(array, bytes) else gzip.compress(raw[: len(raw) - cut])
        )
        return path

    return make


def _pickled(obj):
    def make(path):
        (path / "mnist.pkl").write_bytes(obj if isinstance(obj, bytes) else pickle.dumps(obj))
        return path

    return make


def _file(path):
    (path / "f").write_text("x")
    return path / "f"


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda p: p, FileNotFoundError, r"expected mnist.pkl .* missing: train-images-idx3-ubyte.gz"),
        (_file, FileNotFoundError, "is a file"),
        (_corrupt("train_img", b"not gzip"), ValueError, "idx3-ubyte.gz is not a readable gzip file"),
        (_corrupt("train_img", np.zeros(3, U8)), ValueError, "magic number 0x00000803, got 0x00000801"),
        (_corrupt("test_label", np.zeros(5, U8), cut=2), ValueError, "its header promises 5 values"),
        (_corrupt("train_label", np.zeros(11, U8)), ValueError, "train labels must be 12 digits"),
        (_corrupt("train_label", np.full(12, 10, U8)), ValueError, "train labels must be 12 digits 0–9"),
        (_corrupt("test_img", np.zeros((5, 20, 20), U8)), ValueError, "test images must be uint8 28×28"),
        (_pickled({"a": Hostile()}), ValueError, "refers to .*system, which is not part of a NumPy array"),
        (_pickled({"train_img": 1}), ValueError, "expected a dict with keys train_img"),
        (_pickled(b"\x80\x05junk"), ValueError, "is not the book's mnist.pkl"),
    ],
    ids=[
        "empty-dir", "path-is-a-file", "not-gzip", "wrong-magic", "truncated", "count-mismatch", "label-10",
        "wrong-image-size", "hostile-pickle", "pickle-missing-keys", "pickle-garbage",
    ],
)  # fmt: skip
def test_bad_files_are_clear_errors(tmp_path, make, error, match):
    path = make(tmp_path)
    with pytest.raises(error, match=match):
        load_mnist(path=path)

"""Fixtures the CLI tests share."""

from __future__ import annotations

import numpy as np
import pytest
from mnist_fixtures import write_pickle

from numgrad.book.data import load_mnist


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    """The book's mnist.pkl holding 20 embedded training images of each digit (and 10 test images)."""
    (x, t), (xt, tt) = load_mnist(normalize=False)
    keep = np.concatenate([np.flatnonzero(t == d)[:20] for d in range(10)])
    data = {"train_img": x[keep], "train_label": t[keep], "test_img": xt[:10], "test_label": tt[:10]}
    return write_pickle(tmp_path_factory.mktemp("mnist"), data)

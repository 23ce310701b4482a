"""Smooth batched functions of a stack (k, n) -> (k,), for the property tests that compare the engine's
one-stack paths with its general path (test_repeated.py, test_fixed.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

SMOOTH: dict[str, Callable[[Any], Any]] = {
    "softmax-ish": lambda s: np.log(np.exp(s - s.max(axis=-1, keepdims=True)).sum(axis=-1)) - s[..., 0],
    "quartic": lambda s: (s**4 / 4 - s).sum(axis=-1),
    "log-sum-exp": lambda s: np.log(np.exp(s / 10).sum(axis=-1)),
    "sin·x": lambda s: (np.sin(s) * s).sum(axis=-1),
}

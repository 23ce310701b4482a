"""The baseline every benchmark is measured against: the book's numerical_gradient, as printed.

Element by element, in place, fixed h = 1e-4 (chapter 4, gradient.py of Deep Learning from Scratch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def textbook_numerical_gradient(f: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
    h = 1e-4
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx]
        x[idx] = float(tmp_val) + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
        it.iternext()
    return grad

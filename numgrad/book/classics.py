"""Classic functions to watch gradient descent on, each with the start and learning rates that show its
lesson. Written with indexing and arithmetic only, so NumPy and JAX arrays both flow through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def book(x: Any) -> Any:
    """The book's ``function_2``: x0² + x1² (chapter 4)."""
    return x[0] ** 2 + x[1] ** 2


def elongated(x: Any) -> Any:
    """x0²/20 + x1², the elongated bowl of chapter 6: steep across, shallow along."""
    return x[0] ** 2 / 20 + x[1] ** 2


def rosenbrock(x: Any) -> Any:
    """(1 − x0)² + 100·(x1 − x0²)²: a curved valley whose floor is nearly flat."""
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


@dataclass(frozen=True)
class Classic:
    f: Callable[[Any], Any]
    formula: str
    start: tuple[float, float]
    lrs: tuple[float, ...]  # learning rates that show the function's lesson
    steps: int
    minimum: tuple[float, float]
    window: tuple[tuple[float, float], tuple[float, float]]  # (x0 limits, x1 limits) of the picture
    lesson: str


CLASSICS: dict[str, Classic] = {
    "book": Classic(
        book, "x0² + x1²", (-3.0, 4.0), (0.1, 10.0, 1e-10), 100, (0.0, 0.0), ((-4.5, 4.5), (-4.5, 4.5)),
        "lr = 0.1 converges, lr = 10 diverges, lr = 1e-10 barely moves (L = 2: stable below 2/L = 1)",
    ),
    "elongated": Classic(
        elongated, "x0²/20 + x1²", (-7.0, 2.0), (0.95, 1.05, 0.1), 100, (0.0, 0.0),
        ((-8.0, 8.0), (-4.0, 4.0)),
        "L = 2, μ = 0.1: lr just under 2/L zigzags across, just over it diverges, small lr crawls along",
    ),
    "rosenbrock": Classic(
        rosenbrock, "(1 − x0)² + 100·(x1 − x0²)²", (-1.2, 1.0), (1e-3, 2e-3, 1e-2), 1000, (1.0, 1.0),
        ((-2.0, 2.0), (-1.0, 3.0)),
        "the valley floor is flat: small lr crawls, lr = 1e-2 overshoots the steep walls and diverges",
    ),
}  # fmt: skip

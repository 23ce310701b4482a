"""Timing in one process: the median of repeated runs, and ratios against a baseline measured alongside."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def median_seconds(run: Callable[[], Any], *, repeat: int = 5, min_time: float = 0.2) -> float:
    """Median wall time of `run`, each sample looping until `min_time` has passed (for fast calls)."""
    run()  # warm-up: imports, caches, JIT
    samples = []
    for _ in range(repeat):
        loops, start = 0, time.perf_counter()
        while True:
            run()
            loops += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time or loops >= 1000:
                break
        samples.append(elapsed / loops)
    return statistics.median(samples)


def machine_info() -> str:
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{i['internal_api']} {i.get('version', '')}".strip() for i in threadpool_info())
    except ImportError:  # pragma: no cover - threadpoolctl ships with scipy's dependencies
        blas = "unknown BLAS"
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, {blas}"


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")

"""The `numgrad bench --plot` figure: time against n on log axes, one line per method, with O(n) and
O(n²) reference slopes; every series has its own colour, line style and marker, the legend sits outside."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from numgrad.bench.measure import BenchRow
from numgrad.common.figures import save_figure

# 12 colours that a reader tells apart (matplotlib's ten, black and gold), one per series in turn
COLOURS = (*(f"C{i}" for i in range(10)), "black", "goldenrod")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
STYLES = {"numgrad": "-", "JAX": "--", "jax": "--", "scipy": "-."}  # by the method's first word; else ":"
REFERENCE_SLOPES = {"O(n)": 1, "O(n²)": 2}
DPI = 120


def _style(method: str) -> str:
    return STYLES.get(method.replace(".", " ").split(" ", maxsplit=1)[0], ":")


def scaling_figure(rows: list[BenchRow]) -> Any:
    """The matplotlib Figure of the scaling family's rows (see the module's docstring)."""
    from matplotlib.figure import Figure

    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in rows:
        if r.family == "scaling":
            series[r.method].append((r.n, r.seconds))
    fig = Figure(figsize=(9.5, 5.0), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    for i, (method, pts) in enumerate(sorted(series.items())):
        pts.sort()
        ax.loglog(
            [p[0] for p in pts], [p[1] for p in pts], label=method, color=COLOURS[i % len(COLOURS)],
            ls=_style(method), marker=MARKERS[i % len(MARKERS)], ms=5, lw=1.4,
        )  # fmt: skip
    _reference_slopes(ax, series)
    ax.set_xlabel("n (number of parameters)")
    ax.set_ylabel("seconds per gradient")
    ax.set_title("Gradient time against n: smooth function, every f costs O(n)")
    ax.grid(True, which="both", alpha=0.3)
    if series:
        key = "solid: numgrad, dashed: JAX, dash-dot: SciPy"
        fig.legend(loc="outside right upper", fontsize=8, title=key, title_fontsize=8)
    return fig


def _reference_slopes(ax: Any, series: dict[str, list[tuple[int, float]]]) -> None:
    """Grey lines of slope 1 and 2 through the geometric mean of the times at the smallest n."""
    if not series:
        return
    ns = np.array(sorted({n for pts in series.values() for n, _ in pts}), dtype=float)
    if ns.size < 2:
        return
    first = [t for pts in series.values() for n, t in pts if n == ns[0] and t > 0]
    anchor = float(np.exp(np.mean(np.log(first))))
    for (label, k), ls in zip(REFERENCE_SLOPES.items(), ((0, (1, 1)), (0, (4, 2, 1, 2))), strict=True):
        ts = anchor * (ns / ns[0]) ** k
        ax.loglog(ns, ts, color="0.45", lw=2.2, ls=ls, alpha=0.7, label=f"{label} slope")
        ax.annotate(label, (ns[-1], ts[-1]), xytext=(4, 0), textcoords="offset points", color="0.3",
                    fontsize=9, va="center")  # fmt: skip


def plot_scaling(rows: list[BenchRow], path: str | Path) -> Path:
    """Write :func:`scaling_figure` to `path`, in the format of its extension (png, svg, pdf)."""
    return save_figure(scaling_figure(rows), path, dpi=DPI)

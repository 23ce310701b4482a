"""The error heatmap of a gradient check (matplotlib's object API: no pyplot, no global backend)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from numgrad.checking.report import GradientReport

DECADES = 3.0  # the colour scale spans error/tolerance from 10**-3 (far inside) to 10**3 (far outside)


def _as_2d(a: NDArray[Any]) -> NDArray[Any]:
    return a.reshape(1, -1) if a.ndim == 1 else a.reshape(a.shape[0], -1)


def save_heatmap(report: GradientReport, path: Path, *, title: str | None) -> Path:
    """``log10(error / tolerance)`` per element: blue within tolerance, red beyond; kinks crossed."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(report.tolerances > 0, report.abs_errors / report.tolerances, np.inf)
    shown = _as_2d(np.clip(np.log10(np.where(ratio > 0, ratio, 10**-DECADES)), -DECADES, DECADES))
    shown = np.where(_as_2d(report.kinks), np.nan, shown)  # a kink is neither right nor wrong: grey
    rows, cols = shown.shape
    fig = Figure(figsize=(min(12.0, 2.0 + 0.35 * cols), min(9.0, 1.8 + 0.35 * rows)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cmap = colormaps["coolwarm"].with_extremes(bad="lightgrey")
    image = ax.imshow(shown, cmap=cmap, vmin=-DECADES, vmax=DECADES, aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="log10(error / tolerance): > 0 is wrong")
    ky, kx = np.nonzero(_as_2d(report.kinks))
    if ky.size:
        ax.scatter(kx, ky, marker="x", color="black", label="kink (not wrong)")
        ax.legend(loc="upper right", fontsize="small")
    shape = report.abs_errors.shape
    reshaped = "" if len(shape) <= 2 else f" (x of shape {shape} drawn as {shown.shape})"
    ax.set_title(title or f"{report.message}{reshaped}", fontsize="small", wrap=True)
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path

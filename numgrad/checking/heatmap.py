"""The error heatmap of a gradient check (matplotlib's object API: no pyplot, no global backend)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from numgrad.common.figures import save_figure

if TYPE_CHECKING:
    from numgrad.checking.report import GradientReport

DECADES = 3.0  # the colour scale spans error/tolerance from 10**-3 (far inside) to 10**3 (far outside)
DPI = 100
TITLE_CHARS_PER_INCH = 9  # a long title (a path to the user's file) is wrapped to the figure's width


def _as_2d(a: NDArray[Any]) -> NDArray[Any]:
    return a.reshape(1, -1) if a.ndim == 1 else a.reshape(a.shape[0], -1)


def _ratios(report: GradientReport) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(
            np.where(report.tolerances > 0, report.abs_errors / report.tolerances, np.inf), dtype=np.float64
        )


def heatmap_figure(report: GradientReport, *, title: str | None = None) -> Any:
    """The matplotlib Figure of ``log10(error / tolerance)`` per element (see :func:`save_heatmap`)."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ratio = _ratios(report)
    logs = np.log10(np.where(ratio > 0, ratio, 10**-DECADES))
    shown = _as_2d(np.clip(logs, -DECADES, DECADES))
    kinks = _as_2d(report.kinks)
    shown = np.where(kinks, np.nan, shown)  # a kink is neither right nor wrong: grey
    rows, cols = shown.shape
    fig = Figure(figsize=(min(12.0, 3.2 + 0.35 * cols), min(9.0, 2.8 + 0.35 * rows)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cmap = colormaps["coolwarm"].with_extremes(bad="lightgrey")
    image = ax.imshow(shown, cmap=cmap, vmin=-DECADES, vmax=DECADES, aspect="auto", interpolation="nearest")
    _colour_bar(fig, ax, image, logs[~report.kinks])
    ky, kx = np.nonzero(kinks)
    if ky.size:
        ax.scatter(kx, ky, marker="x", color="black", label="kink (not wrong)")
    _mark_worst(ax, report, ratio)
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.14), fontsize="small", ncol=2, frameon=False)
    shape = report.abs_errors.shape
    reshaped = "" if len(shape) <= 2 else f", x of shape {shape} drawn as {shown.shape}"
    size = report.abs_errors.size
    verdict = "passed" if report.passed else f"FAILED: {report.failures} of {size} beyond tolerance"
    heading = textwrap.fill(title or "gradient check", width=int(TITLE_CHARS_PER_INCH * fig.get_figwidth()))
    heading = heading.replace("$", r"\$")  # a user's title is text, not mathtext
    ax.set_title(f"{heading}\n{report.dtype}, {report.mode} mode, {verdict}{reshaped}", fontsize="medium")
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    return fig


def _colour_bar(fig: Any, ax: Any, image: Any, logs: NDArray[np.float64]) -> None:
    """Ticks at every decade; the ends say that they clip, and how far the largest ratio went."""
    over, under = bool(np.any(logs > DECADES)), bool(np.any(logs < -DECADES))
    extend = {(True, True): "both", (True, False): "max", (False, True): "min"}.get((over, under), "neither")
    bar = fig.colorbar(image, ax=ax, extend=extend)
    ticks = np.arange(-DECADES, DECADES + 1)
    labels = [f"$10^{{{int(t)}}}$" for t in ticks]
    labels[0], labels[-1] = f"≤ {labels[0]}", f"≥ {labels[-1]}"
    bar.set_ticks(ticks, labels=labels)
    top = float(np.max(logs)) if logs.size else 0.0
    beyond = int(np.count_nonzero(logs > DECADES))
    clipped = f"{beyond} of {logs.size} beyond the top (max {10**top:.2g}×)" if beyond else "none beyond"
    bar.set_label(f"error / tolerance (> 1 is wrong)\nscale clipped at $10^{{\\pm{DECADES:g}}}$: {clipped}")


def _mark_worst(ax: Any, report: GradientReport, ratio: NDArray[np.float64]) -> None:
    """A black square around the element with the largest error / tolerance, and its numbers."""
    (worst,) = report.worst(1)
    flat = int(np.ravel_multi_index(worst, report.abs_errors.shape)) if worst else 0
    r, c = np.unravel_index(flat, _as_2d(report.abs_errors).shape)
    label = (
        f"worst {worst}: error {float(report.abs_errors[worst]):.2g} = "
        f"{float(ratio[worst]):.3g}× tolerance"
    )
    ax.scatter([c], [r], marker="s", s=260, facecolors="none", edgecolors="black", linewidths=2.2,
               label=label)  # fmt: skip


def save_heatmap(report: GradientReport, path: Path, *, title: str | None) -> Path:
    """``log10(error / tolerance)`` per element: blue within tolerance, red beyond; kinks crossed; the
    worst element boxed; written in the format of `path`'s extension (png, svg, pdf)."""
    return save_figure(heatmap_figure(report, title=title), path, dpi=DPI, make_parents=True)

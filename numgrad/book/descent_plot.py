"""The picture of a learning-rate study: contours of f, the −∇f arrow field (the book's figure 4-9) and
the path of each run (figure 4-10); a diverging path is drawn to the edge of the window and marked there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.book.optimize import DescentResult
from numgrad.common.figures import save_figure
from numgrad.differences.gradient import numerical_gradient

CONTOUR_GRID = 160  # points per axis for the contours: smooth rings at the figure's resolution
ARROW_GRID = 17  # arrows per axis, as dense as the book's figure 4-9
CONTOUR_LEVELS = 14
WINDOW_PAD = 0.15  # share of the span added on each side around the paths
MIN_HALF_WIDTH = 0.5  # times max(1, |x|): a window around a lone start still shows its surroundings
ARROW_GAMMA = 0.5  # arrow length ∝ |∇f|**gamma: steep walls do not dwarf the rest of the field
AXES_WIDTH = 6.5  # inches; the axes' height follows the window's aspect within AXES_HEIGHT
AXES_HEIGHT = (3.0, 6.5)
FRAME = (1.0, 1.8)  # inches around the axes: (width, height) for labels, title and legend
MAX_MARKERS = 60  # a path with more points is marked at every k-th point only
TINY_MOVE = 0.01  # a run that moved less than this share of the window is ringed and labelled
LABELLED_LEVELS = 2  # every second contour carries its value
DIVERGED_WIDTH = 5.0  # a diverging path is a wide translucent band: the paths it crosses stay visible
DPI = 100

Window = tuple[tuple[float, float], tuple[float, float]]


def descent_figure(
    f: Callable[[Any], Any],
    runs: Sequence[tuple[float, DescentResult]],
    out: str,
    *,
    title: str,
    window: Window | None = None,
    minimum: tuple[float, float] | None = None,
    h: float | None = None,
) -> Any:
    """Write the picture to `out` (format from its extension: png, svg, pdf) and return the Figure:
    contours of 2-D `f` with their values, −∇f arrows, and the path of each ``(lr, result)`` run."""
    fig = draw_descent(f, runs, title=title, window=window, minimum=minimum, h=h)
    save_figure(fig, out, dpi=DPI)
    return fig


def draw_descent(
    f: Callable[[Any], Any],
    runs: Sequence[tuple[float, DescentResult]],
    *,
    title: str,
    window: Window | None = None,
    minimum: tuple[float, float] | None = None,
    h: float | None = None,
) -> Any:
    """The matplotlib Figure of :func:`descent_figure`, unsaved."""
    from matplotlib.figure import Figure

    (x_lo, x_hi), (y_lo, y_hi) = box = _window(runs, window)
    ratio = (y_hi - y_lo) / (x_hi - x_lo)
    height = float(np.clip(AXES_WIDTH * ratio, *AXES_HEIGHT))
    fig = Figure(figsize=(AXES_WIDTH + FRAME[0], height + FRAME[1]), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    _contours(ax, f, box)
    arrows = _arrows(ax, f, box, h)
    start = runs[0][1].path[0]
    # paths that went further are drawn first: a shorter one on the same track stays visible on top
    handles: list[Any] = [None] * len(runs)
    for rank, i in enumerate(np.argsort([_travelled(r) for _, r in runs], kind="stable")[::-1]):
        lr, res = runs[i]
        handles[i] = _draw_run(ax, lr, res, box, f"C{i}", zorder=3 + rank * 0.01)
    handles += ax.plot(*start, marker="*", ms=14, color="black", ls="none", label=f"start {_pair(start)}")
    if minimum is not None:
        handles += ax.plot(*minimum, marker="P", ms=10, color="black", mfc="white", ls="none",
                           label=f"minimum {_pair(minimum)}")  # fmt: skip
    ax.axhline(0, color="0.3", lw=0.6, ls="--")
    ax.axvline(0, color="0.3", lw=0.6, ls="--")
    ax.set(xlim=(x_lo, x_hi), ylim=(y_lo, y_hi), xlabel="x0", ylabel="x1", title=title)
    if AXES_HEIGHT[0] <= AXES_WIDTH * ratio <= AXES_HEIGHT[1]:
        ax.set_aspect("equal")
    fig.legend(handles=[*handles, arrows], loc="outside lower center", ncol=2, fontsize=9, frameon=False)
    for i, (lr, res) in enumerate(runs):
        if _travelled(res) < TINY_MOVE * min(x_hi - x_lo, y_hi - y_lo):
            _mark_tiny(ax, lr, res, f"C{i}")
    return fig


def _window(runs: Sequence[tuple[float, DescentResult]], window: Window | None) -> Window:
    """The preset window, grown to hold the start and every path that went downhill (plus a margin);
    a run that diverged or ended above its starting value is cut at the edge instead."""
    pts = [r.path.reshape(len(r.path), -1) for _, r in runs if _descended(r)]
    pts.append(runs[0][1].path[:1].reshape(1, -1))
    xy = np.concatenate(pts).astype(np.float64)
    xy = xy[np.all(np.isfinite(xy), axis=1)]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    scale = max(1.0, float(np.abs(xy).max()))
    half = np.maximum((hi - lo) / 2 * (1 + 2 * WINDOW_PAD), MIN_HALF_WIDTH * scale)
    lo, hi = (lo + hi) / 2 - half, (lo + hi) / 2 + half
    if window is not None:
        lo = np.minimum(lo, [window[0][0], window[1][0]])
        hi = np.maximum(hi, [window[0][1], window[1][1]])
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def _contours(ax: Any, f: Callable[[Any], Any], box: Window) -> None:
    gx, gy = np.linspace(*box[0], CONTOUR_GRID), np.linspace(*box[1], CONTOUR_GRID)
    z = _grid_values(f, gx, gy)
    levels = _levels(z)
    ax.contourf(gx, gy, z, levels=levels, cmap="Blues_r", alpha=0.35, extend="both")
    rings = ax.contour(gx, gy, z, levels=levels, colors="0.55", linewidths=0.6)
    ax.clabel(rings, levels=rings.levels[::LABELLED_LEVELS], fmt=_level_label, fontsize=8, colors="0.1",
              inline=True, zorder=2.2)  # fmt: skip


def _level_label(value: float) -> str:
    """A contour's value in two significant digits: 0.52, 3.1, 25, 190, 1.2e+04."""
    return f"{float(f'{value:.2g}'):g}" if abs(value) < 1e4 else f"{value:.1e}"


def _grid_values(f: Callable[[Any], Any], gx: NDArray[Any], gy: NDArray[Any]) -> NDArray[np.float64]:
    z = np.empty((gy.size, gx.size))
    with np.errstate(all="ignore"):
        for i, y in enumerate(gy):
            for j, x in enumerate(gx):
                z[i, j] = float(np.asarray(f(np.array([x, y]))).reshape(()))
    return z


def _levels(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Contour levels evenly spaced in log(f − min f): rings near the minimum and on steep walls alike."""
    finite = z[np.isfinite(z)]
    low = float(finite.min())
    rise = finite - low
    top = float(np.quantile(rise, 0.95))
    small = float(np.quantile(rise[rise > 0], 0.01)) if np.any(rise > 0) else 1.0
    if top <= small:
        return np.linspace(low, low + max(top, 1.0), CONTOUR_LEVELS)
    return low + np.geomspace(small, top, CONTOUR_LEVELS)


def _arrows(ax: Any, f: Callable[[Any], Any], box: Window, h: float | None) -> Any:
    """−∇f on a grid, length ∝ |∇f|**ARROW_GAMMA, scaled so the longest arrow spans one grid cell."""
    (x_lo, x_hi), (y_lo, y_hi) = box
    ax_x, ax_y = np.linspace(x_lo, x_hi, ARROW_GRID), np.linspace(y_lo, y_hi, ARROW_GRID)
    gx, gy = np.meshgrid(ax_x, ax_y)
    g = np.full((*gx.shape, 2), np.nan)
    for idx in np.ndindex(gx.shape):
        try:
            g[idx] = numerical_gradient(f, np.array([gx[idx], gy[idx]]), h=h)
        except FloatingPointError:
            continue
    norm = np.hypot(g[..., 0], g[..., 1])
    top = float(np.nanmax(norm)) if np.any(norm > 0) else 1.0
    with np.errstate(all="ignore"):
        length = (norm / top) ** ARROW_GAMMA / np.where(norm > 0, norm, np.inf)
    cell = np.array([(x_hi - x_lo), (y_hi - y_lo)]) / (ARROW_GRID - 1)
    u, v = -g[..., 0] * length * cell[0] * 0.9, -g[..., 1] * length * cell[1] * 0.9
    ax.quiver(gx, gy, u, v, angles="xy", scale_units="xy", scale=1, color="0.35", width=0.0025)
    return ax.plot([], [], color="0.35", marker=r"$\rightarrow$", ms=14, ls="none",
                   label="−∇f (length ∝ √|∇f|)")[0]  # fmt: skip


def _descended(res: DescentResult) -> bool:
    return res.status != "diverged" and bool(res.values[-1] <= res.values[0])


def _travelled(res: DescentResult) -> float:
    xy = res.path.reshape(len(res.path), -1).astype(np.float64)
    with np.errstate(over="ignore"):  # a run gone to 1e300: its length is inf, not a warning
        return float(np.linalg.norm(xy[-1] - xy[0])) if np.all(np.isfinite(xy[-1])) else np.inf


def _pair(p: Any) -> str:
    return "(" + ", ".join(f"{float(v):g}" for v in p) + ")"


def _draw_run(ax: Any, lr: float, res: DescentResult, box: Window, color: str, *, zorder: float) -> Any:
    """The path up to where it leaves the window; a diverging one is cut at the edge, dashed and drawn
    under the others (its first step often runs along theirs), and marked where it leaves."""
    xy = res.path.reshape(len(res.path), -1).astype(np.float64)
    steps = f"{res.steps} step{'' if res.steps == 1 else 's'}"
    label = f"lr = {lr:g}: {res.status} after {steps}, moved {_travelled(res):.2g}"
    diverged = res.status == "diverged"
    style: dict[str, Any] = {"color": color, "lw": 1.2, "ls": "-", "zorder": zorder}
    if diverged:  # a band under the thin paths, from the start: it shares their first stretch
        style = {"color": color, "lw": DIVERGED_WIDTH, "alpha": 0.45, "solid_capstyle": "butt", "zorder": 2.5}
    marks = {"marker": "o", "ms": 3.5, "markevery": max(1, len(xy) // MAX_MARKERS)}
    inside = _inside(xy, box)
    if inside.all():
        return ax.plot(xy[:, 0], xy[:, 1], label=label, **style, **marks)[0]
    out = int(np.argmin(inside))  # first point outside the window (the start is always inside)
    edge = _clip(xy[out - 1], xy[out], box)
    (line,) = ax.plot(xy[:out, 0], xy[:out, 1], label=label, **style, **marks)
    ax.plot([xy[out - 1, 0], edge[0]], [xy[out - 1, 1], edge[1]], **style)
    ax.plot(*edge, marker="X", ms=9, color=color, ls="none", zorder=4)
    right = edge[0] > (box[0][0] + box[0][1]) / 2
    top = edge[1] > (box[1][0] + box[1][1]) / 2
    ax.annotate(
        f"{'diverged' if diverged else 'climbing'}: step {out} leaves the picture", edge,
        xytext=(-0.8 if right else 0.8, -0.8 if top else 0.8), textcoords="offset fontsize",
        color=color, fontsize=9, zorder=5, ha="right" if right else "left", va="top" if top else "bottom",
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
    )  # fmt: skip
    return line


def _inside(xy: NDArray[np.float64], box: Window) -> NDArray[np.bool_]:
    (x_lo, x_hi), (y_lo, y_hi) = box
    with np.errstate(invalid="ignore"):
        return (xy[:, 0] >= x_lo) & (xy[:, 0] <= x_hi) & (xy[:, 1] >= y_lo) & (xy[:, 1] <= y_hi)


def _clip(a: NDArray[np.float64], b: NDArray[np.float64], box: Window) -> NDArray[np.float64]:
    """Where the segment from `a` (inside) towards `b` (outside, maybe non-finite) meets the window's edge."""
    d = np.where(np.isfinite(b), b - a, np.sign(np.nan_to_num(b)) * 1e300)
    t = 1.0
    for k, (lo, hi) in enumerate(box):
        if d[k] > 0:
            t = min(t, (hi - a[k]) / d[k])
        elif d[k] < 0:
            t = min(t, (lo - a[k]) / d[k])
    return np.asarray(a + t * d, dtype=np.float64)


def _mark_tiny(ax: Any, lr: float, res: DescentResult, color: str) -> None:
    """A run too short to see at the window's scale: a ring around its end and a label that says so."""
    end = res.path.reshape(len(res.path), -1)[-1].astype(np.float64)
    ax.plot(*end, marker="o", ms=20, mfc="none", mec=color, mew=2.5, ls="none", zorder=6)
    ax.annotate(
        f"lr = {lr:g} ends here: moved only {_travelled(res):.1g}", end, xytext=(1.6, -1.6),
        textcoords="offset fontsize", color=color, fontsize=9, zorder=6,
        arrowprops={"arrowstyle": "->", "color": color},
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
    )  # fmt: skip

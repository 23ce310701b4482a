"""Writing a matplotlib Figure in the format its file name asks for (``.svg``, ``.pdf``, ``.png``, ...),
with nothing it draws cut off."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

__all__ = ["PLOT_FORMATS", "figure_format", "save_figure"]

PLOT_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp")  # matplotlib's own
DEFAULT_FORMAT = "png"  # a name without an extension


def figure_format(path: str | Path) -> str:
    """The format named by `path`'s extension (``png`` without one).

    Raises
    ------
    ValueError
        If the extension is not a format matplotlib writes.

    Examples
    --------
    >>> figure_format("descent.svg"), figure_format("out/curves.PDF"), figure_format("plot")
    ('svg', 'pdf', 'png')
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if not suffix:
        return DEFAULT_FORMAT
    if suffix not in PLOT_FORMATS:
        known = ", ".join("." + f for f in PLOT_FORMATS)
        raise ValueError(f"plot file {str(path)!r}: the extension must be one of {known}; got .{suffix}")
    return suffix


def save_figure(fig: Any, path: str | Path, *, dpi: float, make_parents: bool = False) -> Path:
    """Write `fig` to `path` in the format of its extension (with `make_parents`, folders are created).

    The saved canvas is grown or trimmed to what the figure draws (``bbox_inches="tight"``), so a title,
    label or legend wider than the figure is saved whole, never cut at the edge.
    """
    fmt = figure_format(path)
    out = Path(path)
    if out.is_dir():
        raise IsADirectoryError(
            f"plot file {str(path)!r} is a directory; give a file name in it ({str(out / 'plot.png')!r})"
        )
    try:
        if make_parents:
            out.parent.mkdir(parents=True, exist_ok=True)
        # PostScript has no transparency: its backend logs that translucent artists (a contour's fill, a
        # legend's frame) are drawn opaque, on stderr beside the command's own output. They are, quietly.
        ps_log = logging.getLogger("matplotlib.backends.backend_ps")
        level = ps_log.level
        ps_log.setLevel(logging.ERROR)
        try:
            fig.savefig(out, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.1)
        finally:
            ps_log.setLevel(level)
    except OSError as exc:  # a missing folder (without make_parents), no permission, a full disk
        raise type(exc)(exc.errno, f"plot file {str(path)!r} could not be written: {exc.strerror}") from None
    return out

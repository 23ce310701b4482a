"""Saving a picture: the format its file name asks for, and nothing cut off at the figure's edge."""

from __future__ import annotations

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread

from numgrad.common.figures import figure_format, save_figure

DPI = 100


def _too_narrow_for_its_title() -> tuple[Figure, float]:
    """A 3-inch figure whose title is about twice that wide (the heatmap of a (10, 3) gradient had one)."""
    fig = Figure(figsize=(3.0, 2.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    title = ax.set_title("ce:loss against ce:grad, float64, full mode, FAILED: 30 of 30 beyond tolerance")
    fig.canvas.draw()
    width = title.get_window_extent(fig.canvas.get_renderer()).width  # pixels at the figure's dpi
    assert width > 1.5 * fig.get_figwidth() * fig.dpi  # the premise: the title overflows the figure
    return fig, width


def test_a_title_wider_than_the_figure_is_saved_whole(tmp_path):
    fig, title_px = _too_narrow_for_its_title()
    fig.set_dpi(DPI)
    out = save_figure(fig, tmp_path / "narrow.png", dpi=DPI)
    saved_px = imread(out).shape[1]
    assert saved_px >= title_px * DPI / fig.dpi  # the whole title is on the canvas (was clipped at 300 px)
    assert saved_px > fig.get_figwidth() * DPI


@pytest.mark.parametrize(("name", "magic"), [("a.png", b"\x89PNG"), ("a.svg", b"<?xml"), ("a.pdf", b"%PDF")])
def test_the_extension_picks_the_format(tmp_path, name, magic):
    fig, _ = _too_narrow_for_its_title()
    out = save_figure(fig, tmp_path / name, dpi=DPI)
    assert out.read_bytes().startswith(magic)
    assert figure_format(name) == name.rsplit(".", 1)[1]

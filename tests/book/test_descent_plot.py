"""The learning-rate picture, inspected as a matplotlib Figure: every run visible and told apart."""

from __future__ import annotations

import numpy as np
import pytest

from numgrad.book.classics import CLASSICS
from numgrad.book.descent_plot import descent_figure, draw_descent
from numgrad.book.optimize import gradient_descent

BOOK = CLASSICS["book"]


@pytest.fixture(scope="module")
def book_figure():
    runs = [(lr, gradient_descent(BOOK.f, np.array(BOOK.start), lr, 100, h=1e-4)) for lr in (0.1, 10.0, 1e-10)]
    fig = draw_descent(BOOK.f, runs, title="book", window=BOOK.window, minimum=BOOK.minimum, h=1e-4)
    return fig, runs


def _path(ax, lr):
    (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith(f"lr = {lr:g}:")]
    return line


def test_diverging_path_starts_at_the_start_and_is_told_apart(book_figure):
    fig, _ = book_figure
    ax = fig.axes[0]
    slow, wild = _path(ax, 0.1), _path(ax, 10)
    assert np.asarray(wild.get_xydata())[0].tolist() == list(BOOK.start)  # not at the minimum
    assert wild.get_color() != slow.get_color()
    assert wild.get_linewidth() >= 3 * slow.get_linewidth()  # a band around the converging path
    assert wild.get_alpha() < 1
    assert slow.get_zorder() > wild.get_zorder()  # the thin path on top stays visible
    assert "diverged" in wild.get_label()
    assert any("diverged: step 1 leaves the picture" in t.get_text() for t in ax.texts)


def test_a_run_that_barely_moved_is_ringed_and_labelled(book_figure):
    fig, runs = book_figure
    ax = fig.axes[0]
    end = runs[2][1].x.tolist()
    rings = [ln for ln in ax.get_lines() if ln.get_marker() == "o" and ln.get_markersize() >= 15]
    assert len(rings) == 1
    assert np.asarray(rings[0].get_xydata())[0].tolist() == end
    assert rings[0].get_markeredgecolor() == _path(ax, 1e-10).get_color()
    star = next(ln for ln in ax.get_lines() if ln.get_marker() == "*")
    assert rings[0].get_zorder() > star.get_zorder()  # drawn over the start marker
    assert any(t.get_text().startswith("lr = 1e-10 ends here: moved only 1e-07") for t in ax.texts)


def test_contour_levels_carry_their_values(book_figure):
    fig, _ = book_figure
    ax = fig.axes[0]
    values = []
    for t in ax.texts:
        try:
            values.append(float(t.get_text()))
        except ValueError:
            continue
    assert len(values) >= 4
    assert all(v > 0 for v in values)  # f = x0² + x1² is positive off the minimum
    assert max(values) > 10 * min(values)  # rings near the minimum and far out alike


@pytest.mark.parametrize(("name", "magic"), [("d.svg", b"<?xml"), ("d.pdf", b"%PDF"), ("d.png", b"\x89PNG")])
def test_the_file_format_follows_the_extension(tmp_path, name, magic):
    runs = [(0.1, gradient_descent(BOOK.f, np.array(BOOK.start), 0.1, 5, h=1e-4))]
    descent_figure(BOOK.f, runs, str(tmp_path / name), title="book", window=BOOK.window)
    assert (tmp_path / name).read_bytes().startswith(magic)

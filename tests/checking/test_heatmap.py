"""The error heatmap, inspected as a matplotlib Figure: what a reader must see in it."""

from __future__ import annotations

import numpy as np
import pytest

from numgrad.checking.check import check_gradient, plot_gradient_errors
from numgrad.checking.heatmap import DECADES, heatmap_figure

N = 8
LABELS = np.random.default_rng(0).integers(0, 10, N)


def loss(z):
    s = z - z.max(axis=1, keepdims=True)
    return -np.sum((s - np.log(np.exp(s).sum(axis=1, keepdims=True)))[np.arange(N), LABELS]) / N


def forgot_one_over_n(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    p[np.arange(N), LABELS] -= 1
    return p  # the 1/N bug: every element ~N times too large


@pytest.fixture(scope="module")
def one_over_n_report():
    z = np.random.default_rng(1).standard_normal((N, 10))
    return check_gradient(loss, z, forgot_one_over_n(z))



def test_colour_bar_says_where_it_clips(one_over_n_report):
    fig = heatmap_figure(one_over_n_report, title="softmax loss")
    ax, bar_ax = fig.axes
    image = ax.get_images()[0]
    assert image.colorbar.extend in ("max", "both")  # the arrow at the top: values lie beyond it
    assert image.get_clim() == (-DECADES, DECADES)
    label = bar_ax.get_ylabel()
    assert "clipped at" in label
    assert f"{N * 10} of {N * 10} beyond the top" in label
    ticks = [t.get_text() for t in bar_ax.get_yticklabels()]
    assert ticks[0].startswith("≤")
    assert ticks[-1].startswith("≥")


def test_worst_element_is_marked_with_its_numbers(one_over_n_report):
    fig = heatmap_figure(one_over_n_report, title="softmax loss")
    ax = fig.axes[0]
    (worst,) = one_over_n_report.worst(1)
    squares = [c for c in ax.collections if c.get_label().startswith("worst")]
    assert len(squares) == 1
    assert squares[0].get_offsets().tolist() == [[worst[1], worst[0]]]  # (column, row)
    assert f"worst {worst}" in squares[0].get_label()
    assert "× tolerance" in squares[0].get_label()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("worst") for t in legend)


def test_title_names_function_dtype_and_verdict(one_over_n_report):
    title = heatmap_figure(one_over_n_report, title="mymod:loss, example 3").axes[0].get_title()
    assert title.startswith("mymod:loss, example 3\n")
    assert "float64" in title
    assert "FAILED: 80 of 80 beyond tolerance" in title


def test_a_passing_check_has_no_top_arrow_and_kinks_are_crossed():
    W = np.random.default_rng(0).standard_normal((4, 5))
    W[1, 2] = 0.0
    report = check_gradient(lambda w: np.sum(w**2) + np.sum(np.maximum(w, 0)), W, 2 * W + (W > 0))
    fig = heatmap_figure(report)
    ax = fig.axes[0]
    assert ax.get_images()[0].colorbar.extend in ("neither", "min")  # nothing beyond the top
    assert "none beyond" in fig.axes[1].get_ylabel()
    kinks = [c for c in ax.collections if c.get_label() == "kink (not wrong)"]
    assert kinks[0].get_offsets().tolist() == [[2, 1]]
    assert "passed" in ax.get_title()


@pytest.mark.parametrize(
    ("name", "magic"),
    [("e.png", b"\x89PNG\r\n\x1a\n"), ("e.svg", b"<?xml"), ("e.pdf", b"%PDF"), ("e", b"\x89PNG")],
    ids=["png", "svg", "pdf", "no-extension"],
)
def test_the_file_format_follows_the_extension(one_over_n_report, tmp_path, name, magic):
    out = plot_gradient_errors(one_over_n_report, tmp_path / name, title="f")
    assert out.read_bytes().startswith(magic)


def test_an_unknown_extension_is_a_clear_error(one_over_n_report, tmp_path):
    with pytest.raises(ValueError, match=r"the extension must be one of .png, .svg, .pdf.*; got .txt"):
        plot_gradient_errors(one_over_n_report, tmp_path / "e.txt")


def test_a_title_with_dollars_is_text_not_mathtext(one_over_n_report, tmp_path):
    fig = heatmap_figure(one_over_n_report, title="cost $x$ in $")
    assert fig.axes[0].get_title().startswith(r"cost \$x\$ in \$")
    plot_gradient_errors(one_over_n_report, tmp_path / "d.png", title="cost $x$ in $")  # renders

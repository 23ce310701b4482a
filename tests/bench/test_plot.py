"""The scaling picture of `numgrad bench --plot`, inspected as a matplotlib Figure."""

from __future__ import annotations

import numpy as np
import pytest

from numgrad.bench import harness
from numgrad.bench.measure import BenchRow
from numgrad.bench.plot import plot_scaling, scaling_figure

SIZES = (10, 100, 1000)


def _rows():
    methods = [*harness.methods(), "jax.grad (jit)", "JAX finite-difference twin",
               "numgrad check_gradient full", "numgrad check_gradient fast"]  # fmt: skip
    return [
        BenchRow(f"smooth n={n}", "scaling", n, m, 1e-5 * (i + 1) * n, 1.0, 1.0, 0.0, 2 * n)
        for i, m in enumerate(methods)
        for n in SIZES
    ]


@pytest.fixture(scope="module")
def figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = scaling_figure(_rows())
    FigureCanvasAgg(fig).draw()  # lay out, so the legend's place can be compared with the axes'
    return fig


def _series(ax):
    return [line for line in ax.get_lines() if not line.get_label().endswith("slope")]


def test_every_series_has_its_own_colour_and_marker(figure):
    (ax,) = figure.axes
    lines = _series(ax)
    assert len(lines) == 12
    assert len({line.get_color() for line in lines}) == 12
    assert len({line.get_marker() for line in lines}) == 12
    styles = {line.get_label(): line.get_linestyle() for line in lines}
    assert styles["numgrad batched"] == "-"
    assert styles["jax.grad (jit)"] == "--"
    assert styles["scipy.optimize.approx_fprime"] == "-."
    assert styles["textbook loop"] == ":"
    assert styles["bound: 2n evals in 1 call"] == ":"


def test_legend_is_outside_the_data(figure):
    (ax,) = figure.axes
    assert ax.get_legend() is None
    (legend,) = figure.legends
    box, data = legend.get_window_extent(), ax.get_window_extent()
    assert box.x0 >= data.x1  # to the right of the axes, covering nothing
    assert len(legend.get_texts()) == 14  # 12 methods and the two slopes


def test_reference_slopes_of_one_and_two(figure):
    (ax,) = figure.axes
    slopes = {line.get_label(): line for line in ax.get_lines() if line.get_label().endswith("slope")}
    assert set(slopes) == {"O(n) slope", "O(n²) slope"}
    for label, k in (("O(n) slope", 1), ("O(n²) slope", 2)):
        x, y = (np.asarray(v, dtype=float) for v in slopes[label].get_data())
        assert x.tolist() == list(SIZES)
        assert np.polyfit(np.log(x), np.log(y), 1)[0] == pytest.approx(k)
    texts = {t.get_text() for t in ax.texts}
    assert {"O(n)", "O(n²)"} <= texts
    assert ax.get_xscale() == "log"
    assert ax.get_yscale() == "log"


def test_quick_mode_has_three_sizes_for_the_slope():
    quick = [n for fam, n in harness.QUICK if fam == "scaling"]
    assert len(quick) >= 3


@pytest.mark.parametrize(("name", "magic"), [("s.svg", b"<?xml"), ("s.pdf", b"%PDF"), ("s.png", b"\x89PNG")])
def test_format_follows_the_extension(tmp_path, name, magic):
    out = plot_scaling(_rows(), tmp_path / name)
    assert out.read_bytes().startswith(magic)

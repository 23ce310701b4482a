"""The `numgrad bench --plot` figure: time against n on log axes, one line per method."""

from __future__ import annotations

from collections import defaultdict

from numgrad.bench.measure import BenchRow


def plot_scaling(rows: list[BenchRow], path: str) -> None:
    from matplotlib.figure import Figure

    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in rows:
        if r.family == "scaling":
            series[r.method].append((r.n, r.seconds))
    fig = Figure(figsize=(7, 4.5), dpi=120)
    ax = fig.add_subplot()
    for method, pts in sorted(series.items()):
        pts.sort()
        ax.loglog([p[0] for p in pts], [p[1] for p in pts], marker="o", label=method)
    ax.set_xlabel("n (number of parameters)")
    ax.set_ylabel("seconds per gradient")
    ax.set_title("Gradient time against n: smooth function, every f costs O(n)")
    ax.grid(True, which="both", alpha=0.3)
    if series:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)

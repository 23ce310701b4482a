"""numgrad bench and numgrad.bench.harness: rows, ratios and errors (values only: speed is not asserted here)."""

import json

import numpy as np
import pytest

from numgrad.bench import harness as benchmark
from numgrad.bench import measure
from numgrad.commands.cli import main


def test_textbook_gradient_is_the_books_loop():
    x = np.array([3.0, 4.0])
    g = measure.textbook_gradient(lambda v: v[0] ** 2 + v[1] ** 2, x)
    assert g.tolist() == [6.00000000000378, 7.999999999999119]
    assert x.tolist() == [3.0, 4.0]


@pytest.mark.parametrize("name", list(benchmark.methods()))
def test_every_method_gives_the_books_gradient(name):
    (w,) = benchmark.workloads(families=("book",))
    g, points = benchmark.methods()[name](w)
    np.testing.assert_allclose(g, [6.0, 8.0], rtol=1e-6)
    assert points >= w.n


def test_bench_json_rows(capsys, monkeypatch):
    monkeypatch.setattr(benchmark, "TIME_BUDGET", 0.01)
    assert main(["bench", "--family", "book", "--repeats", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {r["method"]: r for r in report["rows"]}
    assert {"textbook loop", "numgrad batched", "jax.grad (jit)", "scipy.differentiate.jacobian"} <= set(rows)
    assert rows["textbook loop"]["vs_textbook"] == 1.0
    assert rows["jax.grad (jit)"]["vs_jax"] == 1.0
    assert rows["textbook loop"]["nfev"] == 4
    assert rows["numgrad check_gradient full"]["note"] == "passed"
    assert rows["numgrad check_gradient fast"]["error"] is None
    assert rows["numgrad check_gradient fast"]["nfev"] == 6
    assert all(r["error"] <= 1e-6 for r in rows.values() if r["error"] is not None)
    assert "cores" in report["machine"]


def test_bench_plot_writes_png(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(benchmark, "TIME_BUDGET", 0.01)
    monkeypatch.setattr(benchmark, "QUICK", (("scaling", 10), ("scaling", 30)))
    out = tmp_path / "scaling.png"
    assert main(["bench", "--repeats", "1", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "time grows as n^" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "match"),
    [(["bench", "--repeats", "x"], "invalid int value"), (["bench", "--bogus"], "unrecognized arguments")],
    ids=["repeats-not-int", "unknown-flag"],
)
def test_input_validation(argv, match, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert match in capsys.readouterr().err


def test_quick_subset_covers_every_family_but_the_large_sizes():
    quick = {fam for fam, _ in benchmark._chosen(False, None)}
    full = {fam for fam, _ in benchmark._chosen(True, None)}
    assert quick == full - {"net-784"}
    assert {"book", "descent", "net-64", "softmax-ce", "mse", "scaling"} <= quick

"""numgrad bench and numgrad.bench.harness: rows, ratios and errors (values only: speed is not asserted here)."""

import json
import math
import tracemalloc

import numpy as np
import pytest

from numgrad.bench import families, measure
from numgrad.bench import harness as benchmark
from numgrad.commands.cli import main
from numgrad.common import numerics as nm


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
    assert "time grows as n^" not in capsys.readouterr().out  # two sizes: no exponent is printed


def _scaling_row(n, seconds, method="numgrad batched"):
    return benchmark.BenchRow(f"smooth n={n}", "scaling", n, method, seconds, 1.0, 1.0, 0.0, 2 * n)


def test_scaling_exponent_needs_three_sizes():
    two = [_scaling_row(10, 1e-3), _scaling_row(100, 1e-1)]
    assert math.isnan(benchmark.scaling_exponent(two, "numgrad batched"))
    three = [_scaling_row(n, 2e-6 * n**1.5) for n in (10, 100, 1000)]
    assert benchmark.scaling_exponent(three, "numgrad batched") == pytest.approx(1.5, rel=1e-12)
    assert math.isnan(benchmark.scaling_exponent(three, "textbook loop"))
    sizes = [n for fam, n in benchmark.QUICK if fam == "scaling"]
    assert len(set(sizes)) >= benchmark.SCALING_FIT_SIZES  # the quick run's line is a fit


def test_bound_is_chunked_within_its_memory_budget(monkeypatch):
    w = benchmark._smooth(300)  # 2n = 600 rows of 2.4 kB: a 1.4 MB stack in one call
    whole, points = benchmark._bound(w)
    monkeypatch.setattr(benchmark, "BOUND_BYTES", 64 * 2**10)
    benchmark._bound_stacks.clear()
    tracemalloc.start()
    try:
        chunked, chunked_points = benchmark._bound(w)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert points == chunked_points == 600
    np.testing.assert_array_equal(chunked, whole)  # the same points, the same quotients
    assert peak < 6 * 64 * 2**10  # the buffer and f's temporaries, never the 1.4 MB stack


def test_descent_rows_count_what_is_evaluated(monkeypatch):
    rows = {r.method: r for r in families.descent_rows(repeats=1, budget=0.0)}
    steps = families.DESCENT_STEPS
    assert rows["textbook loop"].nfev == 4 * steps
    assert rows["numgrad gradient_descent, h=1e-4"].nfev == 4 * steps + steps + 1  # and f along the path
    auto = rows["numgrad gradient_descent"].nfev
    assert auto >= 4 * steps + steps + 1 + nm.probe_size(2)  # at least one probe
    calls = []
    families._descent_evaluations(lambda f, x, lr, n: calls.append(f(x)) or x, lambda x: 0.0, np.zeros(2))
    assert len(calls) == 1


def test_net_rows_count_calls_of_the_loss():
    """The textbook loop calls net.loss twice per parameter (counted, also when sampled); the structured
    pass computes its perturbed losses from the net's structure and calls it not at all."""
    from numgrad.book.nets import TwoLayerNet

    rng = np.random.default_rng(0)
    net = TwoLayerNet(4, 3, 2, seed=0)
    x, t = rng.standard_normal((5, 4)), rng.integers(0, 2, 5)
    n = sum(p.size for p in net.params.values())
    assert families._net_textbook(net, x, t, n)[2] == 2 * n
    assert families._loss_calls(net, lambda: net.numerical_gradient(x, t)) == 0
    assert families._loss_calls(net, lambda: net.loss(x, t) + net.loss(x, t)) == 2
    assert "loss" not in vars(net)  # the counter is gone again


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


def test_interleaved_calls_take_every_run_in_turn_alternating_direction():
    seen: list[str] = []
    ticks = iter(range(100))
    times = measure.interleaved_calls(
        {k: (lambda k=k: seen.append(k)) for k in "abc"}, 4, clock=lambda: next(ticks)
    )
    assert seen == list("abccbaabccba")
    assert {k: len(v) for k, v in times.items()} == {"a": 4, "b": 4, "c": 4}
    assert all(t == 1 for v in times.values() for t in v)  # one tick between each call's start and end

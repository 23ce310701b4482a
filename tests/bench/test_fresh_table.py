"""benchmarks/bench_fresh.py's table: each cell is the ratio its header names, fresh / warm, from the
samples' medians (values only: nothing is timed here)."""

from bench_scripts import load

script = load("bench_fresh")


def _times(scale: float) -> dict[tuple[str, str], float]:
    base = {
        "textbook": 10e-3, "element": 11e-3, "element_h": 10.5e-3, "batched": 0.5e-3, "batched_h": 0.25e-3,
        "bound": 0.2e-3, "bound_chunked": 0.4e-3, "textbook_plain": 2e-3,
    }  # fmt: skip
    times = {(w, m): t * scale for w in script.WORKLOADS[:1] for m, t in base.items()}
    small = {"textbook": 5e-6, "numgrad_h": 6e-6, "numgrad": 12e-6}
    times |= {(script.SMALL[0], m): t * scale for m, t in small.items()}
    return times


def test_cells_are_the_ratios_their_headers_name():
    lines = script.table(_times(1.0), _times(2.0)).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    row = dict(zip(header, (c.strip() for c in lines[2].strip("|").split("|")), strict=True))
    assert row["workload"] == script.WORKLOADS[0]
    assert row["textbook loop (fresh / warm)"] == "10.00 / 20.00 ms"
    assert row["batched"] == "20.00x / 20.00x"
    assert row["batched, h=1e-4"] == "40.00x / 40.00x"
    assert row["bound / batched"] == "40% / 40%"
    assert row["cache-sized bound / batched"] == "80% / 80%"
    assert row["bound / batched, h=1e-4"] == "80% / 80%"
    assert row["batched vs that loop"] == "4.00x / 4.00x"
    assert len(lines[1].split("|")) == len(lines[0].split("|"))  # the separator spans every column
    small = [c.strip() for c in lines[6].strip("|").split("|")]
    assert small == [script.SMALL[0], "5.0 / 10.0 µs", "1.20x / 1.20x slower", "2.40x / 2.40x slower"]


def test_fresh_ratios_are_the_medians_of_each_interpreters_own_ratio():
    w = script.WORKLOADS[0]
    fresh = script.Fresh(
        {
            (w, "element"): [0.9, 1.0, 0.5],
            (w, "batched"): [20.0, 10.0, 30.0],
            (w, "bound"): [40.0, 50.0, 45.0],
        },
        {w: [10e-3, 30e-3, 20e-3, 40e-3, 50e-3, 60e-3, 70e-3, 80e-3, 90e-3]},
    )
    times = fresh.times()
    assert times[(w, "textbook")] == 50e-3  # the loop's median over every interpreter of the workload
    assert times[(w, "textbook")] / times[(w, "element")] == 0.9
    assert times[(w, "textbook")] / times[(w, "batched")] == 20.0
    assert times[(w, "bound")] / times[(w, "batched")] == 20.0 / 45.0  # bound / batched from the two medians


def test_spread_gives_each_rows_median_and_quartiles_in_the_tables_sense():
    w, small = script.WORKLOADS[0], script.SMALL[0]
    fresh = script.Fresh(
        {(w, "batched"): [4.0, 5.0, 6.0, 7.0, 8.0], (small, "numgrad"): [0.5, 0.25, 0.5]}, {}
    )
    lines = script.spread(fresh).splitlines()
    assert lines[2] == f"| {w} | batched | 5 | 6.00x | 4.50–7.50x |"
    assert lines[3].startswith(f"| {small} | numgrad | 3 | 2.00x |")  # times slower: the inverse ratio

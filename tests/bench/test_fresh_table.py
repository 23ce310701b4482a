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

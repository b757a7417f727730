"""The `memory` rows of `make bench`: peak RSS of `stockpipe produce` and of the sink as the input grows
4x (1M vs 4M records, or 250k vs 1M when a 4M run would not fit the time budget)."""

from __future__ import annotations

from common import Bench, Row, log
from runs import run_sink, stockpipe_produce
from synthetic import DataSet, data_path, dataset, tickers_for

MEMORY_SCALE = 4  # the memory rows compare the big set (1M) with one MEMORY_SCALE times larger (4M)
GENERATE_S_PER_M = 15.0  # generating the synthetic set, seconds per 1M rows (for the time budget)


def section_memory(b: Bench, big: DataSet, small: DataSet) -> None:
    """Peak RSS of `stockpipe produce` and of the sink as their input grows 4x: 1M vs 4M records, the
    4M set being the same tickers with 4x the days each (files 4x as long). A 4M run is made only when
    its estimate (from the 1M run's wall time or rate) fits the time budget; otherwise the row compares
    250k vs 1M, as its note says."""
    produced = b.raw.get("produce_confluent", {}).get("replay")
    tickers, rows = tickers_for(b.args.records), big.rows * MEMORY_SCALE
    huge = None
    if produced is not None:
        cached = (data_path("huge", tickers, rows) / "source" / "manifest.json").exists()
        generating = 0.0 if cached else GENERATE_S_PER_M * rows / 1e6
        if generating + MEMORY_SCALE * produced["wall_s"] + 30 < b.remaining_s():
            huge = dataset("huge", tickers, rows, messages=False)
            log(f"memory: stockpipe produce --client confluent ({huge.rows:,} records)")
            b.raw["produce_confluent_huge"] = stockpipe_produce(
                b, b.bootstrap, huge, "confluent", "bench-replay-huge"
            )
    sunk = b.raw.get("sink_local")
    if (
        huge is not None
        and sunk is not None
        and huge.rows / sunk["rate"] + sunk["join_s"] + 60 < b.remaining_s()
    ):
        log(f"memory: sink to a local lake ({huge.rows:,} records)")
        b.raw["sink_local_huge"] = run_sink(
            b, b.bootstrap, "bench-replay-huge", huge.rows, str(b.work / "lake-huge")
        )

    pairs = [
        ("producer (stockpipe produce, confluent)", ("produce_confluent", "replay"), "produce_confluent"),
        ("sink (local lake)", ("sink_local", None), "sink_local"),
    ]
    for label, (key_big, sub), prefix in pairs:
        if key_big not in b.raw:
            continue
        rss_big = (b.raw[key_big][sub] if sub else b.raw[key_big])["peak_rss_mb"]
        if f"{prefix}_huge" in b.raw:
            value, baseline = b.raw[f"{prefix}_huge"]["peak_rss_mb"], rss_big
            sizes, note = (big.rows, huge.rows if huge else rows), "4x the days per ticker"
        elif f"{prefix}_small" in b.raw:
            value, baseline = rss_big, b.raw[f"{prefix}_small"]["peak_rss_mb"]
            sizes, note = (
                (small.rows, big.rows),
                "fewer days per ticker; a 4M run would not fit the time budget",
            )
        else:
            continue
        b.add(
            Row(
                "memory",
                f"peak RSS {label}, {_size(sizes[1])}",
                value,
                "MB",
                baseline,
                f"same at {_size(sizes[0])}",
                better="lower",
                target_ratio=1.25,
                note=f"{sizes[0]:,} vs {sizes[1]:,} records (4x; the same {tickers} tickers, {note})",
            )
        )
    if "produce_confluent" in b.raw:
        bare_rss = b.raw["produce_confluent"]["bare"]["peak_rss_mb"]
        b.add(
            Row(
                "memory",
                "peak RSS bare producer loop (all messages in memory)",
                bare_rss,
                "MB",
                note="for scale: a loop that loads everything first grows with the input",
            )
        )


def _size(rows: int) -> str:
    return f"{rows / 1e6:.2g}M" if rows >= 1e6 else f"{rows / 1e3:.0f}k"

"""DuckDB over a local lake through the local catalog: results match what was written, ranges prune."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fixtures_aws import make_bars, write_lake

from pipeline.catalog import crawl
from pipeline.config import Settings
from pipeline.errors import PipelineError
from pipeline.lake import LocalLake
from pipeline.query import Engine, open_engine

START, END = date(2023, 11, 1), date(2024, 3, 29)


def latest_price(bars: list[dict[str, Any]], end: date | None = None) -> dict[str, tuple[date, float]]:
    out: dict[str, tuple[date, float]] = {}
    for b in bars:
        if (end is None or b["date"] <= end) and (b["symbol"] not in out or b["date"] > out[b["symbol"]][0]):
            out[b["symbol"]] = (b["date"], b["close"])
    return out


def in_range(bars: list[dict[str, Any]], start: date, end: date) -> list[dict[str, Any]]:
    return [b for b in bars if start <= b["date"] <= end]


@pytest.fixture(scope="module")
def bars() -> list[dict[str, Any]]:
    return make_bars(START, END)


def _lake_engine(
    tmp_path: Path, bars: list[dict[str, Any]], partition_by: str = "month", fmt: str = "parquet"
) -> tuple[Settings, dict[str, list[str]], Engine]:
    settings = Settings(
        lake=str(tmp_path / "lake"),
        state_dir=str(tmp_path / "state"),
        partition_by=partition_by,
        lake_format=fmt,
    )
    written = write_lake(LocalLake(settings.lake), bars, partition_by=partition_by, fmt=fmt)
    crawl(settings)
    return settings, written, open_engine(settings)


@pytest.fixture
def engine(tmp_path: Path, bars: list[dict[str, Any]]) -> Iterator[Engine]:
    _, _, engine = _lake_engine(tmp_path, bars)
    with engine:
        yield engine


def test_count_and_per_symbol_aggregates_match_the_rows_written(
    engine: Engine, bars: list[dict[str, Any]]
) -> None:
    result = engine.execute(
        "SELECT symbol, count(*), sum(volume), min(date), max(date) FROM prices "
        "GROUP BY symbol ORDER BY symbol"
    )

    expected: dict[str, list[Any]] = defaultdict(lambda: [0, 0, date.max, date.min])
    for b in bars:
        e = expected[b["symbol"]]
        e[0] += 1
        e[1] += b["volume"]
        e[2] = min(e[2], b["date"])
        e[3] = max(e[3], b["date"])
    assert result.columns[0] == "symbol"
    assert [tuple(r) for r in result.rows] == [(s, *v) for s, v in sorted(expected.items())]


def test_partition_columns_are_typed_from_the_path(engine: Engine) -> None:
    result = engine.execute("SELECT DISTINCT year, month FROM prices ORDER BY year, month")

    assert result.rows == [(2023, 11), (2023, 12), (2024, 1), (2024, 2), (2024, 3)]


def test_latest_price_is_the_last_close_of_each_symbol(engine: Engine, bars: list[dict[str, Any]]) -> None:
    result = engine.run_named("latest_price")

    assert result.columns == ["symbol", "date", "close", "volume", "close_usd"]
    assert {r[4] for r in result.rows} == {None}  # Kaggle-layout bars have no dollar close
    expected = latest_price(bars)
    assert [(r[0], r[1], r[2]) for r in result.rows] == [(s, *v) for s, v in sorted(expected.items())]


def test_latest_price_as_of_an_end_date(engine: Engine, bars: list[dict[str, Any]]) -> None:
    result = engine.run_named("latest_price", end="2024-01-15")

    expected = latest_price(bars, end=date(2024, 1, 15))
    assert [(r[0], r[1], r[2]) for r in result.rows] == [(s, *v) for s, v in sorted(expected.items())]


def test_daily_summary_counts_volume_and_advancers_per_date(
    engine: Engine, bars: list[dict[str, Any]]
) -> None:
    result = engine.run_named("daily_summary", start="2024-01-30", end="2024-02-02")

    days: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for b in in_range(bars, date(2024, 1, 30), date(2024, 2, 2)):
        days[b["date"]].append(b)
    assert [r[0] for r in result.rows] == sorted(days)
    for row in result.rows:
        day = days[row[0]]
        assert row[1] == len(day)
        assert row[2] == sum(b["volume"] for b in day)
        assert row[3] == pytest.approx(sum(b["close"] for b in day) / len(day), abs=1e-4)
        assert row[4] == sum(b["close"] > b["open"] for b in day)
        assert row[5] == sum(b["close"] < b["open"] for b in day)


def test_vwap_weights_typical_price_by_volume(engine: Engine, bars: list[dict[str, Any]]) -> None:
    start, end = date(2023, 12, 15), date(2024, 2, 15)
    result = engine.run_named("vwap", start=start, end=end)

    by_symbol: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for b in in_range(bars, start, end):
        by_symbol[b["symbol"]].append(b)
    assert [r[0] for r in result.rows] == sorted(by_symbol)
    for symbol, first, last, days, volume, vwap in result.rows:
        rows = by_symbol[symbol]
        assert (first, last, days) == (rows[0]["date"], rows[-1]["date"], len(rows))
        assert volume == sum(b["volume"] for b in rows)
        typical = sum((b["high"] + b["low"] + b["close"]) / 3 * b["volume"] for b in rows)
        assert vwap == pytest.approx(typical / volume, abs=1e-4)


def test_top_movers_ranks_by_percent_change_and_honours_limit(
    engine: Engine, bars: list[dict[str, Any]]
) -> None:
    start, end = date(2024, 1, 1), date(2024, 3, 1)
    result = engine.run_named("top_movers", start=start, end=end, limit=2)

    changes = {}
    for symbol in {b["symbol"] for b in bars}:
        rows = [b for b in in_range(bars, start, end) if b["symbol"] == symbol]
        changes[symbol] = (rows[-1]["close"] - rows[0]["close"]) / rows[0]["close"] * 100
    expected = sorted(changes, key=lambda s: -changes[s])[:2]
    assert [r[0] for r in result.rows] == expected
    assert [r[5] for r in result.rows] == [pytest.approx(changes[s], abs=0.01) for s in expected]


def _files_read(profile: str) -> int:
    counts = [int(n) for n in re.findall(r"Total Files Read: (\d+)", profile)]
    assert counts, profile
    return sum(counts)


def test_date_range_query_reads_only_the_matching_partitions(
    tmp_path: Path, bars: list[dict[str, Any]]
) -> None:
    _, written, engine = _lake_engine(tmp_path, bars)
    sql = "SELECT count(*) FROM prices WHERE year = 2024 AND month = 2"
    total_files = sum(len(keys) for keys in written.values())

    assert _files_read(engine.explain_analyze(sql)) == len(written["year=2024/month=02"]) == 2  # type: ignore[attr-defined]
    assert _files_read(engine.explain_analyze("SELECT count(*) FROM prices")) == total_files  # type: ignore[attr-defined]
    # Corrupt every object of an unrelated partition: the pruned query never opens them.
    for key in written["year=2023/month=12"]:
        (tmp_path / "lake" / key).write_bytes(b"not parquet")
    pruned = engine.execute(sql)
    named = engine.run_named("latest_price", start="2024-02-01", end="2024-02-29")

    assert pruned.rows == [(len(in_range(bars, date(2024, 2, 1), date(2024, 2, 29))),)]
    assert {r[1] for r in named.rows} <= {date(2024, 2, 29), date(2024, 2, 28)}
    with pytest.raises(PipelineError, match="DuckDB"):
        engine.execute("SELECT count(*) FROM prices")


@pytest.mark.parametrize(
    ("partition_by", "fmt"), [("date", "jsonl"), ("year", "parquet"), ("month", "jsonl")]
)
def test_other_layouts_and_jsonl_give_the_same_answers(
    tmp_path: Path, bars: list[dict[str, Any]], partition_by: str, fmt: str
) -> None:
    subset = in_range(bars, date(2024, 2, 20), date(2024, 3, 8))
    _, _, engine = _lake_engine(tmp_path, subset, partition_by=partition_by, fmt=fmt)

    latest = engine.run_named("latest_price", end="2024-03-05")
    summary = engine.run_named("daily_summary", start="2024-02-26", end="2024-03-01")

    expected = latest_price(subset, end=date(2024, 3, 5))
    assert [(r[0], r[1], r[2]) for r in latest.rows] == [(s, *v) for s, v in sorted(expected.items())]
    assert [(r[0], r[1]) for r in summary.rows] == [(date(2024, 2, d), 4) for d in (26, 27, 28, 29)] + [
        (date(2024, 3, 1), 4)
    ]


def test_unknown_table_names_the_tables_and_the_fix(engine: Engine) -> None:
    with pytest.raises(PipelineError) as err:
        engine.execute("SELECT * FROM trades")

    assert "tables in the catalog: prices" in str(err.value)
    assert "stockpipe crawl" in str(err.value)


def test_engine_over_a_table_missing_from_the_catalog_explains_how_to_fix(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"), state_dir=str(tmp_path / "state"))

    with pytest.raises(PipelineError, match=r"not in the catalog.*stockpipe crawl"):
        open_engine(settings).run_named("latest_price")

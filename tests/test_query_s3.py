"""The same catalog + DuckDB path on an S3 lake served by a real moto_server process."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import boto3
import pytest
from fixtures_aws import make_bars, write_lake

from pipeline.catalog import crawl
from pipeline.config import Settings
from pipeline.errors import PipelineError
from pipeline.lake import open_lake
from pipeline.query import open_engine

pytestmark = pytest.mark.integration


def _settings(tmp_path: Path, endpoint: str, bucket: str, **kw: str) -> Settings:
    return Settings(
        lake=f"s3://{bucket}/lake",
        aws_endpoint_url=endpoint,
        region="us-east-1",
        state_dir=str(tmp_path / "state"),
        **kw,  # type: ignore[arg-type]
    )


def test_s3_lake_crawl_and_query_match_the_rows_written(
    tmp_path: Path, moto_endpoint: str, s3_bucket: str
) -> None:
    settings = _settings(tmp_path, moto_endpoint, s3_bucket)
    lake = open_lake(settings.lake, settings.aws_endpoint_url, settings.region)
    bars = make_bars(date(2023, 12, 1), date(2024, 2, 29))
    write_lake(lake, bars)
    lake.put("prices/year=2024/month=01/_SUCCESS", b"")

    report = crawl(settings)
    with open_engine(settings) as engine:
        count = engine.execute("SELECT count(*), sum(volume) FROM prices")
        latest = engine.run_named("latest_price")

    assert (report.objects_scanned, report.partitions_found) == (6, 3)
    table = report.tables[0]
    assert table.partition_keys == ["year", "month"]
    assert count.rows == [(len(bars), sum(b["volume"] for b in bars))]
    last_day = max(b["date"] for b in bars)
    assert {(r[0], r[1], r[2]) for r in latest.rows} == {
        (b["symbol"], b["date"], b["close"]) for b in bars if b["date"] == last_day
    }


def test_s3_date_range_query_skips_objects_of_other_partitions(
    tmp_path: Path, moto_endpoint: str, s3_bucket: str
) -> None:
    settings = _settings(tmp_path, moto_endpoint, s3_bucket)
    lake = open_lake(settings.lake, settings.aws_endpoint_url, settings.region)
    bars = make_bars(date(2023, 12, 1), date(2024, 2, 29))
    written = write_lake(lake, bars)
    crawl(settings)
    # Corrupt every object of December 2023: a query that opened them would fail.
    for key in written["year=2023/month=12"]:
        lake.put(key, b"not parquet")

    with open_engine(settings) as engine:
        pruned = engine.execute("SELECT count(*) FROM prices WHERE year = 2024")
        ranged = engine.run_named("daily_summary", start="2024-01-01", end="2024-02-29")
        with pytest.raises(PipelineError, match="DuckDB"):
            engine.execute("SELECT count(*) FROM prices")

    in_2024 = [b for b in bars if b["date"].year == 2024]
    assert pruned.rows == [(len(in_2024),)]
    assert len(ranged.rows) == len({b["date"] for b in in_2024})


def test_s3_jsonl_lake_with_date_partitions(tmp_path: Path, moto_endpoint: str, s3_bucket: str) -> None:
    settings = _settings(tmp_path, moto_endpoint, s3_bucket, lake_format="jsonl", partition_by="date")
    lake = open_lake(settings.lake, settings.aws_endpoint_url, settings.region)
    bars = make_bars(date(2024, 1, 2), date(2024, 1, 5))
    write_lake(lake, bars, partition_by="date", fmt="jsonl")

    crawl(settings)
    with open_engine(settings) as engine:
        result = engine.execute(
            "SELECT trade_date, count(*), min(date) FROM prices WHERE trade_date >= DATE '2024-01-04' "
            "GROUP BY trade_date ORDER BY trade_date"
        )

    assert result.rows == [(date(2024, 1, 4), 4, date(2024, 1, 4)), (date(2024, 1, 5), 4, date(2024, 1, 5))]


def test_s3_lake_in_a_missing_bucket_fails_with_a_clear_message(tmp_path: Path, moto_endpoint: str) -> None:
    settings = _settings(tmp_path, moto_endpoint, "no-such-bucket-stockpipe")
    boto3.client("s3", endpoint_url=moto_endpoint).list_buckets()  # the server is up

    with pytest.raises(PipelineError, match="bucket 'no-such-bucket-stockpipe' does not exist"):
        crawl(settings)

"""The Glue catalog backend against a real moto_server: create, idempotent rerun, new partitions."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from fixtures_aws import make_bars, unique_name, write_lake

from pipeline.catalog import Column, GlueCatalog, crawl, open_catalog
from pipeline.config import Settings
from pipeline.errors import PipelineError
from pipeline.lake import LocalLake, open_lake
from pipeline.query import open_engine

pytestmark = pytest.mark.integration


def _settings(moto_endpoint: str, lake: str, tmp_path: Path, **kw: Any) -> Settings:
    return Settings(
        lake=lake,
        catalog="glue",
        database=unique_name("db").replace("-", "_"),
        aws_endpoint_url=moto_endpoint,
        region="us-east-1",
        state_dir=str(tmp_path / "state"),
        **kw,
    )


def _glue(moto_endpoint: str) -> Any:
    return boto3.client("glue", endpoint_url=moto_endpoint, region_name="us-east-1")


def _operations(catalog: GlueCatalog) -> list[str]:
    calls: list[str] = []
    catalog.client.meta.events.register("before-call.glue.*", lambda model, **_: calls.append(model.name))
    return calls


def test_glue_crawl_creates_database_parquet_table_and_partitions(
    tmp_path: Path, moto_endpoint: str, s3_bucket: str
) -> None:
    settings = _settings(moto_endpoint, f"s3://{s3_bucket}/lake", tmp_path)
    write_lake(open_lake(settings.lake, moto_endpoint), make_bars(date(2023, 12, 1), date(2024, 2, 29)))

    report = crawl(settings)

    glue = _glue(moto_endpoint)
    assert glue.get_database(Name=settings.database)["Database"]["Name"] == settings.database
    table = glue.get_table(DatabaseName=settings.database, Name="prices")["Table"]
    sd = table["StorageDescriptor"]
    assert sd["Location"] == f"s3://{s3_bucket}/lake/prices/"
    assert (
        sd["SerdeInfo"]["SerializationLibrary"]
        == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    )
    assert sd["InputFormat"].endswith("MapredParquetInputFormat")
    assert {"Name": "date", "Type": "date"} in sd["Columns"]
    assert table["PartitionKeys"] == [{"Name": "year", "Type": "int"}, {"Name": "month", "Type": "int"}]
    assert table["Parameters"]["classification"] == "parquet"
    parts = glue.get_partitions(DatabaseName=settings.database, TableName="prices")["Partitions"]
    assert sorted(p["Values"] for p in parts) == [["2023", "12"], ["2024", "01"], ["2024", "02"]]
    assert {p["StorageDescriptor"]["Location"] for p in parts} >= {
        f"s3://{s3_bucket}/lake/prices/year=2024/month=01/"
    }
    in_2024 = glue.get_partitions(
        DatabaseName=settings.database, TableName="prices", Expression="year = 2024"
    )
    assert sorted(p["Values"] for p in in_2024["Partitions"]) == [["2024", "01"], ["2024", "02"]]
    assert (report.tables[0].created, report.partitions_added) == (True, 3)


def test_glue_crawl_rerun_is_idempotent(tmp_path: Path, moto_endpoint: str) -> None:
    settings = _settings(moto_endpoint, str(tmp_path / "lake"), tmp_path)
    write_lake(LocalLake(settings.lake), make_bars(date(2024, 1, 2), date(2024, 2, 29)))
    crawl(settings)
    catalog = GlueCatalog(settings)
    calls = _operations(catalog)

    report = crawl(settings, catalog)

    (table_report,) = report.tables
    assert (table_report.created, table_report.updated, table_report.partitions_added) == (False, False, 0)
    writes = {"CreateDatabase", "CreateTable", "UpdateTable", "DeleteTable", "BatchCreatePartition"}
    assert not writes & set(calls), calls
    versions = _glue(moto_endpoint).get_table_versions(DatabaseName=settings.database, TableName="prices")
    assert len(versions["TableVersions"]) == 1


def test_glue_crawl_adds_new_partitions_in_batches_of_100(tmp_path: Path, moto_endpoint: str) -> None:
    settings = _settings(moto_endpoint, str(tmp_path / "lake"), tmp_path, partition_by="date")
    lake = LocalLake(settings.lake)
    write_lake(lake, make_bars(date(2024, 1, 1), date(2024, 1, 5), symbols=("AAA",)), partition_by="date")
    crawl(settings)
    write_lake(lake, make_bars(date(2024, 1, 8), date(2024, 7, 5), symbols=("AAA",)), partition_by="date")
    catalog = GlueCatalog(settings)
    calls = _operations(catalog)

    report = crawl(settings, catalog)

    new = report.partitions_found - 5
    assert new == 130  # weekdays from Jan 8 to Jul 5, 2024
    assert report.partitions_added == new
    assert calls.count("BatchCreatePartition") == 2
    table = open_catalog(settings).require_table("prices")
    assert table.partition_keys == [Column("trade_date", "date")]
    assert len(table.partitions) == 135


def test_glue_crawl_registers_jsonl_with_the_json_serde(tmp_path: Path, moto_endpoint: str) -> None:
    settings = _settings(moto_endpoint, str(tmp_path / "lake"), tmp_path, lake_format="jsonl")
    write_lake(LocalLake(settings.lake), make_bars(date(2024, 1, 2), date(2024, 1, 3)), fmt="jsonl")

    crawl(settings)

    table = _glue(moto_endpoint).get_table(DatabaseName=settings.database, Name="prices")["Table"]
    sd = table["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.apache.hive.hcatalog.data.JsonSerDe"
    assert sd["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert table["Parameters"]["classification"] == "json"


def test_glue_crawl_updates_the_table_when_a_column_appears(tmp_path: Path, moto_endpoint: str) -> None:
    settings = _settings(moto_endpoint, str(tmp_path / "lake"), tmp_path, lake_format="jsonl")
    lake = LocalLake(settings.lake)
    lake.put("prices/year=2024/month=01/t-0-00000000000000000000.jsonl", b'{"symbol": "A", "close": 1.5}\n')
    crawl(settings)
    lake.put(
        "prices/year=2024/month=02/t-0-00000000000000000001.jsonl",
        b'{"symbol": "A", "close": 1.5, "venue": "X"}\n',
    )

    report = crawl(settings)

    assert report.tables[0].updated
    assert report.partitions_added == 1  # only the new month, not the one already registered
    table = open_catalog(settings).require_table("prices")
    assert [c.name for c in table.columns] == ["symbol", "close", "venue"]
    assert len(table.partitions) == 2


def test_duckdb_reads_an_s3_lake_described_by_glue(
    tmp_path: Path, moto_endpoint: str, s3_bucket: str
) -> None:
    settings = _settings(moto_endpoint, f"s3://{s3_bucket}/lake", tmp_path)
    bars = make_bars(date(2024, 1, 2), date(2024, 1, 31))
    write_lake(open_lake(settings.lake, moto_endpoint), bars)
    crawl(settings)

    with open_engine(settings) as engine:
        result = engine.execute("SELECT count(*) FROM prices WHERE year = 2024 AND month = 1")

    assert result.rows == [(len(bars),)]


def test_unreachable_glue_endpoint_fails_with_a_clear_message(
    tmp_path: Path, aws_env: dict[str, str]
) -> None:
    settings = Settings(
        lake=str(tmp_path / "lake"), catalog="glue", aws_endpoint_url="http://127.0.0.1:9", region="us-east-1"
    )
    write_lake(LocalLake(settings.lake), make_bars(date(2024, 1, 2), date(2024, 1, 2)))

    with pytest.raises(PipelineError, match=r"cannot reach Glue at http://127.0.0.1:9"):
        crawl(settings)

"""Schema and partition inference from objects laid out as the sink writes them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from fixtures_aws import make_bars, write_lake

from pipeline.catalog import Column
from pipeline.catalog.infer import _partition_type, scan_lake
from pipeline.errors import PipelineError
from pipeline.lake import LocalLake

CONTRACT_COLUMNS = [
    Column("symbol", "string"),
    Column("date", "date"),
    Column("open", "double"),
    Column("high", "double"),
    Column("low", "double"),
    Column("close", "double"),
    Column("volume", "bigint"),
    Column("adj_close", "double"),
    Column("close_usd", "double"),
    Column("source_file", "string"),
    Column("source_line", "int"),
    Column("kafka_partition", "int"),
    Column("kafka_offset", "bigint"),
]


def test_scan_infers_parquet_schema_and_month_partitions(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    write_lake(lake, make_bars(date(2023, 12, 1), date(2024, 2, 29)))

    scan = scan_lake(lake)

    (table,) = scan.tables
    assert table.name == "prices"
    assert table.format == "parquet"
    assert table.location == str(tmp_path / "prices")
    assert table.columns == CONTRACT_COLUMNS
    assert table.partition_keys == [Column("year", "int"), Column("month", "int")]
    assert [p.values for p in table.partitions] == [("2023", "12"), ("2024", "01"), ("2024", "02")]
    assert table.partitions[1].location == str(tmp_path / "prices" / "year=2024" / "month=01")
    assert scan.objects == {"prices": 6}  # 3 months x 2 kafka partitions


def test_scan_infers_jsonl_schema_and_trade_date_partitions(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    write_lake(lake, make_bars(date(2024, 1, 2), date(2024, 1, 5)), partition_by="date", fmt="jsonl")

    (table,) = scan_lake(lake).tables

    assert table.format == "jsonl"
    assert table.partition_keys == [Column("trade_date", "date")]
    assert [p.values for p in table.partitions] == [
        ("2024-01-02",),
        ("2024-01-03",),
        ("2024-01-04",),
        ("2024-01-05",),
    ]
    types = {c.name: c.type for c in table.columns}
    assert types["date"] == "date"
    assert types["close"] == "double"
    assert types["volume"] == "bigint"
    assert types["symbol"] == "string"


def test_scan_skips_underscore_and_dot_objects_and_reports_stray_files(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    write_lake(lake, make_bars(date(2024, 1, 2), date(2024, 1, 3)), partition_by="year")
    lake.put("_stockpipe_write_check", b"ok")
    lake.put("prices/year=2024/_SUCCESS", b"")
    lake.put("prices/year=2024/.hidden.parquet", b"not parquet at all")
    lake.put("prices/_tmp/year=2024/x.parquet", b"not parquet at all")
    lake.put("prices/year=2024/notes.txt", b"hello")
    lake.put("README.md", b"hello")

    scan = scan_lake(lake)

    (table,) = scan.tables
    assert scan.objects == {"prices": 2}
    assert [p.values for p in table.partitions] == [("2024",)]
    assert sorted(s.split(":")[0] for s in scan.skipped) == ["README.md", "prices/year=2024/notes.txt"]


def test_scan_finds_every_table_under_the_lake_root(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    bars = make_bars(date(2024, 1, 2), date(2024, 1, 3))
    write_lake(lake, bars, table="prices")
    write_lake(lake, bars, table="prices_by_year", partition_by="year")

    scan = scan_lake(lake)

    assert [(t.name, [k.name for k in t.partition_keys]) for t in scan.tables] == [
        ("prices", ["year", "month"]),
        ("prices_by_year", ["year"]),
    ]


def test_scan_rejects_a_table_that_mixes_partition_layouts(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    bars = make_bars(date(2024, 1, 2), date(2024, 1, 3))
    write_lake(lake, bars, partition_by="month")
    write_lake(lake, bars, partition_by="date")

    with pytest.raises(PipelineError, match=r"mixes partition layouts \(trade_date, year/month\)"):
        scan_lake(lake)


def test_scan_names_the_object_whose_schema_cannot_be_read(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    lake.put("prices/year=2024/month=01/stock-prices-0-00000000000000000000.parquet", b"garbage")

    with pytest.raises(
        PipelineError, match=r"cannot read the schema of .*month=01/stock-prices-0-0+\.parquet"
    ):
        scan_lake(lake)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2023", "2024"], "int"),
        (["01", "12"], "int"),
        (["2024-01-02", "2024-12-31"], "date"),
        (["2024-02-30"], "string"),  # looks like a date but is not one
        (["NYSE", "2024"], "string"),
        (["99999999999"], "bigint"),
    ],
)
def test_partition_key_type_is_inferred_from_all_values(values: list[str], expected: str) -> None:
    assert _partition_type(values) == expected

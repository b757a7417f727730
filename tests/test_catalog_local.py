"""`crawl` into the embedded local catalog: created once, idempotent, new partitions added."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from fixtures_aws import make_bars, write_lake

from pipeline.catalog import LocalCatalog, crawl, open_catalog
from pipeline.config import Settings
from pipeline.lake import LocalLake


def _settings(tmp_path: Path) -> Settings:
    return Settings(lake=str(tmp_path / "lake"), state_dir=str(tmp_path / "state"))


def test_crawl_registers_the_table_into_the_local_catalog_file(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    write_lake(LocalLake(settings.lake), make_bars(date(2023, 12, 1), date(2024, 2, 29)))

    report = crawl(settings)

    assert (report.objects_scanned, report.partitions_found, report.partitions_added) == (6, 3, 3)
    (table_report,) = report.tables
    assert table_report.created and not table_report.updated
    assert table_report.partition_keys == ["year", "month"]
    assert settings.catalog_path.exists()
    stored = json.loads(settings.catalog_path.read_text())
    assert stored["database"] == "stockpipe"
    assert [p["values"] for p in stored["tables"]["prices"]["partitions"]] == [
        ["2023", "12"],
        ["2024", "01"],
        ["2024", "02"],
    ]
    catalog = open_catalog(settings)
    assert isinstance(catalog, LocalCatalog)
    assert catalog.list_tables() == ["prices"]
    table = catalog.require_table("prices")
    assert table.location == str(Path(settings.lake).resolve() / "prices")


def test_crawl_rerun_changes_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    write_lake(LocalLake(settings.lake), make_bars(date(2024, 1, 2), date(2024, 2, 29)))
    crawl(settings)
    before = settings.catalog_path.read_bytes()
    mtime = settings.catalog_path.stat().st_mtime_ns

    report = crawl(settings)

    (table_report,) = report.tables
    assert (table_report.created, table_report.updated, table_report.partitions_added) == (False, False, 0)
    assert table_report.partitions_found == 2
    assert settings.catalog_path.read_bytes() == before
    assert settings.catalog_path.stat().st_mtime_ns == mtime  # not even rewritten


def test_crawl_adds_only_the_new_partitions(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    lake = LocalLake(settings.lake)
    write_lake(lake, make_bars(date(2024, 1, 2), date(2024, 1, 31)))
    crawl(settings)
    write_lake(lake, make_bars(date(2024, 2, 1), date(2024, 3, 29), seed=8))

    report = crawl(settings)

    assert (report.partitions_found, report.partitions_added) == (3, 2)
    table = open_catalog(settings).require_table("prices")
    assert [p.values for p in table.partitions] == [("2024", "01"), ("2024", "02"), ("2024", "03")]


def test_crawl_of_an_empty_lake_registers_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)

    report = crawl(settings)

    assert report.tables == []
    assert open_catalog(settings).list_tables() == []


def test_crawl_summary_names_each_table_its_changes_and_skipped_objects(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    lake = LocalLake(settings.lake)
    write_lake(lake, make_bars(date(2024, 1, 2), date(2024, 2, 29)))
    lake.put("prices/year=2024/month=01/notes.txt", b"hi")

    first, second = crawl(settings).summary(), crawl(settings).summary()

    assert "table prices (parquet, 13 columns, partitioned by year/month): created; 4 objects" in first
    assert "2 partitions, 2 added" in first
    assert "unchanged" in second and "0 added" in second
    assert "skipped 1 object(s) that are not table data: prices/year=2024/month=01/notes.txt" in first

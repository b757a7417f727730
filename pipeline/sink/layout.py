"""Where a bar lives in the lake: Hive-style partition directories and offset-named objects.

`<table>/year=YYYY/month=MM/<topic>-<partition>-<first offset>.parquet` by default (see
docs/lake-layout.md for why month). The object name carries the Kafka topic, partition and the
batch's first offset, so a replay of the same offsets rewrites the same object instead of adding a
duplicate.
"""

from __future__ import annotations

from datetime import date

EXTENSIONS = {"parquet": "parquet", "jsonl": "jsonl"}


def partition_path(day: date, partition_by: str) -> str:
    if partition_by == "month":
        return f"year={day.year:04d}/month={day.month:02d}"
    if partition_by == "year":
        return f"year={day.year:04d}"
    return f"trade_date={day.isoformat()}"


def object_key(table: str, hive: str, topic: str, partition: int, first_offset: int, fmt: str) -> str:
    return f"{table}/{hive}/{topic}-{partition}-{first_offset:020d}.{EXTENSIONS[fmt]}"

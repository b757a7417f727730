"""Where a bar lives in the lake: Hive-style partition directories and offset-named objects.

`<table>/year=YYYY/month=MM/<topic>-<partition>-<first offset>.parquet` by default (see
docs/lake-layout.md for why month). The object name carries the Kafka topic, partition and the
batch's first offset, so a replay of the same offsets finds the object it would write already there
instead of adding a duplicate. Topic names may hold `.`, `_` and `-` (Kafka's alphabet).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

EXTENSIONS = {"parquet": "parquet", "jsonl": "jsonl"}
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def partition_path(day: date, partition_by: str) -> str:
    if partition_by == "month":
        return f"year={day.year:04d}/month={day.month:02d}"
    if partition_by == "year":
        return f"year={day.year:04d}"
    return f"trade_date={day.isoformat()}"


def partition_codes(days: pa.Array | pa.ChunkedArray, partition_by: str) -> pa.Array | pa.ChunkedArray:
    """One int64 per date32: equal exactly where `partition_path` is equal, and `partition_of_code`
    turns it back into that path (so the path is formatted once per batch, not once per record)."""
    if partition_by == "month":
        return pc.add(pc.multiply(pc.year(days), 100), pc.month(days))
    if partition_by == "year":
        return pc.year(days)
    return days.cast(pa.int32()).cast(pa.int64())  # days since 1970-01-01


def partition_of_code(code: int, partition_by: str) -> str:
    if partition_by == "month":
        return partition_path(date(code // 100, code % 100, 1), partition_by)
    if partition_by == "year":
        return partition_path(date(code, 1, 1), partition_by)
    return partition_path(date.fromordinal(code + _EPOCH_ORDINAL), partition_by)


def object_key(table: str, hive: str, topic: str, partition: int, first_offset: int, fmt: str) -> str:
    return f"{table}/{hive}/{topic}-{partition}-{first_offset:020d}.{EXTENSIONS[fmt]}"


def parse_object_name(key: str) -> tuple[str, int, int] | None:
    """`.../<topic>-<partition>-<first offset>.<ext>` -> (topic, partition, first offset), else None.

    The topic is everything before the last two `-`: it may itself hold `-`, `.` and `_`."""
    name = key.rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    if not dot or ext not in EXTENSIONS.values():
        return None
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return parts[0], int(parts[1]), int(parts[2])


def object_boundaries(keys: Iterable[str], topic: str) -> dict[int, set[int]]:
    """First offsets of the objects already written for `topic`, per Kafka partition."""
    out: dict[int, set[int]] = {}
    for key in keys:
        parsed = parse_object_name(key)
        if parsed is not None and parsed[0] == topic:
            out.setdefault(parsed[1], set()).add(parsed[2])
    return out

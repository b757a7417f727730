"""The lake layout: every rule about names and paths in the lake, in one place (docs/lake-layout.md).

`<lake>/<table>/year=YYYY/month=MM/<topic>-<partition>-<first offset>.parquet` by default. The sink
writes it, the catalog (local and Glue, including the Glue crawler's exclusions), the SQL engines and
the canary read it; the pipeline role's preflight and the aws_analytics role's crawler carry copies of
the table-name rule and the exclusions, which tests/test_layout.py pins to this module.

The object name carries the Kafka topic, partition and the batch's first offset, so a replay of the
same offsets finds the object it would write already there instead of adding a duplicate. Topic names
may hold `.`, `_` and `-` (Kafka's alphabet).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

#: A table is a top-level directory of the lake and a SQL identifier (DuckDB, Athena, Glue).
TABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_TABLE_NAME = re.compile(TABLE_NAME_PATTERN)
#: lake_format -> the data objects' extension (without the dot).
EXTENSIONS = {"parquet": "parquet", "jsonl": "jsonl"}
#: partition_by -> the key=value directories under a table, outermost first.
PARTITION_KEYS: dict[str, tuple[str, ...]] = {
    "month": ("year", "month"),
    "year": ("year",),
    "date": ("trade_date",),
}
#: Objects and directories whose name starts with one of these are not data (temporary files, markers,
#: write checks): the crawler, both engines and the canary skip them, as Athena does.
NOT_DATA_PREFIXES = ("_", ".")
#: The same rule as Glue crawler exclusion globs (relative to the crawler's S3 target).
GLUE_EXCLUSIONS = ("**/_*", "**/.*", "_*/**", ".*/**")
#: The same rule as a glob for one path component (DuckDB's and pyarrow's file patterns).
DATA_NAME_GLOB = "[!" + "".join(NOT_DATA_PREFIXES) + "]*"
_KEY_VALUE = re.compile(r"^[^=/]+=[^/]+$")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def table_problem(name: object) -> str | None:
    """Why `name` cannot be a table, or None."""
    if not isinstance(name, str) or not _TABLE_NAME.match(name):
        return (
            f"table name {name!r} must start with a letter or _ and hold only letters, digits and _ "
            "(at most 128)"
        )
    return None


def is_data_name(name: str) -> bool:
    """A path component that may be part of a data object's key."""
    return not name.startswith(NOT_DATA_PREFIXES)


def is_data_key(relative: str, partition_depth: int, extension: str) -> bool:
    """`relative` (a key under a table directory) is a data object: `partition_depth` key=value
    directories, then a name ending in `.<extension>`, no part of it hidden."""
    parts = relative.split("/")
    return (
        len(parts) == partition_depth + 1
        and all(is_data_name(p) for p in parts)
        and all(_KEY_VALUE.match(p) for p in parts[:-1])
        and parts[-1].endswith(f".{extension}")
    )


def extension_of(name: str) -> str | None:
    """The lake_format whose extension `name` has, or None."""
    return next((fmt for fmt, ext in EXTENSIONS.items() if name.endswith(f".{ext}")), None)


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

"""Hive/Glue column types (what the catalog stores) in DuckDB and Arrow terms."""

from __future__ import annotations

import re

import pyarrow as pa

from pipeline.errors import PipelineError

_DUCKDB = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "date": "DATE",
    "double": "DOUBLE",
    "float": "FLOAT",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "binary": "BLOB",
}
_ARROW = {
    "string": pa.string(),
    "varchar": pa.string(),
    "char": pa.string(),
    "date": pa.date32(),
    "double": pa.float64(),
    "float": pa.float32(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "tinyint": pa.int8(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us"),
    "binary": pa.binary(),
}
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")


def _base(hive_type: str) -> str:
    return hive_type.strip().lower().split("(")[0] if not _DECIMAL.match(hive_type.lower()) else "decimal"


def duckdb_type(hive_type: str) -> str:
    if m := _DECIMAL.match(hive_type.strip().lower()):
        return f"DECIMAL({m[1]},{m[2]})"
    try:
        return _DUCKDB[_base(hive_type)]
    except KeyError:
        raise PipelineError(f"column type {hive_type!r} is not supported by the DuckDB engine") from None


def arrow_type(hive_type: str) -> pa.DataType:
    if m := _DECIMAL.match(hive_type.strip().lower()):
        return pa.decimal128(int(m[1]), int(m[2]))
    try:
        return _ARROW[_base(hive_type)]
    except KeyError:
        raise PipelineError(f"column type {hive_type!r} is not supported by the DuckDB engine") from None


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'

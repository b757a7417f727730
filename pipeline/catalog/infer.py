"""Infer tables, schemas and partitions from the objects in the lake (what a Glue crawler does).

Layout (docs/lake-layout.md): `<lake>/<table>/<key>=<value>/.../<object>.parquet|.jsonl`. Every
top-level directory is a table; the `key=value` directories are its partitions; objects or
directories whose name starts with `_` or `.` are not data. The schema is read from a sample of
objects (the first and the last in key order, i.e. the oldest partition and the newest object):
Parquet footers only, or the first lines of a JSON-lines object.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.catalog.model import Column, Partition, TableDefinition
from pipeline.errors import PipelineError
from pipeline.lake import Lake
from pipeline.layout import EXTENSIONS, extension_of, is_data_name, table_problem

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT = re.compile(r"^-?\d+$")
_JSON_SAMPLE_LINES = 1000
_INT32 = 2**31


@dataclass
class _TableObjects:
    keys: list[str] = field(default_factory=list)
    partition_names: set[tuple[str, ...]] = field(default_factory=set)
    formats: set[str] = field(default_factory=set)
    partitions: dict[tuple[str, ...], str] = field(default_factory=dict)  # values -> relative dir


@dataclass(frozen=True)
class LakeScan:
    tables: list[TableDefinition]
    objects: dict[str, int]  # table -> data objects scanned
    skipped: list[str]


def scan_lake(lake: Lake) -> LakeScan:
    """Every table in the lake with its inferred schema and all of its partitions."""
    found: dict[str, _TableObjects] = defaultdict(_TableObjects)
    skipped: list[str] = []
    for obj in lake.list():
        parts = obj.key.split("/")
        if not all(is_data_name(p) for p in parts):
            continue
        if len(parts) < 2:
            skipped.append(f"{obj.key}: not inside a table directory")
            continue
        table, dirs, name = parts[0], parts[1:-1], parts[-1]
        fmt = extension_of(name)
        if fmt is None:
            skipped.append(f"{obj.key}: not a {' or '.join('.' + e for e in EXTENSIONS.values())} object")
            continue
        problem = table_problem(table)
        if problem is not None:
            skipped.append(f"{obj.key}: {problem}")
            continue
        pairs = [d.split("=", 1) for d in dirs]
        if any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
            skipped.append(f"{obj.key}: directories between table and object must be key=value")
            continue
        entry = found[table]
        entry.keys.append(obj.key)
        entry.formats.add(fmt)
        entry.partition_names.add(tuple(p[0] for p in pairs))
        entry.partitions.setdefault(tuple(p[1] for p in pairs), "/".join(dirs))

    tables = [_define(lake, name, entry) for name, entry in sorted(found.items())]
    return LakeScan(tables, {name: len(entry.keys) for name, entry in found.items()}, skipped)


def _define(lake: Lake, name: str, entry: _TableObjects) -> TableDefinition:
    where = lake.location(name)
    if len(entry.formats) > 1:
        raise PipelineError(
            f"table {name} at {where} mixes formats ({', '.join(sorted(entry.formats))})",
            "keep one --lake-format per table: move the other objects to another table directory",
        )
    if len(entry.partition_names) > 1:
        layouts = sorted("/".join(k) or "(none)" for k in entry.partition_names)
        raise PipelineError(
            f"table {name} at {where} mixes partition layouts ({', '.join(layouts)})",
            "keep one --partition-by per table: move the other objects to another table directory",
        )
    fmt = entry.formats.pop()
    key_names = entry.partition_names.pop()
    values = sorted(entry.partitions)
    keys = [Column(k, _partition_type([v[i] for v in values])) for i, k in enumerate(key_names)]
    samples = sorted({entry.keys[0], entry.keys[-1]})
    columns = _merge([_sample_schema(lake, key, fmt) for key in samples], name)
    columns = [c for c in columns if c.name not in set(key_names)]
    partitions = [Partition(v, lake.location(f"{name}/{entry.partitions[v]}")) for v in values]
    return TableDefinition(name, where, fmt, columns, keys, partitions)


def _partition_type(values: list[str]) -> str:
    if values and all(_DATE.match(v) and _is_date(v) for v in values):
        return "date"
    if values and all(_INT.match(v) for v in values):
        return "int" if all(-_INT32 <= int(v) < _INT32 for v in values) else "bigint"
    return "string"


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _sample_schema(lake: Lake, key: str, fmt: str) -> list[Column]:
    try:
        if fmt == "parquet":
            fs, root = lake.arrow_filesystem()
            with fs.open_input_file(f"{root}/{key}") as fh:
                schema = pq.read_schema(fh)
            return [Column(f.name, arrow_to_hive(f.type, f"{key}:{f.name}")) for f in schema]
        return _json_schema(lake.get(key), key)
    except PipelineError:
        raise
    except Exception as exc:  # pyarrow raises several types for unreadable objects
        raise PipelineError(
            f"cannot read the schema of {lake.location(key)} ({type(exc).__name__}: {exc})",
            "delete or rewrite the object, then crawl again",
        ) from None


def arrow_to_hive(t: pa.DataType, where: str = "") -> str:
    simple = {
        pa.string(): "string",
        pa.large_string(): "string",
        pa.date32(): "date",
        pa.float64(): "double",
        pa.float32(): "float",
        pa.int64(): "bigint",
        pa.int32(): "int",
        pa.int16(): "smallint",
        pa.int8(): "tinyint",
        pa.bool_(): "boolean",
        pa.binary(): "binary",
    }
    if t in simple:
        return simple[t]
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    raise PipelineError(f"column {where} has type {t}, which the catalog does not support", None)


def _json_type(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "date" if _DATE.match(value) and _is_date(value) else "string"
    return "string"  # nested values are kept as JSON text


def _json_schema(data: bytes, key: str) -> list[Column]:
    types: dict[str, str | None] = {}
    for n, line in enumerate(data.splitlines()[:_JSON_SAMPLE_LINES], start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problem = f"{key} line {n} is not JSON ({exc})"
            raise PipelineError(problem, "delete or rewrite the object") from None
        if not isinstance(obj, dict):
            raise PipelineError(f"{key} line {n} is not a JSON object", "delete or rewrite the object")
        for name, value in obj.items():
            types[name] = _widen(types.get(name), _json_type(value))
    return [Column(name, t or "string") for name, t in types.items()]


_NUMERIC_RANK = {"tinyint": 0, "smallint": 1, "int": 2, "bigint": 3, "float": 4, "double": 5}


def _widen(a: str | None, b: str | None) -> str | None:
    if a is None or a == b:
        return b if a is None else a
    if b is None:
        return a
    if a in _NUMERIC_RANK and b in _NUMERIC_RANK:
        return a if _NUMERIC_RANK[a] >= _NUMERIC_RANK[b] else b
    if {a, b} == {"date", "string"}:
        return "string"
    raise ValueError(f"{a} vs {b}")


def _merge(schemas: list[list[Column]], table: str) -> list[Column]:
    merged: dict[str, str] = {}
    for schema in schemas:
        for col in schema:
            try:
                merged[col.name] = _widen(merged.get(col.name), col.type) or col.type
            except ValueError:
                raise PipelineError(
                    f"column {table}.{col.name} has type {merged[col.name]} in one object "
                    f"and {col.type} in another",
                    "rewrite the objects of one type, or write them to another table",
                ) from None
    return [Column(n, t) for n, t in merged.items()]

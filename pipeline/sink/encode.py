"""Encoding a batch of rows as one Parquet or JSON-lines object (deterministic bytes for the same rows)."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.bar_rules import OPTIONAL_PRICES, arrow_fields
from pipeline.errors import PipelineError

#: The lake's columns: the bar's (pipeline/bar_rules.py; adj_close and close_usd null for the Kaggle
#: layout), then where in Kafka it was read.
SCHEMA = pa.schema(
    [*arrow_fields(), pa.field("kafka_partition", pa.int32()), pa.field("kafka_offset", pa.int64())]
)

#: Columns only some layouts fill (the index layout's Adj Close and CloseUSD).
NULLABLE = OPTIONAL_PRICES

#: Columns with few distinct values per object. Prices, volumes and offsets are nearly all distinct:
#: a dictionary for them overflows its page and falls back to plain after the work is done, which
#: took half the encoding time and made objects ~25% larger (2.40 vs 1.89 MB per 50,000 rows).
DICTIONARY_COLUMNS = ["symbol", "date", "source_file", "source_line", "kafka_partition"]


#: Parquet footer keys holding the Kafka offsets a batch covered, poison records included: an object is
#: the record of having consumed that whole extent (a sink that finds it adopts it, see run.py).
EXTENT_KEYS = (b"stockpipe.first_offset", b"stockpipe.last_offset")


def encode(table: pa.Table, fmt: str, extent: tuple[int, int] | None = None) -> bytes:
    """`table` has the columns of SCHEMA; the same rows give the same bytes, however they are chunked.

    `extent` (first, last offset of the batch) goes into the Parquet footer; JSON lines has no footer,
    so its extent is read back from the rows (object_extent).
    """
    if fmt == "jsonl":
        # Optional prices only where they have a value (as on the wire): a Kaggle row's line is unchanged.
        return "".join(
            json.dumps(
                {k: v for k, v in row.items() if v is not None or k not in NULLABLE}
                | {"date": row["date"].isoformat()},
                separators=(",", ":"),
            )
            + "\n"
            for row in table.to_pylist()
        ).encode()
    buf = io.BytesIO()
    if extent is not None:
        meta = dict(table.schema.metadata or {})
        meta.update(zip(EXTENT_KEYS, (str(extent[0]).encode(), str(extent[1]).encode()), strict=True))
        table = table.replace_schema_metadata(meta)
    # One chunk per column: the writer's page boundaries then do not depend on how the rows arrived.
    pq.write_table(table.combine_chunks(), buf, compression="snappy", use_dictionary=DICTIONARY_COLUMNS)
    return buf.getvalue()


class UnreadableObject(PipelineError):
    """Bytes under a lake object name that are not an object a sink writes (torn, truncated, foreign)."""


_UNREADABLE = (pa.ArrowException, OSError, ValueError, KeyError, TypeError)


def _unreadable(fmt: str, size: int, exc: BaseException) -> UnreadableObject:
    return UnreadableObject(f"not a readable {fmt} object ({size:,} bytes: {exc})")


def footer_last_offset(source: pa.NativeFile | io.BytesIO, size: int) -> int | None:
    """The last Kafka offset a Parquet object's footer records; None for an object written without one.

    Reads the footer only (`source`: an open file of `size` bytes). Raises `UnreadableObject` when it is
    not a whole Parquet object.
    """
    try:
        stored = (pq.read_metadata(source).metadata or {}).get(EXTENT_KEYS[1])
        return int(stored) if stored is not None else None
    except _UNREADABLE as exc:
        raise _unreadable("parquet", size, exc) from None


def object_extent(data: bytes, fmt: str) -> int:
    """The last Kafka offset an object covers: its footer's extent, else its highest `kafka_offset`.

    Raises `UnreadableObject` when `data` is not a whole object of `fmt` (an empty or torn write, a
    foreign file).
    """
    if fmt != "jsonl":
        stored = footer_last_offset(io.BytesIO(data), len(data))
        if stored is not None:
            return stored
    try:
        if fmt == "jsonl":
            offsets = [json.loads(line)["kafka_offset"] for line in data.splitlines() if line.strip()]
            return max(offsets, default=-1)
        column = pq.read_table(io.BytesIO(data), columns=["kafka_offset"]).column("kafka_offset")
        return max((o for o in column.to_pylist() if o is not None), default=-1)
    except _UNREADABLE as exc:
        raise _unreadable(fmt, len(data), exc) from None

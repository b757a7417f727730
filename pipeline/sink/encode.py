"""Encoding a batch of bars as one Parquet or JSON-lines object (deterministic bytes for the same rows)."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.records import StockBar

SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("date", pa.date32()),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.int64()),
        ("source_file", pa.string()),
        ("source_line", pa.int32()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
    ]
)


def encode(rows: list[tuple[int, int, StockBar]], fmt: str) -> bytes:
    """`rows` are (kafka partition, offset, bar)."""
    if fmt == "jsonl":
        return "".join(
            json.dumps(
                {
                    "symbol": b.symbol,
                    "date": b.date.isoformat(),
                    "open": b.open,
                    "high": b.high,
                    "low": b.low,
                    "close": b.close,
                    "volume": b.volume,
                    "source_file": b.source_file,
                    "source_line": b.source_line,
                    "kafka_partition": p,
                    "kafka_offset": o,
                },
                separators=(",", ":"),
            )
            + "\n"
            for p, o, b in rows
        ).encode()
    table = pa.Table.from_pydict(
        {
            "symbol": [b.symbol for _, _, b in rows],
            "date": [b.date for _, _, b in rows],
            "open": [b.open for _, _, b in rows],
            "high": [b.high for _, _, b in rows],
            "low": [b.low for _, _, b in rows],
            "close": [b.close for _, _, b in rows],
            "volume": [b.volume for _, _, b in rows],
            "source_file": [b.source_file for _, _, b in rows],
            "source_line": [b.source_line for _, _, b in rows],
            "kafka_partition": [p for p, _, _ in rows],
            "kafka_offset": [o for _, o, _ in rows],
        },
        schema=SCHEMA,
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="snappy")
    return buf.getvalue()

"""Decoding a whole poll of message values into Arrow columns at once, with `bar_from_json`'s verdicts.

`bar_from_json` (pipeline/records.py) is the definition of a good value and of each poison reason; this
module is a faster route to the same answer for the values `StockBar.to_json` writes. The poll's values
are joined into one newline-delimited buffer and parsed by `pyarrow.json.read_json` against an explicit
schema, then checked and converted column by column. Any value this route cannot vouch for goes through
`bar_from_json` one by one instead:

- the whole poll, or the one value, is not plain ASCII, contains a backslash or a line break, or does
  not start with `{` and end with `}` (a tombstone, a JSON array, escapes, non-ASCII text, ...);
- `read_json` rejects a buffer (not JSON, a wrong type, a duplicated key, an overflow): the buffer is
  split in halves until the rejected values are isolated;
- a row has a missing field (null), a float that is not finite or is -0.0 (JSON `-0` is the integer 0
  to `json.loads`, so 0.0, but -0.0 to Arrow), a date that is not a valid `YYYY-MM-DD` from year 1, a
  `source` without a colon, or a line number after it of more than 9 digits.

So a poison value costs a little time and is dead-lettered with exactly the reason `bar_from_json`
gives; the good values around it keep the fast route. A value `bar_from_json` accepts but the lake's
schema cannot hold (a volume beyond int64, a lone surrogate), or one that makes `json.loads` raise
something else (a number too large for a float, nesting deeper than the recursion limit), is poison
too, with its own reason, instead of stopping the sink at the Parquet write or the decode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from pipeline.bar_rules import (
    MAX_SOURCE_LINE,
    MAX_VOLUME,
    OPTIONAL_PRICES,
    PRICES,
    arrow_fields,
    good_bars,
    good_optional_prices,
    good_symbols,
    latest_allowed_date,
    parse_date,
)
from pipeline.kafka import Message
from pipeline.records import BadMessage, StockBar, bar_from_json
from pipeline.sink.encode import SCHEMA

#: The fields `bar_from_json` reads, typed as the lake holds them, with `date` and `source` as the text the
#: value carries; everything else in a value (`v`, `event_time`) is ignored, as there. The optional
#: prices (the index layout) are null when absent.
_JSON_SCHEMA = pa.schema(
    [
        *arrow_fields(("symbol",)),
        pa.field("date", pa.string()),
        *arrow_fields((*PRICES, "volume")),
        pa.field("source", pa.string()),
        *arrow_fields(OPTIONAL_PRICES),
    ]
)
_PARSE = pj.ParseOptions(explicit_schema=_JSON_SCHEMA, unexpected_field_behavior="ignore")
#: The lake's columns that come from the value (the Kafka ones are added from the message).
_ROW_SCHEMA = pa.schema([f for f in SCHEMA if f.name not in ("kafka_partition", "kafka_offset")])
_MIN_DATE = pa.scalar(date(1, 1, 1), pa.date32())
_SPLIT_BELOW = 16  # a rejected buffer this small is decoded value by value instead of split again
#: Line numbers with more digits than this may not fit the lake's column: decoded one by one.
_LINE_DIGITS = len(str(MAX_SOURCE_LINE)) - 1


@dataclass
class Decoded:
    """A poll, decoded: the good values' rows (`encode.SCHEMA`, in poll order) and the poison ones."""

    table: pa.Table
    poison: dict[int, str]  # index in the poll -> reason


def decode_messages(messages: list[Message]) -> Decoded:
    values = [m.value for m in messages]
    fast, slow, joined = _screen(values)
    tables: list[pa.Table] = []
    at: list[int] = []  # the poll index of each row, in row order
    if fast:
        _parse(values, fast, tables, at, slow, joined)
    table, suspect = _columns(_concat(tables, _JSON_SCHEMA))
    suspect |= _foreign_keys(table, [messages[i].key for i in at])
    if suspect:
        keep = [r for r in range(len(at)) if r not in suspect]
        slow += [at[r] for r in suspect]
        at = [at[r] for r in keep]
        table = table.take(pa.array(keep, pa.int32()))

    poison: dict[int, str] = {}
    bars: list[StockBar] = []
    bars_at: list[int] = []
    for i in sorted(slow):
        verdict = _decode_one(values[i], messages[i].key)
        if isinstance(verdict, str):
            poison[i] = verdict
        else:
            bars.append(verdict)
            bars_at.append(i)
    if bars:  # merge them in, in poll order
        order = pc.sort_indices(pa.array(at + bars_at, pa.int64()))
        table = pa.concat_tables([table, _bars_table(bars)]).take(order)
        at = pc.take(pa.array(at + bars_at, pa.int64()), order).to_pylist()

    if len(at) == len(messages):  # every value is good (the usual poll)
        partitions = [m.partition for m in messages]
        offsets = [m.offset for m in messages]
    else:
        partitions = [messages[i].partition for i in at]
        offsets = [messages[i].offset for i in at]
    table = table.append_column(SCHEMA.field("kafka_partition"), pa.array(partitions, pa.int32()))
    table = table.append_column(SCHEMA.field("kafka_offset"), pa.array(offsets, pa.int64()))
    return Decoded(table, poison)


def _screen(values: list[bytes | None]) -> tuple[list[int], list[int], bytes | None]:
    """Split poll indices into (fast, slow): values the Arrow route may parse, and all the others;
    and the fast values joined by newlines when they are all of them (the usual poll)."""
    n = len(values)
    if n == 0:
        return [], [], None
    try:
        buf = b"\n".join(values)  # type: ignore[arg-type]  # a tombstone (None) raises TypeError
    except TypeError:
        pass
    else:
        # Every newline separates two values and each value starts with "{" and ends with "}": then no
        # value is blank and no object spans two values, so when the parse has n rows (`_parse` checks;
        # a value holding two objects makes more), row i is value i.
        if (
            buf.isascii()
            and b"\\" not in buf
            and b"\r" not in buf
            and buf.count(b"\n") == n - 1
            and buf.count(b"}\n{") == n - 1
            and buf[:1] == b"{"
            and buf[-1:] == b"}"
        ):
            return list(range(n)), [], buf
    fast: list[int] = []
    slow: list[int] = []
    for i, v in enumerate(values):
        if (
            v is not None
            and v[:1] == b"{"
            and v[-1:] == b"}"
            and v.isascii()
            and b"\\" not in v
            and b"\n" not in v
            and b"\r" not in v
        ):
            fast.append(i)
        else:
            slow.append(i)
    return fast, slow, None


def _parse(
    values: list[bytes | None],
    indices: list[int],
    tables: list[pa.Table],
    rows: list[int],
    slow: list[int],
    joined: bytes | None = None,
) -> None:
    """Parse the values at `indices` with Arrow; halve a rejected buffer until the culprits are alone."""
    buf = joined if joined is not None else b"\n".join([values[i] for i in indices])  # type: ignore[misc]
    try:
        table = pj.read_json(
            pa.BufferReader(buf),
            read_options=pj.ReadOptions(use_threads=False, block_size=len(buf) + 1),
            parse_options=_PARSE,
        )
    except pa.ArrowException:
        table = None
    if table is not None and table.num_rows == len(indices):
        tables.append(table)
        rows.extend(indices)
        return
    if len(indices) < _SPLIT_BELOW:
        slow.extend(indices)
        return
    half = len(indices) // 2
    _parse(values, indices[:half], tables, rows, slow)
    _parse(values, indices[half:], tables, rows, slow)


def _concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    if not tables:
        return schema.empty_table()
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables).combine_chunks()


def _columns(rows: pa.Table) -> tuple[pa.Table, set[int]]:
    """Parsed JSON fields -> the lake's columns, and the rows that must be decoded one by one instead."""
    bad = None  # boolean mask of the rows to decode one by one, None while there are none

    def flag(mask: pa.Array | pa.ChunkedArray) -> None:
        nonlocal bad
        if pc.any(mask).as_py():
            bad = mask if bad is None else pc.or_(bad, mask)

    required = [rows.column(f.name) for f in _JSON_SCHEMA if f.name not in OPTIONAL_PRICES]
    if any(col.null_count for col in required):  # a missing field, or an explicit null
        nulls = pc.is_null(required[0])
        for col in required[1:]:
            nulls = pc.or_(nulls, pc.is_null(col))
        flag(nulls)
    for name in PRICES:
        col = pc.fill_null(rows.column(name), 1.0)
        # -0.0 (1/x = -inf): JSON `-0` is the integer 0 to json.loads, so 0.0, but -0.0 to Arrow.
        flag(pc.or_(pc.invert(pc.is_finite(col)), pc.equal(pc.divide(1.0, col), -math.inf)))

    # Dates: Arrow's cast takes exactly YYYY-MM-DD with a valid day, as `date.fromisoformat` does for
    # that form, except year 0, which Python rejects.
    text = pc.fill_null(rows.column("date"), "1970-01-01")
    try:
        dates = text.cast(pa.date32())
    except pa.ArrowInvalid:
        ok = pa.array([_plain_iso_date(s) for s in text.to_pylist()], pa.bool_())
        flag(pc.invert(ok))
        dates = pc.if_else(ok, text, "1970-01-01").cast(pa.date32())
    flag(pc.less(dates, _MIN_DATE))

    # source "file:line" (`str.rpartition`): split at the last colon; the line is its digits, else 0.
    source = pc.fill_null(rows.column("source"), ":0")
    parts = pc.split_pattern(source, ":", max_splits=1, reverse=True)
    no_colon = pc.not_equal(pc.list_value_length(parts), 2)
    if pc.any(no_colon).as_py():
        flag(no_colon)
        parts = pc.split_pattern(pc.if_else(no_colon, ":0", source), ":", max_splits=1, reverse=True)
    files, line_text = pc.list_element(parts, 0), pc.list_element(parts, 1)
    digits = pc.ascii_is_decimal(line_text)
    long = pc.greater(pc.utf8_length(line_text), _LINE_DIGITS)
    flag(pc.and_(digits, long))  # may not fit int32
    lines = pc.if_else(pc.and_(digits, pc.invert(long)), line_text, "0").cast(pa.int32())

    symbol, volume = rows.column("symbol"), rows.column("volume")
    prices = [rows.column(name) for name in PRICES]
    optional = [rows.column(name) for name in OPTIONAL_PRICES]
    # The producer's rules (pipeline/bar_rules.py): records from any other producer are held to them.
    if any(col.null_count < len(col) for col in optional):
        flag(pc.invert(good_optional_prices(*optional)))
    flag(pc.invert(good_bars(dates, *prices, volume, latest_allowed_date())))
    flag(pc.invert(good_symbols(symbol)))
    table = pa.Table.from_arrays(
        [symbol, dates, *prices, volume, *optional, files, lines], schema=_ROW_SCHEMA
    )
    if bad is None:
        return table, set()
    return table, set(pc.indices_nonzero(pc.fill_null(bad, True)).to_pylist())


def _foreign_keys(table: pa.Table, keys: list[bytes | None]) -> set[int]:
    """Rows whose message key is not their symbol (the producer keys each record by it)."""
    if not keys:
        return set()
    same = pc.equal(pa.array(keys, pa.binary()), pc.cast(table.column("symbol"), pa.binary()))
    return set(pc.indices_nonzero(pc.invert(pc.fill_null(same, False))).to_pylist())


def _plain_iso_date(text: str) -> bool:
    """`text` is a bar's date by `bar_rules.parse_date` (also the form Arrow's cast takes)."""
    try:
        parse_date(text)
    except ValueError:
        return False
    return True


def _decode_one(raw: bytes | None, key: bytes | None = b"") -> StockBar | str:
    """One value through `bar_from_json`: the bar, or the reason it is poison."""
    try:
        bar = bar_from_json(raw, key)
    except BadMessage as exc:
        return str(exc)
    except (ArithmeticError, RecursionError, ValueError) as exc:
        # json.loads takes 1e999 and 10**400 as numbers and nests as deep as the stack goes; a value
        # that breaks the decoder is as poisonous as one it rejects.
        return f"not decodable: {type(exc).__name__}: {exc}"
    return _storable(bar) or bar


def _storable(bar: StockBar) -> str | None:
    """Why `bar` cannot be a row of the lake's schema, or None."""
    if not 0 <= bar.volume <= MAX_VOLUME:  # (bar_problem has said so already)
        return "field 'volume' is out of range for int64"
    if not 0 <= bar.source_line <= MAX_SOURCE_LINE:
        return "the line number in 'source' is out of range for int32"
    for name, text in (("symbol", bar.symbol), ("source", bar.source_file)):
        try:
            text.encode()
        except UnicodeEncodeError:
            return f"field {name!r} is not valid Unicode (lone surrogate)"
    return None


def _bars_table(bars: list[StockBar]) -> pa.Table:
    return pa.Table.from_pydict(
        {
            "symbol": [b.symbol for b in bars],
            "date": [b.date for b in bars],
            "open": [b.open for b in bars],
            "high": [b.high for b in bars],
            "low": [b.low for b in bars],
            "close": [b.close for b in bars],
            "volume": [b.volume for b in bars],
            "adj_close": [b.adj_close for b in bars],
            "close_usd": [b.close_usd for b in bars],
            "source_file": [b.source_file for b in bars],
            "source_line": [b.source_line for b in bars],
        },
        schema=_ROW_SCHEMA,
    )

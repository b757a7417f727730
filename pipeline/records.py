"""The typed record that flows through the pipeline, and its wire format on the topic."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from pipeline.bar_rules import (
    OPTIONAL_PRICES,
    bar_problem,
    latest_allowed_date,
    optional_prices_problem,
    parse_date,
    symbol_problem,
)

__all__ = ["OPTIONAL_PRICES", "SCHEMA_VERSION", "BadMessage", "ColumnEncoder", "StockBar", "bar_from_json"]

# Kafka message key and JSON value schema version; bump when a field changes meaning.
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class StockBar:
    """One daily OHLCV bar for one symbol, with where it came from."""

    symbol: str
    date: date
    open: float
    high: float
    low: float
    close: float
    volume: int
    source_file: str
    source_line: int
    # Index layout only (indexProcessed.csv): the adjusted close, and the close in US dollars that makes
    # indices in other currencies comparable. None for the Kaggle layout (and absent from its JSON).
    adj_close: float | None = None
    close_usd: float | None = None

    @property
    def event_time_ms(self) -> int:
        """Event time of the bar: midnight UTC of its trading date, in epoch milliseconds."""
        return (self.date.toordinal() - _EPOCH_ORDINAL) * 86_400_000

    def key(self) -> bytes:
        return self.symbol.encode()

    def to_json(self) -> bytes:
        o, h, lo, c, vol = self.open, self.high, self.low, self.close, self.volume
        # Fast path, byte for byte what json.dumps writes: it formats finite floats with repr,
        # ints with repr and strings with encode_basestring_ascii (ensure_ascii=True).
        if (
            type(o) is float
            and type(h) is float
            and type(lo) is float
            and type(c) is float
            and type(vol) is int
            and type(self.symbol) is str
            and type(self.source_file) is str
            and type(self.source_line) is int
            # each one finite (NaN fails every comparison; json.dumps writes NaN/Infinity, not repr)
            and -_INF < o < _INF
            and -_INF < h < _INF
            and -_INF < lo < _INF
            and -_INF < c < _INF
            and self.adj_close is None
            and self.close_usd is None
        ):
            return (
                f'{{"v":{SCHEMA_VERSION},"symbol":{_json_str(self.symbol)},'
                f'"date":"{self.date.isoformat()}","open":{o!r},"high":{h!r},"low":{lo!r},'
                f'"close":{c!r},"volume":{vol!r},'
                f'"event_time":{(self.date.toordinal() - _EPOCH_ORDINAL) * 86_400_000!r},'
                f'"source":{_json_str(f"{self.source_file}:{self.source_line}")}}}'
            ).encode()
        doc: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "symbol": self.symbol,
            "date": self.date.isoformat(),
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
            "event_time": self.event_time_ms,
            "source": f"{self.source_file}:{self.source_line}",
        }
        for name in OPTIONAL_PRICES:  # only when there is one: Kaggle bars keep their bytes
            if getattr(self, name) is not None:
                doc[name] = getattr(self, name)
        return json.dumps(doc, separators=(",", ":")).encode()


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_json_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
_INF = math.inf


class ColumnEncoder:
    """`StockBar.to_json` and `key` for many bars at once, from Arrow columns: the same bytes.

    A batch has one row per bar: `day` (int32, days since 1970-01-01), `rank` (int32: which
    stream, i.e. which symbol and source file), `open`/`high`/`low`/`close` (float64), `volume`
    (int64), `line` (int32), and `json` (binary): the value already encoded, or null to encode it
    here. Floats are written by Arrow's shortest round-trip formatter: the digits repr writes, and
    in the same fixed notation from 1e-4 up to 1e10 (tests/test_records_columns.py pins it), except that
    Arrow writes a whole number without ".0". Rows with a price outside that range are encoded by
    `StockBar.to_json`, as are a few rows with whole prices (many get ".0" added column-wise).
    """

    def __init__(self, symbols: list[str], files: list[str]) -> None:
        import pyarrow as pa

        self.symbols = symbols
        self.files = files
        self.keys = [symbol.encode() for symbol in symbols]
        # The value, in pieces: head[rank], date[day], open, high, low, close, volume, event[day],
        # source[rank], line, '"}'; the constant text is folded into the per-rank and per-day pieces.
        self._head = pa.array([f'{{"v":{SCHEMA_VERSION},"symbol":{_json_str(s)},"date":"' for s in symbols])
        self._source = pa.array([f',"source":{_json_str(f"{f}:")[:-1]}' for f in files])
        self._first_day = 0
        self._dates: Any = pa.array([], pa.string())  # per day from _first_day: 'YYYY-MM-DD","open":'
        self._events: Any = pa.array([], pa.string())  # per day: ',"event_time":<ms>'

    def encode(self, batch: Any) -> tuple[list[bytes], list[bytes]]:
        """(keys, values) of every row of `batch` (a pyarrow RecordBatch), in row order."""
        values = self.encode_values(batch)
        return list(map(self.keys.__getitem__, batch.column("rank").to_pylist())), values.to_pylist()

    def encode_values(self, batch: Any) -> Any:
        """The values of `encode` as an Arrow binary array (the keys are `self.keys[rank]`)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n = batch.num_rows
        rank, day, given = batch.column("rank"), batch.column("day"), batch.column("json")
        o, h, lo, c = prices = [batch.column(name) for name in ("open", "high", "low", "close")]
        # Rows left to StockBar.to_json: a price where Arrow's notation may differ from repr's.
        odd = pc.or_(
            pc.less(pc.min_element_wise(o, h, lo, c), 1e-4),
            pc.greater_equal(pc.max_element_wise(o, h, lo, c), 1e10),
        )
        texts = []
        for x in prices:
            text = pc.cast(x, pa.string())
            whole = pc.equal(x, pc.floor(x))  # repr writes 5.0 as "5.0", Arrow as "5"
            count = pc.sum(whole).as_py() or 0
            if count * 64 > n:
                text = pc.replace_with_mask(
                    text, whole, pc.binary_join_element_wise(pc.filter(text, whole), ".0", "")
                )
            elif count:
                odd = pc.or_(odd, whole)
            texts.append(text)
        index = pc.subtract(day, self._cover(pc.min(day).as_py(), pc.max(day).as_py()))
        joined = pc.binary_join_element_wise(
            pc.take(self._head, rank),
            pc.take(self._dates, index),
            texts[0],
            ',"high":',
            texts[1],
            ',"low":',
            texts[2],
            ',"close":',
            texts[3],
            ',"volume":',
            pc.cast(batch.column("volume"), pa.string()),
            pc.take(self._events, index),
            pc.take(self._source, rank),
            pc.cast(batch.column("line"), pa.string()),
            '"}',
            "",
        )
        values = pc.coalesce(given, pc.cast(joined, pa.binary()))
        odd = pc.and_(odd, pc.is_null(given))
        if pc.any(odd).as_py():
            rows = pc.indices_nonzero(odd).to_pylist()
            fixed = pa.array([self.bar(batch, i).to_json() for i in rows], pa.binary())
            values = pc.replace_with_mask(values, odd, fixed)
        return values

    def _cover(self, first: int | None, last: int | None) -> int:
        """Make the per-day pieces cover days first..last; returns the day of piece 0."""
        import pyarrow as pa

        have = len(self._dates)
        if first is None or last is None or (self._first_day <= first and last < self._first_day + have):
            return self._first_day
        # Extended a year back and ten ahead of what is needed, so a replay rebuilds them rarely.
        lo = min(first, self._first_day) - 366 if have else first - 366
        hi = max(last, self._first_day + have - 1) + 3653 if have else last + 3653
        days = range(lo, hi + 1)
        self._dates = pa.array([f'{date.fromordinal(_EPOCH_ORDINAL + d).isoformat()}","open":' for d in days])
        self._events = pa.array([f',"event_time":{d * 86_400_000}' for d in days])
        self._first_day = lo
        return lo

    def bar(self, batch: Any, i: int) -> StockBar:
        """Row `i` of `batch` as a StockBar."""
        row = batch.slice(i, 1).to_pylist()[0]
        return StockBar(
            self.symbols[row["rank"]],
            date.fromordinal(_EPOCH_ORDINAL + row["day"]),
            row["open"],
            row["high"],
            row["low"],
            row["close"],
            row["volume"],
            self.files[row["rank"]],
            row["line"],
        )


class BadMessage(ValueError):
    """A message on the topic that is not a valid StockBar (a poison message)."""


def bar_from_json(raw: bytes | None, key: bytes | None = b"") -> StockBar:
    """Decode and validate a message value written by `StockBar.to_json` (or by any other producer).

    The bar must pass the same rules the producer applies to rows (pipeline/bar_rules.py), and with a
    `key` given (None = the message had none) the key must be the symbol, as the producer keys it.
    """
    bar = _bar_from_json(raw)
    problem = (
        symbol_problem(bar.symbol)
        or bar_problem(bar.date, bar.open, bar.high, bar.low, bar.close, bar.volume, latest_allowed_date())
        or optional_prices_problem(bar.adj_close, bar.close_usd)
    )
    if problem is None and key != b"" and key != bar.symbol.encode(errors="surrogatepass"):
        problem = (
            f"key {key[:40]!r} does not match symbol {bar.symbol!r}"
            if key is not None
            else (f"no key (the producer keys each record by its symbol, {bar.symbol!r})")
        )
    if problem is not None:
        raise BadMessage(problem)
    return bar


def _bar_from_json(raw: bytes | None) -> StockBar:
    if raw is None:
        raise BadMessage("empty value (tombstone)")
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadMessage(f"not JSON: {exc}") from None
    # Fast path for a well-formed value: exact types, no conversions needed. Anything else (or any
    # error) takes the checked path below, which accepts it or says what is wrong.
    if type(obj) is dict:
        try:
            symbol, day, vol = obj["symbol"], obj["date"], obj["volume"]
            o, h, lo, c = obj["open"], obj["high"], obj["low"], obj["close"]
            source = obj.get("source", ":0")
            if (
                type(symbol) is str
                and type(day) is str
                and type(o) is float
                and type(h) is float
                and type(lo) is float
                and type(c) is float
                and type(vol) is int
                and type(source) is str
                and "adj_close" not in obj
                and "close_usd" not in obj
            ):
                file, _, line = source.rpartition(":")
                return StockBar(
                    symbol,
                    parse_date(day),
                    o,
                    h,
                    lo,
                    c,
                    vol,
                    file,
                    int(line) if line.isdigit() else 0,
                )
        except (KeyError, ValueError):
            pass
    if not isinstance(obj, dict):
        raise BadMessage("JSON value is not an object")
    try:
        source = str(obj.get("source", ":0"))
        file, _, line = source.rpartition(":")
        bar = StockBar(
            symbol=_typed(obj, "symbol", str),
            date=parse_date(_typed(obj, "date", str)),
            open=float(_typed(obj, "open", (int, float))),
            high=float(_typed(obj, "high", (int, float))),
            low=float(_typed(obj, "low", (int, float))),
            close=float(_typed(obj, "close", (int, float))),
            volume=_typed(obj, "volume", int),
            source_file=file,
            source_line=int(line) if line.isdigit() else 0,
            adj_close=_optional_float(obj, "adj_close"),
            close_usd=_optional_float(obj, "close_usd"),
        )
    except KeyError as exc:
        raise BadMessage(f"missing field {exc.args[0]!r}") from None
    except ValueError as exc:
        raise BadMessage(str(exc)) from None
    return bar


def _optional_float(obj: dict[str, object], name: str) -> float | None:
    value = obj.get(name)
    return None if value is None else float(_typed(obj, name, (int, float)))


def _typed(obj: dict[str, object], name: str, kind: type | tuple[type, ...]):  # type: ignore[no-untyped-def]
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise BadMessage(f"field {name!r} has the wrong type ({type(value).__name__})")
    return value

"""The typed record that flows through the pipeline, and its wire format on the topic."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date

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
        ):
            return (
                f'{{"v":{SCHEMA_VERSION},"symbol":{_json_str(self.symbol)},'
                f'"date":"{self.date.isoformat()}","open":{o!r},"high":{h!r},"low":{lo!r},'
                f'"close":{c!r},"volume":{vol!r},'
                f'"event_time":{(self.date.toordinal() - _EPOCH_ORDINAL) * 86_400_000!r},'
                f'"source":{_json_str(f"{self.source_file}:{self.source_line}")}}}'
            ).encode()
        return json.dumps(
            {
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
            },
            separators=(",", ":"),
        ).encode()


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_json_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
_INF = math.inf


class BadMessage(ValueError):
    """A message on the topic that is not a valid StockBar (a poison message)."""


def bar_from_json(raw: bytes | None) -> StockBar:
    """Decode and validate a message value written by `StockBar.to_json`."""
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
            ):
                file, _, line = source.rpartition(":")
                return StockBar(
                    symbol,
                    date.fromisoformat(day),
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
            date=date.fromisoformat(_typed(obj, "date", str)),
            open=float(_typed(obj, "open", (int, float))),
            high=float(_typed(obj, "high", (int, float))),
            low=float(_typed(obj, "low", (int, float))),
            close=float(_typed(obj, "close", (int, float))),
            volume=_typed(obj, "volume", int),
            source_file=file,
            source_line=int(line) if line.isdigit() else 0,
        )
    except KeyError as exc:
        raise BadMessage(f"missing field {exc.args[0]!r}") from None
    except ValueError as exc:
        raise BadMessage(str(exc)) from None
    return bar


def _typed(obj: dict[str, object], name: str, kind: type | tuple[type, ...]):  # type: ignore[no-untyped-def]
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise BadMessage(f"field {name!r} has the wrong type ({type(value).__name__})")
    return value

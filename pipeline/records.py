"""The typed record that flows through the pipeline, and its wire format on the topic."""

from __future__ import annotations

import json
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

"""Source formats recognised from their header line, and row validation into `StockBar`.

Two layouts are known:
- Kaggle "Price Volume Data for All US Stocks & ETFs": one file per ticker, the symbol in the file
  name (`Stocks/aapl.us.txt`), header `Date,Open,High,Low,Close,Volume,OpenInt`.
- The origin tutorial's `indexProcessed.csv`: many symbols in one file,
  header `Index,Date,Open,High,Low,Close,Adj Close,Volume,CloseUSD`.
Columns are found by name, so their order may differ; missing required columns are an error that
names the file, unknown extra columns are ignored (and reported once per file).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from enum import Enum
from functools import cached_property, lru_cache

from pipeline.bar_rules import (
    EARLIEST_DATE,
    PRICES,
    bar_problem,
    latest_allowed_date,
    optional_prices_problem,
    parse_date,
)
from pipeline.records import StockBar

__all__ = ["EARLIEST_DATE", "latest_allowed_date"]  # the bar rules' own, re-exported for the readers


class Layout(Enum):
    KAGGLE = "kaggle"
    INDEX = "index"


_REQUIRED = {
    Layout.KAGGLE: ("date", "open", "high", "low", "close", "volume"),
    Layout.INDEX: ("index", "date", "open", "high", "low", "close", "volume"),
}
_KNOWN = {
    Layout.KAGGLE: {*_REQUIRED[Layout.KAGGLE], "openint"},
    Layout.INDEX: {*_REQUIRED[Layout.INDEX], "adj close", "closeusd"},
}
KAGGLE_HEADER = "Date,Open,High,Low,Close,Volume,OpenInt"
INDEX_HEADER = "Index,Date,Open,High,Low,Close,Adj Close,Volume,CloseUSD"


class UnknownFormat(ValueError):
    """The header is not one of the known layouts."""


class RowError(ValueError):
    """One row is malformed; the message is the reason reported with file:line."""


@dataclass(frozen=True)
class Header:
    layout: Layout
    columns: tuple[str, ...]
    index: dict[str, int]
    extra: tuple[str, ...]

    @property
    def width(self) -> int:
        return len(self.columns)

    @cached_property
    def optional(self) -> tuple[int | None, int | None]:
        """Column positions of Adj Close and CloseUSD (the index layout), None where absent."""
        return self.index.get("adj close"), self.index.get("closeusd")

    @cached_property
    def positions(self) -> tuple[int, int, int, int, int, int]:
        """Column positions of date, open, high, low, close, volume."""
        i = self.index
        return i["date"], i["open"], i["high"], i["low"], i["close"], i["volume"]


def normalise(name: str) -> str:
    return name.strip().strip('"').lower()


def detect_header(line: str) -> Header:
    """Recognise the layout from a header line, or raise UnknownFormat naming what was expected."""
    # The files of a source share a few header lines (and a Header is never changed): a usual one is
    # recognised once; a hostile one (up to a 1 MB line) is not kept.
    return _known_header(line) if len(line) <= 256 else _detect_header(line)


@lru_cache(maxsize=64)
def _known_header(line: str) -> Header:
    return _detect_header(line)


def _detect_header(line: str) -> Header:
    columns = tuple(normalise(c) for c in line.split(","))
    names = set(columns)
    for layout in (Layout.INDEX, Layout.KAGGLE):
        if all(col in names for col in _REQUIRED[layout]):
            extra = tuple(c for c in columns if c not in _KNOWN[layout])
            return Header(layout, columns, {c: i for i, c in enumerate(columns)}, extra)
    shown = line.strip()[:80]
    raise UnknownFormat(
        f"unrecognised header {shown!r}: expected the Kaggle layout ({KAGGLE_HEADER}) "
        f"or indexProcessed.csv ({INDEX_HEADER})"
    )


def is_header_line(line: str, header: Header) -> bool:
    return tuple(normalise(c) for c in line.split(",")) == header.columns


def _price(fields: list[str], header: Header, name: str) -> float:
    raw = fields[header.index[name]].strip()
    try:
        return float(raw)
    except ValueError:
        raise RowError(f"{name} is not a number ({raw!r})") from None


def _volume(fields: list[str], header: Header) -> int:
    raw = fields[header.index["volume"]].strip()
    try:
        return _whole(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        raise RowError(f"volume is not a number ({raw!r})") from None
    if not math.isfinite(value) or value != int(value):
        raise RowError(f"volume is not a whole number ({raw!r})")
    return int(value)


_DIGITS = re.compile(r"[+-]?[0-9]+")


def _whole(text: str) -> int:
    """An integer written as digits, exactly (float() would round volumes beyond 2**53)."""
    if not _DIGITS.fullmatch(text):
        raise ValueError(text)
    return int(text)


def _date(fields: list[str], header: Header, latest: date) -> date:
    raw = fields[header.index["date"]].strip()
    try:
        return parse_date(raw)
    except ValueError as exc:
        raise RowError(str(exc)) from None


def parse_row(
    fields: list[str], header: Header, symbol: str, source_file: str, line: int, latest: date
) -> StockBar:
    """Validate one split row into a StockBar or raise RowError with the reason."""
    # Fast path for the common, valid row: the same checks as `_checked_row`, inlined. Any row it
    # does not accept goes through `_checked_row`, which accepts or rejects it with the reason.
    if len(fields) == header.width and header.optional == (None, None):
        i_date, i_open, i_high, i_low, i_close, i_volume = header.positions
        try:
            text = fields[i_date].strip()
            day = parse_date(text)
            open_ = float(fields[i_open])
            high = float(fields[i_high])
            low = float(fields[i_low])
            close = float(fields[i_close])
            volume = _whole(fields[i_volume].strip())
        except ValueError:
            pass
        else:
            if bar_problem(day, open_, high, low, close, volume, latest) is None:
                return StockBar(symbol, day, open_, high, low, close, volume, source_file, line)
    return _checked_row(fields, header, symbol, source_file, line, latest)


def _checked_row(
    fields: list[str], header: Header, symbol: str, source_file: str, line: int, latest: date
) -> StockBar:
    if len(fields) != header.width:
        raise RowError(f"expected {header.width} columns, found {len(fields)}")
    day = _date(fields, header, latest)
    open_, high, low, close = (_price(fields, header, n) for n in PRICES)
    volume = _volume(fields, header)
    adj_close, close_usd = (
        _optional_price(fields, i, name)
        for i, name in zip(header.optional, ("adj close", "closeusd"), strict=True)
    )
    problem = bar_problem(day, open_, high, low, close, volume, latest) or optional_prices_problem(
        adj_close, close_usd
    )
    if problem is not None:
        raise RowError(problem)
    return StockBar(symbol, day, open_, high, low, close, volume, source_file, line, adj_close, close_usd)


def _optional_price(fields: list[str], position: int | None, name: str) -> float | None:
    raw = fields[position].strip() if position is not None else ""
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise RowError(f"{name} is not a number ({raw[:40]!r})") from None


def symbol_from_filename(name: str) -> str:
    """`Stocks/aapl.us.txt` -> `AAPL`; `brk-b.us.txt` -> `BRK-B`. The caller checks the result
    (`bar_rules.symbol_problem`): `.us.txt` gives ''."""
    base = name.rsplit("/", 1)[-1]
    return base.split(".", 1)[0].upper()

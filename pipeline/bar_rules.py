"""What a daily bar is and what makes one good: the one definition every codec path reads.

A bar is encoded three ways (`StockBar.to_json`, its dict fallback, `ColumnEncoder` in
pipeline/records.py), decoded two ways (`bar_from_json`, `pipeline/sink/decode.py` in Arrow) and
validated three ways (`parse_row`'s fast and checked paths in pipeline/sources/formats.py, the
column-wise read in pipeline/sources/batches.py). They keep their own fast code, but the rules they share
live here: the fields and their types (`BAR_FIELDS`, `VALUE_FIELDS`), the limits (`MAX_VOLUME`,
`MAX_SOURCE_LINE`, the date window), the date form, and the checks, row by row (`bar_problem`,
`symbol_problem`, `optional_prices_problem`) or column-wise in Arrow (`good_bars`, `good_symbols`,
`good_optional_prices`). So a record the producer would reject is dead-lettered by the sink with the
same reason. tests/test_bar_rules.py pins the two forms to each other, tests/test_bar_codec_paths.py
every path to the others on the same hostile rows.
"""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from typing import Any

#: A bar's prices, in the order every path lists them.
PRICES = ("open", "high", "low", "close")
#: Nullable prices some layouts carry (the index layout's Adj Close and CloseUSD), in their field names.
OPTIONAL_PRICES = ("adj_close", "close_usd")
#: A bar's fields with the Arrow type every path holds them in: the lake's columns, in their order.
BAR_FIELDS: tuple[tuple[str, str], ...] = (
    ("symbol", "string"),
    ("date", "date32"),
    *((name, "float64") for name in PRICES),
    ("volume", "int64"),
    *((name, "float64") for name in OPTIONAL_PRICES),
    ("source_file", "string"),
    ("source_line", "int32"),
)
#: The JSON value's fields on the topic, in the order `StockBar.to_json` writes them (the optional prices
#: follow, only where set). `date` is YYYY-MM-DD text, `source` is "<source_file>:<source_line>".
VALUE_FIELDS = ("v", "symbol", "date", *PRICES, "volume", "event_time", "source")
#: The largest source line number the lake stores (int32).
MAX_SOURCE_LINE = 2**31 - 1

#: Dates outside this window are typos or impossible for daily bars of listed securities.
EARLIEST_DATE = date(1900, 1, 1)
#: The largest volume the lake stores (int64).
MAX_VOLUME = 2**63 - 1
#: high/low must bracket open and close, up to this relative float rounding.
BRACKET_SLACK = 1e-9
#: A symbol: 1-32 printable ASCII characters, no whitespace, no path separators ('/', '\\'), no controls.
MAX_SYMBOL_LENGTH = 32
SYMBOL_PATTERN = r"^[!-.0-\[\]-~]{1,32}$"
_SYMBOL = re.compile(SYMBOL_PATTERN)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


#: A bar's date, as text: exactly YYYY-MM-DD (a valid day besides).
DATE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_ISO_DATE = re.compile(DATE_PATTERN)


def parse_date(text: str) -> date:
    """A bar's date: exactly YYYY-MM-DD (date.fromisoformat alone also takes 20170110 and 2017-W02-3).
    Raises ValueError with the one reason both the producer and the sink give."""
    if _ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass  # 2017-02-30
    raise ValueError(f"date is not a valid YYYY-MM-DD date ({text[:40]!r})")


def arrow_fields(names: tuple[str, ...] | None = None) -> list[Any]:
    """`BAR_FIELDS` (or those of `names`, in that order) as pyarrow fields."""
    import pyarrow as pa

    types = dict(BAR_FIELDS)
    return [pa.field(name, getattr(pa, types[name])()) for name in (names or tuple(types))]


def latest_allowed_date(today: date | None = None) -> date:
    """Tomorrow: a bar from later than that is a typo (a bar of today may carry tomorrow's UTC date)."""
    return (today or date.today()) + timedelta(days=1)


def symbol_problem(symbol: str) -> str | None:
    """Why `symbol` is not a usable symbol, or None."""
    if not symbol:
        return "symbol is empty"
    if not _SYMBOL.match(symbol):
        return (
            f"symbol {symbol[:40]!r} is not 1-{MAX_SYMBOL_LENGTH} printable ASCII characters "
            "without spaces, '/' or '\\'"
        )
    return None


def bar_problem(
    day: date, open_: float, high: float, low: float, close: float, volume: int, latest: date
) -> str | None:
    """Why these values are not a good bar (the first rule broken, in a fixed order), or None."""
    if not EARLIEST_DATE <= day <= latest:
        return f"date {day.isoformat()} is outside {EARLIEST_DATE}..{latest}"
    for name, value in (("open", open_), ("high", high), ("low", low), ("close", close)):
        if not math.isfinite(value):
            return f"{name} is not finite ({value!r})"
        if value <= 0:
            return f"{name} must be > 0 (got {value!r})"
    if volume < 0:
        return f"volume is negative ({volume})"
    if volume > MAX_VOLUME:
        return f"volume {volume} is beyond the lake's int64 range"
    if high < low:
        return f"high {high} is below low {low}"
    slack = BRACKET_SLACK * high
    if high + slack < max(open_, close):
        return f"high {high} is below open/close {max(open_, close)}"
    if low - slack > min(open_, close):
        return f"low {low} is above open/close {min(open_, close)}"
    return None


def optional_prices_problem(adj_close: float | None, close_usd: float | None) -> str | None:
    """The index layout's Adj Close and CloseUSD: absent, or finite and > 0."""
    for name, value in (("adj close", adj_close), ("closeusd", close_usd)):
        if value is not None and not (0 < value < math.inf):
            return f"{name} must be a finite number > 0 or empty (got {value!r})"
    return None


def good_bars(day: Any, open_: Any, high: Any, low: Any, close: Any, volume: Any, latest: date) -> Any:
    """Arrow form of `bar_problem`: a boolean array, true where the bar is good.

    `day` is int32 days since 1970-01-01 or date32; the prices are float64 arrays, `volume` int64 (which
    holds nothing beyond MAX_VOLUME).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    days = day.cast(pa.int32()) if day.type != pa.int32() else day
    inf = math.inf
    checks = [
        pc.greater_equal(days, EARLIEST_DATE.toordinal() - _EPOCH_ORDINAL),
        pc.less_equal(days, latest.toordinal() - _EPOCH_ORDINAL),
        pc.greater(low, 0.0),
        pc.less_equal(low, high),
        pc.less(high, inf),
        pc.greater(open_, 0.0),
        pc.less(open_, inf),
        pc.greater(close, 0.0),
        pc.less(close, inf),
        pc.greater_equal(pc.add(high, pc.multiply(high, BRACKET_SLACK)), pc.max_element_wise(open_, close)),
        pc.less_equal(pc.subtract(low, pc.multiply(high, BRACKET_SLACK)), pc.min_element_wise(open_, close)),
        pc.greater_equal(volume, 0),
    ]
    ok = checks[0]
    for check in checks[1:]:
        ok = pc.and_(ok, check)
    return pc.fill_null(ok, False)


def good_optional_prices(*columns: Any) -> Any:
    """Arrow form of `optional_prices_problem`: true where each column is null or finite and > 0."""
    import pyarrow.compute as pc

    ok = None
    for column in columns:
        good = pc.fill_null(pc.and_(pc.greater(column, 0.0), pc.less(column, math.inf)), True)
        ok = good if ok is None else pc.and_(ok, good)
    return ok


def good_symbols(symbols: Any) -> Any:
    """Arrow form of `symbol_problem`: true where the symbol is usable."""
    import pyarrow.compute as pc

    return pc.fill_null(pc.match_substring_regex(symbols, SYMBOL_PATTERN), False)

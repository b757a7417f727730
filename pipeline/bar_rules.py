"""What makes a daily bar good: the one definition the producer and the sink both apply.

The producer checks rows it reads from files (`pipeline/sources`), the sink checks records it consumes
(`pipeline/sink/decode.py`), which may come from any producer. Both ask these functions, row by row
(`bar_problem`, `symbol_problem`) or column-wise in Arrow (`good_bars`, `good_symbols`), so a record the
producer would reject is dead-lettered by the sink with the same reason. Tests pin the two forms to
each other (tests/test_bar_rules.py).
"""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from typing import Any

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


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(text: str) -> date:
    """A bar's date: exactly YYYY-MM-DD (date.fromisoformat alone also takes 20170110 and 2017-W02-3).
    Raises ValueError."""
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(f"date is not a valid YYYY-MM-DD date ({text[:40]!r})")
    return date.fromisoformat(text)


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


def good_bars(day: Any, open_: Any, high: Any, low: Any, close: Any, latest: date) -> Any:
    """Arrow form of `bar_problem` (volume aside: int64 columns already hold only 0..MAX when their text
    was matched, and the sink checks its sign): a boolean array, true where the bar is good.

    `day` is int32 days since 1970-01-01 or date32; the prices are float64 arrays.
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
    ]
    ok = checks[0]
    for check in checks[1:]:
        ok = pc.and_(ok, check)
    return pc.fill_null(ok, False)


def good_symbols(symbols: Any) -> Any:
    """Arrow form of `symbol_problem`: true where the symbol is usable."""
    import pyarrow.compute as pc

    return pc.fill_null(pc.match_substring_regex(symbols, SYMBOL_PATTERN), False)

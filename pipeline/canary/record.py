"""The canary record: an ordinary StockBar that no source row can be mistaken for."""

from __future__ import annotations

import secrets
import time
from datetime import date

from pipeline.records import StockBar

#: Longer than any exchange ticker (US tickers have at most 5 letters plus a class suffix), so it
#: never collides with a real symbol; plain letters, so it needs no quoting in SQL or in a shell.
CANARY_SYMBOL = "ZZCANARY"
#: The bar's source_file (its source_line is 0): where a row in the lake came from.
CANARY_SOURCE = "canary"
#: Fixed, plausible prices (low <= open, close <= high), so the row passes any validation.
CANARY_PRICES = (100.0, 101.0, 99.0, 100.5)  # open, high, low, close

#: Nonces stay below 2**53 so any JSON reader (jq, JavaScript) keeps them exact.
_MAX_NONCE = 2**53 - 1


def new_nonce() -> int:
    """A positive, per-run unique volume: milliseconds since the epoch x 1000 + a random 0..999."""
    return min(time.time_ns() // 1_000_000 * 1000 + secrets.randbelow(1000), _MAX_NONCE)


def canary_bar(day: date, nonce: int, symbol: str = CANARY_SYMBOL) -> StockBar:
    open_, high, low, close = CANARY_PRICES
    return StockBar(symbol, day, open_, high, low, close, nonce, CANARY_SOURCE, 0)

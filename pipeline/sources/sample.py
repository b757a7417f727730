"""A deterministic synthetic data set in the Kaggle layout: what demos, tests and benchmarks use.

No market data can be downloaded here. The generator writes `Stocks/<sym>.us.txt` and
`ETFs/<sym>.us.txt` with plausible daily OHLCV on trading days only (weekdays minus fixed US market
holidays), a seeded geometric random walk per ticker, and a `manifest.json` with the totals a test
or the demo compares SQL results against.
"""

from __future__ import annotations

import json
import math
import random
import string
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

from pipeline.sources.formats import KAGGLE_HEADER

DEFAULT_END = date(2017, 11, 10)  # the last day of the Kaggle data set


def _observed(day: date) -> date:
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


def _holidays(year: int) -> set[date]:
    """New Year's Day, Independence Day and Christmas (observed): enough to keep gaps realistic."""
    return {_observed(date(year, 1, 1)), _observed(date(year, 7, 4)), _observed(date(year, 12, 25))}


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def trading_days(count: int, end: date = DEFAULT_END) -> list[date]:
    """The last `count` trading days up to and including `end`, oldest first."""
    days: list[date] = []
    day = end
    while len(days) < count:
        if is_trading_day(day):
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def _symbols(count: int, rng: random.Random) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        sym = "".join(rng.choices(string.ascii_uppercase, k=rng.choice((2, 3, 3, 4))))
        if sym not in seen:
            seen.add(sym)
            out.append(sym)
    return out


@dataclass
class SymbolStats:
    rows: int = 0
    volume: int = 0
    first_date: str = ""
    last_date: str = ""
    last_close: float = 0.0


@dataclass
class Manifest:
    seed: int
    rows: int = 0
    files: int = 0
    empty_files: int = 0
    total_volume: int = 0
    first_date: str = ""
    last_date: str = ""
    symbols: dict[str, SymbolStats] = field(default_factory=dict)


def _fmt(price: float) -> str:
    return f"{price:.4f}".rstrip("0").rstrip(".")


def generate(out: Path, tickers: int, days: int, seed: int = 42, empty_files: int = 0) -> Manifest:
    """Write the data set under `out` and return (and save) its manifest."""
    if tickers < 1 or days < 1:
        raise ValueError("tickers and days must be >= 1")
    rng = random.Random(seed)
    calendar = trading_days(days)
    manifest = Manifest(seed=seed, first_date=calendar[0].isoformat(), last_date=calendar[-1].isoformat())
    for folder in ("Stocks", "ETFs"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    for i, sym in enumerate(_symbols(tickers + empty_files, rng)):
        folder = "ETFs" if i % 10 == 9 else "Stocks"
        path = out / folder / f"{sym.lower()}.us.txt"
        manifest.files += 1
        if i >= tickers:
            path.write_bytes(b"")  # the real set has 0-byte files too
            manifest.empty_files += 1
            continue
        manifest.symbols[sym] = _write_ticker(path, calendar, random.Random(seed * 1_000_003 + i))
    manifest.rows = sum(s.rows for s in manifest.symbols.values())
    manifest.total_volume = sum(s.volume for s in manifest.symbols.values())
    (out / "manifest.json").write_text(json.dumps(asdict(manifest), indent=1) + "\n")
    return manifest


def _write_ticker(path: Path, calendar: list[date], rng: random.Random) -> SymbolStats:
    stats = SymbolStats()
    # One ticker in five lists partway through the period, as IPOs do.
    start = rng.randrange(len(calendar) // 2) if rng.random() < 0.2 else 0
    price = math.exp(rng.uniform(math.log(5), math.log(400)))
    drift = rng.gauss(0.0003, 0.0004)
    vol = rng.uniform(0.008, 0.03)
    base_volume = math.exp(rng.uniform(math.log(2e4), math.log(2e7)))
    lines = [KAGGLE_HEADER]
    for day in calendar[start:]:
        open_ = round(price * math.exp(rng.gauss(0, vol / 3)), 4)
        close = round(open_ * math.exp(rng.gauss(drift, vol)), 4)
        high = round(max(open_, close) * (1 + abs(rng.gauss(0, vol / 2))), 4)
        low = round(min(open_, close) * (1 - abs(rng.gauss(0, vol / 2))), 4)
        high, low = max(high, open_, close), max(min(low, open_, close), 0.0001)
        volume = max(1, int(base_volume * math.exp(rng.gauss(0, 0.5))))
        lines.append(f"{day.isoformat()},{_fmt(open_)},{_fmt(high)},{_fmt(low)},{_fmt(close)},{volume},0")
        stats.rows += 1
        stats.volume += volume
        stats.last_close = float(_fmt(close))
        price = close
    stats.first_date = calendar[start].isoformat()
    stats.last_date = calendar[-1].isoformat()
    path.write_text("\n".join(lines) + "\n")
    return stats

"""What the dashboard and the report show, read with SQL through the query layer (DuckDB or Athena).

Every function takes an open `Engine`, so the same code serves the local lake (DuckDB) and AWS (Athena).
Values come back as plain JSON types (dates as ISO strings).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from pipeline.canary.record import CANARY_SYMBOL
from pipeline.errors import PipelineError
from pipeline.query import Engine, QueryResult

#: The most candles one chart asks for (about 8 years of daily bars); older ones are left out.
MAX_CANDLES = 2_000


@dataclass(frozen=True)
class Candles:
    symbol: str
    date: list[str]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[int]

    def __len__(self) -> int:
        return len(self.date)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _rows(result: QueryResult) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def parse_date(name: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PipelineError(f"{name} {value!r} is not a date", f"give {name} as YYYY-MM-DD") from None


def _range(start: date | None, end: date | None) -> str:
    out = ""
    if start:
        out += f" AND \"date\" >= DATE '{start.isoformat()}'"
    if end:
        out += f" AND \"date\" <= DATE '{end.isoformat()}'"
    return out


#: The canary (`stockpipe canary`) is a bar dated today of a symbol no market has: left out of what
#: people pick from and of the date range, so it neither shows as a ticker nor stretches the axis.
_NOT_CANARY = f"symbol <> {_literal(CANARY_SYMBOL)}"


def symbols(engine: Engine, table: str) -> list[str]:
    result = engine.execute(f"SELECT DISTINCT symbol FROM {table} WHERE {_NOT_CANARY} ORDER BY symbol")
    return [str(row[0]) for row in result.rows]


def has_symbol(engine: Engine, table: str, symbol: str) -> bool:
    sql = f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE symbol = {_literal(symbol)} LIMIT 1) AS t"
    return bool(engine.execute(sql).rows[0][0])


def date_bounds(engine: Engine, table: str) -> tuple[str | None, str | None]:
    """First and last trading date in the table, the canary left out (None, None when it is empty)."""
    row = engine.execute(f'SELECT min("date"), max("date") FROM {table} WHERE {_NOT_CANARY}').rows[0]
    return (_iso(row[0]) if row[0] is not None else None, _iso(row[1]) if row[1] is not None else None)


def candles(
    engine: Engine,
    table: str,
    symbol: str,
    start: date | None = None,
    end: date | None = None,
    limit: int = MAX_CANDLES,
) -> Candles:
    """Daily OHLCV bars of one symbol in date order (the last `limit` of the range)."""
    sql = (
        f'SELECT "date", open, high, low, close, volume FROM {table} '
        f"WHERE symbol = {_literal(symbol)}{_range(start, end)} "
        f'ORDER BY "date" DESC LIMIT {int(limit)}'
    )
    rows = sorted(engine.execute(sql).rows, key=lambda r: _iso(r[0]))
    return Candles(
        symbol=symbol,
        date=[_iso(r[0]) for r in rows],
        open=[float(r[1]) for r in rows],
        high=[float(r[2]) for r in rows],
        low=[float(r[3]) for r in rows],
        close=[float(r[4]) for r in rows],
        volume=[int(r[5]) for r in rows],
    )


def top_movers(
    engine: Engine, table: str, start: date | None = None, end: date | None = None, limit: int = 10
) -> list[dict[str, Any]]:
    """The shipped `top_movers` named query: symbols by % change from first to last close in the range."""
    result = engine.run_named("top_movers", table=table, start=start, end=end, limit=limit + 1)
    rows = [r for r in _rows(result) if r.get("symbol") != CANARY_SYMBOL][:limit]
    return [{k: _iso(v) if isinstance(v, date) else v for k, v in row.items()} for row in rows]

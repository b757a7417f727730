"""`stockpipe report --out report.html`: the dashboard's charts as one self-contained HTML file.

The page is the dashboard's own (`page.html` in report mode) with Plotly's JavaScript and a snapshot of
the data inlined: the candles of the chosen symbols (default: the top movers of the range) and the top
movers table. It opens from disk or an e-mail attachment with no server and no network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.dashboard import data
from pipeline.dashboard.page import render_page
from pipeline.errors import PipelineError
from pipeline.query import Engine, open_engine


@dataclass(frozen=True)
class ReportResult:
    path: Path
    symbols: list[str]
    candles: int
    bytes: int

    def summary(self) -> str:
        n = len(self.symbols)
        return (
            f"report: {n} symbol{'' if n == 1 else 's'}, {self.candles:,} candles, "
            f"{self.bytes / 1e6:.1f} MB -> {self.path}"
        )


def report_data(
    engine: Engine,
    table: str,
    symbols: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    top: int = 10,
) -> dict[str, Any]:
    """The snapshot the report page embeds: meta, candles per symbol and the top movers."""
    start_d, end_d = data.parse_date("start", start), data.parse_date("end", end)
    known = data.symbols(engine, table)
    movers = data.top_movers(engine, table, start_d, end_d, top)
    chosen = list(dict.fromkeys(symbols or [m["symbol"] for m in movers] or known[:top]))
    missing = [s for s in chosen if s not in set(known)]
    if missing:
        raise PipelineError(
            f"no rows for symbol(s) {', '.join(missing)} in table {table}",
            f"symbols in the table start with: {', '.join(known[:10])}",
        )
    first, last = data.date_bounds(engine, table)
    charts = {s: data.candles(engine, table, s, start_d, end_d).to_json() for s in chosen}
    return {
        "meta": {
            "engine": engine.settings.engine,
            "table": table,
            "symbols": chosen,
            "default_symbol": chosen[0] if chosen else None,
            "first_date": start or first,
            "last_date": end or last,
            "generated_at": time.strftime("%Y-%m-%d %H:%M %Z"),
        },
        "candles": charts,
        "movers": movers,
    }


def write_report(
    settings: Settings,
    out: Path,
    symbols: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    top: int = 10,
    engine: Engine | None = None,
) -> ReportResult:
    """Query the lake (through `engine`, or `open_engine(settings)`) and write the self-contained page."""
    if engine is None:
        with open_engine(settings) as opened:
            snapshot = report_data(opened, settings.table, symbols, start, end, top)
    else:
        snapshot = report_data(engine, settings.table, symbols, start, end, top)
    html = render_page("report", subtitle=f"{settings.engine} · table {settings.table}", data=snapshot)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    candles = sum(len(c["date"]) for c in snapshot["candles"].values())
    return ReportResult(out, list(snapshot["candles"]), candles, len(html.encode()))

"""`stockpipe demo` (`make demo`): the whole pipeline on one machine, with no AWS and nothing installed.

sample -> local broker -> produce -> sink -> crawl -> named SQL queries, then the reconciliation
`rows read = rows produced = rows in the lake = rows counted by SQL`. Each run uses its own topic,
consumer group and lake directory, so reruns (and a broker that is already running) count exactly.
It ends with the commands that query and chart what it made (its catalog database is `demo`,
its lake `<state_dir>/demo/lake`), printed so they work as pasted from the same directory.
"""

from __future__ import annotations

import shlex
import shutil
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from pipeline.catalog import crawl
from pipeline.config import Settings
from pipeline.kafka.topics import topic_partitions
from pipeline.local.broker import LocalBroker
from pipeline.produce.service import run_produce
from pipeline.query import open_engine
from pipeline.query.format import render
from pipeline.query.named import list_queries
from pipeline.sink.service import run_sink
from pipeline.sources.sample import generate

SINK_IDLE_LIMIT_S = 60.0


def run_demo(settings: Settings, tickers: int = 40, days: int = 750, port: int | None = None) -> bool:
    """Run every stage; `port`: the local broker's (default: the running or last one here, else
    the bootstrap setting's port)."""
    console = Console()
    width = console.width
    state = Path(settings.state_dir)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    demo_dir = state / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    settings = replace(
        settings,
        topic=f"demo-prices-{run_id}",
        group_id=f"demo-sink-{run_id}",
        lake=str(demo_dir / "lake"),
        catalog="local",
        engine="duckdb",
        state_dir=str(state),
        database="demo",
    )

    console.rule("1. sample data")
    manifest = generate(demo_dir / "source", tickers, days, empty_files=1)
    console.print(
        f"{manifest.rows:,} rows, {len(manifest.symbols)} tickers + 1 empty file, "
        f"{manifest.first_date}..{manifest.last_date} -> {demo_dir / 'source'}"
    )

    console.rule("2. local broker")
    remembered = LocalBroker(state).remembered_address()
    default_port = int((remembered or settings.bootstrap).rsplit(":", 1)[1])
    broker = LocalBroker(state, port=port or default_port)
    started = broker.up(exact=port is not None)
    settings = replace(settings, bootstrap=broker.address)
    console.print(f"{broker.kind} on {broker.address} ({'started' if started else 'already running'})")

    try:
        console.rule("3. produce")
        produced = run_produce(settings, demo_dir / "source", partitions=3)
        console.print(produced.summary())

        console.rule("4. sink")
        assert topic_partitions(settings.bootstrap, settings.topic) > 0
        sunk = run_sink(
            settings,
            max_records=produced.report.delivered,
            idle_timeout_s=SINK_IDLE_LIMIT_S,
            batch_age_s=5.0,
            consumer_options={"session_timeout_ms": 6000},
        )
        console.print(sunk.summary())
    finally:
        if started:
            broker.down()

    console.rule("5. crawl")
    console.print(crawl(settings).summary())

    console.rule("6. SQL (DuckDB over the lake)")
    with open_engine(settings) as engine:
        for query in list_queries():
            console.print(f"[bold]{query.name}[/bold]: {query.description}")
            result = engine.run_named(query.name, table=settings.table, limit=5)
            console.print(render(result, "table", width=width), end="")
        counted = engine.execute(f"SELECT count(*) FROM {settings.table}").rows[0][0]

    console.rule("reconciliation")
    read = produced.counts.rows_read
    delivered = produced.report.delivered
    in_lake = sunk.report.rows_written
    line = (
        f"rows read = rows produced = rows in the lake = rows counted by SQL: "
        f"{read:,} = {delivered:,} = {in_lake:,} = {counted:,}"
    )
    ok = read == delivered == in_lake == counted == manifest.rows
    console.print(("[green]OK[/green] " if ok else "[red]MISMATCH[/red] ") + line)
    console.rule("next")
    console.print("Query and chart what the demo made (from this directory):")
    for command in next_commands(settings, state):
        console.print("  " + command, highlight=False, markup=False, soft_wrap=True)
    return ok


def next_commands(settings: Settings, state: Path) -> list[str]:
    """Commands that query and chart the demo's lake through its catalog, as a user types them."""
    where = "" if str(state) == ".stockpipe" else f" --state-dir {shlex.quote(str(state))}"
    db = f" --database {settings.database}{where}"
    return [
        f"stockpipe query{db} --named top_movers --limit 5",
        f'stockpipe query{db} "SELECT symbol, count(*) AS days, max(close) AS high FROM '
        f'{settings.table} GROUP BY symbol ORDER BY high DESC LIMIT 5"',
        f"stockpipe report{db} --out {shlex.quote(str(state / 'demo' / 'report.html'))}",
        f"stockpipe dashboard{db}",
    ]

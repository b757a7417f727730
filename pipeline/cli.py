"""`stockpipe`: a thin command-line shell over the pipeline's modules."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from pipeline.config import Settings, load_settings
from pipeline.errors import PipelineError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Stock prices: CSV -> Kafka -> Parquet lake -> catalog -> SQL.",
)
local_app = typer.Typer(no_args_is_help=True, help="The local Kafka-protocol broker on 127.0.0.1.")
topics_app = typer.Typer(no_args_is_help=True, help="Kafka topics.")
canary_app = typer.Typer(
    no_args_is_help=True, help="End-to-end smoke check: one canary record from the topic to SQL."
)
app.add_typer(local_app, name="local")
app.add_typer(topics_app, name="topics")
app.add_typer(canary_app, name="canary")

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML settings file (or STOCKPIPE_CONFIG).")]
BootstrapOpt = Annotated[str | None, typer.Option(help="Kafka bootstrap servers HOST:PORT[,...].")]
TopicOpt = Annotated[str | None, typer.Option(help="Kafka topic.")]
ClientOpt = Annotated[str | None, typer.Option(help="Kafka client: confluent | kafka-python.")]
LakeOpt = Annotated[str | None, typer.Option(help="Lake: a directory or s3://bucket/prefix.")]
TableOpt = Annotated[str | None, typer.Option(help="Table name (directory under the lake).")]


def _settings(config: Path | None, **overrides: Any) -> Settings:
    return load_settings(config, **overrides)


def _stop_on_signals() -> threading.Event:
    """First SIGINT/SIGTERM asks for a graceful stop (flush, commit); a second one aborts."""
    stop = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        print(
            f"\nstockpipe: {signal.Signals(signum).name} received, finishing up (again to abort)",
            file=sys.stderr,
            flush=True,
        )
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


@app.command()
def sample(
    out: Annotated[Path, typer.Option(help="Output directory (Kaggle layout).")] = Path(".stockpipe/sample"),
    tickers: Annotated[int, typer.Option(min=1, help="Number of tickers.")] = 50,
    days: Annotated[int, typer.Option(min=1, help="Trading days per ticker.")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 42,
    empty: Annotated[int, typer.Option(min=0, help="Extra 0-byte ticker files, as in the real set.")] = 0,
) -> None:
    """Generate a deterministic synthetic data set in the Kaggle layout."""
    from pipeline.sources.sample import generate

    manifest = generate(out, tickers, days, seed=seed, empty_files=empty)
    typer.echo(
        f"wrote {manifest.rows:,} rows for {len(manifest.symbols)} tickers "
        f"({manifest.first_date}..{manifest.last_date}) under {out}"
    )


@app.command()
def produce(
    source: Annotated[Path, typer.Option(help="Kaggle directory/zip or indexProcessed.csv.")],
    rate: Annotated[str | None, typer.Option(help="Fixed rate, e.g. 500/s [setting producer.rate].")] = None,
    speed: Annotated[
        float | None, typer.Option(help="Trading days of data per second [setting producer.speed].")
    ] = None,
    partitions: Annotated[
        int | None, typer.Option(min=1, help="Partitions when the topic is created [producer.partitions: 3].")
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="Write rejected rows here (file:line: reason).")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Exit non-zero when any row was rejected.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress.")] = True,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Record delivered rows here [default: under <state_dir>/checkpoints/]."),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Skip the rows the checkpoint lists as delivered by an earlier run.")
    ] = False,
    resume_if_any: Annotated[
        bool,
        typer.Option(help="--resume when the checkpoint exists, else replay everything (for services)."),
    ] = False,
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    client: ClientOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Replay source rows onto the topic in time order (key = symbol, JSON value)."""
    from pipeline.produce.checkpoint import default_checkpoint_path
    from pipeline.produce.service import run_produce

    settings = _settings(
        config,
        bootstrap=bootstrap,
        topic=topic,
        client=client,
        producer={"rate": rate, "speed": speed, "partitions": partitions},
    )
    checkpoint = checkpoint or default_checkpoint_path(settings.state_dir, source, settings.topic)
    resume = resume or (resume_if_any and checkpoint.exists())
    stop = _stop_on_signals()
    result = run_produce(
        settings,
        source,
        rate=settings.producer.rate,
        speed=settings.producer.speed,
        partitions=settings.producer.partitions,
        rejects_path=rejects,
        stop=stop,
        show_progress=progress,
        checkpoint_path=checkpoint,
        resume=resume,
    )
    typer.echo(result.summary())
    if not result.ok(strict):
        raise typer.Exit(1)


@app.command()
def sink(
    max_records: Annotated[
        int | None, typer.Option(help="Stop after this many records are committed.")
    ] = None,
    idle_timeout: Annotated[float | None, typer.Option(help="Stop after this many idle seconds.")] = None,
    batch_records: Annotated[
        int | None,
        typer.Option(min=1, help="Close a batch at this many records [sink.batch_records: 50000]."),
    ] = None,
    batch_age: Annotated[
        float | None, typer.Option(help="Close a batch after this many seconds [sink.batch_age: 10].")
    ] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="parquet | jsonl.")] = None,
    partition_by: Annotated[str | None, typer.Option(help="month | year | date.")] = None,
    group: Annotated[str | None, typer.Option(help="Consumer group id.")] = None,
    session_timeout_ms: Annotated[
        int | None,
        typer.Option(min=1000, help="Consumer group session timeout [sink.session_timeout_ms: 10000]."),
    ] = None,
    max_poll_interval_ms: Annotated[
        int | None,
        typer.Option(
            min=1000,
            help="Longest pause between polls before the group hands this sink's partitions to another "
            "member (a long lake outage can exceed it; the sink then rejoins) "
            "[sink.max_poll_interval_ms: 300000].",
        ),
    ] = None,
    partitions: Annotated[
        str | None,
        typer.Option(help="Read only these partitions (e.g. 0,1,2), assigned statically: no rebalancing."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress.")] = True,
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    client: ClientOpt = None,
    lake: LakeOpt = None,
    table: TableOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Consume the topic into the lake (runs until SIGINT/SIGTERM or a stop condition)."""
    from pipeline.sink.service import run_sink

    settings = _settings(
        config,
        bootstrap=bootstrap,
        topic=topic,
        client=client,
        lake=lake,
        table=table,
        lake_format=fmt,
        partition_by=partition_by,
        group_id=group,
        sink={
            "batch_records": batch_records,
            "batch_age": batch_age,
            "session_timeout_ms": session_timeout_ms,
            "max_poll_interval_ms": max_poll_interval_ms,
        },
    )
    stop = _stop_on_signals()
    report = run_sink(
        settings,
        stop=stop,
        max_records=max_records,
        idle_timeout_s=idle_timeout,
        show_progress=progress,
        consumer_options={"partitions": _partition_list(partitions)} if partitions else None,
    )
    typer.echo(report.summary())


def _partition_list(text: str) -> list[int]:
    try:
        parts = sorted({int(p) for p in text.split(",") if p.strip()})
    except ValueError:
        raise PipelineError(
            f"--partitions {text!r} is not a list of numbers", "use e.g. --partitions 0,1,2"
        ) from None
    if not parts or parts[0] < 0:
        raise PipelineError(f"--partitions {text!r} has no valid partition", "use e.g. --partitions 0,1,2")
    return parts


@app.command()
def check(
    group: Annotated[str | None, typer.Option(help="The sink's consumer group.")] = None,
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    lake: LakeOpt = None,
    table: TableOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Check that the lake holds every offset the sink committed, each in one object (exit 1 if not)."""
    from pipeline.lake import open_lake
    from pipeline.sink.check import check_lake

    settings = _settings(config, bootstrap=bootstrap, topic=topic, lake=lake, table=table, group_id=group)
    report = check_lake(
        settings.bootstrap,
        settings.topic,
        settings.group_id,
        open_lake(settings.lake, settings.aws_endpoint_url, settings.region),
        settings.table,
        Path(settings.state_dir) / "deadletter" / f"{settings.topic}.jsonl",
    )
    typer.echo(report.text())
    if not report.ok:
        raise typer.Exit(1)


@app.command("config")
def show_config(config: ConfigOpt = None) -> None:
    """Check the settings (file < STOCKPIPE_* < defaults) and print the effective ones as TOML."""
    import json
    from dataclasses import asdict

    settings = _settings(config)
    typer.echo("[stockpipe]")
    sections = {}
    for name, value in asdict(settings).items():
        if isinstance(value, dict):
            sections[name] = value
        elif value is not None:
            typer.echo(f"{name} = {json.dumps(value)}")
    for name, values in sections.items():
        if name != "extra":
            typer.echo(f"\n[stockpipe.{name}]")
            for key, value in values.items():
                if value is not None:
                    typer.echo(f"{key} = {json.dumps(value)}")


@app.command()
def crawl(
    glue_crawler: Annotated[str | None, typer.Option(help="Also create/start this AWS Glue crawler.")] = None,
    role_arn: Annotated[str | None, typer.Option(help="IAM role for the Glue crawler.")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the Glue crawler.")] = 600.0,
    lake: LakeOpt = None,
    table: TableOpt = None,
    catalog: Annotated[str | None, typer.Option(help="local | glue.")] = None,
    database: Annotated[str | None, typer.Option(help="Catalog database.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Infer schema and partitions from the lake and register them in the catalog."""
    from pipeline import catalog as cat

    settings = _settings(config, lake=lake, table=table, catalog=catalog, database=database)
    report = cat.crawl(settings)
    typer.echo(report.summary())
    if glue_crawler:
        if not role_arn:
            raise PipelineError("--glue-crawler needs --role-arn", "pass the crawler's IAM role ARN")
        result = cat.run_glue_crawler(settings, glue_crawler, role_arn, wait)
        typer.echo(str(result))


@app.command()
def query(
    sql: Annotated[str | None, typer.Argument(help="SQL text; omit with --named.")] = None,
    named: Annotated[str | None, typer.Option(help="Run a shipped named query.")] = None,
    start: Annotated[str | None, typer.Option(help="Named queries: first date (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Named queries: last date (YYYY-MM-DD).")] = None,
    limit: Annotated[int | None, typer.Option(help="Named queries: row limit.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the named queries.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json.")] = "table",
    engine: Annotated[str | None, typer.Option(help="duckdb | athena.")] = None,
    lake: LakeOpt = None,
    table: TableOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run SQL over the cataloged tables (DuckDB locally, Athena on AWS)."""
    from pipeline.query import named as named_queries
    from pipeline.query import open_engine
    from pipeline.query.format import render

    if list_:
        for name in named_queries.list_queries():
            typer.echo(name)
        return
    if fmt not in ("table", "csv", "json"):
        raise PipelineError(f"--format {fmt!r} is not table, csv or json", "pick one of those")
    if bool(sql) == bool(named):
        raise PipelineError("give either SQL text or --named NAME", "see `stockpipe query --list`")
    settings = _settings(config, engine=engine, lake=lake, table=table)
    params = {k: v for k, v in {"start": start, "end": end, "limit": limit}.items() if v is not None}
    with open_engine(settings) as eng:
        result = eng.run_named(named, table=settings.table, **params) if named else eng.execute(sql or "")
    typer.echo(render(result, fmt), nl=False)


@local_app.command("up")
def local_up(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 9092,
    storage: Annotated[str, typer.Option(help="tansu storage engine URL.")] = "memory://tansu/",
    topic: TopicOpt = None,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of the pipeline topic.")] = 3,
    kafka: Annotated[
        bool,
        typer.Option(
            "--kafka",
            help="Run real Apache Kafka (one KRaft node, data kept under the state dir) instead of tansu; "
            "built from Maven Central on first use (needs Java 17+ and Maven).",
        ),
    ] = False,
    kafka_version: Annotated[str, typer.Option(help="Kafka version for --kafka.")] = "4.1.1",
    config: ConfigOpt = None,
) -> None:
    """Start the local broker and create the pipeline topic."""
    from pipeline.kafka.topics import ensure_topic
    from pipeline.lake import open_lake
    from pipeline.local.broker import LocalBroker

    settings = _settings(config, topic=topic)
    broker = LocalBroker(settings.state_dir, port=port)
    started = broker.up(storage=storage, kind="kafka" if kafka else "tansu", kafka_version=kafka_version)
    ensure_topic(broker.address, settings.topic, partitions)
    if not settings.lake.startswith("s3://"):
        open_lake(settings.lake).check_writable()  # the local lake: created and known writable
    typer.echo(
        f"local broker ({broker.kind}) {'started' if started else 'already running'} on {broker.address} "
        f"(topic {settings.topic}); log: {broker.log_file}; lake: {settings.lake}"
    )


@local_app.command("down")
def local_down(config: ConfigOpt = None) -> None:
    """Stop the local broker."""
    from pipeline.local.broker import LocalBroker

    stopped = LocalBroker(_settings(config).state_dir).down()
    typer.echo("local broker stopped" if stopped else "local broker was not running")


@local_app.command("status")
def local_status(config: ConfigOpt = None) -> None:
    """Show whether the local broker runs and answers, and where the local lake is."""
    from pipeline.lake import LocalLake
    from pipeline.local.broker import LocalBroker

    settings = _settings(config)
    if not settings.lake.startswith("s3://"):
        lake = LocalLake(settings.lake)
        typer.echo(f"local lake: {lake.url} ({sum(1 for _ in lake.list()):,} objects)")
    st = LocalBroker(settings.state_dir).status()
    if not st.running:
        typer.echo("local broker: not running (start it with `stockpipe local up`)")
        raise typer.Exit(3)
    typer.echo(
        f"local broker: {st.kind} running, pid {st.pid}, {st.address}, "
        f"{'answering' if st.answering else 'NOT answering'}; log: {st.log}"
    )
    if not st.answering:
        raise typer.Exit(1)


@topics_app.command("create")
def topics_create(
    name: Annotated[str, typer.Argument(help="Topic name.")],
    partitions: Annotated[int, typer.Option(min=1)] = 3,
    replication: Annotated[
        int | None, typer.Option(min=1, help="Replicas per partition [default: the cluster's default].")
    ] = None,
    bootstrap: BootstrapOpt = None,
    client: ClientOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create a topic if it does not exist."""
    from pipeline.kafka.topics import ensure_topic

    settings = _settings(config, bootstrap=bootstrap, client=client, topic=name)  # also checks the name
    created = ensure_topic(settings.bootstrap, name, partitions, replication or -1, client=settings.client)
    typer.echo(f"topic {name} {'created' if created else 'already exists'}")


@canary_app.command("send")
def canary_send(
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds for everything: connect, produce, ack, read back.")
    ] = 60.0,
    bootstrap: BootstrapOpt = None,
    topic: TopicOpt = None,
    client: ClientOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Produce one canary record (acks=all) and read it back; print it as one JSON line."""
    from pipeline.canary import send_canary

    settings = _settings(config, bootstrap=bootstrap, topic=topic, client=client)
    typer.echo(send_canary(settings, timeout_s=timeout).to_json())


@canary_app.command("find")
def canary_find(
    symbol: Annotated[str, typer.Option(help="The canary's symbol (from `canary send`).")],
    day: Annotated[str, typer.Option("--date", help="The canary's date YYYY-MM-DD (from `canary send`).")],
    nonce: Annotated[int, typer.Option(min=1, help="The canary's nonce (from `canary send`).")],
    timeout: Annotated[float, typer.Option(min=0, help="Seconds to keep looking.")] = 180.0,
    crawl: Annotated[bool, typer.Option(help="Crawl the lake into the catalog before each look.")] = True,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between looks.")] = 5.0,
    lake: LakeOpt = None,
    table: TableOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Poll until SQL counts the canary in the lake; print one JSON line (exit 1 on timeout)."""
    from datetime import date

    from pipeline.canary import CanaryNotFound, find_canary

    try:
        trade_date = date.fromisoformat(day)
    except ValueError:
        raise PipelineError(
            f"--date {day!r} is not a YYYY-MM-DD date", "pass the date `canary send` printed"
        ) from None
    settings = _settings(config, lake=lake, table=table)
    try:
        result = find_canary(
            settings, symbol, trade_date, nonce, timeout_s=timeout, crawl=crawl, interval_s=interval
        )
    except CanaryNotFound as exc:
        print(f"stockpipe: error: {exc.one_line()}", file=sys.stderr)
        raise typer.Exit(1) from None
    typer.echo(result.to_json())


@app.command()
def demo(
    tickers: Annotated[int, typer.Option(min=1)] = 40,
    days: Annotated[int, typer.Option(min=1)] = 750,
    client: ClientOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The whole pipeline on this machine: sample -> local broker -> produce -> sink -> crawl -> SQL."""
    from pipeline.demo import run_demo

    settings = _settings(config, client=client)
    if not run_demo(settings, tickers=tickers, days=days):
        raise typer.Exit(1)


@app.command()
def dashboard(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")] = 8050,
    topic: Annotated[
        str | None, typer.Option(help="Topic whose live state to show [default: the latest replay].")
    ] = None,
    engine: Annotated[str | None, typer.Option(help="duckdb | athena.")] = None,
    lake: LakeOpt = None,
    table: TableOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the market dashboard on 127.0.0.1: candles, top movers, the replay's live state."""
    from pipeline.dashboard import make_server

    settings = _settings(config, engine=engine, lake=lake, table=table)
    with make_server(settings, port, topic) as server:
        typer.echo(f"dashboard on {server.url} ({settings.engine}, table {settings.table}); Ctrl-C stops it")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            typer.echo("dashboard stopped")


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    symbol: Annotated[
        list[str] | None, typer.Option(help="Chart this symbol (repeat) [default: the top movers].")
    ] = None,
    start: Annotated[str | None, typer.Option(help="First date (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Last date (YYYY-MM-DD).")] = None,
    top: Annotated[int, typer.Option(min=1, max=100, help="Top movers to list.")] = 10,
    engine: Annotated[str | None, typer.Option(help="duckdb | athena.")] = None,
    lake: LakeOpt = None,
    table: TableOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write the dashboard's charts as one self-contained HTML file (JavaScript and data inlined)."""
    from pipeline.dashboard import write_report

    settings = _settings(config, engine=engine, lake=lake, table=table)
    typer.echo(write_report(settings, out, symbols=symbol, start=start, end=end, top=top).summary())


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except PipelineError as exc:
        print(f"stockpipe: error: {exc.one_line()}", file=sys.stderr)
        _exit(2)
    except KeyboardInterrupt:
        print("stockpipe: aborted", file=sys.stderr)
        _exit(130)
    except SystemExit as exc:  # typer ends every command this way
        _exit(exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1))
    _exit(0)


def _exit(code: int) -> None:
    """Flush and leave without running C++ static destructors: DuckDB's and Arrow's thread pools, both
    used in one process (crawl, then SQL), sometimes abort the interpreter at exit ("terminate called
    without an active exception"), turning a finished command into exit code -6. Files and clients
    are closed by the commands themselves."""
    import os

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()

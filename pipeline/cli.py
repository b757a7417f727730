"""`stockpipe`: a thin command-line shell over the pipeline's modules."""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer._click import Command  # typer vendors click (0.29+): its exceptions and commands
from typer._click import exceptions as click_errors

from pipeline.cli_options import (
    AWS,
    BROKER,
    CATALOG,
    KAFKA,
    LAKE,
    SQL,
    STATE,
    Shared,
    shared_options,
)
from pipeline.config import Settings
from pipeline.errors import PipelineError
from pipeline.kafka import AdminClient
from pipeline.kafka.security import client_security

if TYPE_CHECKING:
    from pipeline.ops.topics import TopicSummary

log = logging.getLogger("stockpipe")

_HELP = """Stock prices: CSV -> Kafka -> Parquet lake -> catalog -> SQL.

Settings come from defaults < a config file (--config or STOCKPIPE_CONFIG) < the environment
(STOCKPIPE_<NAME>) < options; `stockpipe config` prints the effective ones. After `stockpipe local up
[--port N]` every command uses that broker unless a bootstrap is set. Errors are one line
`stockpipe: error: <what>; <fix>` with exit code 2."""

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help=_HELP,
)
local_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="The local Kafka-protocol broker on 127.0.0.1."
)
topics_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Kafka topics: create, list, describe, peek."
)
canary_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="End-to-end smoke check: one canary record from the topic to SQL.",
)
app.add_typer(local_app, name="local")
app.add_typer(topics_app, name="topics")
app.add_typer(canary_app, name="canary")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object per line.")]
ProgressOpt = Annotated[
    bool,
    typer.Option(
        "--progress/--no-progress",
        help="A bar on a terminal; without it (or off a terminal) a line every --progress-every seconds.",
    ),
]
ProgressEveryOpt = Annotated[
    float, typer.Option(min=0.1, metavar="SECONDS", help="Seconds between progress lines off a terminal.")
]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"stockpipe {version('stockpipe')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("stockpipe (not installed)")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    verbose: Annotated[
        int,
        typer.Option("-v", "--verbose", count=True, show_default=False, help="More log output (-vv: debug)."),
    ] = 0,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Errors and results only: no progress bars or lines.")
    ] = False,
) -> None:
    from pipeline import progress

    level = logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.getLogger().setLevel(level)
    if verbose >= 2:  # the Kafka client libraries' own log lines (pipeline/kafka/logs.py)
        for name in ("pipeline.kafka.librdkafka", "kafka"):
            logging.getLogger(name).setLevel(logging.DEBUG)
    progress.configure(quiet=quiet)


def _echo_lines(text: str) -> None:
    """Summaries for people: on a terminal, long lines wrap at words (indented), never mid-word."""
    import shutil
    import textwrap

    if not sys.stdout.isatty():
        typer.echo(text)
        return
    width = shutil.get_terminal_size((80, 24)).columns - 1
    for line in text.splitlines():
        indent = " " * (len(line) - len(line.lstrip()) + 2)
        typer.echo(
            "\n".join(
                textwrap.wrap(
                    line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
                )
            )
            or ""
        )


def _json_line(value: Any) -> None:
    import json

    typer.echo(json.dumps(value, separators=(",", ":"), default=str))


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


def _interrupt_on_signals() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread.

    Python only does so for SIGINT, and not at all when the process starts with SIGINT ignored (a shell's
    background job without job control), which left a served dashboard deaf to Ctrl-C and to `kill`.
    """

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


@app.command()
@shared_options(STATE)
def sample(
    out: Annotated[
        Path | None, typer.Option(help="Output directory (Kaggle layout) [default: <state_dir>/sample].")
    ] = None,
    tickers: Annotated[int, typer.Option(min=1, help="Number of tickers.")] = 50,
    days: Annotated[int, typer.Option(min=1, help="Trading days per ticker.")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 42,
    empty: Annotated[int, typer.Option(min=0, help="Extra 0-byte ticker files, as in the real set.")] = 0,
    *,
    shared: Shared,
) -> None:
    """Generate a deterministic synthetic data set in the Kaggle layout."""
    from pipeline.sources.sample import generate

    out = out or Path(shared.settings().state_dir) / "sample"
    manifest = generate(out, tickers, days, seed=seed, empty_files=empty)
    _echo_lines(
        f"wrote {manifest.rows:,} rows for {len(manifest.symbols)} tickers "
        f"({manifest.first_date}..{manifest.last_date}) under {out}"
    )


def _replay_guard(settings: Settings, source: Path, checkpoint: Path, client: str) -> None:
    """Refuse a produce that would send rows the checkpoint says this topic already has (`--resume`
    sends only the rest, `--force` all again). A checkpoint whose topic is gone or empty (an in-memory
    broker restarted) no longer protects anything: it is set aside with a note."""
    import json

    from pipeline.kafka import Unreachable
    from pipeline.kafka.topics import open_admin

    try:
        saved = json.loads(checkpoint.read_text(encoding="utf-8"))
        delivered = int(saved.get("delivered", 0))
    except FileNotFoundError:
        return
    except (OSError, ValueError, TypeError, AttributeError):
        return  # an unreadable checkpoint is for --resume to report
    if delivered <= 0:
        return
    admin = open_admin(settings.bootstrap, client=client, security=client_security(settings))
    try:
        held = sum(end - first for first, end in admin.offsets(settings.topic, 10).values())
    except Unreachable:
        held = 1  # cannot tell: be safe
    finally:
        admin.close()
    if held > 0:
        raise PipelineError(
            f"{delivered:,} rows of {source} were already delivered to topic {settings.topic} "
            f"(checkpoint {checkpoint}); producing again would put them on the topic twice",
            "pass --resume to send only the rows not delivered yet, --force to send every row again, "
            "or --topic NAME for a new topic",
        )
    print(
        f"stockpipe: note: topic {settings.topic} no longer holds the {delivered:,} rows checkpoint "
        f"{checkpoint} lists (recreated, or an in-memory broker restarted): replaying everything",
        file=sys.stderr,
    )


@app.command()
@shared_options(KAFKA, STATE)
def produce(
    source: Annotated[Path, typer.Option(metavar="PATH", help="Kaggle directory/zip or indexProcessed.csv.")],
    rate: Annotated[
        str | None, typer.Option(metavar="N/UNIT", help="Fixed rate, e.g. 500/s (setting producer.rate).")
    ] = None,
    speed: Annotated[
        float | None, typer.Option(help="Trading days of data per second (setting producer.speed).")
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option(
            min=1, help="Partitions when the topic is created (setting producer.partitions) [default: 3]."
        ),
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Write rejected rows here (file:line: reason).")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any row was rejected.")] = False,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Record delivered rows here [default: a file under <state_dir>/checkpoints/].",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Skip the rows the checkpoint lists as delivered by an earlier run."),
    ] = False,
    resume_if_any: Annotated[
        bool,
        typer.Option(
            "--resume-if-any", help="--resume when the checkpoint exists, else replay everything (services)."
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Send every row even if the checkpoint says the topic has them (duplicates)."
        ),
    ] = False,
    progress: ProgressOpt = True,
    progress_every: ProgressEveryOpt = 30.0,
    json_out: JsonOpt = False,
    *,
    shared: Shared,
) -> None:
    """Replay source rows onto the topic in time order (key = symbol, JSON value).

    A second replay of the same source to the same topic is refused (it would duplicate every row on
    the topic) unless --resume (send what is missing) or --force (send it all again)."""
    from pipeline.sources.ahead import ReadAhead

    # The source reader starts first: it reads while this process loads the rest and connects.
    with ReadAhead(source) as reader:
        from pipeline import progress as progress_mod
        from pipeline.produce.checkpoint import default_checkpoint_path
        from pipeline.produce.service import run_produce

        settings = shared.settings(producer={"rate": rate, "speed": speed, "partitions": partitions})
        progress_mod.configure(quiet=progress_mod.OUTPUT.quiet, every_s=progress_every)
        checkpoint = checkpoint or default_checkpoint_path(settings.state_dir, source, settings.topic)
        resume = resume or (resume_if_any and checkpoint.exists())
        if not resume and not force:
            _replay_guard(settings, source, checkpoint, settings.client)
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
            reader=reader,
        )
    if json_out:
        c, r, rep = result.counts, result.rejects, result.report
        _json_line(
            {
                "command": "produce",
                "topic": settings.topic,
                "rows_read": c.rows_read,
                "rows_good": c.rows_good,
                "rows_rejected": r.rows,
                "files": c.files,
                "files_rejected": r.files,
                "sent": rep.sent,
                "skipped": rep.skipped,
                "delivered": rep.delivered,
                "failed": rep.failed,
                "unconfirmed": rep.unconfirmed,
                "not_sent": max(c.rows_good - rep.skipped - rep.sent, 0),
                "interrupted": rep.interrupted,
                "elapsed_s": round(rep.elapsed_s, 3),
                "checkpoint": str(checkpoint),
                "ok": result.ok(strict),
            }
        )
    else:
        _echo_lines(result.summary())
        if result.report.interrupted:
            rep, good = result.report, result.counts.rows_good
            _echo_lines(
                f"interrupted: only {rep.sent:,} of the {good:,} good rows read were sent"
                + (f" ({rep.skipped:,} skipped as delivered before)" if rep.skipped else "")
                + f"; {max(good - rep.sent - rep.skipped, 0):,} were not sent, nor the rest of the source "
                f"(`--resume` sends them)"
            )
    if not result.ok(strict):
        raise typer.Exit(1)


@app.command()
@shared_options("group", KAFKA, LAKE, STATE, AWS)
def sink(
    max_records: Annotated[
        int | None, typer.Option(help="Stop after this many records are committed.")
    ] = None,
    idle_timeout: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="Stop after this many seconds of waiting for records with partitions assigned (time spent "
            "writing, e.g. retrying an unreachable lake, does not count).",
        ),
    ] = None,
    batch_records: Annotated[
        int | None,
        typer.Option(
            min=1, help="Close a batch at this many records (setting sink.batch_records) [default: 50000]."
        ),
    ] = None,
    batch_age: Annotated[
        float | None,
        typer.Option(help="Close a batch after this many seconds (setting sink.batch_age) [default: 10]."),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--lake-format", "--format", metavar="FORMAT", help="parquet | jsonl.")
    ] = None,
    partition_by: Annotated[str | None, typer.Option(metavar="KEY", help="month | year | date.")] = None,
    session_timeout_ms: Annotated[
        int | None,
        typer.Option(
            min=1000,
            help="Consumer group session timeout (setting sink.session_timeout_ms) [default: 10000].",
        ),
    ] = None,
    max_poll_interval_ms: Annotated[
        int | None,
        typer.Option(
            min=1000,
            help="Longest pause between polls before the group hands this sink's partitions to another "
            "member (a long lake outage can exceed it; the sink then rejoins) "
            "(setting sink.max_poll_interval_ms) [default: 300000].",
        ),
    ] = None,
    partitions: Annotated[
        str | None,
        typer.Option(
            metavar="LIST",
            help="Read only these partitions (e.g. 0,1,2), assigned statically: no rebalancing.",
        ),
    ] = None,
    progress: ProgressOpt = True,
    progress_every: ProgressEveryOpt = 30.0,
    json_out: JsonOpt = False,
    *,
    shared: Shared,
) -> None:
    """Consume the topic into the lake (runs until SIGINT/SIGTERM or a stop condition)."""
    from pipeline import progress as progress_mod
    from pipeline.sink.service import run_sink

    settings = shared.settings(
        lake_format=fmt,
        partition_by=partition_by,
        sink={
            "batch_records": batch_records,
            "batch_age": batch_age,
            "session_timeout_ms": session_timeout_ms,
            "max_poll_interval_ms": max_poll_interval_ms,
        },
    )
    progress_mod.configure(quiet=progress_mod.OUTPUT.quiet, every_s=progress_every)
    stop = _stop_on_signals()
    result = run_sink(
        settings,
        stop=stop,
        max_records=max_records,
        idle_timeout_s=idle_timeout,
        show_progress=progress,
        consumer_options={"partitions": _partition_list(partitions)} if partitions else None,
    )
    if json_out:
        from dataclasses import asdict

        _json_line(
            {
                "command": "sink",
                "topic": settings.topic,
                "group": settings.group_id,
                "lake": result.lake_url,
                **asdict(result.report),
            }
        )
    else:
        _echo_lines(result.summary())


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
@shared_options("group", "bootstrap", "topic", LAKE, STATE, AWS)
def check(
    *,
    shared: Shared,
) -> None:
    """Check that the lake holds every offset the sink committed, each in one object (exit 1 if not)."""
    from pipeline.lake import open_lake
    from pipeline.sink.check import check_lake

    settings = shared.settings()
    report = check_lake(
        settings.bootstrap,
        settings.topic,
        settings.group_id,
        open_lake(settings.lake, settings.aws_endpoint_url, settings.region),
        settings.table,
        Path(settings.state_dir) / "deadletter" / f"{settings.topic}.jsonl",
    )
    _echo_lines(report.text())
    if not report.ok:
        raise typer.Exit(1)


@app.command("config")
@shared_options()
def show_config(*, shared: Shared) -> None:
    """Check the settings and print the effective ones as TOML.

    Each layer overrides the one before: defaults < config file (--config or STOCKPIPE_CONFIG) <
    environment (STOCKPIPE_<NAME>, STOCKPIPE_PRODUCER_<NAME>, STOCKPIPE_SINK_<NAME>) < a command's options.
    The bootstrap, when no layer sets it, is the address of the broker `stockpipe local up` started."""
    import json
    from dataclasses import asdict

    settings = shared.settings()
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
@shared_options(LAKE, CATALOG, STATE, AWS)
def crawl(
    glue_crawler: Annotated[
        str | None, typer.Option(metavar="NAME", help="Also create/start this AWS Glue crawler.")
    ] = None,
    role_arn: Annotated[
        str | None, typer.Option(metavar="ARN", help="IAM role for the Glue crawler.")
    ] = None,
    wait: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds to wait for the Glue crawler.")
    ] = 600.0,
    json_out: JsonOpt = False,
    *,
    shared: Shared,
) -> None:
    """Infer schema and partitions from the lake and register them in the catalog."""
    from dataclasses import asdict

    from pipeline import catalog as cat

    settings = shared.settings()
    report = cat.crawl(settings)
    if json_out:
        _json_line(
            {
                "command": "crawl",
                "lake": report.lake,
                "catalog": report.catalog,
                "tables": [
                    {k: v for k, v in asdict(t).items() if k != "columns"} | {"columns": len(t.columns)}
                    for t in report.tables
                ],
                "objects_scanned": report.objects_scanned,
                "partitions_found": report.partitions_found,
                "partitions_added": report.partitions_added,
                "skipped": report.skipped,
            }
        )
    else:
        _echo_lines(report.summary())
    if glue_crawler:
        if not role_arn:
            raise PipelineError("--glue-crawler needs --role-arn", "pass the crawler's IAM role ARN")
        result = cat.run_glue_crawler(settings, glue_crawler, role_arn, wait)
        typer.echo(str(result))


@app.command()
@shared_options(SQL, STATE)
def query(
    sql: Annotated[str | None, typer.Argument(metavar="[SQL]", help="SQL text; omit with --named.")] = None,
    named: Annotated[str | None, typer.Option(metavar="NAME", help="Run a shipped named query.")] = None,
    start: Annotated[
        str | None, typer.Option(metavar="DATE", help="Named queries: first date (YYYY-MM-DD).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(metavar="DATE", help="Named queries: last date (YYYY-MM-DD).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Named queries: row limit.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the named queries.")] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="table (fits the terminal) | csv | json (JSON Lines: one object per row).",
        ),
    ] = "table",
    max_rows: Annotated[
        int, typer.Option(min=0, help="Rows a table shows; 0 shows all (csv and json always print all).")
    ] = 40,
    *,
    shared: Shared,
) -> None:
    """Run SQL over the cataloged tables (DuckDB locally, Athena on AWS)."""
    from pipeline.query import named as named_queries
    from pipeline.query import open_engine
    from pipeline.query.format import FORMATS, render

    if list_:
        for q in named_queries.list_queries():
            typer.echo(f"{q.name:<14} {q.description}")
        return
    if fmt not in FORMATS:
        raise PipelineError(f"--format {fmt!r} is not table, csv or json", "pick one of those")
    if bool(sql) == bool(named):
        raise PipelineError("give either SQL text or --named NAME", "see `stockpipe query --list`")
    settings = shared.settings()
    params = {k: v for k, v in {"start": start, "end": end, "limit": limit}.items() if v is not None}
    with open_engine(settings) as eng:
        result = eng.run_named(named, table=settings.table, **params) if named else eng.execute(sql or "")
    typer.echo(render(result, fmt, max_rows=max_rows), nl=False)


@local_app.command("up")
@shared_options("topic", STATE)
def local_up(
    port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="Port on 127.0.0.1 [default: the last one used here, else 9092]."
        ),
    ] = None,
    storage: Annotated[
        str,
        typer.Option(
            metavar="URL", help="tansu storage: memory:// (topics vanish at `local down`) or s3://BUCKET/."
        ),
    ] = "memory://tansu/",
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of the pipeline topic.")] = 3,
    kafka: Annotated[
        bool,
        typer.Option(
            "--kafka",
            help="Run real Apache Kafka (one KRaft node, data kept under the state dir) instead of tansu; "
            "built from Maven Central on first use (needs Java 17+ and Maven).",
        ),
    ] = False,
    kafka_version: Annotated[
        str, typer.Option(metavar="VERSION", help="Kafka version for --kafka.")
    ] = "4.1.1",
    *,
    shared: Shared,
) -> None:
    """Start the local broker and create the pipeline topic; later commands default to its address."""
    from pipeline.kafka.topics import ensure_topic
    from pipeline.lake import open_lake
    from pipeline.local.broker import DEFAULT_PORT, LocalBroker

    settings = shared.settings()
    remembered = LocalBroker(settings.state_dir).remembered_address()
    default_port = int(remembered.rsplit(":", 1)[1]) if remembered else DEFAULT_PORT
    broker = LocalBroker(settings.state_dir, port=port or default_port)
    started = broker.up(
        storage=storage,
        kind="kafka" if kafka else "tansu",
        kafka_version=kafka_version,
        exact=port is not None or kafka,
    )
    ensure_topic(broker.address, settings.topic, partitions)
    if not settings.lake.startswith("s3://"):
        open_lake(settings.lake).check_writable()  # the local lake: created and known writable
    memory = broker.kind == "tansu" and storage.startswith("memory://")
    _echo_lines(
        f"local broker ({broker.kind}) {'started' if started else 'already running'} on {broker.address} "
        f"(topic {settings.topic}); commands now default to this address; log: {broker.log_file}; "
        f"lake: {settings.lake}"
        + (
            "\nnote: its topics live in memory: `stockpipe local down` discards them, and offsets start "
            "at 0 again, so after a restart use a new --topic or a new lake (docs/guarantees.md)"
            if memory and started
            else ""
        )
    )


@local_app.command("down")
@shared_options(STATE)
def local_down(*, shared: Shared) -> None:
    """Stop the local broker (its address stays the default)."""
    from pipeline.local.broker import LocalBroker

    stopped = LocalBroker(shared.settings().state_dir).down()
    typer.echo("local broker stopped" if stopped else "local broker was not running")


@local_app.command("status")
@shared_options(STATE)
def local_status(*, shared: Shared) -> None:
    """Show whether the local broker runs and answers, and where the local lake is."""
    from pipeline.lake import LocalLake
    from pipeline.local.broker import LocalBroker

    settings = shared.settings()
    if not settings.lake.startswith("s3://"):
        lake = LocalLake(settings.lake)
        typer.echo(f"local lake: {lake.url} ({sum(1 for _ in lake.list()):,} objects)")
    broker = LocalBroker(settings.state_dir)
    remembered = broker.remembered_address()
    st = broker.status()
    if not st.running:
        port = remembered.rsplit(":", 1)[1] if remembered else "9092"
        hint = "`stockpipe local up`" + ("" if port == "9092" else f" (port {port}, remembered)")
        typer.echo(f"local broker: not running (start it with {hint})")
        raise typer.Exit(3)
    typer.echo(
        f"local broker: {st.kind} running, pid {st.pid}, {st.address}, "
        f"{'answering' if st.answering else 'NOT answering'}; log: {st.log}"
    )
    if not st.answering:
        raise typer.Exit(1)


@topics_app.command("create")
@shared_options(BROKER, STATE)
def topics_create(
    name: Annotated[str, typer.Argument(metavar="TOPIC", help="Topic name.")],
    partitions: Annotated[int, typer.Option(min=1, help="Partitions.")] = 3,
    replication: Annotated[
        int | None, typer.Option(min=1, help="Replicas per partition [default: the cluster's default].")
    ] = None,
    *,
    shared: Shared,
) -> None:
    """Create a topic if it does not exist."""
    from pipeline.kafka.topics import ensure_topic

    settings = shared.settings(topic=name)
    created = ensure_topic(
        settings.bootstrap,
        name,
        partitions,
        replication or -1,
        client=settings.client,
        security=client_security(settings),
    )
    typer.echo(f"topic {name} {'created' if created else 'already exists'}")


TimeoutOpt = Annotated[
    float, typer.Option(min=0.1, metavar="SECONDS", help="Seconds for each Kafka request.")
]
TopicArg = Annotated[
    str | None, typer.Argument(metavar="[TOPIC]", help="Topic [default: the topic setting].")
]


@contextlib.contextmanager
def _admin(settings: Settings, timeout: float) -> Iterator[AdminClient]:
    """The cluster's admin client for the topics commands, closed after."""
    from pipeline.kafka.topics import open_admin

    admin = open_admin(settings.bootstrap, timeout, settings.client, client_security(settings))
    try:
        yield admin
    finally:
        admin.close()


@contextlib.contextmanager
def _described(
    shared: Shared, name: str | None, timeout: float
) -> Iterator[tuple[AdminClient, TopicSummary]]:
    """The topic's admin client (closed after) and its description, for `topics describe` and `peek`."""
    from pipeline.ops.topics import describe_topic

    settings = shared.settings(topic=name)
    with _admin(settings, timeout) as admin:
        yield admin, describe_topic(admin, settings.topic, timeout, settings.bootstrap)


@topics_app.command("list")
@shared_options(BROKER, STATE)
def topics_list(
    json_out: JsonOpt = False,
    timeout: TimeoutOpt = 10.0,
    *,
    shared: Shared,
) -> None:
    """The cluster's topics: partitions, replicas, records retained."""
    from pipeline.ops.topics import list_lines, list_topics

    with _admin(shared.settings(), timeout) as admin:
        topics = list_topics(admin, timeout)
    if json_out:
        for t in topics:
            _json_line(t.to_json())
    else:
        typer.echo("\n".join(list_lines(topics)))


@topics_app.command("describe")
@shared_options(BROKER, STATE)
def topics_describe(
    name: TopicArg = None,
    json_out: JsonOpt = False,
    timeout: TimeoutOpt = 10.0,
    *,
    shared: Shared,
) -> None:
    """One topic's partitions: leader, replicas, in-sync replicas, first and end offsets."""
    from pipeline.ops.topics import describe_lines

    with _described(shared, name, timeout) as (_, summary):
        pass
    if json_out:
        _json_line(summary.to_json())
    else:
        typer.echo("\n".join(describe_lines(summary)))


@topics_app.command("peek")
@shared_options(BROKER, STATE)
def topics_peek(
    name: TopicArg = None,
    count: Annotated[int, typer.Option("-n", "--count", min=1, help="Records per partition.")] = 5,
    partition: Annotated[
        list[int] | None,
        typer.Option("--partition", "-p", min=0, help="Only this partition (repeat) [default: all]."),
    ] = None,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="The first records instead of the last ones.")
    ] = False,
    json_out: JsonOpt = False,
    timeout: TimeoutOpt = 10.0,
    *,
    shared: Shared,
) -> None:
    """The last N records of each partition (like `kcat -C -o -N -e`), without joining any group."""
    from pipeline.ops.topics import message_json, message_line, peek

    with _described(shared, name, timeout) as (admin, summary):
        messages = peek(admin, summary, count, partition or None, from_start, timeout)
    for m in messages:
        typer.echo(message_json(m) if json_out else message_line(m))


@app.command()
@shared_options("group", KAFKA, LAKE, CATALOG, STATE, AWS)
def status(
    json_out: JsonOpt = False,
    hosts: Annotated[
        Path | None,
        typer.Option(
            metavar="INVENTORY",
            help="Ask the hosts of this Ansible inventory over SSH instead (services, heap, disk, errors).",
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(help="SSH user for --hosts [default: the inventory's ansible_user, else yours]."),
    ] = None,
    identity: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="SSH private key for --hosts [default: the agent's and ~/.ssh's keys]."
        ),
    ] = None,
    known_hosts: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Known host keys for --hosts [default: ~/.ssh/known_hosts]."),
    ] = None,
    timeout: TimeoutOpt = 5.0,
    *,
    shared: Shared,
) -> None:
    """The pipeline on one screen: brokers, the topic's end offsets, the sink group's commits and lag,
    the services, the lake and the catalog (exit 1 when a part cannot be read)."""
    if hosts is not None:
        from pipeline.ops.hosts import host_report

        report = host_report(
            hosts, user=user, identity=identity, known_hosts=known_hosts, timeout_s=max(timeout, 5.0)
        )
        if json_out:
            for host in report:
                _json_line(host.to_json())
        else:
            typer.echo("\n".join(line for host in report for line in host.lines()))
        if not all(h.ok for h in report):
            raise typer.Exit(1)
        return
    from pipeline.ops.status import pipeline_status

    settings = shared.settings()
    st = pipeline_status(settings, timeout)
    if json_out:
        _json_line(st.to_json())
    else:
        typer.echo("\n".join(st.lines()))
    if not st.ok:
        raise typer.Exit(1)


@canary_app.command("send")
@shared_options(KAFKA, STATE)
def canary_send(
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds for everything: connect, produce, ack, read back.")
    ] = 60.0,
    *,
    shared: Shared,
) -> None:
    """Produce one canary record (acks=all) and read it back; print it as one JSON line."""
    from pipeline.canary import send_canary

    settings = shared.settings()
    typer.echo(send_canary(settings, timeout_s=timeout).to_json())


@canary_app.command("find")
@shared_options(SQL, STATE)
def canary_find(
    symbol: Annotated[str, typer.Option(help="The canary's symbol (from `canary send`).")],
    day: Annotated[
        str, typer.Option("--date", metavar="DATE", help="The canary's date YYYY-MM-DD (from `canary send`).")
    ],
    nonce: Annotated[int, typer.Option(min=1, help="The canary's nonce (from `canary send`).")],
    timeout: Annotated[float, typer.Option(min=0, help="Seconds to keep looking.")] = 180.0,
    crawl: Annotated[
        bool, typer.Option("--crawl/--no-crawl", help="Crawl the lake into the catalog before each look.")
    ] = True,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between looks.")] = 5.0,
    *,
    shared: Shared,
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
    settings = shared.settings()
    try:
        result = find_canary(
            settings, symbol, trade_date, nonce, timeout_s=timeout, crawl=crawl, interval_s=interval
        )
    except CanaryNotFound as exc:
        print(f"stockpipe: error: {exc.one_line()}", file=sys.stderr)
        raise typer.Exit(1) from None
    typer.echo(result.to_json())


@app.command()
@shared_options("client", STATE)
def demo(
    tickers: Annotated[int, typer.Option(min=1, help="Tickers in the generated sample.")] = 40,
    days: Annotated[int, typer.Option(min=1, help="Trading days per ticker.")] = 750,
    port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Port of the local broker on 127.0.0.1 [default: the running or last one, else 9092].",
        ),
    ] = None,
    *,
    shared: Shared,
) -> None:
    """The whole pipeline on this machine: sample -> local broker -> produce -> sink -> crawl -> SQL."""
    from pipeline.demo import run_demo

    settings = shared.settings()
    if not run_demo(settings, tickers=tickers, days=days, port=port):
        raise typer.Exit(1)


@app.command()
@shared_options("group", BROKER, SQL, STATE)
def dashboard(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")] = 8050,
    topic: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Topic whose stream to show [default: the latest replay's]."),
    ] = None,
    *,
    shared: Shared,
) -> None:
    """Serve the market dashboard on 127.0.0.1: candles, top movers, the stream's offsets and lag."""
    from pipeline.dashboard import make_server

    settings = shared.settings()
    with make_server(settings, port, topic) as server:
        typer.echo(
            f"dashboard on {server.url} ({settings.engine}, database {settings.database}, table "
            f"{settings.table}); Ctrl-C stops it"
        )
        _interrupt_on_signals()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            typer.echo("dashboard stopped")


@app.command()
@shared_options(SQL, STATE)
def report(
    out: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="The HTML file to write [default: <state_dir>/report.html]."),
    ] = None,
    symbol: Annotated[
        list[str] | None, typer.Option(help="Chart this symbol (repeat) [default: the top movers].")
    ] = None,
    start: Annotated[str | None, typer.Option(metavar="DATE", help="First date (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(metavar="DATE", help="Last date (YYYY-MM-DD).")] = None,
    top: Annotated[int, typer.Option(min=1, max=100, help="Top movers to list.")] = 10,
    *,
    shared: Shared,
) -> None:
    """Write the dashboard's charts as one self-contained HTML file (JavaScript and data inlined)."""
    from pipeline.dashboard import write_report

    settings = shared.settings()
    out = out or Path(settings.state_dir) / "report.html"
    _echo_lines(write_report(settings, out, symbols=symbol, start=start, end=end, top=top).summary())


def _leaf_command(argv: list[str]) -> Command | None:
    """The command `argv` names (None when it names none)."""
    command: Any = typer.main.get_command(app)
    for arg in argv:
        if not hasattr(command, "commands"):
            break
        if arg.startswith("-"):
            continue
        sub = command.commands.get(arg)
        if sub is None:
            return None
        command = sub
    return None if hasattr(command, "commands") else command


_OPTION = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")


def fit_hint(text: str, command: Command | None) -> str:
    """Name only options the running command has: `--region` on a command without it becomes
    "the region setting" (every setting can also come from the environment or the config file)."""
    if command is None:
        return text
    from dataclasses import fields

    accepted = {opt for param in command.params for opt in getattr(param, "opts", [])}
    accepted |= {opt for param in command.params for opt in getattr(param, "secondary_opts", [])}
    settings = {f.name for f in fields(Settings)}

    def replace(match: re.Match[str]) -> str:
        option = match.group(0)
        name = match.group(1).replace("-", "_")
        if option in accepted or name not in settings:
            return option
        return f"the {name} setting"

    # `quoted commands` are another command's options: left as they are
    parts = text.split("`")
    fixed = "`".join(_OPTION.sub(replace, part) if i % 2 == 0 else part for i, part in enumerate(parts))
    return re.sub(r"(the \w+ setting)( or \1)+", r"\1", fixed)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:]
    try:
        code = app(args=argv, prog_name="stockpipe", standalone_mode=False)
    except PipelineError as exc:
        print(f"stockpipe: error: {fit_hint(exc.one_line(), _leaf_command(argv))}", file=sys.stderr)
        _exit(2)
    except click_errors.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help())
        _exit(0)
    except click_errors.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "stockpipe"
        message = " ".join(exc.format_message().split()).rstrip(".")
        print(f"stockpipe: error: {message}; see `{where} --help`", file=sys.stderr)
        _exit(2)
    except click_errors.ClickException as exc:
        print(f"stockpipe: error: {' '.join(exc.format_message().split())}", file=sys.stderr)
        _exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        print("stockpipe: aborted", file=sys.stderr)
        _exit(130)
    except SystemExit as exc:
        _exit(exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1))
    if code == 130:
        print("stockpipe: aborted", file=sys.stderr)
    _exit(code if isinstance(code, int) else 0)


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

"""`stockpipe sink`: wire settings, the consumer, the lake and progress into one sink run."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Settings
from pipeline.errors import PipelineError
from pipeline.kafka import make_consumer
from pipeline.kafka.security import client_security
from pipeline.kafka.topics import topic_partitions
from pipeline.lake import open_lake
from pipeline.layout import object_boundaries
from pipeline.metrics import Metrics, ReportCounter, ReportGauge, since
from pipeline.progress import ProgressReporter
from pipeline.sink.deadletter import DeadLetters
from pipeline.sink.run import Sink, SinkOptions, SinkReport
from pipeline.state import check_state_dir
from pipeline.status import StatusWriter


@dataclass
class SinkResult:
    report: SinkReport
    lake_url: str
    dead_letter_path: Path

    def summary(self) -> str:
        r = self.report
        text = (
            f"sink: consumed {r.consumed:,}, wrote {r.rows_written:,} rows in {r.objects_written:,} objects "
            f"to {self.lake_url} in {r.elapsed_s:.1f} s; poison {r.poison:,}"
        )
        if r.poison:
            text += f" (in {self.dead_letter_path})"
        return text


def run_sink(
    settings: Settings,
    stop: threading.Event | None = None,
    max_records: int | None = None,
    idle_timeout_s: float | None = None,
    batch_records: int | None = None,
    batch_age_s: float | None = None,
    show_progress: bool = True,
    consumer_options: dict[str, object] | None = None,
) -> SinkResult:
    stop = stop or threading.Event()
    check_state_dir(settings.state_dir)  # dead letters go there: a file or a read-only dir fails now
    dead_letters = DeadLetters(Path(settings.state_dir) / "deadletter" / f"{settings.topic}.jsonl")
    dead_letters.check_writable()
    lake = open_lake(settings.lake, settings.aws_endpoint_url, settings.region)
    lake.check_writable()  # a bad bucket or an unwritable path fails now, before consuming
    security = client_security(settings)
    count = topic_partitions(settings.bootstrap, settings.topic, client=settings.client, security=security)
    if count == 0:
        raise PipelineError(
            f"topic {settings.topic!r} does not exist on {settings.bootstrap}",
            "produce to it first, or create it with `stockpipe topics create` (the kafka role does on AWS)",
        )
    static = list((consumer_options or {}).get("partitions") or [])  # type: ignore[call-overload]
    missing = [p for p in static if p >= count]
    if missing:
        raise PipelineError(
            f"--partitions {','.join(map(str, missing))}: topic {settings.topic!r} has only partitions "
            f"0..{count - 1}",
            f"pick from 0..{count - 1}, or leave --partitions out to read every partition as a group member",
        )
    existing = object_boundaries((o.key for o in lake.list(f"{settings.table}/")), settings.topic)
    boundaries = {(settings.topic, p): offsets for p, offsets in existing.items()}
    group_timers = {
        "session_timeout_ms": settings.sink.session_timeout_ms,
        "max_poll_interval_ms": settings.sink.max_poll_interval_ms,
        "client_rack": settings.sink.client_rack,
    }
    consumer = make_consumer(
        settings.client,
        settings.bootstrap,
        settings.group_id,
        settings.topic,
        security=security,
        **{**group_timers, **(consumer_options or {})},
    )
    options = SinkOptions(
        table=settings.table,
        fmt=settings.lake_format,
        partition_by=settings.partition_by,
        batch_records=batch_records if batch_records is not None else settings.sink.batch_records,
        batch_age_s=batch_age_s if batch_age_s is not None else settings.sink.batch_age,
        max_records=max_records,
        idle_timeout_s=idle_timeout_s,
    )
    try:
        with ProgressReporter(f"sink {settings.topic}", max_records, enabled=show_progress) as progress:
            status = StatusWriter(settings.state_dir, "sink", settings.topic)
            metrics = Metrics("stockpipe_sink")
            write_seconds = metrics.histogram(
                "object_write_seconds",
                "Seconds to write one object to the lake, retries included.",
                (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            )
            sink = Sink(
                consumer, lake, dead_letters, options, stop, progress, status, boundaries, write_seconds
            )
            _sink_metrics(metrics, sink.report)
            metrics.serve(settings.sink.metrics)
            try:
                report = sink.run()
            except BaseException:
                metrics.close()
                raise
            metrics.close(linger=True)  # Prometheus reads the rows of the last (stop-time) writes
    finally:
        consumer.close()
    return SinkResult(report, lake.url, dead_letters.path)


def _sink_metrics(metrics: Metrics, r: SinkReport) -> None:
    """The sink's counters and gauges, read from its report when Prometheus scrapes."""
    metrics.add(
        counters=[
            ReportCounter("records_consumed", "Records read from the topic.", lambda: r.consumed),
            ReportCounter("rows_written", "Rows written to lake objects.", lambda: r.rows_written),
            ReportCounter("objects_written", "Objects written to the lake.", lambda: r.objects_written),
            ReportCounter("bytes_written", "Bytes written to the lake.", lambda: r.bytes_written),
            ReportCounter("objects_adopted", "Objects found already written and kept.", lambda: r.adopted),
            ReportCounter("dead_letters", "Records set aside as poison.", lambda: r.poison),
            ReportCounter(
                "lake_retries", "Write attempts that found the lake unavailable.", lambda: r.lake_retries
            ),
            ReportCounter(
                "commits_rejected", "Commits the group refused (partition moved).", lambda: r.commits_rejected
            ),
        ],
        gauges=[
            ReportGauge(
                "consumer_lag",
                "Records behind the end of each assigned partition.",
                lambda: r.lag,
                "partition",
            ),
            ReportGauge(
                "seconds_since_last_object",
                "Seconds since the last object was written.",
                lambda: since(r.last_object_at),
            ),
        ],
    )

"""`stockpipe produce`: wire settings, sources, the client, pacing and progress into one replay."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Settings
from pipeline.errors import PipelineError
from pipeline.kafka import make_producer
from pipeline.kafka.security import client_security
from pipeline.kafka.topics import ensure_topic
from pipeline.metrics import Metrics, ReportCounter
from pipeline.produce.checkpoint import Checkpoint, source_fingerprint
from pipeline.produce.pacing import make_pacer
from pipeline.produce.replay import ReplayReport, replay
from pipeline.progress import ProgressReporter
from pipeline.sources import ReadCounts, Rejects, SourceSet
from pipeline.sources.ahead import ReadAhead
from pipeline.state import check_state_dir
from pipeline.status import StatusWriter


@dataclass
class ProduceResult:
    counts: ReadCounts
    rejects: Rejects
    report: ReplayReport
    rejects_path: Path | None
    checkpoint: Checkpoint | None = None

    def ok(self, strict: bool = False) -> bool:
        return self.report.complete and not (strict and self.rejects.total)

    def summary(self) -> str:
        c, r, rep = self.counts, self.rejects, self.report
        lines = [
            f"read {c.rows_read:,} rows from {c.files:,} files ({c.empty_files} empty): "
            f"{c.rows_good:,} good, {r.rows:,} rejected rows, {r.files} rejected files",
            f"produced: sent {rep.sent:,}, delivered {rep.delivered:,}, failed {rep.failed:,}, "
            f"unconfirmed {rep.unconfirmed:,} in {rep.elapsed_s:.1f} s "
            f"({rep.delivered / max(rep.elapsed_s, 1e-9):,.0f} rows/s)"
            + (" - interrupted" if rep.interrupted else ""),
        ]
        if rep.skipped:
            lines.append(f"resumed: skipped {rep.skipped:,} rows delivered by an earlier run")
        if self.checkpoint is not None and not rep.complete:
            lines.append(
                f"checkpoint: {self.checkpoint.delivered_count:,} rows delivered so far, saved in "
                f"{self.checkpoint.path}; continue with --resume"
            )
        lines += [f"  reject: {text}" for text in r.shown]
        if r.total > len(r.shown):
            where = f" (all in {self.rejects_path})" if self.rejects_path else " (use --rejects FILE for all)"
            lines.append(f"  ... {r.total - len(r.shown):,} more rejects{where}")
        lines += [f"  delivery error x{n}: {err}" for err, n in rep.errors.items()]
        return "\n".join(lines)


def run_produce(
    settings: Settings,
    source: Path,
    rate: str | None = None,
    speed: float | None = None,
    partitions: int = 3,
    rejects_path: Path | None = None,
    stop: threading.Event | None = None,
    show_progress: bool = True,
    producer_options: dict[str, object] | None = None,
    checkpoint_path: Path | None = None,
    resume: bool = False,
    reader: ReadAhead | None = None,
) -> ProduceResult:
    """Replay `source` onto the topic. With `checkpoint_path`, deliveries are recorded there; with
    `resume`, the rows that checkpoint lists as delivered are skipped (see pipeline/produce/checkpoint.py).
    `reader`: the source's reader, when the caller started it earlier (it is closed here)."""
    stop = stop or threading.Event()
    pacer = make_pacer(rate, speed, stop)  # bad --rate fails before anything is sent
    check_state_dir(settings.state_dir)  # status and the default checkpoint live there
    rejects = Rejects(rejects_path)
    # The batches are computed in a process of their own (sources/ahead.py), started before anything
    # else so that its start-up and first reads overlap the checks and connections below.
    reader = reader or ReadAhead(source)
    try:
        sources = SourceSet(source, rejects)
        checkpoint = _checkpoint(sources, source, settings.topic, checkpoint_path, resume)
        security = client_security(settings)  # a password file or parameter that cannot be read fails now
        ensure_topic(
            settings.bootstrap, settings.topic, partitions, client=settings.client, security=security
        )
        producer = make_producer(
            settings.client, settings.bootstrap, security=security, **(producer_options or {})
        )
        total = sources.estimate_rows() if show_progress else None
        try:
            with ProgressReporter(f"produce {settings.topic}", total, enabled=show_progress) as progress:
                status = StatusWriter(settings.state_dir, "producer", settings.topic)
                metrics = Metrics("stockpipe_producer")
                metrics.add(
                    counters=[
                        ReportCounter(
                            "rows_read", "Data lines read from the source.", lambda: sources.counts.rows_read
                        ),
                        ReportCounter(
                            "rows_rejected", "Rows and files rejected (reported).", lambda: rejects.total
                        ),
                    ]
                )
                metrics.serve(settings.producer.metrics)
                report = replay(
                    reader.batches(sources),
                    producer,
                    settings.topic,
                    pacer,
                    progress,
                    stop,
                    checkpoint=checkpoint,
                    status=status,
                    metrics=metrics,
                )
                metrics.close(linger=True)  # Prometheus reads the final numbers before the producer ends
        finally:
            producer.close()
    finally:
        reader.close()
        rejects.close()
    return ProduceResult(sources.counts, rejects, report, rejects_path, checkpoint)


def _checkpoint(
    sources: SourceSet, source: Path, topic: str, path: Path | None, resume: bool
) -> Checkpoint | None:
    """The replay's checkpoint: none, a new one (written once now), or the one to resume from."""
    if path is None:
        if resume:
            raise PipelineError(
                "--resume needs a checkpoint", "pass --checkpoint PATH or use the default one"
            )
        return None
    fingerprint = source_fingerprint((f.name, f.size) for f in sources.files)
    if resume:
        return Checkpoint.load(path, source, topic, fingerprint)
    checkpoint = Checkpoint(path, source, topic, fingerprint)
    checkpoint.save()  # fail now, not after the replay, when the path is unwritable
    return checkpoint

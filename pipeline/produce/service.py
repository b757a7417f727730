"""`stockpipe produce`: wire settings, sources, the client, pacing and progress into one replay."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Settings
from pipeline.kafka import make_producer
from pipeline.kafka.topics import ensure_topic
from pipeline.produce.pacing import make_pacer
from pipeline.produce.replay import ReplayReport, replay
from pipeline.progress import ProgressReporter
from pipeline.sources import ReadCounts, Rejects, SourceSet


@dataclass
class ProduceResult:
    counts: ReadCounts
    rejects: Rejects
    report: ReplayReport
    rejects_path: Path | None

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
) -> ProduceResult:
    stop = stop or threading.Event()
    pacer = make_pacer(rate, speed, stop)  # bad --rate fails before anything is sent
    rejects = Rejects(rejects_path)
    sources = SourceSet(source, rejects)
    ensure_topic(settings.bootstrap, settings.topic, partitions)
    producer = make_producer(settings.client, settings.bootstrap, **(producer_options or {}))
    total = sources.estimate_rows() if show_progress else None
    try:
        with ProgressReporter(f"produce {settings.topic}", total, enabled=show_progress) as progress:
            report = replay(sources.bars(), producer, settings.topic, pacer, progress, stop)
    finally:
        producer.close()
        rejects.close()
    return ProduceResult(sources.counts, rejects, report, rejects_path)

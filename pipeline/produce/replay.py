"""The replay loop: encoded records in time order -> pacing -> producer, with honest delivery accounting."""

from __future__ import annotations

import gc
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from pipeline.kafka import DeliveryReports, ProducerClient
from pipeline.metrics import Metrics, ReportCounter
from pipeline.produce.checkpoint import Checkpoint
from pipeline.produce.pacing import Pacer
from pipeline.progress import ProgressReporter
from pipeline.sources import EncodedBatch
from pipeline.status import StatusWriter

#: Unpaced, records go to the client this many at a time; delivery reports, the checkpoint and the
#: status file are served (and `stop` checked) between two such runs.
POLL_EVERY = 1_000


class DeliveryTracker:
    """Counts delivery reports; thread-safe because kafka-python reports from its I/O thread."""

    def __init__(self) -> None:
        self.delivered = 0
        self.failed = 0
        self.errors: Counter[str] = Counter()
        self._lock = threading.Lock()

    def report(self, error: str | None) -> None:
        with self._lock:
            if error is None:
                self.delivered += 1
            else:
                self.failed += 1
                self.errors[error] += 1

    def count(self, delivered: list[int], failed: list[tuple[int, str]]) -> None:
        """Count a drain of `DeliveryReports`."""
        with self._lock:
            self.delivered += len(delivered)
            self.failed += len(failed)
            self.errors.update(error for _, error in failed)


@dataclass
class ReplayReport:
    sent: int = 0
    skipped: int = 0  # already delivered by an earlier run (--resume)
    delivered: int = 0
    failed: int = 0
    unconfirmed: int = 0
    interrupted: bool = False
    elapsed_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.failed == 0 and self.unconfirmed == 0 and not self.interrupted


def replay(
    batches: Iterable[EncodedBatch],
    producer: ProducerClient,
    topic: str,
    pacer: Pacer,
    progress: ProgressReporter,
    stop: threading.Event,
    flush_timeout_s: float = 120.0,
    checkpoint: Checkpoint | None = None,
    status: StatusWriter | None = None,
    metrics: Metrics | None = None,
) -> ReplayReport:
    """Send every record (until `stop` is set), then wait for all delivery reports up to the timeout.

    Records are numbered from 0 in merge order. With a `checkpoint`, records it lists as delivered
    are skipped, every delivery is recorded in it, and it is saved every few seconds and once more
    after the final flush.
    """
    run = _Replay(producer, topic, pacer, progress, stop, checkpoint, status)
    if metrics is not None:  # read when Prometheus scrapes, never on the send path
        metrics.add(
            counters=[
                ReportCounter("records_sent", "Records handed to the Kafka client.", lambda: run.report.sent),
                ReportCounter(
                    "records_delivered", "Records acknowledged (acks=all).", lambda: run.tracker.delivered
                ),
                ReportCounter("records_failed", "Records whose delivery failed.", lambda: run.tracker.failed),
                ReportCounter(
                    "records_skipped", "Records an earlier run delivered.", lambda: run.report.skipped
                ),
            ]
        )
    # Unless the client routes its records (confluent-kafka: pipeline/kafka/routed.py), every record in
    # flight holds a small callback object for its delivery report (up to the client's queue bound,
    # 200,000), and so does kafka-python's future. The cyclic garbage collector would walk them all on
    # each full collection, again and again as the replay runs; the loop creates no reference cycles,
    # so the collector is paused while it runs (and anything a library leaves is collected after).
    collecting = gc.isenabled()
    gc.disable()
    try:
        run.send_all(batches)
    finally:
        if collecting:
            gc.enable()
    report = run.report
    report.interrupted = stop.is_set()
    report.unconfirmed = producer.flush(flush_timeout_s)
    run.count_reports()
    tracker = run.tracker
    if checkpoint is not None:
        checkpoint.save(complete=not report.interrupted and tracker.failed == 0 and report.unconfirmed == 0)
    report.delivered, report.failed = tracker.delivered, tracker.failed
    report.errors = dict(tracker.errors.most_common(5))
    report.elapsed_s = progress.elapsed
    if status is not None:
        status.update_from(report, done=True)
    return report


class _Replay:
    """The send loop of `replay` and its accounting.

    A paced replay is slow anyway: it sends one record at a time and serves delivery reports, the
    checkpoint and the status after each, so they stay current. Flat out, the client gets POLL_EVERY
    records at a time and they are served in between, to keep the hot loop cheap.
    """

    def __init__(
        self,
        producer: ProducerClient,
        topic: str,
        pacer: Pacer,
        progress: ProgressReporter,
        stop: threading.Event,
        checkpoint: Checkpoint | None,
        status: StatusWriter | None,
    ) -> None:
        self.producer, self.topic, self.pacer, self.progress, self.stop = (
            producer,
            topic,
            pacer,
            progress,
            stop,
        )
        self.checkpoint, self.status = checkpoint, status
        self.report = ReplayReport()
        self.tracker = DeliveryTracker()
        self.reports = DeliveryReports()
        self.earlier = _Delivered(checkpoint)

    def send_all(self, batches: Iterable[EncodedBatch]) -> None:
        """Send until the end of the input or until `stop` is set."""
        paced = type(self.pacer) is not Pacer
        seq = 0  # number of the batch's first record
        for batch in batches:
            first, n = seq, len(batch)
            seq += n
            runs = self.earlier.unsent(first, n)
            skipped = n - sum(end - start for start, end in runs)
            if skipped:
                self.report.skipped += skipped
                self.progress.advance(skipped)
            dates = batch.dates() if paced and runs else None
            for start, end in runs:
                if dates is None:
                    self._send_flat_out(batch, first, start, end)
                else:
                    self._send_paced(batch, first, start, end, dates)
                if self.stop.is_set():
                    return

    def _send_flat_out(self, batch: EncodedBatch, first: int, start: int, end: int) -> None:
        keys, values = batch.keys, batch.values
        for i in range(start, end, POLL_EVERY):
            if self.stop.is_set():
                return
            j = min(i + POLL_EVERY, end)
            self.producer.send_many(self.topic, keys[i:j], values[i:j], first + i, self.reports)
            self.report.sent += j - i
            self._serve()
            self.progress.advance(j - i)

    def _send_paced(self, batch: EncodedBatch, first: int, start: int, end: int, dates: list[date]) -> None:
        keys, values = batch.keys, batch.values
        for i in range(start, end):
            self.pacer.wait(dates[i])  # returns early when `stop` is set
            if self.stop.is_set():
                return
            self.producer.send_many(self.topic, keys[i : i + 1], values[i : i + 1], first + i, self.reports)
            self.report.sent += 1
            self._serve()
            self.progress.advance()

    def _serve(self) -> None:
        """Serve delivery reports, record them, save the checkpoint when due, update the status."""
        self.producer.poll()
        self.count_reports()
        if self.checkpoint is not None:
            self.checkpoint.save_if_due()
        if self.status is not None:
            report, tracker = self.report, self.tracker
            self.status.update(sent=report.sent, delivered=tracker.delivered, failed=tracker.failed)

    def count_reports(self) -> None:
        delivered, failed = self.reports.drain()
        self.tracker.count(delivered, failed)
        if self.checkpoint is not None:
            self.checkpoint.mark_many(delivered)


class _Delivered:
    """What the checkpoint listed as delivered when the replay started (`--resume`): those records
    are skipped. Records delivered during this replay were sent by it, so they never need the check."""

    def __init__(self, checkpoint: Checkpoint | None) -> None:
        self.watermark = checkpoint.watermark if checkpoint is not None else 0
        self.beyond = frozenset(checkpoint.beyond) if checkpoint is not None else frozenset()
        self.last = max(self.beyond, default=-1)

    def unsent(self, first: int, n: int) -> list[tuple[int, int]]:
        """Index ranges [start, end) of records first .. first + n - 1 that were not delivered."""
        start = min(max(self.watermark - first, 0), n)
        if self.last < first + start:
            return [(start, n)] if start < n else []
        return list(_runs(i for i in range(start, n) if first + i not in self.beyond))


def _runs(indexes: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Increasing numbers -> [start, end) ranges of consecutive ones."""
    start = end = -1
    for i in indexes:
        if i != end:
            if end > start:
                yield start, end
            start = i
        end = i + 1
    if end > start:
        yield start, end

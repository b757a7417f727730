"""The replay loop: bars in time order -> pacing -> producer, with honest delivery accounting."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipeline.kafka import ProducerClient
from pipeline.produce.checkpoint import Checkpoint
from pipeline.produce.pacing import Pacer
from pipeline.progress import ProgressReporter
from pipeline.records import StockBar
from pipeline.status import StatusWriter

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
    bars: Iterable[StockBar],
    producer: ProducerClient,
    topic: str,
    pacer: Pacer,
    progress: ProgressReporter,
    stop: threading.Event,
    flush_timeout_s: float = 120.0,
    checkpoint: Checkpoint | None = None,
    status: StatusWriter | None = None,
) -> ReplayReport:
    """Send every bar (until `stop` is set), then wait for all delivery reports up to the timeout.

    With a `checkpoint`, bars it lists as delivered are skipped, every delivery is recorded in it, and
    it is saved every few seconds and once more after the final flush.
    """
    tracker = DeliveryTracker()
    report = ReplayReport()
    # A paced replay is slow anyway: serve delivery reports, checkpoint and status on every record so
    # they stay current; flat out, do it every POLL_EVERY records to keep the hot loop cheap.
    paced = type(pacer) is not Pacer
    every = 1 if paced else POLL_EVERY
    for seq, bar in enumerate(bars):
        if checkpoint is not None and checkpoint.delivered(seq):
            report.skipped += 1
            progress.advance()
            continue
        if paced:
            pacer.wait(bar.date)  # returns early when `stop` is set
        if stop.is_set():
            break
        on_delivery = tracker.report if checkpoint is None else checkpoint.callback(seq, tracker.report)
        producer.send(topic, bar.key(), bar.to_json(), on_delivery)
        report.sent += 1
        if report.sent % every == 0:
            producer.poll()
            if checkpoint is not None:
                checkpoint.save_if_due()
            if status is not None:
                status.update(sent=report.sent, delivered=tracker.delivered, failed=tracker.failed)
        progress.advance()
    report.interrupted = stop.is_set()
    report.unconfirmed = producer.flush(flush_timeout_s)
    if checkpoint is not None:
        checkpoint.save(complete=not report.interrupted and tracker.failed == 0 and report.unconfirmed == 0)
    report.delivered, report.failed = tracker.delivered, tracker.failed
    report.errors = dict(tracker.errors.most_common(5))
    report.elapsed_s = progress.elapsed
    if status is not None:
        status.update_from(report, done=True)
    return report

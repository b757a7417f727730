"""The replay loop: bars in time order -> pacing -> producer, with honest delivery accounting."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipeline.kafka import ProducerClient
from pipeline.produce.pacing import Pacer
from pipeline.progress import ProgressReporter
from pipeline.records import StockBar

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
) -> ReplayReport:
    """Send every bar (until `stop` is set), then wait for all delivery reports up to the timeout."""
    tracker = DeliveryTracker()
    report = ReplayReport()
    for bar in bars:
        if stop.is_set():
            break
        pacer.wait(bar.date)
        if stop.is_set():
            break
        producer.send(topic, bar.key(), bar.to_json(), tracker.report)
        report.sent += 1
        if report.sent % POLL_EVERY == 0:
            producer.poll()
        progress.advance()
    report.interrupted = stop.is_set()
    report.unconfirmed = producer.flush(flush_timeout_s)
    report.delivered, report.failed = tracker.delivered, tracker.failed
    report.errors = dict(tracker.errors.most_common(5))
    report.elapsed_s = progress.elapsed
    return report

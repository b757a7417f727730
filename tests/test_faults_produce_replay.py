"""The replay loop against a fake client: what is sent, skipped (--resume), recorded in the checkpoint
and reported when deliveries fail or the replay is stopped. The real clients: test_faults_produce_resume.py
and the end-to-end tests.

Guarantee checked: docs/guarantees.md, "G2 - an interrupted replay resumes without loss or duplicates"
(the checkpoint lists exactly the records with a successful delivery report).
"""

from __future__ import annotations

import random
import threading
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa

from pipeline.kafka import DeliveryCallback, ProducerClient
from pipeline.produce.checkpoint import Checkpoint
from pipeline.produce.pacing import FixedRate, Pacer
from pipeline.produce.replay import replay
from pipeline.progress import ProgressReporter
from pipeline.sources import EncodedBatch

DAY0 = date(2017, 1, 2)


class FakeProducer(ProducerClient):
    """Delivers (or fails) every queued record on `poll`/`flush`; remembers what was sent."""

    def __init__(self, fail: set[bytes] = frozenset(), on_send: object = None) -> None:
        self.sent: list[bytes] = []
        self.calls: list[int] = []  # records per send_many call
        self.queue: list[tuple[bytes, DeliveryCallback]] = []
        self.fail = fail
        self.on_send = on_send

    def send(self, topic: str, key: bytes, value: bytes, on_delivery: DeliveryCallback) -> None:
        self.sent.append(value)
        self.queue.append((value, on_delivery))
        if callable(self.on_send):
            self.on_send()

    def send_many(self, topic, keys, values, first, reports) -> None:  # type: ignore[no-untyped-def]
        self.calls.append(len(values))
        super().send_many(topic, keys, values, first, reports)

    def poll(self) -> None:
        queue, self.queue = self.queue, []
        for value, on_delivery in queue:
            on_delivery("broker says no" if value in self.fail else None)

    def flush(self, timeout_s: float) -> int:
        self.poll()
        return 0

    def close(self) -> None:
        pass


def _batches(total: int, size: int) -> list[EncodedBatch]:
    """Records numbered 0..total-1; record n's value is b"n", its day DAY0 + n // 3."""
    out = []
    for start in range(0, total, size):
        numbers = range(start, min(start + size, total))
        days = pa.array([(DAY0 - date(1970, 1, 1)).days + n // 3 for n in numbers], pa.int32())
        out.append(EncodedBatch([b"K"] * len(numbers), [str(n).encode() for n in numbers], days))
    return out


def _replay(tmp_path: Path, producer: FakeProducer, total: int = 20, size: int = 6, **kw):  # type: ignore[no-untyped-def]
    checkpoint = kw.pop("checkpoint", None) or Checkpoint(tmp_path / "cp.json", tmp_path, "t", "f")
    with ProgressReporter("test", total, enabled=False) as progress:
        report = replay(
            _batches(total, size),
            producer,
            "t",
            kw.pop("pacer", Pacer()),
            progress,
            kw.pop("stop", threading.Event()),
            checkpoint=checkpoint,
        )
    return report, checkpoint, progress


def _numbers(values: list[bytes]) -> list[int]:
    return [int(v) for v in values]


def test_every_record_is_sent_once_in_order_and_the_checkpoint_ends_complete(tmp_path: Path) -> None:
    producer = FakeProducer()
    report, checkpoint, progress = _replay(tmp_path, producer, total=2_500, size=1_700)
    assert _numbers(producer.sent) == list(range(2_500))
    assert report.sent == report.delivered == 2_500 and report.complete
    assert checkpoint.watermark == 2_500 and not checkpoint.beyond
    assert progress.done == 2_500
    assert max(producer.calls) <= 1_000  # handed over POLL_EVERY records at a time, reports served between


def test_resume_skips_exactly_the_records_the_checkpoint_lists(tmp_path: Path) -> None:
    earlier = Checkpoint(tmp_path / "cp.json", tmp_path, "t", "f")
    earlier.mark_many([0, 1, 2, 3, 4, 7, 9, 13])
    producer = FakeProducer()
    report, checkpoint, progress = _replay(tmp_path, producer, checkpoint=earlier)
    assert _numbers(producer.sent) == [5, 6, 8, 10, 11, 12, *range(14, 20)]
    assert report.skipped == 8 and report.sent == 12 and report.complete
    assert checkpoint.watermark == 20 and not checkpoint.beyond
    assert progress.done == 20


def test_failed_deliveries_stay_out_of_the_checkpoint(tmp_path: Path) -> None:
    producer = FakeProducer(fail={b"3", b"11"})
    report, checkpoint, _ = _replay(tmp_path, producer)
    assert report.failed == 2 and report.delivered == 18 and not report.complete
    assert report.errors == {"broker says no": 2}
    assert checkpoint.watermark == 3 and 11 not in checkpoint.beyond and checkpoint.delivered_count == 18
    checkpoint.save(complete=False)
    again = FakeProducer()
    _replay(tmp_path, again, checkpoint=Checkpoint.load(tmp_path / "cp.json", tmp_path, "t", "f"))
    assert _numbers(again.sent) == [3, 11]


def test_a_stop_ends_the_replay_and_the_checkpoint_holds_what_was_delivered(tmp_path: Path) -> None:
    stop = threading.Event()
    producer = FakeProducer(on_send=lambda: len(producer.sent) >= 7 and stop.set())
    report, checkpoint, _ = _replay(tmp_path, producer, total=5_000, size=2_000, stop=stop)
    assert report.interrupted and not report.complete
    assert report.sent == len(producer.sent) < 5_000
    assert checkpoint.delivered_count == report.delivered == report.sent


def test_a_paced_replay_sends_one_record_at_a_time_and_waits_for_each(tmp_path: Path) -> None:
    class Recording(FixedRate):
        def __init__(self) -> None:
            super().__init__(1e6)
            self.days: list[date] = []

        def wait(self, day: date) -> None:
            self.days.append(day)
            super().wait(day)

    pacer = Recording()
    producer = FakeProducer()
    report, _, _ = _replay(tmp_path, producer, pacer=pacer)
    assert report.sent == 20 and set(producer.calls) == {1}
    assert pacer.days == [DAY0 + timedelta(days=n // 3) for n in range(20)]


def test_the_checkpoint_folds_deliveries_in_any_order_into_watermark_and_the_rest(tmp_path: Path) -> None:
    rng = random.Random(5)
    numbers = list(range(5_000))
    rng.shuffle(numbers)
    delivered = numbers[:4_000]  # the rest failed or are still in flight
    checkpoint = Checkpoint(tmp_path / "cp.json", tmp_path, "t", "f")
    for start in range(0, len(delivered), 333):
        checkpoint.mark_many(delivered[start : start + 333])
        seen = set(delivered[: start + 333])
        watermark = min(set(range(5_001)) - seen)
        assert checkpoint.watermark == watermark
        assert checkpoint.beyond == {n for n in seen if n > watermark}
        assert checkpoint.delivered_count == len(seen)
    assert [n for n in range(5_000) if not checkpoint.delivered(n)] == sorted(numbers[4_000:])

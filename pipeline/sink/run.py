"""The sink loop: consume -> validate -> batch -> write object durably -> commit offsets.

Offsets are committed only after the batch's object (and its dead letters) are durable, so a crash
at any moment loses nothing: the uncommitted tail is consumed again and rewritten under the same
object names. See docs/guarantees.md.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass

from pipeline.kafka import ConsumerClient, TopicPartition
from pipeline.lake import Lake
from pipeline.lake.s3 import LakeUnavailable
from pipeline.progress import ProgressReporter
from pipeline.records import BadMessage, bar_from_json
from pipeline.sink.batcher import Batch, Batcher
from pipeline.sink.deadletter import DeadLetters
from pipeline.sink.encode import encode
from pipeline.sink.layout import object_key, partition_path
from pipeline.status import StatusWriter

log = logging.getLogger(__name__)


@dataclass
class SinkOptions:
    table: str = "prices"
    fmt: str = "parquet"
    partition_by: str = "month"
    batch_records: int = 50_000
    batch_age_s: float = 10.0
    poll_records: int = 10_000
    # Stop conditions (for demos, tests and one-shot backfills); a service runs until signalled.
    max_records: int | None = None
    idle_timeout_s: float | None = None
    retry_max_s: float = 30.0
    drain_retry_s: float = 10.0


@dataclass
class SinkReport:
    consumed: int = 0
    rows_written: int = 0
    objects_written: int = 0
    poison: int = 0
    dropped_on_rebalance: int = 0
    elapsed_s: float = 0.0
    last_object: str | None = None


class Sink:
    def __init__(
        self,
        consumer: ConsumerClient,
        lake: Lake,
        dead_letters: DeadLetters,
        options: SinkOptions,
        stop: threading.Event,
        progress: ProgressReporter,
        status: StatusWriter | None = None,
        boundaries: dict[TopicPartition, set[int]] | None = None,
    ) -> None:
        self.consumer = consumer
        self.lake = lake
        self.dead_letters = dead_letters
        self.options = options
        self.stop = stop
        self.progress = progress
        self.batcher = Batcher(options.batch_records, options.batch_age_s, boundaries)
        self.report = SinkReport()
        self.status = status
        self._handled = 0  # records written or dead-lettered, and committed
        consumer.on_revoke = self._on_revoke

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        self.report.dropped_on_rebalance += self.batcher.drop(partitions)

    def run(self) -> SinkReport:
        opts = self.options
        last_message = time.monotonic()
        try:
            while not self.stop.is_set():
                messages = self.consumer.poll_batch(opts.poll_records, timeout_s=0.5)
                now = time.monotonic()
                if messages or not self.consumer.assigned():
                    last_message = now  # idle time counts only once the group has assigned us work
                for msg in messages:
                    self.report.consumed += 1
                    try:
                        bar = bar_from_json(msg.value)
                    except BadMessage as exc:
                        closed = self.batcher.add_poison(msg, str(exc))
                    else:
                        hive = partition_path(bar.date, opts.partition_by)
                        closed = self.batcher.add(msg, bar, hive)
                    self._flush(closed)
                self._flush(self.batcher.expired())
                if self.status is not None:
                    self.status.update_from(self.report)  # at most once a second
                if opts.max_records is not None and self._handled + self._open_size() >= opts.max_records:
                    break
                if opts.idle_timeout_s is not None and now - last_message >= opts.idle_timeout_s:
                    break
            # Graceful stop: whatever is batched is written and committed before leaving.
            self._flush(self.batcher.drain(), stopping=True)
        finally:
            self.report.elapsed_s = self.progress.elapsed
            if self.status is not None:
                self.status.update_from(self.report, done=True)
        return self.report

    def _open_size(self) -> int:
        return sum(b.size for b in self.batcher.open.values())

    def _flush(self, batches: list[Batch], stopping: bool = False) -> None:
        for batch in batches:
            if batch.rows:
                assert batch.hive is not None
                key = object_key(
                    self.options.table,
                    batch.hive,
                    batch.topic,
                    batch.partition,
                    batch.first_offset,
                    self.options.fmt,
                )
                if not self._put_with_retry(key, encode(batch.rows, self.options.fmt), stopping):
                    return  # stopped while the lake was down: nothing committed, nothing lost
                self.report.objects_written += 1
                self.report.rows_written += len(batch.rows)
                self.report.last_object = key
            self.dead_letters.write(batch.poison)
            self.report.poison += len(batch.poison)
            self.consumer.commit({(batch.topic, batch.partition): batch.last_offset + 1})
            self._handled += batch.size
            self.progress.advance(batch.size)

    def _put_with_retry(self, key: str, data: bytes, stopping: bool) -> bool:
        """Retry an unavailable lake with backoff: forever while running, `drain_retry_s` once stopping."""
        delay = 0.5
        deadline = time.monotonic() + self.options.drain_retry_s if stopping else float("inf")
        while True:
            try:
                self.lake.put(key, data)
                return True
            except LakeUnavailable as exc:
                if time.monotonic() >= deadline:
                    print(
                        f"sink: giving up on {key} while stopping; its rows stay uncommitted and will be "
                        "re-read on the next start",
                        file=sys.stderr,
                        flush=True,
                    )
                    return False
                print(
                    f"sink: lake unavailable, retrying {key} in {delay:.1f} s: {exc.one_line()}",
                    file=sys.stderr,
                    flush=True,
                )
                if stopping:
                    time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
                elif self.stop.wait(delay):
                    return False  # the caller drains with a bounded retry
                delay = min(delay * 2, self.options.retry_max_s)

"""The sink loop: consume -> validate -> batch -> write object durably -> commit offsets.

Offsets are committed only after the batch's object (and its dead letters) are durable, so a crash
at any moment loses nothing: the uncommitted tail is consumed again. Objects are created, never
replaced: a batch whose object name is taken (by an earlier run that died before its commit, or by a
sink that owned the partition while this one was paused) keeps the object that is there and goes on
after the last offset it covers. See docs/guarantees.md (G1).
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client import Histogram

from pipeline.errors import CommitRejected, PipelineError, Unavailable
from pipeline.kafka import ConsumerClient, TopicPartition
from pipeline.lake import Lake
from pipeline.layout import object_key
from pipeline.progress import ProgressReporter
from pipeline.sink.batcher import Batch, Batcher
from pipeline.sink.deadletter import DeadLetters
from pipeline.sink.decode import decode_messages
from pipeline.sink.encode import UnreadableObject, encode, object_extent
from pipeline.status import StatusWriter

log = logging.getLogger(__name__)
T = TypeVar("T")


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
    adopted: int = 0  # objects found already written (by another sink or an earlier run) and kept
    commits_rejected: int = 0  # commits refused because the group had moved the partition on
    elapsed_s: float = 0.0
    last_object: str | None = None
    bytes_written: int = 0
    lake_retries: int = 0  # attempts that found the lake unavailable
    last_object_at: float | None = None  # wall-clock time of the last object written (or adopted)
    lag: dict[int, int] = field(default_factory=dict)  # records behind the end of each assigned partition


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
        write_seconds: Histogram | None = None,
    ) -> None:
        self.consumer = consumer
        self.write_seconds = write_seconds  # Prometheus (pipeline/metrics.py): seconds per object written
        self._lag_at = 0.0
        self.lake = lake
        self.dead_letters = dead_letters
        self.options = options
        self.stop = stop
        self.progress = progress
        self.batcher = Batcher(options.batch_records, options.batch_age_s, boundaries, options.partition_by)
        self.report = SinkReport()
        self.status = status
        self._handled = 0  # records written or dead-lettered, and committed
        # Set when an object could not be written while stopping: nothing is written or committed
        # after it, so no committed offset can pass rows that are not in the lake.
        self._gave_up = False
        # Per partition, the last offset known to be in the lake in an object this sink did not write
        # (adopted): records up to it are never written again.
        self._covered: dict[TopicPartition, int] = {}
        consumer.on_revoke = self._on_revoke

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        self.report.dropped_on_rebalance += self.batcher.drop(partitions)

    def run(self) -> SinkReport:
        with _few_collections():
            return self._run()

    def _run(self) -> SinkReport:
        opts = self.options
        # Idle time is time spent waiting in empty polls while the group has assigned us work: never the
        # time spent writing (an S3 outage's retries outlast any idle timeout, and the first poll after
        # one often comes back empty while the group rejoins).
        idle_s = 0.0
        try:
            while not self.stop.is_set():
                polled_at = time.monotonic()
                messages = self.consumer.poll_batch(opts.poll_records, timeout_s=0.5)
                now = time.monotonic()
                if messages or not self.consumer.assigned():
                    idle_s = 0.0
                else:
                    idle_s += now - polled_at
                if messages:
                    self.report.consumed += len(messages)
                    # The whole poll at once: one decode, then batching by runs (see batcher.py).
                    self._flush(self.batcher.add_poll(messages, decode_messages(messages)))
                self._flush(self.batcher.expired())
                if now - self._lag_at >= 1.0:  # for the metrics: cheap, from the client's last fetches
                    self._lag_at = now
                    self.report.lag = self.consumer.lag()
                if self.status is not None:
                    self.status.update_from(self.report)  # at most once a second
                if opts.max_records is not None and self._handled + self._open_size() >= opts.max_records:
                    break
                if opts.idle_timeout_s is not None and idle_s >= opts.idle_timeout_s:
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
            if self._gave_up:
                return
            tp = (batch.topic, batch.partition)
            part = batch.after(self._covered.get(tp, -1))
            while part is not None and part.rows:
                assert part.hive is not None
                key = object_key(
                    self.options.table,
                    part.hive,
                    part.topic,
                    part.partition,
                    part.first_offset,
                    self.options.fmt,
                )
                data = encode(part.table(), self.options.fmt, (part.first_offset, part.last_offset))
                outcome = self._create(key, data, part.first_offset, stopping)
                if outcome is None:
                    self._gave_up = True  # stopped while the lake was down: nothing committed, nothing lost
                    return
                created, extent = outcome
                if created:
                    self.report.objects_written += 1
                    self.report.rows_written += part.rows
                    self.report.bytes_written += len(data)
                    self.report.last_object = key
                    self.report.last_object_at = time.time()
                    break
                # Another writer (a sink that owned this partition meanwhile, or an earlier run that died
                # before its commit) made this object: it stays as it is, and what it covers is done.
                self._covered[tp] = max(self._covered.get(tp, -1), extent)
                self.report.adopted += 1
                self.report.last_object_at = time.time()
                print(
                    f"sink: {key} already exists (another sink or an earlier run wrote it); keeping it and "
                    f"continuing after its last offset {extent}",
                    file=sys.stderr,
                    flush=True,
                )
                part = part.after(extent)
            if part is not None:
                self.dead_letters.write(part.poison)
                self.report.poison += len(part.poison)
            self._commit(tp, max(batch.last_offset, self._covered.get(tp, -1)) + 1)
            self._handled += batch.size
            self.progress.advance(batch.size)

    def _create(self, key: str, data: bytes, first_offset: int, stopping: bool) -> tuple[bool, int] | None:
        """Create the object: (True, -1) once written, (False, its last offset) when one is already
        there, None when it gave up (stopping while the lake was down)."""
        started = time.monotonic()
        created = self._with_retry(key, lambda: self.lake.create(key, data), stopping)
        if self.write_seconds is not None and created is not None:
            self.write_seconds.observe(time.monotonic() - started)
        if created is not False:
            return None if created is None else (True, -1)
        existing = self._with_retry(key, lambda: self.lake.get(key), stopping)
        if existing is None:
            return None
        try:
            return False, object_extent(existing, self.options.fmt)
        except UnreadableObject as exc:
            self._check_torn(key, exc, first_offset)
        replaced = self._with_retry(key, lambda: self.lake.put(key, data) or True, stopping)
        return None if replaced is None else (True, -1)

    def _check_torn(self, key: str, exc: UnreadableObject, first_offset: int) -> None:
        """Let an unreadable object under `key` be replaced only where it can be a torn write.

        Only a lake whose server ignores conditional writes (warned about when the sink started) can
        hold one: such servers (s3rver, for one) also write in place, so one stopped mid-PUT leaves a
        torn object under the name its writer then retries. Anywhere else an object is whole once it has
        a name, so an unreadable one is foreign: the sink stops, committing nothing past it, and says so.
        """
        where = self.lake.location(key)
        if self.lake.fenced:
            raise PipelineError(
                f"sink: {where} is {exc.problem}; sinks never write such an object",
                f"move it out of the lake and start the sink again (it resumes at offset {first_offset} of "
                "that partition: nothing from there on is committed)",
            )
        print(f"sink: {where} is {exc.problem}; replacing it (a write the lake's server tore)",
              file=sys.stderr, flush=True)  # fmt: skip

    def _commit(self, tp: TopicPartition, offset: int) -> None:
        try:
            self.consumer.commit({tp: offset})
        except CommitRejected as exc:
            # Lost the partition (rebalance, session expired while paused or retrying the lake): what was
            # written stays in the lake; the new owner re-reads from the last commit and adopts it.
            self.report.commits_rejected += 1
            print(f"sink: {exc.one_line()}; the partition's new owner continues from the last commit",
                  file=sys.stderr, flush=True)  # fmt: skip

    def _with_retry(self, key: str, call: Callable[[], T], stopping: bool) -> T | None:
        """Retry an unavailable lake with backoff: forever while running, `drain_retry_s` once stopping.

        Returns None when it gave up (stopping, or told to stop while waiting)."""
        delay = 0.5
        deadline = time.monotonic() + self.options.drain_retry_s if stopping else float("inf")
        while True:
            try:
                return call()
            except Unavailable as exc:
                self.report.lake_retries += 1
                if time.monotonic() >= deadline:
                    print(
                        f"sink: giving up on {key} while stopping; its rows stay uncommitted and will be "
                        "re-read on the next start",
                        file=sys.stderr,
                        flush=True,
                    )
                    return None
                print(
                    f"sink: lake unavailable, retrying {key} in {delay:.1f} s: {exc.one_line()}",
                    file=sys.stderr,
                    flush=True,
                )
                if stopping:
                    time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
                elif self.stop.wait(delay):
                    return None  # the caller drains with a bounded retry
                delay = min(delay * 2, self.options.retry_max_s)


@contextmanager
def _few_collections() -> Iterator[None]:
    """Run the cyclic garbage collector every 100,000 net allocations instead of every 700.

    A poll allocates a few container objects per message (the client's message, ours, list slots) that
    live until the poll is batched and then all die by reference counting. With the default
    threshold the collector ran dozens of times per poll, and each poll's survivors soon triggered
    a full collection: about 12% of the sink's CPU time at 130k records/s. Restored on return.
    """
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], 100_000), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)

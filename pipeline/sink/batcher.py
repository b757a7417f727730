"""Per-partition batches that close on record count, on a change of lake partition (record time),
or after a wall-clock bound for quiet topics.

Count and record-time rules are deterministic: replaying the same offsets cuts the same batches, so
the same objects are rewritten. The wall-clock rule is not, but it is still safe: an object is named
by its first offset, each batch lands in exactly one object because it never spans two lake
partitions, and a batch also closes where an object already in the lake begins, so a replay from any
offset (a restart, or a new consumer group) lines up with what is there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pipeline.kafka import Message, TopicPartition
from pipeline.records import StockBar


@dataclass
class Batch:
    topic: str
    partition: int
    first_offset: int
    hive: str | None
    opened_at: float
    last_offset: int = -1
    rows: list[tuple[int, int, StockBar]] = field(default_factory=list)
    poison: list[tuple[Message, str]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.rows) + len(self.poison)


class Batcher:
    def __init__(
        self, max_records: int, max_age_s: float, boundaries: dict[TopicPartition, set[int]] | None = None
    ) -> None:
        self.max_records = max_records
        self.max_age_s = max_age_s
        self.open: dict[TopicPartition, Batch] = {}
        # First offsets of objects already in the lake: a batch never runs across one, so a replay
        # by any consumer group rewrites the same objects instead of overlapping them.
        self.boundaries = boundaries or {}

    def _batch_for(self, msg: Message, hive: str | None) -> tuple[Batch, Batch | None]:
        """The batch `msg` goes into, and the batch closed to make room for it (if any)."""
        tp = (msg.topic, msg.partition)
        current = self.open.get(tp)
        closed = None
        if current is not None and (
            (hive is not None and current.hive not in (None, hive))
            or msg.offset in self.boundaries.get(tp, ())
        ):
            closed = self.open.pop(tp)
            current = None
        if current is None:
            current = Batch(msg.topic, msg.partition, msg.offset, hive, time.monotonic())
            self.open[tp] = current
        elif current.hive is None:
            current.hive = hive
        return current, closed

    def add(self, msg: Message, bar: StockBar, hive: str) -> list[Batch]:
        batch, closed = self._batch_for(msg, hive)
        batch.rows.append((msg.partition, msg.offset, bar))
        batch.last_offset = msg.offset
        return self._full(batch, closed)

    def add_poison(self, msg: Message, reason: str) -> list[Batch]:
        batch, closed = self._batch_for(msg, None)
        batch.poison.append((msg, reason))
        batch.last_offset = msg.offset
        return self._full(batch, closed)

    def _full(self, batch: Batch, closed: Batch | None) -> list[Batch]:
        out = [closed] if closed is not None else []
        if batch.size >= self.max_records:
            out.append(self.open.pop((batch.topic, batch.partition)))
        return out

    def expired(self) -> list[Batch]:
        now = time.monotonic()
        old = [tp for tp, b in self.open.items() if now - b.opened_at >= self.max_age_s]
        return [self.open.pop(tp) for tp in old]

    def drain(self) -> list[Batch]:
        out = list(self.open.values())
        self.open.clear()
        return out

    def drop(self, partitions: list[TopicPartition]) -> int:
        """Forget uncommitted batches of revoked partitions: their new owner re-reads them."""
        return sum(self.open.pop(tp).size for tp in partitions if tp in self.open)

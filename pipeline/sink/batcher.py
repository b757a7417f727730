"""Per-partition batches that close on record count, on a change of lake partition (record time),
or after a wall-clock bound for quiet topics.

Count and record-time rules are deterministic: replaying the same offsets cuts the same batches, so
the same objects are rewritten. The wall-clock rule is not, but it is still safe: an object is named
by its first offset, each batch lands in exactly one object because it never spans two lake
partitions, and a batch also closes where an object already in the lake begins, so a replay from any
offset (a restart, or a new consumer group) lines up with what is there.

A poll is batched in runs, not message by message: a run is a stretch of consecutive messages of one
Kafka partition that are all good bars of one lake partition, or all poison, and that does not cross
the first offset of an object already in the lake. The rules above only ever cut a batch at the start
of a run or where it is full, so each run is at most a few slices of the poll's decoded table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.kafka import Message, TopicPartition
from pipeline.layout import partition_codes, partition_of_code
from pipeline.sink.decode import Decoded

_POISON = -(2**62)  # the lake-partition code of a poison message in a poll's run key


@dataclass
class Batch:
    topic: str
    partition: int
    first_offset: int
    hive: str | None
    opened_at: float
    last_offset: int = -1
    rows: int = 0
    pieces: list[pa.Table] = field(default_factory=list)  # slices of polls' decoded tables, in order
    poison: list[tuple[Message, str]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.rows + len(self.poison)

    def table(self) -> pa.Table:
        return pa.concat_tables(self.pieces) if len(self.pieces) != 1 else self.pieces[0]

    def after(self, covered: int) -> Batch | None:
        """This batch without its records at offsets <= `covered` (None when nothing is left)."""
        if self.last_offset <= covered:
            return None
        if self.first_offset > covered:
            return self
        table = self.table()
        table = table.filter(pc.greater(table.column("kafka_offset"), covered))
        poison = [(m, why) for m, why in self.poison if m.offset > covered]
        first = min([*table.column("kafka_offset").to_pylist()[:1], *(m.offset for m, _ in poison[:1])])
        pieces = [table] if table.num_rows else []
        return Batch(
            self.topic,
            self.partition,
            first,
            self.hive,
            self.opened_at,
            self.last_offset,
            table.num_rows,
            pieces,
            poison,
        )


class Batcher:
    def __init__(
        self,
        max_records: int,
        max_age_s: float,
        boundaries: dict[TopicPartition, set[int]] | None = None,
        partition_by: str = "month",
    ) -> None:
        self.max_records = max_records
        self.max_age_s = max_age_s
        self.partition_by = partition_by
        self.open: dict[TopicPartition, Batch] = {}
        # First offsets of objects already in the lake: a batch never runs across one, so a replay
        # by any consumer group rewrites the same objects instead of overlapping them.
        self.boundaries = boundaries or {}
        self._boundary_values = pa.array(sorted({o for s in self.boundaries.values() for o in s}), pa.int64())
        self._hives: dict[int, str] = {}

    def add_poll(self, messages: list[Message], decoded: Decoded) -> list[Batch]:
        """Add one poll's messages (`decoded` row for row); returns the batches closed, in close order."""
        n = len(messages)
        if n == 0:
            return []
        table, poison = decoded.table, decoded.poison
        codes = partition_codes(table.column("date"), self.partition_by).combine_chunks()
        if poison:
            good = iter(codes.to_pylist())
            codes = pa.array([_POISON if i in poison else next(good) for i in range(n)], pa.int64())
        topic = messages[0].topic
        if all(m.topic == topic for m in messages):
            tps = pa.array([m.partition for m in messages], pa.int64())
        else:  # not with one subscription, but cheap to get right
            ids: dict[str, int] = {}
            tps = pa.array([ids.setdefault(m.topic, len(ids)) << 32 | m.partition for m in messages])
        # A run starts where the Kafka partition or the lake partition changes, and at a boundary.
        cuts = pc.or_(pc.not_equal(tps[1:], tps[:-1]), pc.not_equal(codes[1:], codes[:-1]))
        starts = {0, *(i + 1 for i in pc.indices_nonzero(cuts).to_pylist())}
        offsets = [m.offset for m in messages]
        at_boundary: set[int] = set()
        if len(self._boundary_values):
            hits = pc.indices_nonzero(pc.is_in(pa.array(offsets, pa.int64()), self._boundary_values))
            for i in hits.to_pylist():
                m = messages[i]
                if m.offset in self.boundaries.get((m.topic, m.partition), ()):
                    at_boundary.add(i)
            starts |= at_boundary
        bounds = sorted(starts)
        run_codes = codes.take(pa.array(bounds, pa.int64())).to_pylist()

        closed: list[Batch] = []
        row = 0  # the decoded table's row of the next good message
        for start, end, code in zip(bounds, [*bounds[1:], n], run_codes, strict=True):
            msg = messages[start]
            tp = (msg.topic, msg.partition)
            hive = None if code == _POISON else self._hive(code)
            batch = self.open.get(tp)
            if batch is not None and (
                (hive is not None and batch.hive not in (None, hive)) or start in at_boundary
            ):
                closed.append(self.open.pop(tp))
                batch = None
            pos = start
            while pos < end:
                if batch is None:
                    batch = Batch(msg.topic, msg.partition, offsets[pos], hive, time.monotonic())
                    self.open[tp] = batch
                elif batch.hive is None:
                    batch.hive = hive
                take = min(end - pos, max(1, self.max_records - batch.size))
                if hive is None:
                    batch.poison.extend((messages[i], poison[i]) for i in range(pos, pos + take))
                else:
                    batch.pieces.append(table.slice(row, take))
                    batch.rows += take
                    row += take
                pos += take
                batch.last_offset = offsets[pos - 1]
                if batch.size >= self.max_records:
                    closed.append(self.open.pop(tp))
                    batch = None
        return closed

    def _hive(self, code: int) -> str:
        hive = self._hives.get(code)
        if hive is None:
            hive = self._hives[code] = partition_of_code(code, self.partition_by)
        return hive

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

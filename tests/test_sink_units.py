"""Sink building blocks: object naming, deterministic encoding, batching rules."""

from __future__ import annotations

import io
import random
import threading
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sink_fakes import OnePollConsumer

from pipeline.kafka import Message
from pipeline.layout import object_key, partition_path
from pipeline.records import StockBar
from pipeline.sink.batcher import Batch, Batcher
from pipeline.sink.decode import decode_messages
from pipeline.sink.encode import SCHEMA, encode

MARCH = "year=2017/month=03"


def _bar(day: date, symbol: str = "AAA") -> StockBar:
    return StockBar(symbol, day, 1.0, 2.0, 0.5, 1.5, 10, "f.txt", 2)


def _msg(offset: int, day: date | None = date(2017, 3, 1), partition: int = 0) -> Message:
    """A good bar of `day` at `offset`, or a poison message (not JSON) when `day` is None."""
    return Message("t", partition, offset, b"AAA", _bar(day).to_json() if day else b"not json")


def _add(batcher: Batcher, messages: list[Message]) -> list[Batch]:
    return batcher.add_poll(messages, decode_messages(messages))


def _spans(batches: list[Batch]) -> list[tuple[int, int]]:
    return [(b.first_offset, b.last_offset) for b in batches]


def _table(messages: list[Message]) -> pa.Table:
    return decode_messages(messages).table


def test_partition_paths_are_hive_style():
    day = date(2017, 3, 9)
    assert partition_path(day, "month") == "year=2017/month=03"
    assert partition_path(day, "year") == "year=2017"
    assert partition_path(day, "date") == "trade_date=2017-03-09"


def test_object_key_is_named_by_topic_partition_and_first_offset():
    key = object_key("prices", "year=2017/month=03", "stock-prices", 2, 1234, "parquet")
    assert key == "prices/year=2017/month=03/stock-prices-2-00000000000000001234.parquet"


def test_same_rows_encode_to_identical_bytes_however_they_are_chunked():
    table = _table([_msg(i, date(2017, 3, 1 + i % 20)) for i in range(50)])
    chunked = pa.concat_tables([table.slice(0, 7), table.slice(7, 30), table.slice(37)])
    assert encode(table, "parquet") == encode(chunked, "parquet")
    read = pq.read_table(io.BytesIO(encode(chunked, "parquet")))
    assert read.schema.equals(SCHEMA) and read.num_rows == 50
    assert read.column("kafka_offset").to_pylist() == list(range(50))


def test_jsonl_has_one_line_per_row():
    data = encode(_table([_msg(7, date(2017, 3, 1), partition=1)]), "jsonl")
    assert data == (
        b'{"symbol":"AAA","date":"2017-03-01","open":1.0,"high":2.0,"low":0.5,"close":1.5,"volume":10,'
        b'"source_file":"f.txt","source_line":2,"kafka_partition":1,"kafka_offset":7}\n'
    )


def test_batch_closes_at_the_record_count():
    batcher = Batcher(max_records=3, max_age_s=3600)
    closed = _add(batcher, [_msg(off) for off in range(7)])
    assert _spans(closed) == [(0, 2), (3, 5)]
    assert [b.first_offset for b in batcher.drain()] == [6]


def test_batch_closes_when_the_lake_partition_changes():
    batcher = Batcher(max_records=100, max_age_s=3600)
    closed = _add(batcher, [_msg(0, date(2017, 3, 31)), _msg(1, date(2017, 4, 3))])
    assert [(b.hive, b.first_offset, b.last_offset) for b in closed] == [(MARCH, 0, 0)]
    assert batcher.open[("t", 0)].hive == "year=2017/month=04"


def test_partitions_are_batched_independently_and_revocation_drops_them():
    batcher = Batcher(max_records=100, max_age_s=3600)
    _add(batcher, [_msg(0, partition=0), _msg(0, partition=1)])
    assert batcher.drop([("t", 1)]) == 1
    assert list(batcher.open) == [("t", 0)]


def test_poison_messages_ride_in_the_batch_so_their_offsets_are_committed():
    batcher = Batcher(max_records=100, max_age_s=3600)
    _add(batcher, [_msg(0, None), _msg(1)])
    (batch,) = batcher.drain()
    assert batch.first_offset == 0 and batch.last_offset == 1 and batch.hive == MARCH
    assert [(m.offset, reason) for m, reason in batch.poison] == [
        (0, "not JSON: Expecting value: line 1 column 1 (char 0)")
    ]
    assert batch.rows == 1 and batch.table().column("kafka_offset").to_pylist() == [1]


def test_old_batches_expire_on_the_wall_clock_bound():
    batcher = Batcher(max_records=100, max_age_s=0.0)
    _add(batcher, [_msg(0)])
    assert [b.first_offset for b in batcher.expired()] == [0]
    assert batcher.open == {}


def test_object_names_parse_back_even_when_the_topic_has_dashes():
    from pipeline.layout import object_boundaries, parse_object_name

    key = object_key("prices", "year=2017/month=03", "stock-prices-v2", 2, 1234, "parquet")
    assert parse_object_name(key) == ("stock-prices-v2", 2, 1234)
    assert parse_object_name("prices/_SUCCESS") is None
    keys = [
        key,
        object_key("prices", "year=2017", "stock-prices-v2", 2, 99, "jsonl"),
        "prices/other-0-7.parquet",
    ]
    assert object_boundaries(keys, "stock-prices-v2") == {2: {99, 1234}}


def test_batch_closes_where_an_object_already_in_the_lake_begins():
    batcher = Batcher(max_records=100, max_age_s=3600, boundaries={("t", 0): {3}, ("t", 1): {1}})
    closed = _add(batcher, [_msg(off) for off in range(6)])
    assert _spans(closed) == [(0, 2)]
    assert _spans(batcher.drain()) == [(3, 5)]


def test_a_batch_crossing_polls_is_one_object_with_the_rows_in_offset_order():
    batcher = Batcher(max_records=5, max_age_s=3600)
    assert _add(batcher, [_msg(0), _msg(1), _msg(2, None)]) == []
    (batch,) = _add(batcher, [_msg(3), _msg(4), _msg(5)])
    assert _spans([batch]) == [(0, 4)] and len(batch.poison) == 1
    assert batch.table().column("kafka_offset").to_pylist() == [0, 1, 3, 4]


def _reference_batches(
    polls: list[list[tuple[int, int, str | None]]], max_records: int, boundaries: dict[int, set[int]]
) -> list[tuple[int, int, int, str | None, int, int]]:
    """The batching rules one message at a time (the sink's original loop): closed batches, in order."""
    open_: dict[int, list] = {}  # partition -> [first, last, hive, rows, poison]
    out = []
    for poll in polls:
        for partition, offset, hive in poll:
            cur = open_.get(partition)
            if cur is not None and (
                (hive is not None and cur[2] not in (None, hive)) or offset in boundaries.get(partition, ())
            ):
                out.append((partition, *open_.pop(partition)))
                cur = None
            if cur is None:
                cur = open_[partition] = [offset, offset, hive, 0, 0]
            elif cur[2] is None:
                cur[2] = hive
            cur[1] = offset
            cur[3 if hive is not None else 4] += 1
            if cur[3] + cur[4] >= max_records:
                out.append((partition, *open_.pop(partition)))
    out += [(p, *b) for p, b in open_.items()]
    return out


@pytest.mark.parametrize("seed", range(40))
def test_batching_by_runs_cuts_exactly_where_one_message_at_a_time_does(seed: int):
    rng = random.Random(seed)
    max_records = rng.choice([1, 2, 3, 5, 8, 50])
    months = [date(2016, 12, 30), date(2016, 12, 31), date(2017, 1, 2), date(2017, 2, 1)]
    next_offset = {0: 0, 1: 0, 2: 0}
    stream: list[tuple[int, int, date | None]] = []
    day = rng.choice(months)
    for _ in range(rng.randint(1, 120)):
        partition = rng.choice([0, 0, 0, 1, 2])
        if rng.random() < 0.1:
            day = rng.choice(months)
        stream.append((partition, next_offset[partition], None if rng.random() < 0.15 else day))
        next_offset[partition] += rng.choice([1, 1, 1, 2])  # gaps, as after compaction
    boundaries = {p: {o for q, o, _ in stream if q == p and rng.random() < 0.1} for p in (0, 1, 2)}
    cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randint(0, 6))))
    polls = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]

    batcher = Batcher(max_records, 3600, {("t", p): offs for p, offs in boundaries.items()})
    got = []
    for poll in polls:
        got += _add(batcher, [_msg(o, d, partition=p) for p, o, d in poll])
    got += batcher.drain()

    hive = {d: partition_path(d, "month") for d in months}
    expected = _reference_batches(
        [[(p, o, hive[d] if d else None) for p, o, d in poll] for poll in polls], max_records, boundaries
    )
    assert [
        (b.partition, b.first_offset, b.last_offset, b.hive, b.rows, len(b.poison)) for b in got
    ] == expected
    for b in got:  # each batch's rows are its own messages' rows, in offset order
        offsets = b.table().column("kafka_offset").to_pylist() if b.rows else []
        assert offsets == sorted(offsets) and all(b.first_offset <= o <= b.last_offset for o in offsets)
        assert set(b.table().column("kafka_partition").to_pylist() if b.rows else []) <= {b.partition}


class _RecordingLake:
    def __init__(self, events: list[str], fail: bool = False) -> None:
        self.events = events
        self.fail = fail

    def create(self, key: str, data: bytes) -> bool:
        if self.fail:
            from pipeline.errors import PipelineError

            raise PipelineError("bucket is gone")
        self.events.append(f"create {key.rsplit('/', 1)[-1]}")
        return True


class _OutageAtStopLake(_RecordingLake):
    """Unavailable for the first put, during which the sink is told to stop; fine again after."""

    def __init__(self, events: list[str], stop: threading.Event) -> None:
        super().__init__(events)
        self.stop = stop
        self.down = True

    def create(self, key: str, data: bytes) -> bool:
        from pipeline.errors import Unavailable

        if self.down:
            self.down = False
            self.stop.set()
            raise Unavailable("connection refused")
        return super().create(key, data)


def _run_sink(lake, events: list[str], tmp_path, stop: threading.Event | None = None) -> None:
    from pipeline.progress import ProgressReporter
    from pipeline.sink.deadletter import DeadLetters
    from pipeline.sink.run import Sink, SinkOptions

    bar = _bar(date(2017, 3, 1))
    messages = [Message("t", 0, off, b"AAA", bar.to_json()) for off in range(5)]
    consumer = OnePollConsumer(messages, events)
    options = SinkOptions(batch_records=3, batch_age_s=3600, max_records=5)
    with ProgressReporter("test", None, enabled=False) as progress:
        dead = DeadLetters(tmp_path / "dl.jsonl")
        Sink(consumer, lake, dead, options, stop or threading.Event(), progress).run()


def test_offsets_are_committed_only_after_the_object_is_written(tmp_path):
    events: list[str] = []
    _run_sink(_RecordingLake(events), events, tmp_path)
    assert events == [
        "create t-0-00000000000000000000.parquet",
        "commit [(('t', 0), 3)]",
        "create t-0-00000000000000000003.parquet",
        "commit [(('t', 0), 5)]",
    ]


def test_nothing_is_committed_when_the_write_fails(tmp_path):
    import pytest

    from pipeline.errors import PipelineError

    events: list[str] = []
    with pytest.raises(PipelineError, match="bucket is gone"):
        _run_sink(_RecordingLake(events, fail=True), events, tmp_path)
    assert events == []


def test_a_batch_unwritten_at_stop_is_not_passed_by_a_later_commit(tmp_path):
    """Stopped while the lake is down for offsets 0-2: the lake is back when the drain writes 3-4, but
    committing 5 would skip 0-2 for good, so nothing is written or committed after the failure."""
    events: list[str] = []
    stop = threading.Event()
    _run_sink(_OutageAtStopLake(events, stop), events, tmp_path, stop)
    assert events == []

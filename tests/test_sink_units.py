"""Sink building blocks: object naming, deterministic encoding, batching rules."""

from __future__ import annotations

import io
from datetime import date

import pyarrow.parquet as pq

from pipeline.kafka import Message
from pipeline.records import StockBar
from pipeline.sink.batcher import Batcher
from pipeline.sink.encode import SCHEMA, encode
from pipeline.sink.layout import object_key, partition_path


def _bar(day: date, symbol: str = "AAA") -> StockBar:
    return StockBar(symbol, day, 1.0, 2.0, 0.5, 1.5, 10, "f.txt", 2)


def _msg(offset: int, partition: int = 0) -> Message:
    return Message("t", partition, offset, b"AAA", b"{}")


def test_partition_paths_are_hive_style():
    day = date(2017, 3, 9)
    assert partition_path(day, "month") == "year=2017/month=03"
    assert partition_path(day, "year") == "year=2017"
    assert partition_path(day, "date") == "trade_date=2017-03-09"


def test_object_key_is_named_by_topic_partition_and_first_offset():
    key = object_key("prices", "year=2017/month=03", "stock-prices", 2, 1234, "parquet")
    assert key == "prices/year=2017/month=03/stock-prices-2-00000000000000001234.parquet"


def test_same_rows_encode_to_identical_bytes():
    rows = [(0, i, _bar(date(2017, 3, 1 + i % 20))) for i in range(50)]
    assert encode(rows, "parquet") == encode(list(rows), "parquet")
    table = pq.read_table(io.BytesIO(encode(rows, "parquet")))
    assert table.schema.equals(SCHEMA) and table.num_rows == 50
    assert table.column("kafka_offset").to_pylist() == list(range(50))


def test_jsonl_has_one_line_per_row():
    rows = [(1, 7, _bar(date(2017, 3, 1)))]
    assert encode(rows, "jsonl").count(b"\n") == 1
    assert b'"kafka_offset":7' in encode(rows, "jsonl")


def test_batch_closes_at_the_record_count():
    batcher = Batcher(max_records=3, max_age_s=3600)
    closed = []
    for off in range(7):
        closed += batcher.add(_msg(off), _bar(date(2017, 3, 1)), "year=2017/month=03")
    assert [(b.first_offset, b.last_offset) for b in closed] == [(0, 2), (3, 5)]
    assert [b.first_offset for b in batcher.drain()] == [6]


def test_batch_closes_when_the_lake_partition_changes():
    batcher = Batcher(max_records=100, max_age_s=3600)
    closed = batcher.add(_msg(0), _bar(date(2017, 3, 31)), "year=2017/month=03")
    closed += batcher.add(_msg(1), _bar(date(2017, 4, 3)), "year=2017/month=04")
    assert [(b.hive, b.first_offset, b.last_offset) for b in closed] == [("year=2017/month=03", 0, 0)]
    assert batcher.open[("t", 0)].hive == "year=2017/month=04"


def test_partitions_are_batched_independently_and_revocation_drops_them():
    batcher = Batcher(max_records=100, max_age_s=3600)
    batcher.add(_msg(0, partition=0), _bar(date(2017, 3, 1)), "year=2017/month=03")
    batcher.add(_msg(0, partition=1), _bar(date(2017, 3, 1)), "year=2017/month=03")
    assert batcher.drop([("t", 1)]) == 1
    assert list(batcher.open) == [("t", 0)]


def test_poison_messages_ride_in_the_batch_so_their_offsets_are_committed():
    batcher = Batcher(max_records=100, max_age_s=3600)
    batcher.add_poison(_msg(0), "not JSON")
    batcher.add(_msg(1), _bar(date(2017, 3, 1)), "year=2017/month=03")
    (batch,) = batcher.drain()
    assert batch.first_offset == 0 and batch.last_offset == 1
    assert len(batch.poison) == 1 and len(batch.rows) == 1


def test_old_batches_expire_on_the_wall_clock_bound():
    batcher = Batcher(max_records=100, max_age_s=0.0)
    batcher.add(_msg(0), _bar(date(2017, 3, 1)), "year=2017/month=03")
    assert [b.first_offset for b in batcher.expired()] == [0]
    assert batcher.open == {}


def test_object_names_parse_back_even_when_the_topic_has_dashes():
    from pipeline.sink.layout import object_boundaries, parse_object_name

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
    batcher = Batcher(max_records=100, max_age_s=3600, boundaries={("t", 0): {3}})
    closed = []
    for off in range(6):
        closed += batcher.add(_msg(off), _bar(date(2017, 3, 1)), "year=2017/month=03")
    assert [(b.first_offset, b.last_offset) for b in closed] == [(0, 2)]
    assert [(b.first_offset, b.last_offset) for b in batcher.drain()] == [(3, 5)]


class _RecordingConsumer:
    """In-process stand-in for one function's unit test: hands out messages once, records commits."""

    on_revoke = None

    def __init__(self, messages: list[Message], events: list[str]) -> None:
        self.messages = messages
        self.events = events

    def poll_batch(self, max_records: int, timeout_s: float) -> list[Message]:
        out, self.messages = self.messages, []
        return out

    def assigned(self) -> bool:
        return True

    def commit(self, offsets: dict) -> None:
        self.events.append(f"commit {sorted(offsets.items())}")


class _RecordingLake:
    def __init__(self, events: list[str], fail: bool = False) -> None:
        self.events = events
        self.fail = fail

    def put(self, key: str, data: bytes) -> None:
        if self.fail:
            from pipeline.errors import PipelineError

            raise PipelineError("bucket is gone")
        self.events.append(f"put {key.rsplit('/', 1)[-1]}")


def _run_sink(lake, events: list[str], tmp_path) -> None:
    import threading

    from pipeline.progress import ProgressReporter
    from pipeline.sink.deadletter import DeadLetters
    from pipeline.sink.run import Sink, SinkOptions

    bar = _bar(date(2017, 3, 1))
    messages = [Message("t", 0, off, b"AAA", bar.to_json()) for off in range(5)]
    consumer = _RecordingConsumer(messages, events)
    options = SinkOptions(batch_records=3, batch_age_s=3600, max_records=5)
    with ProgressReporter("test", None, enabled=False) as progress:
        Sink(consumer, lake, DeadLetters(tmp_path / "dl.jsonl"), options, threading.Event(), progress).run()


def test_offsets_are_committed_only_after_the_object_is_written(tmp_path):
    events: list[str] = []
    _run_sink(_RecordingLake(events), events, tmp_path)
    assert events == [
        "put t-0-00000000000000000000.parquet",
        "commit [(('t', 0), 3)]",
        "put t-0-00000000000000000003.parquet",
        "commit [(('t', 0), 5)]",
    ]


def test_nothing_is_committed_when_the_write_fails(tmp_path):
    import pytest

    from pipeline.errors import PipelineError

    events: list[str] = []
    with pytest.raises(PipelineError, match="bucket is gone"):
        _run_sink(_RecordingLake(events, fail=True), events, tmp_path)
    assert events == []

"""The fence of G1 (docs/guarantees.md): lake objects are created, never replaced, and a sink that finds
its object name taken keeps what is there and continues after the offsets it covers.

Unit tests of the rule (in-process consumer and lake stand-ins) and of each lake backend's create;
the zombie sink on real Kafka is in test_faults_sink_zombie.py.
"""

from __future__ import annotations

import io
import stat
import threading
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sink_fakes import MemoryLake, OnePollConsumer

from pipeline.errors import PipelineError
from pipeline.kafka import Message
from pipeline.lake import LocalLake, S3Lake
from pipeline.layout import object_boundaries, object_key, parse_object_name
from pipeline.progress import ProgressReporter
from pipeline.records import StockBar
from pipeline.sink.deadletter import DeadLetters
from pipeline.sink.decode import decode_messages
from pipeline.sink.encode import encode, object_extent
from pipeline.sink.run import Sink, SinkOptions, SinkReport

MARCH = "year=2017/month=03"


def _msg(offset: int, poison: bool = False, topic: str = "t") -> Message:
    bar = StockBar("AAA", date(2017, 3, 1 + offset % 20), 1.0, 2.0, 0.5, 1.5, 10, "f.txt", offset + 2)
    return Message(topic, 0, offset, b"AAA", b"not json" if poison else bar.to_json())


def _object(messages: list[Message], extent: tuple[int, int]) -> bytes:
    return encode(decode_messages(messages).table, "parquet", extent)


def _run(
    lake: MemoryLake, consumer: OnePollConsumer, tmp_path: Path, records: int, batch: int = 3
) -> SinkReport:
    options = SinkOptions(batch_records=batch, batch_age_s=3600, max_records=records)
    with ProgressReporter("test", None, enabled=False) as progress:
        dead = DeadLetters(tmp_path / "dl.jsonl")
        return Sink(consumer, lake, dead, options, threading.Event(), progress).run()  # type: ignore[arg-type]


def _offsets(lake: MemoryLake) -> list[int]:
    out: list[int] = []
    for data in lake.objects.values():
        out += pq.read_table(io.BytesIO(data)).column("kafka_offset").to_pylist()
    return sorted(out)


def test_a_longer_object_already_under_the_name_is_kept_and_its_offsets_are_not_written_again(tmp_path):
    """The zombie's view: its successor already wrote 0-3 under the name of the zombie's batch 0-2."""
    messages = [_msg(i) for i in range(6)]
    lake = MemoryLake()
    theirs = object_key("prices", MARCH, "t", 0, 0, "parquet")
    lake.objects[theirs] = before = _object(messages[:4], (0, 3))
    consumer = OnePollConsumer(messages)
    report = _run(lake, consumer, tmp_path, records=6)
    assert lake.objects[theirs] == before  # never replaced
    assert sorted(lake.objects) == [theirs, object_key("prices", MARCH, "t", 0, 4, "parquet")]
    assert _offsets(lake) == list(range(6))  # every offset once
    assert consumer.commits == [{("t", 0): 4}, {("t", 0): 6}]  # past what the kept object covers
    assert (report.adopted, report.rows_written) == (1, 2)


def test_a_shorter_object_under_the_name_is_kept_and_the_rest_of_the_batch_goes_after_it(tmp_path):
    """A replay after a crash whose predecessor had cut its batch shorter (a timer, other settings)."""
    messages = [_msg(i) for i in range(3)]
    lake = MemoryLake()
    theirs = object_key("prices", MARCH, "t", 0, 0, "parquet")
    lake.objects[theirs] = _object(messages[:1], (0, 0))
    consumer = OnePollConsumer(messages)
    _run(lake, consumer, tmp_path, records=3)
    assert sorted(lake.objects) == [theirs, object_key("prices", MARCH, "t", 0, 1, "parquet")]
    assert _offsets(lake) == [0, 1, 2]
    assert consumer.commits == [{("t", 0): 3}]


def test_the_extent_counts_poison_records_so_the_next_object_starts_where_the_writer_went_on(tmp_path):
    """Offsets 2 and 3 are poison at the end of the other writer's batch: its object says it covered
    0-3, so this sink continues at 4 (as the other writer would), not at 2."""
    messages = [_msg(0), _msg(1), _msg(2, poison=True), _msg(3, poison=True), _msg(4), _msg(5)]
    lake = MemoryLake()
    theirs = object_key("prices", MARCH, "t", 0, 0, "parquet")
    lake.objects[theirs] = _object(messages[:2], (0, 3))
    assert object_extent(lake.objects[theirs], "parquet") == 3
    consumer = OnePollConsumer(messages)
    _run(lake, consumer, tmp_path, records=6, batch=6)
    assert sorted(lake.objects) == [theirs, object_key("prices", MARCH, "t", 0, 4, "parquet")]
    assert _offsets(lake) == [0, 1, 4, 5]
    assert not (tmp_path / "dl.jsonl").exists()  # the poison was the other writer's to set aside


def test_an_unreadable_object_under_the_name_stops_a_fenced_sink_in_one_line_committing_nothing(tmp_path):
    """A foreign or truncated file where a sink's object goes: no sink wrote it (objects are whole once
    named), so replacing it could hide whatever put it there; the sink stops and names it."""
    lake = MemoryLake()
    theirs = object_key("prices", MARCH, "t", 0, 0, "parquet")
    lake.objects[theirs] = b""
    consumer = OnePollConsumer([_msg(i) for i in range(3)])
    with pytest.raises(PipelineError) as caught:
        _run(lake, consumer, tmp_path, records=3)
    line = caught.value.one_line()
    assert f"memory://lake/{theirs} is not a readable parquet object (0 bytes" in line
    assert "move it out of the lake" in line and "offset 0" in line and "\n" not in line
    assert lake.objects == {theirs: b""} and consumer.commits == []


def test_a_torn_object_on_an_unfenced_server_is_replaced_by_its_writers_retry(tmp_path, capsys):
    """s3rver stopped mid-PUT leaves the first bytes under the name; the writer's retry finds them."""
    messages = [_msg(i) for i in range(3)]
    lake = MemoryLake(fenced=False)
    key = object_key("prices", MARCH, "t", 0, 0, "parquet")
    lake.objects[key] = _object(messages, (0, 2))[:100]
    consumer = OnePollConsumer(messages)
    report = _run(lake, consumer, tmp_path, records=3)
    assert _offsets(lake) == [0, 1, 2] and consumer.commits == [{("t", 0): 3}]
    assert (report.objects_written, report.adopted) == (1, 0)
    assert "is not a readable parquet object (100 bytes" in capsys.readouterr().err


def test_a_refused_commit_is_reported_and_the_sink_goes_on(tmp_path, capsys):
    lake = MemoryLake()
    consumer = OnePollConsumer([_msg(i) for i in range(4)], reject_commits=True)
    report = _run(lake, consumer, tmp_path, records=4, batch=2)
    assert report.commits_rejected == 2 and report.rows_written == 4
    assert "the partition's new owner continues from the last commit" in capsys.readouterr().err


def test_the_jsonl_extent_is_the_highest_offset_in_the_object():
    table = decode_messages([_msg(5), _msg(9)]).table
    assert object_extent(encode(table, "jsonl", (5, 9)), "jsonl") == 9


@pytest.mark.parametrize("topic", ["my.topic", "a_b", "x-y.z", "t-0-5", "..."])
def test_object_names_parse_back_for_every_character_kafka_allows_in_a_topic(topic: str) -> None:
    key = object_key("prices", MARCH, topic, 7, 42, "parquet")
    assert parse_object_name(key) == (topic, 7, 42)
    assert object_boundaries([key, f"prices/{MARCH}/other-7-1.parquet"], topic) == {7: {42}}
    assert parse_object_name(f"prices/{MARCH}/{topic}-7-42.parquet.tmp") is None


def test_local_lake_create_never_replaces_and_leaves_objects_readable_by_others(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    assert lake.create("prices/x.parquet", b"first") is True
    assert lake.create("prices/x.parquet", b"second") is False
    assert lake.get("prices/x.parquet") == b"first"
    mode = stat.S_IMODE((tmp_path / "prices" / "x.parquet").stat().st_mode)
    assert mode & 0o044 == 0o044, oct(mode)  # the catalog and SQL may run as other users
    assert [p.name for p in (tmp_path / "prices").iterdir()] == ["x.parquet"]  # no temp file left


@pytest.mark.integration
def test_s3_lake_create_is_conditional_on_a_server_that_honours_if_none_match(
    moto_endpoint: str, s3_bucket: str, aws_env: dict[str, str], capsys
) -> None:
    lake = S3Lake(f"s3://{s3_bucket}/fence", endpoint_url=moto_endpoint)
    assert lake.create("prices/x.parquet", b"first") is True
    assert lake.create("prices/x.parquet", b"second") is False
    assert lake.get("prices/x.parquet") == b"first"
    assert "ignores conditional writes" not in capsys.readouterr().err
    assert [o.key for o in lake.list("")] == ["prices/x.parquet"]  # the probe cleaned up after itself


class _ScriptedConsumer(OnePollConsumer):
    """Hands out one poll per entry of `polls`; an empty poll waits its timeout, as a real one does."""

    def __init__(self, polls: list[list[Message]]) -> None:
        super().__init__([])
        self.polls = polls

    def poll_batch(self, max_records: int, timeout_s: float) -> list[Message]:
        out = self.polls.pop(0) if self.polls else []
        if not out:
            time.sleep(timeout_s)
        return out


class _SlowLake(MemoryLake):
    """Each write takes `seconds`: an S3 endpoint retried through an outage."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def create(self, key: str, data: bytes) -> bool:
        time.sleep(self.seconds)
        return super().create(key, data)


def test_time_spent_writing_is_not_idle_time(tmp_path):
    """A write that outlasts --idle-timeout, then one empty poll (the group rejoining after the outage),
    then more records: the sink goes on to them instead of stopping as idle (it once stopped there, its
    batch written and the rest of the stream left to the next run)."""
    first, rest = [_msg(i) for i in range(3)], [_msg(i) for i in range(3, 6)]
    consumer = _ScriptedConsumer([first, [], rest])
    options = SinkOptions(batch_records=3, batch_age_s=3600, max_records=6, idle_timeout_s=1.0)
    with ProgressReporter("test", None, enabled=False) as progress:
        dead = DeadLetters(tmp_path / "dl.jsonl")
        sink = Sink(consumer, _SlowLake(1.5), dead, options, threading.Event(), progress)  # type: ignore[arg-type]
        report = sink.run()
    assert report.rows_written == 6
    assert consumer.commits == [{("t", 0): 3}, {("t", 0): 6}]

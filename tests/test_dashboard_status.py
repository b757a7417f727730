"""Live state: the producer's and the sink's status files, and what the dashboard derives from them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pipeline.sink.run import SinkReport
from pipeline.status import STALE_AFTER_S, StatusWriter, live_state, read_status, status_path


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_writer_writes_at_most_once_per_interval_unless_forced_or_done(tmp_path: Path) -> None:
    clock = Clock()
    w = StatusWriter(tmp_path, "sink", "prices", every_s=1.0, clock=clock)

    assert w.update(consumed=10)
    assert not w.update(consumed=20)  # within the interval: skipped
    assert read_status(w.path)["consumed"] == 10  # type: ignore[index]
    assert w.update(force=True, consumed=30)
    clock.now += 1.0
    assert w.update(consumed=40)
    assert w.update(done=True, consumed=41)

    doc = read_status(w.path)
    assert doc is not None
    assert (doc["consumed"], doc["done"], doc["role"], doc["topic"]) == (41, True, "sink", "prices")
    assert [p.name for p in w.path.parent.iterdir()] == [w.path.name]  # no temporary file left behind


def test_rate_is_records_per_second_since_the_previous_write(tmp_path: Path) -> None:
    clock = Clock()
    w = StatusWriter(tmp_path, "producer", "prices", every_s=1.0, clock=clock)
    clock.now += 2.0
    w.update(delivered=1_000)
    assert read_status(w.path)["rate"] == 500.0  # type: ignore[index]
    clock.now += 4.0
    w.update(delivered=3_000)
    assert read_status(w.path)["rate"] == 500.0  # type: ignore[index]
    clock.now += 1.0
    w.update(delivered=3_000)
    assert read_status(w.path)["rate"] == 0.0  # type: ignore[index]


def test_rate_is_unknown_until_half_a_second_has_passed(tmp_path: Path) -> None:
    clock = Clock()
    w = StatusWriter(tmp_path, "producer", "prices", clock=clock)
    clock.now += 0.001
    w.update(delivered=12_000)  # 12 M/s would be a lie
    assert read_status(w.path)["rate"] is None  # type: ignore[index]
    assert live_state(tmp_path, "prices").records_in_per_s is None
    clock.now += 1.0
    w.update(delivered=13_001)
    assert read_status(w.path)["rate"] == round(13_001 / 1.001, 1)
    assert live_state(tmp_path, "prices").records_in_per_s == round(13_001 / 1.001, 1)


def test_status_files_give_rates_the_last_object_and_only_an_estimate_of_lag(tmp_path: Path) -> None:
    producer = StatusWriter(tmp_path, "producer", "t1")
    sink = StatusWriter(tmp_path, "sink", "t1")
    producer.update(sent=1_200, delivered=1_000)
    report = SinkReport(consumed=640, rows_written=600, objects_written=3, last_object="prices/x.parquet")
    sink.update_from(report)

    state = live_state(tmp_path, "t1")

    assert state.sink_lag == 360  # only an estimate: the dashboard shows Kafka's (test_dashboard_api)
    assert state.last_object == "prices/x.parquet"
    assert state.sink is not None and state.sink["rows_written"] == 600
    assert state.records_in_per_s is None  # written straight after start: no rate yet
    assert state.running


def test_finished_and_silent_writers_are_not_running(tmp_path: Path) -> None:
    StatusWriter(tmp_path, "producer", "t1").update(done=True, delivered=5)
    sink = StatusWriter(tmp_path, "sink", "t1")
    sink.update(consumed=5)

    assert live_state(tmp_path, "t1").running  # the sink is still at work
    later = live_state(tmp_path, "t1", now=time.time() + STALE_AFTER_S + 1)
    assert not later.running
    assert later.sink is not None and later.sink["stale"]
    assert later.producer is not None and not later.producer["stale"]  # done is never stale


def test_default_topic_is_the_last_one_updated_and_nothing_is_none(tmp_path: Path) -> None:
    empty = live_state(tmp_path)
    assert (empty.topic, empty.sink, empty.running) == (None, None, False)

    StatusWriter(tmp_path, "sink", "old").update(consumed=1)
    path = status_path(tmp_path, "sink", "old")
    past = time.time() - 60
    os.utime(path, (past, past))
    StatusWriter(tmp_path, "producer", "new/topic").update(delivered=7)

    state = live_state(tmp_path)
    assert state.topic == "new/topic"
    assert state.sink is None  # no sink yet
    assert status_path(tmp_path, "producer", "new/topic").name == "producer-new_topic.json"


def test_a_torn_or_foreign_file_reads_as_missing(tmp_path: Path) -> None:
    path = status_path(tmp_path, "sink", "t")
    path.parent.mkdir(parents=True)
    path.write_text('{"consumed": 1')
    assert read_status(path) is None
    path.write_text(json.dumps([1, 2]))
    assert read_status(path) is None

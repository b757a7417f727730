"""`stockpipe local up|down|status` manages a real tansu process."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fixtures_kafka import free_port

from pipeline.errors import PipelineError
from pipeline.kafka.topics import ensure_topic, topic_partitions
from pipeline.local.broker import LocalBroker
from pipeline.local.tansu import TANSU_SHA256, tansu_binary


def test_the_shipped_binary_matches_the_pinned_hash():
    from pipeline.local.tansu import _sha256

    assert _sha256(tansu_binary()) == TANSU_SHA256


def test_a_binary_with_another_hash_is_refused(tmp_path: Path, monkeypatch):
    fake = tmp_path / "tansu"
    fake.write_bytes(b"#!/bin/sh\necho not tansu\n")
    monkeypatch.setenv("STOCKPIPE_TANSU", str(fake))
    tansu_binary.cache_clear()
    try:
        with pytest.raises(PipelineError, match="expected " + TANSU_SHA256):
            tansu_binary()
    finally:
        monkeypatch.delenv("STOCKPIPE_TANSU")
        tansu_binary.cache_clear()


@pytest.mark.integration
def test_up_status_down_lifecycle(tmp_path: Path):
    broker = LocalBroker(tmp_path, port=free_port())
    assert not broker.status().running
    try:
        assert broker.up() is True
        assert broker.up() is False  # already running: no second process
        status = broker.status()
        assert status.running and status.answering
        assert ensure_topic(broker.address, "lifecycle", partitions=2)
        assert topic_partitions(broker.address, "lifecycle") == 2
    finally:
        assert broker.down() is True
    assert not broker.status().running
    assert broker.down() is False


@pytest.mark.integration
def test_up_refuses_a_port_that_is_taken(tmp_path: Path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PipelineError, match=f"port {port} on 127.0.0.1 is already in use"):
            LocalBroker(tmp_path, port=port).up()


@pytest.mark.integration
def test_unreachable_broker_is_a_clear_error_within_seconds():
    with pytest.raises(PipelineError, match=r"cannot reach Kafka at 127\.0\.0\.1:"):
        topic_partitions(f"127.0.0.1:{free_port()}", "x", timeout_s=2)


@pytest.mark.integration
def test_local_up_kafka_runs_real_kafka_whose_data_survives_down_and_up(
    kafka_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from confluent_kafka import Producer
    from fixtures_faults import consume_values
    from fixtures_kafka import dist_dir

    monkeypatch.setenv("STOCKPIPE_KAFKA_DIST_DIR", str(dist_dir()))  # the distribution the session built
    broker = LocalBroker(tmp_path, port=free_port())
    try:
        assert broker.up(kind="kafka") is True
        status = broker.status()
        assert (status.kind, status.running, status.answering) == ("kafka", True, True)
        assert b"kafka.Kafka" in Path(f"/proc/{status.pid}/cmdline").read_bytes()
        assert "Kafka Server started" in status.log.read_text()
        assert ensure_topic(broker.address, "kept", partitions=2)
        producer = Producer({"bootstrap.servers": broker.address, "acks": "all"})
        errors: list[object] = []
        for i in range(10):
            producer.produce("kept", f"v{i}".encode(), b"k", on_delivery=lambda e, _m: errors.append(e))
        assert producer.flush(30) == 0 and errors == [None] * 10
        assert broker.down() is True
        assert not broker.status().running
        assert broker.up(kind="kafka") is True  # the same node, on the same data directory
        assert topic_partitions(broker.address, "kept") == 2
        assert sorted(consume_values(broker.address, "kept", 10)) == sorted(
            f"v{i}".encode() for i in range(10)
        )
    finally:
        broker.down()
    assert not broker.status().running

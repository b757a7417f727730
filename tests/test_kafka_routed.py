"""ConfluentProducer.send_many's routes (pipeline/kafka/routed.py): records go to the partition
librdkafka's default partitioner would pick, and each delivery report is matched to its record number
by its position in the partition's order. Real Kafka (one KRaft node) except the first test."""

from __future__ import annotations

import os
import uuid
from typing import Any

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from fixtures_faults import consume_records, consume_values

from pipeline.kafka import DeliveryReports
from pipeline.kafka.confluent import ConfluentProducer
from pipeline.kafka.routed import PARTITIONER, Route, partition_of
from pipeline.kafka.topics import ensure_topic

SYMBOLS = [f"S{i:03d}".encode() for i in range(60)] + [b"BRK.B", b"\xc3\xa9t\xc3\xa9", b"^GSPC"]


def test_fold_files_each_report_under_the_number_sent_at_its_position() -> None:
    reports = DeliveryReports()
    route = Route(2, reports)
    route.sent[0].extend([10, 12, 14])
    route.sent[1].extend([11, 13])
    error = KafkaError(KafkaError._MSG_TIMED_OUT)
    route.callbacks[0](None, None)
    route.callbacks[1](error, "msg-11")  # partition 1's first report: record 11
    route.callbacks[0](error, "msg-12")
    assert route.fold() == [(12, error, "msg-12"), (11, error, "msg-11")]
    assert list(reports.delivered) == [10]
    route.callbacks[0](None, None)
    route.callbacks[1](None, None)
    assert route.fold() == []
    assert list(reports.delivered) == [10, 14, 13]
    assert route.sent == [[], []], "folded numbers are forgotten"


def test_the_partition_of_a_key_is_librdkafkas_default_choice(broker: str) -> None:
    assert PARTITIONER == "consistent_random"
    for partitions in (3, 7):
        topic = f"routed-{uuid.uuid4().hex[:8]}"
        assert ensure_topic(broker, topic, partitions)
        producer = Producer({"bootstrap.servers": broker, "enable.idempotence": True})
        chosen: dict[bytes, int] = {}
        for key in SYMBOLS:  # no partition given: librdkafka's partitioner picks it
            producer.produce(topic, b"x", key, on_delivery=lambda err, msg, out=chosen: _note(out, err, msg))
        assert producer.flush(30) == 0
        assert chosen == {key: partition_of(key, partitions) for key in SYMBOLS}


def test_send_many_reports_every_record_once_in_per_key_order(broker: str, topic: str) -> None:
    producer = ConfluentProducer(broker)
    reports = DeliveryReports()
    keys = [SYMBOLS[i % len(SYMBOLS)] for i in range(30_000)]
    values = [str(i).encode() for i in range(30_000)]
    for first in range(0, len(values), 1000):
        producer.send_many(topic, keys[first : first + 1000], values[first : first + 1000], first, reports)
        producer.poll()
    assert producer.flush(60) == 0
    delivered, failed = reports.drain()
    assert failed == []
    assert sorted(delivered) == list(range(30_000))
    stored = consume_records(broker, topic, 30_000)
    assert len(stored) == 30_000
    for partition in range(3):
        records = [(key, value) for p, key, value in stored if p == partition]
        numbers = [int(value) for _, value in records]
        assert numbers == sorted(numbers), f"partition {partition} holds records out of send order"
        assert {partition_of(key or b"", 3) for key, _ in records} == {partition}


def test_a_failed_record_is_reported_under_its_own_number(broker: str) -> None:
    # The broker refuses record batches over 2,000 bytes on this topic: the one big record fails
    # between records of the same partitions that succeed (each send flushed, so it travels alone).
    topic = f"routed-{uuid.uuid4().hex[:8]}"
    _create(broker, topic, 3, {"max.message.bytes": "2000"})
    producer = ConfluentProducer(broker)
    reports = DeliveryReports()
    keys = [SYMBOLS[i % 5] for i in range(601)]
    values = [f"record {i}".encode() for i in range(601)]
    big = 300
    values[big] = os.urandom(6000)  # random: lz4 cannot bring it under the limit
    for start, end in ((0, big), (big, big + 1), (big + 1, 601)):
        producer.send_many(topic, keys[start:end], values[start:end], start, reports)
        producer.flush(60)
    delivered, failed = reports.drain()
    assert [seq for seq, _ in failed] == [big], failed
    assert "too large" in failed[0][1].lower() or "MSG_SIZE" in failed[0][1], failed
    assert sorted(delivered) == [i for i in range(601) if i != big]
    stored = consume_values(broker, topic, 600)
    assert sorted(int(value.split()[1]) for value in stored) == [i for i in range(601) if i != big]


def test_another_partitioner_sends_without_a_route(broker: str, topic: str) -> None:
    producer = ConfluentProducer(broker, config={"partitioner": "murmur2_random"})
    reports = DeliveryReports()
    producer.send_many(topic, [b"A", b"B"], [b"1", b"2"], 0, reports)
    assert producer.flush(30) == 0
    assert sorted(reports.drain()[0]) == [0, 1]
    assert list(producer._routes.values()) == [None], "a route would pick partitions murmur2_random does not"


def _note(chosen: dict[bytes, int], err: Any, msg: Any) -> None:
    assert err is None, err
    chosen[msg.key()] = msg.partition()


def _create(broker: str, topic: str, partitions: int, config: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": broker})
    (future,) = admin.create_topics([NewTopic(topic, partitions, 1, config=config or {})]).values()
    future.result(30)

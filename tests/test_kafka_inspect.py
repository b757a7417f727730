"""The inspection half of the admin interface (brokers, topics, offsets, a group's commits, records of a
partition) answers the same through both client backends, and matches what was produced and committed."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as CkTopicPartition

from pipeline.kafka import make_admin
from pipeline.kafka.topics import ensure_topic

pytestmark = pytest.mark.integration
CLIENTS = ["confluent", "kafka-python"]


@pytest.fixture(scope="module")
def produced(broker: str) -> tuple[str, dict[int, list[tuple[int, bytes]]], str]:
    """A 3-partition topic with 60 known records and a group that committed 5 / never / 20."""
    topic = f"inspect-{uuid.uuid4().hex[:8]}"
    assert ensure_topic(broker, topic, partitions=3)
    producer = Producer({"bootstrap.servers": broker, "acks": "all"})
    where: dict[int, list[tuple[int, bytes]]] = {0: [], 1: [], 2: []}

    def record(err: object, msg: object) -> None:
        assert err is None
        where[msg.partition()].append((msg.offset(), msg.value()))  # type: ignore[attr-defined]

    for i in range(60):
        producer.produce(topic, f"v{i}".encode(), f"k{i % 7}".encode(), partition=i % 3, on_delivery=record)
    assert producer.flush(30) == 0
    group = f"inspect-group-{uuid.uuid4().hex[:8]}"
    consumer = Consumer({"bootstrap.servers": broker, "group.id": group, "enable.auto.commit": False})
    consumer.commit(
        offsets=[CkTopicPartition(topic, 0, 5), CkTopicPartition(topic, 2, 20)], asynchronous=False
    )
    consumer.close()
    return topic, {p: sorted(v) for p, v in where.items()}, group


def answers(client: str, broker: str, topic: str, group: str) -> dict[str, object]:
    admin = make_admin(client, broker, 15)
    try:
        return {
            "brokers": admin.brokers(15),
            "describe": admin.describe(15, topic),
            "listed": topic in admin.describe(15),
            "offsets": admin.offsets(topic, 15),
            "committed": admin.committed(group, topic, 15),
            "first": [(m.offset, m.value) for m in admin.read_range(topic, 1, 0, 3, 15)],
            "last": [(m.offset, m.key) for m in admin.read_range(topic, 2, 18, 10, 15)],
            "past_end": admin.read_range(topic, 0, 20, 5, 15),
            "missing": admin.describe(15, "no-such-topic"),
        }
    finally:
        admin.close()


def test_both_backends_see_the_same_brokers_partitions_offsets_commits_and_records(
    broker: str, produced: tuple[str, dict[int, list[tuple[int, bytes]]], str]
) -> None:
    topic, where, group = produced
    seen = {client: answers(client, broker, topic, group) for client in CLIENTS}
    assert seen["confluent"] == seen["kafka-python"]

    got = seen["confluent"]
    host, port = broker.rsplit(":", 1)
    assert [(b.host, b.port) for b in got["brokers"]] == [(host, int(port))]  # type: ignore[attr-defined]
    parts = got["describe"][topic]  # type: ignore[index]
    assert [p.partition for p in parts] == [0, 1, 2] and all(p.leader >= 0 and p.isr for p in parts)
    assert got["listed"] is True and got["missing"] == {}
    assert got["offsets"] == {p: (0, len(where[p])) for p in range(3)} == {0: (0, 20), 1: (0, 20), 2: (0, 20)}
    assert got["committed"] == {0: 5, 1: None, 2: 20}
    assert got["first"] == where[1][:3]
    assert [o for o, _ in got["last"]] == [18, 19]  # stops at the end of the partition
    assert got["past_end"] == []
    assert Counter(v for _, v in where[0]) == Counter(f"v{i}".encode() for i in range(0, 60, 3))

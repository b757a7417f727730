"""Topic administration and single-record probes go through one interface with both client backends
(pipeline/kafka: make_admin); the commands and the canary use it, whatever `client` is set to."""

from __future__ import annotations

import uuid

import pytest
from fixtures_kafka import free_port

from pipeline.errors import PipelineError
from pipeline.kafka import make_admin
from pipeline.kafka.topics import ensure_topic, topic_partitions

pytestmark = pytest.mark.integration
CLIENTS = ["confluent", "kafka-python"]


@pytest.mark.parametrize("client", CLIENTS)
def test_both_backends_create_and_count_topics_alike(broker: str, client: str) -> None:
    topic = f"admin-{client}-{uuid.uuid4().hex[:8]}"
    assert topic_partitions(broker, topic, client=client) == 0
    assert ensure_topic(broker, topic, partitions=4, client=client) is True
    assert ensure_topic(broker, topic, partitions=4, client=client) is False
    assert {topic_partitions(broker, topic, client=other) for other in CLIENTS} == {4}


@pytest.mark.parametrize("client", CLIENTS)
def test_both_backends_send_one_record_and_read_it_back_at_its_offset(broker: str, topic: str, client: str):
    admin = make_admin(client, broker, 15)
    try:
        partition, offset = admin.send_one(topic, b"K", b"value-" + client.encode(), 15)
        got = admin.read_at(topic, partition, offset, 15)
    finally:
        admin.close()
    assert got is not None and (got.offset, got.key, got.value) == (offset, b"K", b"value-" + client.encode())


@pytest.mark.parametrize("client", CLIENTS)
def test_an_unreachable_broker_is_the_same_one_line_error_for_both(client: str) -> None:
    dead = f"127.0.0.1:{free_port()}"
    with pytest.raises(PipelineError, match=rf"cannot reach Kafka at {dead} within 2 s") as caught:
        topic_partitions(dead, "x", timeout_s=2, client=client)
    assert "stockpipe local up" in caught.value.one_line()


def test_brokers_sort_by_id_as_both_backends_list_them() -> None:
    """Both admin backends return sorted(BrokerInfo...): with several brokers that needs an order (a
    three-broker cluster once failed `stockpipe topics describe` with a TypeError)."""
    from pipeline.kafka.base import BrokerInfo

    listed = [BrokerInfo(3, "c", 9092), BrokerInfo(1, "z", 9092), BrokerInfo(2, "a", 9093)]
    assert [b.node_id for b in sorted(listed)] == [1, 2, 3]

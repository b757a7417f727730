"""Kafka clients behind one small interface, in two backends: confluent-kafka and kafka-python.

The pipeline talks to `ProducerClient` / `ConsumerClient`; the backend is chosen once from the
`client` setting. confluent-kafka (librdkafka) is the fast path; kafka-python is pure Python.
"""

from __future__ import annotations

from pipeline.kafka import logs as _logs  # noqa: F401 - quiets both client libraries' own loggers
from pipeline.kafka.base import (
    AdminClient,
    BrokerInfo,
    ConsumerClient,
    DeliveryCallback,
    DeliveryReports,
    Message,
    NotDelivered,
    PartitionInfo,
    ProducerClient,
    ReadBack,
    TopicPartition,
    Unreachable,
)
from pipeline.kafka.security import PLAINTEXT, ClientSecurity


def make_admin(
    client: str, bootstrap: str, timeout_s: float = 10.0, security: ClientSecurity = PLAINTEXT
) -> AdminClient:
    """Topic administration and single-record probes through the chosen client; raises Unreachable."""
    if client == "confluent":
        from pipeline.kafka.confluent import ConfluentAdmin

        return ConfluentAdmin(bootstrap, timeout_s, security)
    from pipeline.kafka.kpython import KafkaPythonAdmin

    return KafkaPythonAdmin(bootstrap, timeout_s, security)


def make_producer(client: str, bootstrap: str, **options: object) -> ProducerClient:
    if client == "confluent":
        from pipeline.kafka.confluent import ConfluentProducer

        return ConfluentProducer(bootstrap, **options)
    from pipeline.kafka.kpython import KafkaPythonProducer

    return KafkaPythonProducer(bootstrap, **options)


def make_consumer(
    client: str, bootstrap: str, group_id: str, topic: str, **options: object
) -> ConsumerClient:
    if client == "confluent":
        from pipeline.kafka.confluent import ConfluentConsumer

        return ConfluentConsumer(bootstrap, group_id, topic, **options)
    from pipeline.kafka.kpython import KafkaPythonConsumer

    return KafkaPythonConsumer(bootstrap, group_id, topic, **options)


__all__ = [
    "AdminClient",
    "BrokerInfo",
    "ConsumerClient",
    "DeliveryCallback",
    "DeliveryReports",
    "Message",
    "NotDelivered",
    "PartitionInfo",
    "ProducerClient",
    "ReadBack",
    "TopicPartition",
    "Unreachable",
    "make_admin",
    "make_consumer",
    "make_producer",
]

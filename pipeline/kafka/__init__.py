"""Kafka clients behind one small interface, in two backends: confluent-kafka and kafka-python.

The pipeline talks to `ProducerClient` / `ConsumerClient`; the backend is chosen once from the
`client` setting. confluent-kafka (librdkafka) is the fast path; kafka-python is pure Python.
"""

from __future__ import annotations

from pipeline.kafka.base import (
    ConsumerClient,
    DeliveryCallback,
    DeliveryReports,
    Message,
    ProducerClient,
    TopicPartition,
)


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
    "ConsumerClient",
    "DeliveryCallback",
    "DeliveryReports",
    "Message",
    "ProducerClient",
    "TopicPartition",
    "make_consumer",
    "make_producer",
]

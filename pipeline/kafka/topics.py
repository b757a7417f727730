"""Topic administration (through confluent-kafka's admin client, whichever client produces)."""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic

from pipeline.errors import PipelineError
from pipeline.kafka.logs import LIBRDKAFKA


def _admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "logger": LIBRDKAFKA})


def _metadata(admin: AdminClient, bootstrap: str, timeout_s: float) -> ClusterMetadata:
    try:
        return admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise PipelineError(
            f"cannot reach Kafka at {bootstrap} within {timeout_s:g} s ({exc.args[0].str()})",
            "start it with `stockpipe local up` or pass --bootstrap HOST:PORT of a running broker",
        ) from None


def topic_partitions(bootstrap: str, topic: str, timeout_s: float = 10) -> int:
    """Partitions of `topic` (0 when it does not exist); a clear error when the broker is unreachable."""
    meta = _metadata(_admin(bootstrap), bootstrap, timeout_s)
    tmeta = meta.topics.get(topic)
    return 0 if tmeta is None or tmeta.error is not None else len(tmeta.partitions)


def ensure_topic(
    bootstrap: str, topic: str, partitions: int, replication: int = -1, timeout_s: float = 10
) -> bool:
    """Create `topic` if it does not exist; return True when it was created.

    `replication` -1 takes the cluster's `default.replication.factor` (3 on a cluster the role built).
    """
    admin = _admin(bootstrap)
    meta = _metadata(admin, bootstrap, timeout_s)
    if topic in meta.topics and meta.topics[topic].error is None:
        return False
    futures = admin.create_topics([NewTopic(topic, partitions, replication)], operation_timeout=timeout_s)
    try:
        futures[topic].result(timeout=timeout_s)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" in str(exc):
            return False
        raise PipelineError(f"cannot create topic {topic!r} on {bootstrap}: {exc}") from None
    return True

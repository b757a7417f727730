"""kafka-python backend: pure Python, the client the origin tutorials use."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import (
    CommitFailedError,
    FencedInstanceIdError,
    IllegalGenerationError,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from kafka.structs import OffsetAndMetadata

from pipeline.errors import CommitRejected, PipelineError
from pipeline.kafka.base import (
    AdminClient,
    BrokerInfo,
    ConsumerClient,
    DeliveryCallback,
    Message,
    NotDelivered,
    PartitionInfo,
    ProducerClient,
    ReadBack,
    TopicPartition,
    Unreachable,
    heartbeat_interval_ms,
)
from pipeline.kafka.names import unreachable_hint

log = logging.getLogger(__name__)


def _servers(bootstrap: str) -> list[str]:
    return [s.strip() for s in bootstrap.split(",") if s.strip()]


def _unreachable(bootstrap: str, exc: Exception) -> PipelineError:
    return PipelineError(
        f"cannot reach Kafka at {bootstrap} ({type(exc).__name__}: {exc})",
        unreachable_hint(bootstrap),
    )


class KafkaPythonProducer(ProducerClient):
    def __init__(self, bootstrap: str, **options: Any) -> None:
        self.bootstrap = bootstrap
        self._pending = 0
        self._lock = threading.Lock()
        config: dict[str, Any] = {
            "bootstrap_servers": _servers(bootstrap),
            "acks": "all",
            "retries": 2_147_483_647,
            # One request in flight per connection keeps per-partition order when a send is retried.
            "max_in_flight_requests_per_connection": 1,
            "compression_type": "gzip",
            "linger_ms": 20,
            "batch_size": 256 * 1024,
            "delivery_timeout_ms": int(options.pop("delivery_timeout_ms", 120_000)),
            "max_block_ms": 30_000,
        }
        config.update(options.pop("config", {}) or {})
        try:
            self._producer = KafkaProducer(**config)
        except NoBrokersAvailable as exc:
            raise _unreachable(bootstrap, exc) from None

    def send(self, topic: str, key: bytes, value: bytes, on_delivery: DeliveryCallback) -> None:
        # Delivery callbacks run on kafka-python's I/O thread.
        def done(_metadata: object) -> None:
            with self._lock:
                self._pending -= 1
            on_delivery(None)

        def failed(exc: BaseException) -> None:
            with self._lock:
                self._pending -= 1
            on_delivery(f"{type(exc).__name__}: {exc}")

        with self._lock:
            self._pending += 1
        try:
            future = self._producer.send(topic, key=key, value=value)
        except KafkaError as exc:
            failed(exc)
            return
        future.add_callback(done)
        future.add_errback(failed)

    def poll(self) -> None:
        """Delivery reports arrive on the I/O thread; nothing to serve here."""

    def flush(self, timeout_s: float) -> int:
        with contextlib.suppress(KafkaTimeoutError):
            self._producer.flush(timeout=timeout_s)
        with self._lock:
            return self._pending

    def close(self) -> None:
        self._producer.close(timeout=5)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: KafkaPythonConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: list[KpTopicPartition]) -> None:
        if self.owner.on_revoke is not None:
            self.owner.on_revoke([(tp.topic, tp.partition) for tp in revoked])

    def on_partitions_assigned(self, assigned: list[KpTopicPartition]) -> None:
        pass


#: Group answers meaning "you are not (or no longer) the owner": the commit is dropped, not fatal.
_LOST_MEMBERSHIP = (
    CommitFailedError,
    RebalanceInProgressError,
    IllegalGenerationError,
    UnknownMemberIdError,
    FencedInstanceIdError,
)


class KafkaPythonConsumer(ConsumerClient):
    def __init__(self, bootstrap: str, group_id: str, topic: str, **options: Any) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        session = int(options.pop("session_timeout_ms", 10_000))
        config: dict[str, Any] = {
            "bootstrap_servers": _servers(bootstrap),
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": session,
            "heartbeat_interval_ms": heartbeat_interval_ms(session),
            "max_poll_interval_ms": int(options.pop("max_poll_interval_ms", 300_000)),
            "api_version_auto_timeout_ms": 5_000,
        }
        config.update(options.pop("config", {}) or {})
        try:
            self._consumer = KafkaConsumer(**config)
        except NoBrokersAvailable as exc:
            raise _unreachable(bootstrap, exc) from None
        partitions = options.pop("partitions", None)
        if partitions:
            # Static assignment: no group membership or rebalances; offsets are still the group's.
            self._consumer.assign([KpTopicPartition(topic, p) for p in partitions])
        else:
            self._consumer.subscribe([topic], listener=_Listener(self))

    def assigned(self) -> bool:
        return bool(self._consumer.assignment())

    def poll_batch(self, max_records: int, timeout_s: float) -> list[Message]:
        polled = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        out: list[Message] = []
        for tp, records in polled.items():
            out.extend(Message(tp.topic, tp.partition, r.offset, r.key, r.value) for r in records)
        return out

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            self._consumer.commit(
                {KpTopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()}
            )
        except _LOST_MEMBERSHIP as exc:
            raise CommitRejected(f"commit of {sorted(offsets.items())} refused: {exc}") from None
        except KafkaError as exc:
            if getattr(exc, "retriable", False):
                raise CommitRejected(f"commit of {sorted(offsets.items())} refused: {exc}") from None
            raise PipelineError(
                f"commit of {sorted(offsets.items())} refused: {exc}",
                "check the group's ACLs and the brokers' logs",
            ) from None

    def close(self) -> None:
        self._consumer.close(autocommit=False)


_KAFKA_PYTHON_LOG = logging.getLogger("kafka")


class KafkaPythonAdmin(AdminClient):
    def __init__(self, bootstrap: str, timeout_s: float) -> None:
        self.bootstrap = bootstrap
        self.last_error = None
        self._timeout_ms = max(int(timeout_s * 1000), 1000)
        self._producer: KafkaProducer | None = None
        # kafka-python logs every failed connection attempt at ERROR; the callers' own one-line errors
        # say what failed, so its logs are quiet until close() (as librdkafka's are).
        self._log_level = _KAFKA_PYTHON_LOG.level
        _KAFKA_PYTHON_LOG.setLevel(logging.CRITICAL)
        try:
            # No group: metadata and the assigned read-back only.
            self._consumer = KafkaConsumer(
                bootstrap_servers=_servers(bootstrap),
                group_id=None,
                enable_auto_commit=False,
                allow_auto_create_topics=False,
                auto_offset_reset="none",
                api_version_auto_timeout_ms=self._timeout_ms,
                request_timeout_ms=self._timeout_ms,
            )
        except NoBrokersAvailable as exc:
            _KAFKA_PYTHON_LOG.setLevel(self._log_level)
            raise Unreachable(f"{type(exc).__name__}: no broker answered") from None

    def partitions(self, topic: str, timeout_s: float) -> int:
        try:
            return len(self._consumer.partitions_for_topic(topic) or ())
        except KafkaError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None

    def create_topic(self, topic: str, partitions: int, replication: int, timeout_s: float) -> bool:
        from kafka.admin import KafkaAdminClient, NewTopic
        from kafka.errors import TopicAlreadyExistsError

        ms = max(int(timeout_s * 1000), 1000)
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=_servers(self.bootstrap),
                api_version_auto_timeout_ms=ms,
                request_timeout_ms=ms,
            )
        except NoBrokersAvailable as exc:
            raise Unreachable(f"{type(exc).__name__}: no broker answered") from None
        try:
            admin.create_topics([NewTopic(topic, partitions, replication)], timeout_ms=ms)
        except TopicAlreadyExistsError:
            return False
        except KafkaError as exc:
            raise PipelineError(f"cannot create topic {topic!r} on {self.bootstrap}: {exc}") from None
        finally:
            admin.close()
        return True

    def send_one(self, topic: str, key: bytes, value: bytes, timeout_s: float) -> tuple[int, int]:
        ms = max(int(timeout_s * 1000), 1000)
        try:
            if self._producer is None:
                self._producer = KafkaProducer(
                    bootstrap_servers=_servers(self.bootstrap),
                    acks="all",
                    retries=2_147_483_647,
                    max_in_flight_requests_per_connection=1,
                    allow_auto_create_topics=False,
                    api_version_auto_timeout_ms=ms,
                    max_block_ms=ms,
                    request_timeout_ms=ms,
                    delivery_timeout_ms=ms,
                )
            meta = self._producer.send(topic, key=key, value=value).get(timeout=max(timeout_s, 0.1))
        except NoBrokersAvailable as exc:
            raise Unreachable(f"{type(exc).__name__}: no broker answered") from None
        except KafkaError as exc:
            raise NotDelivered(f"{type(exc).__name__}: {exc}") from None
        return meta.partition, meta.offset

    def read_at(self, topic: str, partition: int, offset: int, timeout_s: float) -> ReadBack | None:
        tp = KpTopicPartition(topic, partition)
        self._consumer.assign([tp])
        self._consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                polled = self._consumer.poll(timeout_ms=int(min(remaining, 0.5) * 1000), max_records=1)
            except KafkaError as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                time.sleep(min(0.2, max(deadline - time.monotonic(), 0)))
                continue
            for record in polled.get(tp, ()):
                return ReadBack(record.offset, record.key, record.value)
        return None

    def brokers(self, timeout_s: float) -> list[BrokerInfo]:
        try:
            self._consumer.topics()  # a fresh metadata request
        except KafkaError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        cluster = self._consumer._client.cluster  # the client's parsed metadata (no public accessor)
        return sorted(BrokerInfo(b.nodeId, b.host, b.port) for b in cluster.brokers())

    def describe(self, timeout_s: float, topic: str | None = None) -> dict[str, list[PartitionInfo]]:
        # From the consumer's metadata (a Metadata request, no admin API): kafka-python's admin client
        # fails on brokers that report ACL operations it does not know (tansu).
        try:
            names = self._consumer.topics()  # a fresh metadata request for every topic
        except KafkaError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        partitions = self._consumer._client.cluster._partitions  # topic -> partition -> PartitionMetadata
        out: dict[str, list[PartitionInfo]] = {}
        for name in sorted(names):
            if (topic is not None and name != topic) or name.startswith("__"):
                continue
            out[name] = [
                PartitionInfo(p.partition, p.leader, tuple(p.replicas), tuple(p.isr))
                for _, p in sorted(partitions.get(name, {}).items())
            ]
        return out

    def _tps(self, topic: str) -> list[KpTopicPartition]:
        try:
            partitions = self._consumer.partitions_for_topic(topic) or set()
        except KafkaError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        return [KpTopicPartition(topic, p) for p in sorted(partitions)]

    def offsets(self, topic: str, timeout_s: float) -> dict[int, tuple[int, int]]:
        tps = self._tps(topic)
        if not tps:
            return {}
        try:
            first = self._consumer.beginning_offsets(tps)
            end = self._consumer.end_offsets(tps)
        except KafkaError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        return {tp.partition: (int(first[tp]), int(end[tp])) for tp in tps}

    def committed(self, group: str, topic: str, timeout_s: float) -> dict[int, int | None]:
        tps = self._tps(topic)
        if not tps:
            return {}
        try:  # a member of `group` that never subscribes: it reads the group's offsets, never joins
            reader = KafkaConsumer(
                bootstrap_servers=_servers(self.bootstrap),
                group_id=group,
                enable_auto_commit=False,
                api_version_auto_timeout_ms=self._timeout_ms,
                request_timeout_ms=self._timeout_ms,
            )
        except NoBrokersAvailable:
            raise Unreachable("NoBrokersAvailable: no broker answered") from None
        try:
            return {tp.partition: reader.committed(tp) for tp in tps}
        except KafkaError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        finally:
            reader.close(autocommit=False)

    def read_range(
        self, topic: str, partition: int, start: int, count: int, timeout_s: float
    ) -> list[Message]:
        tp = KpTopicPartition(topic, partition)
        try:
            end = int(self._consumer.end_offsets([tp])[tp])
        except KafkaError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        out: list[Message] = []
        if start >= end or count <= 0:
            return out
        self._consumer.assign([tp])
        self._consumer.seek(tp, start)
        deadline = time.monotonic() + timeout_s
        while len(out) < count and (remaining := deadline - time.monotonic()) > 0:
            try:
                polled = self._consumer.poll(
                    timeout_ms=int(min(remaining, 0.5) * 1000), max_records=count - len(out)
                )
            except KafkaError as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                continue
            for r in polled.get(tp, ()):
                out.append(Message(topic, partition, r.offset, r.key, r.value))
            if out and out[-1].offset >= end - 1:
                break
        return out[:count]

    def close(self) -> None:
        try:
            if self._producer is not None:
                self._producer.close(timeout=1)
            self._consumer.close(autocommit=False)
        finally:
            _KAFKA_PYTHON_LOG.setLevel(self._log_level)

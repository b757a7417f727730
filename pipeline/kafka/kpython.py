"""kafka-python backend: pure Python, the client the origin tutorials use."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import (
    AuthorizationError,
    CommitFailedError,
    FencedInstanceIdError,
    IllegalGenerationError,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    RebalanceInProgressError,
    SaslAuthenticationFailedError,
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
from pipeline.kafka.names import servers, unreachable_hint
from pipeline.kafka.security import PLAINTEXT, ClientSecurity, explain, not_authorized

log = logging.getLogger(__name__)


def _unreachable(bootstrap: str, exc: Exception) -> PipelineError:
    return PipelineError(
        f"cannot reach Kafka at {bootstrap} ({type(exc).__name__}: {exc})",
        unreachable_hint(bootstrap),
    )


def _connect(bootstrap: str, security: ClientSecurity) -> dict[str, Any]:
    """Where and how every client of this backend connects (pipeline/kafka/security.py)."""
    return {"bootstrap_servers": servers(bootstrap), **security.kafka_python()}


def _refused(
    bootstrap: str, security: ClientSecurity, what: str, exc: BaseException, detail: str | None = None
) -> PipelineError:
    detail = detail or f"{type(exc).__name__}: {exc}"
    return explain(detail, bootstrap, security) or not_authorized(bootstrap, security, what, detail)


class KafkaPythonProducer(ProducerClient):
    def __init__(self, bootstrap: str, security: ClientSecurity = PLAINTEXT, **options: Any) -> None:
        self.bootstrap = bootstrap
        self.security = security
        self._refused: PipelineError | None = None
        self._pending = 0
        self._lock = threading.Lock()
        config: dict[str, Any] = {
            **_connect(bootstrap, security),
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
                if (
                    isinstance(exc, AuthorizationError | SaslAuthenticationFailedError)
                    and self._refused is None
                ):
                    self._refused = _refused(self.bootstrap, self.security, f"write topic {topic}", exc)
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
        """Delivery reports arrive on the I/O thread; here only an ACL or login refusal ends the replay."""
        if self._refused is not None:
            raise self._refused

    def flush(self, timeout_s: float) -> int:
        with contextlib.suppress(KafkaTimeoutError):
            self._producer.flush(timeout=timeout_s)
        self.poll()
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
    def __init__(
        self, bootstrap: str, group_id: str, topic: str, security: ClientSecurity = PLAINTEXT, **options: Any
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.group_id = group_id
        self.security = security
        session = int(options.pop("session_timeout_ms", 10_000))
        config: dict[str, Any] = {
            **_connect(bootstrap, security),
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": session,
            "heartbeat_interval_ms": heartbeat_interval_ms(session),
            "max_poll_interval_ms": int(options.pop("max_poll_interval_ms", 300_000)),
            "api_version_auto_timeout_ms": 5_000,
        }
        if options.pop("client_rack", ""):
            raise PipelineError(
                "sink.client_rack is set, but kafka-python cannot fetch from the nearest replica",
                'use client = "confluent", or leave client_rack empty',
            )
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
        try:
            polled = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        except (AuthorizationError, SaslAuthenticationFailedError) as exc:
            what = (
                f"use consumer group {self.group_id!r}"
                if "Group" in type(exc).__name__
                else f"read topic {self.topic}"
            )
            raise _refused(self.bootstrap, self.security, what, exc) from None
        out: list[Message] = []
        for tp, records in polled.items():
            out.extend(Message(tp.topic, tp.partition, r.offset, r.key, r.value) for r in records)
        return out

    def lag(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)  # from the last fetch response: no round trip
            try:
                position = self._consumer.position(tp, timeout_ms=0)
            except (KafkaError, TypeError):
                continue
            if high is not None and position is not None:
                out[tp.partition] = max(high - position, 0)
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


class _Keep(logging.Handler):
    """Keeps the last lines kafka-python logs, whatever the logger's level lets through elsewhere."""

    def __init__(self, lines: deque[str]) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class KafkaPythonAdmin(AdminClient):
    def __init__(self, bootstrap: str, timeout_s: float, security: ClientSecurity = PLAINTEXT) -> None:
        self.bootstrap = bootstrap
        self.security = security
        self.last_error = None
        self._timeout_ms = max(int(timeout_s * 1000), 1000)
        self._producer: KafkaProducer | None = None
        # kafka-python logs every failed connection attempt at ERROR; the callers' own one-line errors
        # say what failed, so its logs are quiet until close() (as librdkafka's are).
        # kafka-python logs every failed connection attempt at ERROR, and says *why* a connection failed (a
        # refused login, an untrusted certificate) only there: its lines are kept here for the one-line
        # error and shown nowhere (as librdkafka's are not) until close().
        self._log_state = (_KAFKA_PYTHON_LOG.level, _KAFKA_PYTHON_LOG.propagate)
        _KAFKA_PYTHON_LOG.setLevel(logging.INFO)
        _KAFKA_PYTHON_LOG.propagate = False
        self._lines: deque[str] = deque(maxlen=50)
        self._capture = _Keep(self._lines)
        _KAFKA_PYTHON_LOG.addHandler(self._capture)
        try:
            # No group: metadata and the assigned read-back only.
            self._consumer = KafkaConsumer(
                **_connect(bootstrap, security),
                group_id=None,
                enable_auto_commit=False,
                allow_auto_create_topics=False,
                auto_offset_reset="none",
                api_version_auto_timeout_ms=self._timeout_ms,
                request_timeout_ms=self._timeout_ms,
            )
            # A bounded first metadata request: after a refused login kafka-python waits for ever.
            self._bounded(self._consumer.topics, timeout_s)
        except Unreachable:
            self._quiet_close()
            raise
        except (NoBrokersAvailable, KafkaError, OSError) as exc:  # OSError: ssl.SSLError and the like
            self._quiet_close()
            raise self._unreachable(f"{type(exc).__name__}: {exc}") from None

    def _bounded(self, call: Callable[[], object], timeout_s: float) -> object:
        result: list[object] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                result.append(call())
            except BaseException as exc:
                failure.append(exc)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(max(timeout_s, 0.1))
        if worker.is_alive():
            raise self._unreachable(f"no answer within {timeout_s:g} s")
        if failure:
            raise failure[0]
        return result[0]

    def _unreachable(self, reason: str) -> Unreachable:
        failures = [t for t in self._lines if any(w in t for w in ("rror", "fail", "Clos", "isconnect"))]
        for words in (("uthentication", "ertificate", "SSL"), ("isconnect", "Clos")):
            for text in reversed(failures):
                if any(w in text for w in words):
                    return Unreachable(text)
        return Unreachable(reason)

    def _quiet_close(self) -> None:
        _KAFKA_PYTHON_LOG.removeHandler(self._capture)
        _KAFKA_PYTHON_LOG.setLevel(self._log_state[0])
        _KAFKA_PYTHON_LOG.propagate = self._log_state[1]

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
                **_connect(self.bootstrap, self.security),
                api_version_auto_timeout_ms=ms,
                request_timeout_ms=ms,
            )
        except NoBrokersAvailable as exc:
            raise Unreachable(f"{type(exc).__name__}: no broker answered") from None
        try:
            admin.create_topics([NewTopic(topic, partitions, replication)], timeout_ms=ms)
        except TopicAlreadyExistsError:
            return False
        except (AuthorizationError, SaslAuthenticationFailedError) as exc:
            # str(exc) carries the whole request and response: the error's own description says enough.
            detail = f"{type(exc).__name__}: {exc.description}"
            raise _refused(self.bootstrap, self.security, f"create topic {topic}", exc, detail) from None
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
                    **_connect(self.bootstrap, self.security),
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
                **_connect(self.bootstrap, self.security),
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
            self._quiet_close()

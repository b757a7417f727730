"""confluent-kafka (librdkafka) backend: the fast path."""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as CkTopicPartition
from confluent_kafka.admin import AdminClient as CkAdminClient
from confluent_kafka.admin import NewTopic

from pipeline.errors import CommitRejected, PipelineError
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
    heartbeat_interval_ms,
)
from pipeline.kafka.logs import LIBRDKAFKA, ErrorReporter
from pipeline.kafka.routed import PARTITIONER, Route
from pipeline.kafka.security import PLAINTEXT, ClientSecurity, explain, not_authorized

log = logging.getLogger(__name__)

#: How long send_many waits for a topic's partition count, once per topic (then sends without a route).
ROUTE_METADATA_TIMEOUT_S = 5.0


def _connect(bootstrap: str, security: ClientSecurity) -> dict[str, Any]:
    """Where and how every client of this backend connects (pipeline/kafka/security.py)."""
    return {"bootstrap.servers": bootstrap, **security.confluent()}


class ConfluentProducer(ProducerClient):
    """librdkafka's producer. After a fatal error (e.g. an ACL refusing the idempotent producer id)
    confluent-kafka runs the purged records' delivery callbacks with its KafkaException already pending,
    and poll/flush then raise a SystemError caused by it (`_call` turns that into one line). The
    callbacks only store what happened (a dict item: a call in them would fail the same way); it is read
    on return from poll/flush (`_settle`), where an ACL or a refused login also ends the replay."""

    def __init__(self, bootstrap: str, security: ClientSecurity = PLAINTEXT, **options: Any) -> None:
        self.bootstrap = bootstrap
        self.security = security
        self._failures: dict[Any, tuple[Any, KafkaError, Any]] = {}  # key -> (where to report, error, msg)
        self._n = 0
        self._refused: PipelineError | None = None
        self._routes: dict[tuple[str, int], Route | None] = {}  # (topic, id(reports)) -> its route
        config: dict[str, Any] = {
            **_connect(bootstrap, security),
            "acks": "all",
            # Idempotence keeps per-partition order and avoids duplicates when librdkafka retries.
            "enable.idempotence": True,
            "compression.type": "lz4",
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 200_000,
            # How long one record may take from send() to a final delivery report, retries included.
            "delivery.timeout.ms": int(options.pop("delivery_timeout_ms", 120_000)),
            "error_cb": self._on_error,
            "logger": LIBRDKAFKA,
        }
        config.update(options.pop("config", {}) or {})
        # send_many routes records itself only when it picks the partitions the configured partitioner would.
        self._routable = config.get("partitioner", PARTITIONER) == PARTITIONER
        self.errors = ErrorReporter(log)
        self._producer = Producer(config)

    def _on_error(self, err: KafkaError) -> None:
        self._n += 1  # no calls here (see the class docstring)
        self._failures[("client", self._n)] = (self.errors, err, None)

    def _settle(self) -> None:
        """Read the errors the callbacks stored: report each, and stop at one no retry can fix."""
        for route in self._routes.values():
            if route is not None:
                for seq, err, msg in route.fold():
                    self._file_failure(route.reports, seq, err, msg)
        while self._failures:
            key, (target, err, msg) = self._failures.popitem()
            self._file_failure(target, key, err, msg)
        if self._refused is not None:
            raise self._refused

    def _file_failure(self, target: Any, key: Any, err: KafkaError, msg: Any) -> None:
        text = err.str()
        if isinstance(target, DeliveryReports):
            target.failed.append((key, text))
        else:
            target(text)
        if err.code() in _REFUSED and self._refused is None:
            what = f"write topic {msg.topic()}" if msg is not None else "write"
            self._refused = _refusal(self.bootstrap, self.security, what, err)

    def _fatal(self, exc: KafkaException) -> PipelineError:
        """A produce call refused for good (an ACL, a login, a fatal idempotence error): one line."""
        for route in self._routes.values():  # the successes count; the purged records stay unconfirmed
            if route is not None:
                route.fold()
        self._failures.clear()  # the purged records' reports: the replay ends here
        err = exc.args[0]
        if err.code() in _REFUSED:
            return _refusal(self.bootstrap, self.security, "write", err)
        return PipelineError(f"the Kafka producer stopped for good: {err.str()}", "see the brokers' logs")

    def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        try:
            result = method(*args)
        except KafkaException as exc:
            raise self._fatal(exc) from None
        except SystemError as exc:
            # The fatal error surfaced through a delivery callback run with it pending (class docstring).
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, KafkaException):
                raise self._fatal(cause) from None
            raise
        self._settle()
        return result

    def send(self, topic: str, key: bytes, value: bytes, on_delivery: DeliveryCallback) -> None:
        token = ("record", id(on_delivery))
        failures = self._failures

        def report(err: KafkaError | None, msg: object) -> None:
            if err is None:
                on_delivery(None)
            else:
                failures[token] = (on_delivery, err, msg)  # no call (see the class docstring)

        try:
            try:
                self._producer.produce(topic, value, key, -1, report)  # -1: the configured partitioner
            except BufferError:
                self._produce_when_room(topic, value, key, -1, report)
        except KafkaException as exc:
            raise self._fatal(exc) from None

    def send_many(
        self, topic: str, keys: Sequence[bytes], values: Sequence[bytes], first: int, reports: DeliveryReports
    ) -> None:
        # The replay's hot loop: one produce call per record, to the partition its key maps to, with that
        # partition's callback (pipeline/kafka/routed.py: no object per record).
        route = self._route(topic, reports)
        if route is None:
            self._send_each(topic, keys, values, first, reports)
            return
        produce = self._producer.produce
        partition, sent, callbacks = route.partition, route.sent, route.callbacks
        try:
            for seq, key, value in zip(range(first, first + len(values)), keys, values, strict=True):
                p = partition[key]
                try:
                    produce(topic, value, key, p, callbacks[p])
                except BufferError:
                    self._produce_when_room(topic, value, key, p, callbacks[p])
                sent[p].append(seq)
        except KafkaException as exc:
            raise self._fatal(exc) from None

    def _produce_when_room(
        self, topic: str, value: bytes, key: bytes, partition: int, on_delivery: Callable[..., None]
    ) -> None:
        """After a produce call found the local queue full: serve delivery reports until it has room,
        then produce. Off the hot path: the first attempt stays inline in the send loops."""
        while True:
            self._call(self._producer.poll, 0.05)
            try:
                self._producer.produce(topic, value, key, partition, on_delivery)
                return
            except BufferError:
                pass

    def _route(self, topic: str, reports: DeliveryReports) -> Route | None:
        """The route of `topic` for `reports`, made on first use; None when the topic's partition
        count cannot be read (or another partitioner is configured): records then go one by one."""
        key = (topic, id(reports))
        if key not in self._routes:
            count = self._partition_count(topic) if self._routable else 0
            self._routes[key] = Route(count, reports) if count else None
        return self._routes[key]

    def _partition_count(self, topic: str) -> int:
        try:
            meta = self._producer.list_topics(topic, timeout=ROUTE_METADATA_TIMEOUT_S).topics.get(topic)
        except KafkaException:
            return 0
        return len(meta.partitions) if meta is not None and meta.error is None else 0

    def _send_each(
        self, topic: str, keys: Sequence[bytes], values: Sequence[bytes], first: int, reports: DeliveryReports
    ) -> None:
        """send_many without a route: the configured partitioner, one small callback object per record."""
        produce = self._producer.produce
        report = partial(_report_delivery, reports.delivered.append, reports, self._failures)
        try:
            for seq, key, value in zip(range(first, first + len(values)), keys, values, strict=True):
                try:
                    produce(topic, value, key, -1, partial(report, seq))  # -1: the configured partitioner
                except BufferError:
                    self._produce_when_room(topic, value, key, -1, partial(report, seq))
        except KafkaException as exc:
            raise self._fatal(exc) from None

    def poll(self) -> None:
        self._call(self._producer.poll, 0)

    def flush(self, timeout_s: float) -> int:
        return int(self._call(self._producer.flush, timeout_s))

    def close(self) -> None:
        # A refusal can first surface here (an idempotent producer's PID request that needs Write on a
        # topic, failing after the last send): one line, as from any other call.
        try:
            self._producer.flush(0)
        except KafkaException as exc:
            raise self._fatal(exc) from None


def _report_delivery(
    delivered: Callable[[int], None],
    reports: DeliveryReports,
    failures: dict[Any, tuple[Any, KafkaError, Any]],
    seq: int,
    err: KafkaError | None,
    msg: object,
) -> None:
    """A record's delivery report: its number filed as delivered, or its error stored for `_settle`
    (a dict item, not a call: see ConfluentProducer's docstring)."""
    if err is None:
        delivered(seq)
    else:
        failures[seq] = (reports, err, msg)


#: Answers that no retry will change: this principal lacks an ACL, or its login was refused.
_REFUSED = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    KafkaError._AUTHENTICATION,
    KafkaError.SASL_AUTHENTICATION_FAILED,
}


def _refusal(bootstrap: str, security: ClientSecurity, what: str, err: KafkaError) -> PipelineError:
    explained = explain(err.str(), bootstrap, security)
    return explained or not_authorized(bootstrap, security, what, err.str())


#: Group answers meaning "you are not (or no longer) the owner": the commit is dropped, not fatal.
_LOST_MEMBERSHIP = {
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.FENCED_INSTANCE_ID,
    KafkaError._ASSIGNMENT_LOST,
    KafkaError._STATE,
}


class ConfluentConsumer(ConsumerClient):
    def __init__(
        self, bootstrap: str, group_id: str, topic: str, security: ClientSecurity = PLAINTEXT, **options: Any
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        session = int(options.pop("session_timeout_ms", 10_000))
        config: dict[str, Any] = {
            **_connect(bootstrap, security),
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": session,
            "heartbeat.interval.ms": heartbeat_interval_ms(session),
            "max.poll.interval.ms": int(options.pop("max_poll_interval_ms", 300_000)),
            # librdkafka pauses a partition's fetching for this long whenever its prefetch queue is full;
            # the default (1 s) left the sink idle most of the time (bench: sink 1.17x, bare loop 2.9x).
            "fetch.queue.backoff.ms": 10,
            "error_cb": self._on_error,
            "logger": LIBRDKAFKA,
        }
        rack = options.pop("client_rack", "")
        if rack:  # fetch from the replica in this rack when the brokers' replica selector is rack-aware
            config["client.rack"] = rack
        config.update(options.pop("config", {}) or {})
        self.errors = ErrorReporter(log)
        self.security = security
        self.group_id = group_id
        self._refused: PipelineError | None = None
        self._consumer = Consumer(config)
        partitions = options.pop("partitions", None)
        if partitions:
            # Static assignment: no group membership or rebalances; offsets are still the group's.
            self._consumer.assign([CkTopicPartition(topic, p) for p in partitions])
        else:
            self._consumer.subscribe([topic], on_revoke=self._revoked)

    def _on_error(self, err: KafkaError) -> None:
        self.errors(err.str())
        if err.code() in _REFUSED and self._refused is None:
            self._refused = self._refusal(err)

    def _refusal(self, err: KafkaError) -> PipelineError:
        what = (
            f"use consumer group {self.group_id!r}"
            if err.code() == KafkaError.GROUP_AUTHORIZATION_FAILED or "roup" in err.str()
            else f"read topic {self.topic}"
        )
        return _refusal(self.bootstrap, self.security, what, err)

    def _revoked(self, _consumer: Consumer, partitions: list[CkTopicPartition]) -> None:
        if self.on_revoke is not None:
            self.on_revoke([(p.topic, p.partition) for p in partitions])

    def assigned(self) -> bool:
        return bool(self._consumer.assignment())

    def poll_batch(self, max_records: int, timeout_s: float) -> list[Message]:
        out: list[Message] = []
        for msg in self._consumer.consume(num_messages=max_records, timeout=timeout_s):
            err = msg.error()
            if err is not None and err.code() in _REFUSED:
                raise self._refusal(err)
            if err is not None:
                if err.fatal():
                    raise PipelineError(f"fatal Kafka consumer error: {err.str()}")
                log.warning("kafka: %s", err.str())
                continue
            out.append(Message(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value()))
        if self._refused is not None:
            raise self._refused
        return out

    def lag(self) -> dict[int, int]:
        out: dict[int, int] = {}
        try:
            for tp in self._consumer.position(self._consumer.assignment()):
                _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
                if tp.offset >= 0 and high >= 0:
                    out[tp.partition] = max(high - tp.offset, 0)
        except KafkaException:
            return {}
        return out

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            self._consumer.commit(
                offsets=[CkTopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False
            )
        except KafkaException as exc:
            err = exc.args[0]
            text = f"commit of {sorted(offsets.items())} refused: {err.str()}"
            if err.code() in _LOST_MEMBERSHIP or err.retriable():
                raise CommitRejected(text) from None
            raise PipelineError(text, "check the group's ACLs and the brokers' logs") from None

    def close(self) -> None:
        self._consumer.close()


class _Capture:
    """A logger for one librdkafka client that keeps its last lines (and shows nothing)."""

    def __init__(self) -> None:
        self.lines: deque[str] = deque(maxlen=20)
        self.logger = logging.getLogger(f"pipeline.kafka.librdkafka.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(_Keep(self.lines))


class _Keep(logging.Handler):
    def __init__(self, lines: deque[str]) -> None:
        super().__init__()
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class ConfluentAdmin(AdminClient):
    def __init__(self, bootstrap: str, timeout_s: float, security: ClientSecurity = PLAINTEXT) -> None:
        self.bootstrap = bootstrap
        self.security = security
        self.last_error = None
        self._timeout_s = timeout_s
        self._producer: Producer | None = None
        self._log = _Capture()
        self._admin = CkAdminClient(
            {**_connect(bootstrap, security), "error_cb": self._on_error, "logger": self._log.logger}
        )

    def _on_error(self, err: KafkaError) -> None:
        self.last_error = err.str()

    def _unreachable(self, reason: str) -> Unreachable:
        """Unreachable with the most telling reason: librdkafka says *why* (a failed SASL login, a
        certificate it does not trust, a connection closed mid-handshake) only in its error callbacks and
        logs, which a poll serves."""
        self._admin.poll(0.3)
        for text in (self.last_error, *reversed(self._log.lines)):
            if text and any(w in text for w in ("SASL", "SSL", "uthentication", "ertificate", "APIVERSION")):
                return Unreachable(text)
        return Unreachable(self.last_error or reason)

    def partitions(self, topic: str, timeout_s: float) -> int:
        try:
            # All topics, not just this one: a metadata request naming a topic may create it on brokers
            # that allow auto-creation (tansu does), and a check must not create what it checks for.
            meta = self._admin.list_topics(timeout=max(timeout_s, 0.1))
        except KafkaException as exc:
            raise self._unreachable(exc.args[0].str()) from None
        tmeta = meta.topics.get(topic)
        return 0 if tmeta is None or tmeta.error is not None else len(tmeta.partitions)

    def create_topic(self, topic: str, partitions: int, replication: int, timeout_s: float) -> bool:
        futures = self._admin.create_topics(
            [NewTopic(topic, partitions, replication)], operation_timeout=max(timeout_s, 0.1)
        )
        try:
            futures[topic].result(timeout=max(timeout_s, 0.1))
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return False
            if err.code() in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN):
                raise self._unreachable(err.str()) from None
            if err.code() in _REFUSED:
                raise _refusal(self.bootstrap, self.security, f"create topic {topic}", err) from None
            raise PipelineError(f"cannot create topic {topic!r} on {self.bootstrap}: {err.str()}") from None
        return True

    def send_one(self, topic: str, key: bytes, value: bytes, timeout_s: float) -> tuple[int, int]:
        if self._producer is None:
            self._producer = Producer(
                {
                    **_connect(self.bootstrap, self.security),
                    "acks": "all",
                    "enable.idempotence": True,
                    "linger.ms": 0,
                    # A missing topic is an error to report, not something to create by producing to it.
                    "allow.auto.create.topics": False,
                    "delivery.timeout.ms": max(int(self._timeout_s * 1000), 1000),
                    "error_cb": self._on_error,
                    "logger": LIBRDKAFKA,
                }
            )
        reports: list[tuple[Any, Any]] = []
        self._producer.produce(topic, key=key, value=value, on_delivery=lambda e, m: reports.append((e, m)))
        self._producer.flush(max(timeout_s, 0.1))
        if not reports:
            raise NotDelivered(
                f"no delivery report within {timeout_s:.0f} s"
                + (f" (last client error: {self.last_error})" if self.last_error else "")
            )
        err, msg = reports[0]
        if err is not None:
            raise NotDelivered(err.str())
        return msg.partition(), msg.offset()

    def read_at(self, topic: str, partition: int, offset: int, timeout_s: float) -> ReadBack | None:
        consumer = Consumer(
            {
                **_connect(self.bootstrap, self.security),
                # confluent-kafka insists on a group id, but an assign-only consumer never joins the
                # group and, with auto commit off, never commits to it.
                "group.id": "stockpipe-readback",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "error",  # an offset that is gone is an error, not a jump
                "error_cb": self._on_error,
                "logger": LIBRDKAFKA,
            }
        )
        try:
            consumer.assign([CkTopicPartition(topic, partition, offset)])
            deadline = time.monotonic() + timeout_s
            while (remaining := deadline - time.monotonic()) > 0:
                msg = consumer.poll(min(remaining, 0.5))
                if msg is None:
                    continue
                if msg.error() is not None:
                    self.last_error = msg.error().str()
                    continue
                return ReadBack(msg.offset(), msg.key(), msg.value())
            return None
        finally:
            consumer.close()

    def _metadata(self, timeout_s: float) -> Any:
        try:
            return self._admin.list_topics(timeout=max(timeout_s, 0.1))
        except KafkaException as exc:
            raise self._unreachable(exc.args[0].str()) from None

    def brokers(self, timeout_s: float) -> list[BrokerInfo]:
        meta = self._metadata(timeout_s)
        return sorted(BrokerInfo(b.id, b.host, b.port) for b in meta.brokers.values())

    def describe(self, timeout_s: float, topic: str | None = None) -> dict[str, list[PartitionInfo]]:
        out: dict[str, list[PartitionInfo]] = {}
        for name, tmeta in self._metadata(timeout_s).topics.items():
            if (topic is not None and name != topic) or name.startswith("__") or tmeta.error is not None:
                continue
            out[name] = [
                PartitionInfo(p.id, p.leader, tuple(p.replicas), tuple(p.isrs))
                for p in sorted(tmeta.partitions.values(), key=lambda p: p.id)
            ]
        return dict(sorted(out.items()))

    def _inspector(self, group: str = "stockpipe-inspect") -> Consumer:
        # Assign-only use: never subscribes, so it never joins `group`, and it never commits.
        return Consumer(
            {
                **_connect(self.bootstrap, self.security),
                "group.id": group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "error_cb": self._on_error,
                "logger": LIBRDKAFKA,
            }
        )

    def _partitions_of(self, topic: str, timeout_s: float) -> list[int]:
        return [p.partition for p in self.describe(timeout_s, topic).get(topic, [])]

    def offsets(self, topic: str, timeout_s: float) -> dict[int, tuple[int, int]]:
        partitions = self._partitions_of(topic, timeout_s)
        consumer = self._inspector()
        try:
            return {
                p: consumer.get_watermark_offsets(CkTopicPartition(topic, p), timeout=max(timeout_s, 0.1))
                for p in partitions
            }
        except KafkaException as exc:
            raise self._unreachable(exc.args[0].str()) from None
        finally:
            consumer.close()

    def committed(self, group: str, topic: str, timeout_s: float) -> dict[int, int | None]:
        partitions = self._partitions_of(topic, timeout_s)
        if not partitions:
            return {}
        consumer = self._inspector(group)
        try:
            tps = consumer.committed(
                [CkTopicPartition(topic, p) for p in partitions], timeout=max(timeout_s, 0.1)
            )
        except KafkaException as exc:
            raise self._unreachable(exc.args[0].str()) from None
        finally:
            consumer.close()
        return {tp.partition: tp.offset if tp.offset >= 0 else None for tp in tps}

    def read_range(
        self, topic: str, partition: int, start: int, count: int, timeout_s: float
    ) -> list[Message]:
        consumer = self._inspector()
        out: list[Message] = []
        try:
            deadline = time.monotonic() + timeout_s
            tp = CkTopicPartition(topic, partition)
            _low, end = consumer.get_watermark_offsets(tp, timeout=max(timeout_s, 0.1))
            if start >= end or count <= 0:
                return out
            consumer.assign([CkTopicPartition(topic, partition, start)])
            while len(out) < count and (remaining := deadline - time.monotonic()) > 0:
                msg = consumer.poll(min(remaining, 0.5))
                if msg is None:
                    continue
                if msg.error() is not None:
                    self.last_error = msg.error().str()
                    continue
                out.append(Message(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value()))
                if msg.offset() >= end - 1:
                    break
            return out
        except KafkaException as exc:
            raise self._unreachable(exc.args[0].str()) from None
        finally:
            consumer.close()

    def close(self) -> None:
        if self._producer is not None:
            # Whatever is still queued (a record that was never acknowledged) is dropped, not retried.
            with contextlib.suppress(Exception):
                self._producer.purge()
            self._producer.flush(0)

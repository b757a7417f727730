"""One record's Kafka round trip: produce it (acks=all), then read it back from its partition and offset.

`pipeline.kafka`'s interface reports a delivery only as ok/failed and consumes through a group, so
the canary talks to each client library directly, behind this small interface with one backend per
client (picked once from the `client` setting). Reading back assigns the one partition and starts at
the one offset: no group join, no commit, nothing the sink's group could notice.
"""

from __future__ import annotations

import contextlib
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from pipeline.kafka.logs import LIBRDKAFKA


class Unreachable(Exception):
    """No broker answered (the detail is the client's own reason)."""


class NotDelivered(Exception):
    """The record got no successful delivery report (the detail says why)."""


@dataclass(frozen=True)
class ReadBack:
    offset: int
    key: bytes | None
    value: bytes | None


class RoundTripClient(ABC):
    """Every call takes its own timeout in seconds; the caller owns the overall deadline."""

    #: The client's most recent error text (connection refused, ...), for error messages.
    last_error: str | None = None

    @abstractmethod
    def partitions(self, topic: str, timeout_s: float) -> int:
        """Partitions of `topic`, 0 when it does not exist; raises Unreachable."""

    @abstractmethod
    def produce(self, topic: str, key: bytes, value: bytes, timeout_s: float) -> tuple[int, int]:
        """Send one record and wait for its acks=all delivery report: (partition, offset)."""

    @abstractmethod
    def read(self, topic: str, partition: int, offset: int, timeout_s: float) -> ReadBack | None:
        """The first record at or after `offset` in `partition`; None when none arrives in time."""

    @abstractmethod
    def close(self) -> None: ...


def open_roundtrip(client: str, bootstrap: str, timeout_s: float) -> RoundTripClient:
    if client == "confluent":
        return ConfluentRoundTrip(bootstrap, timeout_s)
    return KafkaPythonRoundTrip(bootstrap, timeout_s)


class ConfluentRoundTrip(RoundTripClient):
    def __init__(self, bootstrap: str, timeout_s: float) -> None:
        from confluent_kafka import Producer

        self.bootstrap = bootstrap
        self.last_error = None
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 0,
                # A missing topic is an error to report, not something to create by producing to it.
                "allow.auto.create.topics": False,
                "delivery.timeout.ms": max(int(timeout_s * 1000), 1000),
                "error_cb": self._on_error,
                "logger": LIBRDKAFKA,
            }
        )

    def _on_error(self, err: object) -> None:
        self.last_error = err.str()  # type: ignore[attr-defined]

    def partitions(self, topic: str, timeout_s: float) -> int:
        from confluent_kafka import KafkaException

        try:
            meta = self._producer.list_topics(topic, timeout=max(timeout_s, 0.1))
        except KafkaException as exc:
            raise Unreachable(self.last_error or exc.args[0].str()) from None
        tmeta = meta.topics.get(topic)
        return 0 if tmeta is None or tmeta.error is not None else len(tmeta.partitions)

    def produce(self, topic: str, key: bytes, value: bytes, timeout_s: float) -> tuple[int, int]:
        reports: list[tuple[object, object]] = []
        self._producer.produce(topic, key=key, value=value, on_delivery=lambda e, m: reports.append((e, m)))
        self._producer.flush(max(timeout_s, 0.1))
        if not reports:
            raise NotDelivered(
                f"no delivery report within {timeout_s:.0f} s"
                + (f" (last client error: {self.last_error})" if self.last_error else "")
            )
        err, msg = reports[0]
        if err is not None:
            raise NotDelivered(err.str())  # type: ignore[attr-defined]
        return msg.partition(), msg.offset()  # type: ignore[attr-defined]

    def read(self, topic: str, partition: int, offset: int, timeout_s: float) -> ReadBack | None:
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                # confluent-kafka insists on a group id, but an assign-only consumer never joins the
                # group and, with auto commit off, never commits to it.
                "group.id": "stockpipe-canary-readback",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "error",  # an offset that is gone is an error, not a jump
                "error_cb": self._on_error,
                "logger": LIBRDKAFKA,
            }
        )
        try:
            consumer.assign([TopicPartition(topic, partition, offset)])
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

    def close(self) -> None:
        # Whatever is still queued (a record that was never acknowledged) is dropped, not retried.
        with contextlib.suppress(Exception):
            self._producer.purge()
        self._producer.flush(0)


_KAFKA_PYTHON_LOG = logging.getLogger("kafka")


def _servers(bootstrap: str) -> list[str]:
    return [s.strip() for s in bootstrap.split(",") if s.strip()]


class KafkaPythonRoundTrip(RoundTripClient):
    def __init__(self, bootstrap: str, timeout_s: float) -> None:
        from kafka import KafkaConsumer
        from kafka.errors import NoBrokersAvailable

        self.bootstrap = bootstrap
        self.last_error = None
        self._timeout_ms = max(int(timeout_s * 1000), 1000)
        self._producer = None
        # kafka-python logs every failed connection attempt at ERROR; the canary's own one-line
        # error says what failed, so its logs are quiet until close() (as librdkafka's are).
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
        from kafka.errors import KafkaError

        try:
            return len(self._consumer.partitions_for_topic(topic) or ())
        except KafkaError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None

    def produce(self, topic: str, key: bytes, value: bytes, timeout_s: float) -> tuple[int, int]:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError, NoBrokersAvailable

        ms = max(int(timeout_s * 1000), 1000)
        try:
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

    def read(self, topic: str, partition: int, offset: int, timeout_s: float) -> ReadBack | None:
        from kafka import TopicPartition
        from kafka.errors import KafkaError

        tp = TopicPartition(topic, partition)
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

    def close(self) -> None:
        try:
            if self._producer is not None:
                self._producer.close(timeout=1)
            self._consumer.close(autocommit=False)
        finally:
            _KAFKA_PYTHON_LOG.setLevel(self._log_level)

"""confluent-kafka (librdkafka) backend: the fast path."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as CkTopicPartition

from pipeline.errors import CommitRejected, PipelineError
from pipeline.kafka.base import (
    ConsumerClient,
    DeliveryCallback,
    DeliveryReports,
    Message,
    ProducerClient,
    TopicPartition,
    heartbeat_interval_ms,
)
from pipeline.kafka.logs import LIBRDKAFKA, ErrorReporter

log = logging.getLogger(__name__)


def _unreachable(bootstrap: str, timeout_s: float, exc: Exception) -> PipelineError:
    return PipelineError(
        f"cannot reach Kafka at {bootstrap} within {timeout_s:g} s ({exc})",
        "start it with `stockpipe local up` or pass --bootstrap HOST:PORT of a running broker",
    )


class ConfluentProducer(ProducerClient):
    def __init__(self, bootstrap: str, **options: Any) -> None:
        self.bootstrap = bootstrap
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
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
        self.errors = ErrorReporter(log)
        self._producer = Producer(config)

    def _on_error(self, err: KafkaError) -> None:
        self.errors(err.str())

    def send(self, topic: str, key: bytes, value: bytes, on_delivery: DeliveryCallback) -> None:
        def report(err: KafkaError | None, _msg: object) -> None:
            on_delivery(None if err is None else err.str())

        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=report)
                return
            except BufferError:
                # The local queue is full: serve delivery reports to make room, then retry.
                self._producer.poll(0.05)

    def send_many(
        self, topic: str, keys: Sequence[bytes], values: Sequence[bytes], first: int, reports: DeliveryReports
    ) -> None:
        # The replay's hot loop: one produce call and one small callback object per record, the
        # callback filing the record's number straight into `reports` (no wrapper per record).
        produce = self._producer.produce
        report = partial(_report_delivery, reports.delivered.append, reports.failed.append)
        for seq, key, value in zip(range(first, first + len(values)), keys, values, strict=True):
            try:
                produce(topic, value, key, -1, partial(report, seq))  # -1: the configured partitioner
            except BufferError:
                while True:  # the local queue is full: serve delivery reports to make room, then retry
                    self._producer.poll(0.05)
                    try:
                        produce(topic, value, key, -1, partial(report, seq))
                        break
                    except BufferError:
                        pass

    def poll(self) -> None:
        self._producer.poll(0)

    def flush(self, timeout_s: float) -> int:
        return self._producer.flush(timeout_s)

    def topic_partitions(self, topic: str, timeout_s: float) -> int:
        try:
            meta = self._producer.list_topics(topic, timeout=timeout_s)
        except KafkaException as exc:
            raise _unreachable(self.bootstrap, timeout_s, exc) from None
        tmeta = meta.topics.get(topic)
        if tmeta is None or tmeta.error is not None:
            return 0
        return len(tmeta.partitions)

    def close(self) -> None:
        self._producer.flush(0)


def _report_delivery(
    delivered: Callable[[int], None],
    failed: Callable[[tuple[int, str]], None],
    seq: int,
    err: KafkaError | None,
    _msg: object,
) -> None:
    if err is None:
        delivered(seq)
    else:
        failed((seq, err.str()))


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
    def __init__(self, bootstrap: str, group_id: str, topic: str, **options: Any) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        session = int(options.pop("session_timeout_ms", 10_000))
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": session,
            "heartbeat.interval.ms": heartbeat_interval_ms(session),
            "max.poll.interval.ms": int(options.pop("max_poll_interval_ms", 300_000)),
            "error_cb": self._on_error,
            "logger": LIBRDKAFKA,
        }
        config.update(options.pop("config", {}) or {})
        self.errors = ErrorReporter(log)
        self._consumer = Consumer(config)
        partitions = options.pop("partitions", None)
        if partitions:
            # Static assignment: no group membership or rebalances; offsets are still the group's.
            self._consumer.assign([CkTopicPartition(topic, p) for p in partitions])
        else:
            self._consumer.subscribe([topic], on_revoke=self._revoked)

    def _on_error(self, err: KafkaError) -> None:
        self.errors(err.str())

    def _revoked(self, _consumer: Consumer, partitions: list[CkTopicPartition]) -> None:
        if self.on_revoke is not None:
            self.on_revoke([(p.topic, p.partition) for p in partitions])

    def assigned(self) -> bool:
        return bool(self._consumer.assignment())

    def poll_batch(self, max_records: int, timeout_s: float) -> list[Message]:
        out: list[Message] = []
        for msg in self._consumer.consume(num_messages=max_records, timeout=timeout_s):
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise PipelineError(f"fatal Kafka consumer error: {err.str()}")
                log.warning("kafka: %s", err.str())
                continue
            out.append(Message(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value()))
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

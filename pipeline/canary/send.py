"""`stockpipe canary send`: one canary record onto the topic, acknowledged and read back."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from pipeline.canary.record import canary_bar, new_nonce
from pipeline.config import Settings
from pipeline.errors import PipelineError
from pipeline.kafka import NotDelivered, Unreachable, make_admin
from pipeline.kafka.security import client_security

_REACH_FIX = (
    "is the external listener reachable from here? check the security group's operator_cidrs "
    "and the brokers' advertised external address, or pass --bootstrap HOST:PORT"
)


@dataclass(frozen=True)
class SendResult:
    symbol: str
    date: str
    nonce: int
    topic: str
    partition: int
    offset: int
    produce_s: float
    readback_s: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def send_canary(settings: Settings, timeout_s: float = 60.0) -> SendResult:
    """Produce one canary, wait for its acks=all delivery, read it back byte for byte.

    Everything happens within `timeout_s`; any failure is a PipelineError naming the bootstrap,
    topic, partition and offset it got to.
    """
    deadline = time.monotonic() + timeout_s
    bootstrap, topic = settings.bootstrap, settings.topic
    bar = canary_bar(datetime.now(UTC).date(), new_nonce())
    key, value = bar.key(), bar.to_json()

    def left() -> float:
        return max(deadline - time.monotonic(), 0.0)

    try:
        client = make_admin(settings.client, bootstrap, timeout_s, client_security(settings))
    except Unreachable as exc:
        raise PipelineError(f"canary: cannot reach Kafka at {bootstrap} ({exc})", _REACH_FIX) from None
    try:
        try:
            partitions = client.partitions(topic, left())
        except Unreachable as exc:
            raise PipelineError(
                f"canary: cannot reach Kafka at {bootstrap} within {timeout_s:g} s ({exc})", _REACH_FIX
            ) from None
        if partitions == 0:
            raise PipelineError(
                f"canary: topic {topic!r} does not exist on {bootstrap}",
                f"create it (`stockpipe topics create {topic}`) or pass the pipeline's --topic",
            )

        started = time.perf_counter()
        try:
            partition, offset = client.send_one(topic, key, value, left())
        except (Unreachable, NotDelivered) as exc:
            raise PipelineError(
                f"canary: {bootstrap} topic {topic}: the record was not acknowledged ({exc})",
                "the bootstrap answered but the partition leader did not ack: check that every broker "
                "advertises an external address reachable from here (operator_cidrs) and that the "
                "partition has enough in-sync replicas for acks=all",
            ) from None
        produce_s = time.perf_counter() - started

        started = time.perf_counter()
        got = client.read_at(topic, partition, offset, left())
        readback_s = time.perf_counter() - started
        where = f"{bootstrap} topic {topic} partition {partition} offset {offset}"
        if got is None:
            seen = f"; last client error: {client.last_error}" if client.last_error else ""
            raise PipelineError(
                f"canary: acknowledged at {where} but not read back within {timeout_s:g} s{seen}",
                "is the partition leader's external listener reachable from here? "
                "check operator_cidrs and the brokers' advertised addresses",
            )
        if got.offset != offset or got.key != key or got.value != value:
            raise PipelineError(
                f"canary: read back from {where} differs from what was sent (got offset {got.offset}, "
                f"key {got.key!r}, value {(got.value or b'')[:120]!r}; sent key {key!r}, value {value!r})",
                "another writer or a broker fault: check the topic and the brokers' logs",
            )
    finally:
        client.close()
    return SendResult(
        bar.symbol,
        bar.date.isoformat(),
        bar.volume,
        topic,
        partition,
        offset,
        round(produce_s, 3),
        round(readback_s, 3),
    )

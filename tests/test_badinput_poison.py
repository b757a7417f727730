"""Poison messages on the topic (not JSON, wrong types, missing fields, tombstones, and well-formed
records from a foreign producer that break the bar rules the producer applies) go to the dead-letter
file with their partition, offset and reason; the sink keeps going and writes every good record.

Guarantee checked: docs/guarantees.md, "G5 - poison messages are set aside, never block the sink".
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Message, Producer
from fixtures_faults import cli_env, drain_sink, lake_counts

from pipeline.records import StockBar

pytestmark = pytest.mark.integration

POISON: list[tuple[bytes | None, str]] = [
    (b"this is not json", "not JSON"),
    (b"\xff\xfe\x00binary", "not JSON"),
    (b'["an", "array"]', "not an object"),
    (b'{"symbol": "AAA", "date": "2017-01-03", "open": 1.0}', "missing field 'high'"),
    (
        b'{"symbol": 7, "date": "2017-01-03", "open": 1, "high": 1, "low": 1, "close": 1, "volume": 1}',
        "field 'symbol' has the wrong type (int)",
    ),
    (
        b'{"symbol": "AAA", "date": "2017-01-03", "open": "1", "high": 1, "low": 1, "close": 1, "volume": 1}',
        "field 'open' has the wrong type (str)",
    ),
    (
        b'{"symbol": "AAA", "date": "03/01/2017", "open": 1, "high": 1, "low": 1, "close": 1, "volume": 1}',
        "date is not a valid YYYY-MM-DD date",
    ),
    (None, "empty value (tombstone)"),
    # Well-formed JSON from another producer, held to the producer's bar rules (pipeline/bar_rules.py).
    *(
        (
            f'{{"symbol": {sym}, "date": "{day}", "open": {o}, "high": {h}, "low": {lo}, "close": 1.0, '
            f'"volume": {vol}}}'.encode(),
            reason,
        )
        for sym, day, o, h, lo, vol, reason in [
            ('"AAA"', "2017-01-03", "NaN", "2.0", "0.5", "1", "open is not finite"),
            ('"AAA"', "2017-01-03", "1.0", "Infinity", "0.5", "1", "high is not finite"),
            ('"AAA"', "2017-01-03", "-1.0", "2.0", "0.5", "1", "open must be > 0"),
            ('"AAA"', "2017-01-03", "1.0", "0.5", "0.9", "1", "high 0.5 is below low 0.9"),
            ('"AAA"', "2017-01-03", "1.0", "2.0", "0.5", "-5", "volume is negative"),
            ('"AAA"', "2999-01-03", "1.0", "2.0", "0.5", "1", "date 2999-01-03 is outside"),
            ('""', "2017-01-03", "1.0", "2.0", "0.5", "1", "symbol is empty"),
            ('"AA\\u0000A"', "2017-01-03", "1.0", "2.0", "0.5", "1", "is not 1-32 printable ASCII"),
            ('"BBB"', "2017-01-03", "1.0", "2.0", "0.5", "1", "key b'AAA' does not match symbol 'BBB'"),
        ]
    ),
]
GOOD = 300


def test_poison_messages_go_to_dead_letter_file_with_offset_and_reason_and_sink_keeps_going(
    broker: str, topic: str, group_id: str, tmp_path: Path
) -> None:
    delivered: dict[tuple[int, int], bytes | None] = {}
    errors: list[str] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            errors.append(err.str())
        else:
            delivered[(msg.partition(), msg.offset())] = msg.value()

    producer = Producer({"bootstrap.servers": broker, "acks": "all"})
    for i in range(GOOD):
        bar = StockBar(
            "AAA", date(2010, 1, 1) + timedelta(days=i), 10.0, 11.0, 9.0, 10.5, 100 + i, "t.csv", i
        )
        producer.produce(topic, key=b"AAA", value=bar.to_json(), on_delivery=on_delivery)
        if i % 15 == 0:  # poison spread through the stream (same key: same partition, between good ones)
            value, _ = POISON[(i // 15) % len(POISON)]
            producer.produce(topic, key=b"AAA", value=value, on_delivery=on_delivery)
    assert producer.flush(30) == 0 and not errors
    poison_at = {tp for tp, value in delivered.items() if value is None or not value.startswith(b'{"v":')}
    assert len(poison_at) == len(range(0, GOOD, 15)) >= len(POISON)

    state = tmp_path / "state"
    done = drain_sink(
        broker,
        topic,
        group_id,
        tmp_path / "lake",
        cli_env(state),
        "--max-records",
        str(len(delivered)),
        idle_timeout_s=20,
        timeout_s=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"poison {len(poison_at)}" in done.stdout

    letters = [
        json.loads(line) for line in (state / "deadletter" / f"{topic}.jsonl").read_text().splitlines()
    ]
    assert {(d["partition"], d["offset"]) for d in letters} == poison_at
    reasons = {value: reason for value, reason in POISON}
    for letter in letters:
        value = delivered[(letter["partition"], letter["offset"])]
        assert reasons[value] in letter["reason"], letter
        assert letter["topic"] == topic
    assert lake_counts(str(tmp_path / "lake"), state) == (GOOD, GOOD)

"""`stockpipe canary send` / `find` as site.yml runs them: real subprocesses against the test broker."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from fixtures_faults import cli, cli_env, drain_sink
from fixtures_kafka import free_port

from pipeline.canary import CANARY_SOURCE, CANARY_SYMBOL, canary_sql
from pipeline.records import bar_from_json

pytestmark = pytest.mark.integration

SEND_FIELDS = {"symbol", "date", "nonce", "topic", "partition", "offset", "produce_s", "readback_s"}


def send(bootstrap: str, topic: str, env: dict[str, str], *extra: str) -> dict[str, object]:
    done = cli(["canary", "send", "--bootstrap", bootstrap, "--topic", topic, *extra], env, timeout_s=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    return json.loads(lines[0])


def read_at(bootstrap: str, topic: str, partition: int, offset: int) -> tuple[bytes, bytes]:
    """The record at (partition, offset), read independently of the code under test."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused-assign-only"})
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                assert msg.offset() == offset
                return msg.key(), msg.value()
        pytest.fail(f"nothing at {topic}/{partition}@{offset} within 10 s")
    finally:
        consumer.close()


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_canary_send_writes_one_record_the_sink_can_decode(
    broker: str, topic: str, tmp_path: Path, client: str
):
    out = send(broker, topic, cli_env(tmp_path / "state"), "--client", client, "--timeout", "20")

    assert set(out) == SEND_FIELDS
    assert out["symbol"] == CANARY_SYMBOL and out["topic"] == topic
    assert out["date"] == datetime.now(UTC).date().isoformat()
    assert isinstance(out["nonce"], int) and 0 < out["nonce"] < 2**53
    assert out["partition"] in (0, 1, 2) and out["offset"] == 0
    key, value = read_at(broker, topic, int(out["partition"]), int(out["offset"]))
    assert key == CANARY_SYMBOL.encode()
    bar = bar_from_json(value)  # what the sink does with every value
    assert (bar.symbol, bar.date.isoformat(), bar.volume) == (out["symbol"], out["date"], out["nonce"])
    assert (bar.source_file, bar.source_line) == (CANARY_SOURCE, 0)
    assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high


def test_canary_nonces_differ_between_runs(broker: str, topic: str, tmp_path: Path):
    env = cli_env(tmp_path / "state")
    first, second = send(broker, topic, env), send(broker, topic, env)
    assert first["nonce"] != second["nonce"]
    # Same symbol, so the same partition (key = symbol), one after the other.
    assert (second["partition"], second["offset"]) == (first["partition"], int(first["offset"]) + 1)


def test_canary_sent_then_sunk_is_found_by_sql_and_another_nonce_is_not(
    broker: str, topic: str, group_id: str, tmp_path: Path
):
    env = cli_env(tmp_path / "state")
    lake = tmp_path / "lake"
    out = send(broker, topic, env)
    sunk = drain_sink(broker, topic, group_id, lake, env, "--batch-age", "1", idle_timeout_s=3)
    assert sunk.returncode == 0, sunk.stderr

    find = ["canary", "find", "--symbol", str(out["symbol"]), "--date", str(out["date"]), "--lake", str(lake)]
    # Not crawled yet: the canary is in the lake, but the catalog does not know the table.
    done = cli(
        [*find, "--nonce", str(out["nonce"]), "--no-crawl", "--timeout", "1", "--interval", "0.5"], env
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "it is in the lake (" in done.stderr and "but SQL does not see it within 1 s" in done.stderr
    assert "check the catalog (`stockpipe crawl`" in done.stderr

    done = cli([*find, "--nonce", str(out["nonce"]), "--timeout", "30", "--interval", "1"], env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    found = json.loads(lines[0])
    assert set(found) == {"found", "seconds", "sql"}
    assert found["found"] == 1
    day = date.fromisoformat(str(out["date"]))
    # Pruned to the canary's partition (partition_by=month: year=/month=).
    assert f"year = {day.year} AND month = {day.month}" in found["sql"]
    assert f"volume = {out['nonce']}" in found["sql"]

    done = cli([*find, "--nonce", str(int(out["nonce"]) + 1), "--timeout", "2", "--interval", "1"], env)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("stockpipe: error: canary ")
    assert "the sink has not written it within 2 s" in done.stderr
    assert "(1 object under" in done.stderr and "journalctl -u stockpipe-sink" in done.stderr
    assert done.elapsed_s < 20


def test_canary_find_before_anything_was_sunk_blames_the_sink(tmp_path: Path):
    env = cli_env(tmp_path / "state")
    today = datetime.now(UTC).date().isoformat()
    find = ["canary", "find", "--symbol", CANARY_SYMBOL, "--date", today, "--nonce", "7"]
    done = cli([*find, "--lake", str(tmp_path / "lake"), "--timeout", "1", "--interval", "0.5"], env)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "the sink has not written it within 1 s (no object under" in done.stderr


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_canary_send_to_an_unreachable_bootstrap_fails_fast_naming_it(tmp_path: Path, client: str):
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    done = cli(
        ["canary", "send", "--bootstrap", address, "--client", client, "--timeout", "3"],
        cli_env(tmp_path / "state"),
        timeout_s=30,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("stockpipe: error: canary: ")
    assert f"cannot reach Kafka at {address}" in done.stderr and "operator_cidrs" in done.stderr
    assert done.elapsed_s < 15


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_canary_send_to_a_missing_topic_says_so(broker: str, tmp_path: Path, client: str):
    args = ["canary", "send", "--bootstrap", broker, "--topic", "no-such-topic", "--client", client]
    done = cli([*args, "--timeout", "10"], cli_env(tmp_path / "state"), timeout_s=30)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert f"topic 'no-such-topic' does not exist on {broker}" in done.stderr


@pytest.mark.parametrize(
    ("partition_by", "pruning"),
    [
        ("month", "year = 2026 AND month = 3 AND "),
        ("year", "year = 2026 AND "),
        ("date", "trade_date = DATE '2026-03-09' AND "),
    ],
)
def test_canary_sql_prunes_to_the_lake_partition(partition_by: str, pruning: str):
    sql = canary_sql("prices", partition_by, "ZZ'X", date(2026, 3, 9), 42)
    assert sql == (
        f"SELECT count(*) AS found FROM prices WHERE {pruning}"
        "\"date\" = DATE '2026-03-09' AND symbol = 'ZZ''X' AND volume = 42"
    )

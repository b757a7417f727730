"""Brokers crash in the middle of a replay on a real 3-node KRaft cluster (replication 3, min ISR 2).

1. The leader of a partition is SIGKILLed while rows stream to it: leadership moves to an in-sync
   follower, the idempotent acks=all producer retries there, exits 0, and the lake holds every row once.
2. All three brokers are SIGKILLed at once and started again on their data directories: the producer
   waits out the outage, exits 0, and the lake holds every row once.

Guarantee checked: docs/guarantees.md, "G2 - the producer retries until delivered or reports failure"
(acks=all, idempotent producer, delivery timeout) on top of what the kafka role configures (replication
factor 3, min.insync.replicas 2, no unclean leader election).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from fixtures_faults import (
    cli,
    cli_env,
    drain_sink,
    kill_hard,
    lake_counts,
    parse_summary,
    spawn_cli,
    wait_until,
)

from pipeline.kafka.topics import ensure_topic
from pipeline.local.kafka import KafkaCluster

pytestmark = pytest.mark.integration

OUTAGE_S = 5


def _delivered_in(checkpoint: Path) -> int:
    try:
        return int(json.loads(checkpoint.read_text())["delivered"])
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def _leader(bootstrap: str, topic: str, partition: int) -> int:
    meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    return int(meta.topics[topic].partitions[partition].leader)


def _replay_through(
    cluster: KafkaCluster, tmp_path: Path, fault: Callable[[str], str]
) -> tuple[dict[str, int], int, tuple[int, int], str]:
    """Produce a sample to a new RF-3 topic, run `fault(topic)` mid-replay, then sink and count by SQL.

    Returns (the producer's summary counts, rows in the source, (rows, distinct rows) in the lake, what
    the fault reported).
    """
    env = cli_env(tmp_path / "state")
    source = tmp_path / "source"
    made = cli(["sample", "--out", str(source), "--tickers", "60", "--days", "800"], env)
    assert made.returncode == 0, made.stderr
    rows = int(made.stdout.split()[1].replace(",", ""))
    topic = f"brokers-{uuid.uuid4().hex[:8]}"
    assert ensure_topic(cluster.bootstrap, topic, partitions=3, replication=3)
    checkpoint = tmp_path / "checkpoint.json"
    producer_log = tmp_path / "produce.log"
    producer = spawn_cli(
        [
            *("produce", "--source", str(source), "--bootstrap", cluster.bootstrap, "--topic", topic),
            # Paced: the replay is still running when the fault hits.
            *("--rate", "3000/s", "--checkpoint", str(checkpoint), "--no-progress"),
        ],
        env,
        producer_log,
    )
    try:
        wait_until("the producer's first deliveries", lambda: _delivered_in(checkpoint) >= 2000, 60)
        what = fault(topic)
        assert producer.poll() is None, "the replay ended before the fault was over"
        producer.wait(300)
        output = producer_log.read_text()
        assert producer.returncode == 0, output[-3000:]
    finally:
        kill_hard(producer)
    lake = tmp_path / "lake"
    sink = drain_sink(cluster.bootstrap, topic, f"g-{topic}", lake, env, timeout_s=300)
    assert sink.returncode == 0, sink.stderr[-3000:]
    return parse_summary(output), rows, lake_counts(str(lake), tmp_path / "state"), what


def test_partition_leader_killed_mid_replay_loses_and_duplicates_nothing(
    cluster3: KafkaCluster, tmp_path: Path
) -> None:
    killed: list[int] = []

    def kill_leader(topic: str) -> str:
        victim = _leader(cluster3.bootstrap, topic, 0)
        cluster3.kill(victim)
        killed.append(victim)
        survivors = ",".join(n.address for n in cluster3.nodes if n.node_id != victim)
        wait_until(
            f"partition 0 of {topic} to elect a leader other than node {victim}",
            lambda: _leader(survivors, topic, 0) not in (victim, -1),
            timeout_s=60,
            every_s=0.5,
        )
        return f"leader {victim} killed, {_leader(survivors, topic, 0)} took over"

    try:
        # The rest of the replay runs on two brokers (still min.insync.replicas); the victim comes back after.
        produced, rows, (counted, distinct), what = _replay_through(cluster3, tmp_path, kill_leader)
    finally:
        cluster3.start(killed)
    print(what)
    assert produced["delivered"] == produced["sent"] == rows and produced["failed"] == 0
    assert (counted, distinct) == (rows, rows)


def test_whole_cluster_crash_and_restart_mid_replay_loses_and_duplicates_nothing(
    cluster3: KafkaCluster, tmp_path: Path
) -> None:
    def crash_all(_topic: str) -> str:
        for node in cluster3.nodes:
            cluster3.kill(node.node_id)
        time.sleep(OUTAGE_S)  # the outage itself, not a wait for readiness
        started = time.monotonic()
        cluster3.start()
        return f"all 3 brokers killed; back {time.monotonic() - started:.1f} s after the restart began"

    produced, rows, (counted, distinct), what = _replay_through(cluster3, tmp_path, crash_all)
    print(what)
    assert "brokers are down" in (tmp_path / "produce.log").read_text()  # it saw the outage
    assert produced["delivered"] == produced["sent"] == rows and produced["failed"] == 0
    assert (counted, distinct) == (rows, rows)

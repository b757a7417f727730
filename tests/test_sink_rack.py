"""The sink reads from the replica in its own zone when `[stockpipe.sink] client_rack` is set (KIP-392).

A real 3-broker KRaft cluster whose brokers sit in racks zone-a, zone-b and zone-c with the rack-aware
replica selector (pipeline/local/kafka.py `racks`), as the kafka role lays brokers over availability
zones. The brokers' request log (kafka.request.logger at DEBUG, set through Kafka's own kafka-configs.sh)
says which broker served each of the sink's fetches. Without a rack the sink fetches from every
partition's leader; with client_rack = zone-b it fetches from zone-b's broker, whoever leads. Both runs
write every row once.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from fixtures_faults import cli, cli_env, lake_counts
from fixtures_kafka import start_cluster

from pipeline.local.kafka import KafkaCluster

pytestmark = pytest.mark.integration

RACKS = ["zone-a", "zone-b", "zone-c"]
_FETCH = re.compile(r'"requestApiKey":1,.*?"clientId":"([^"]*)"')


@pytest.fixture(scope="module")
def zoned(kafka_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    cluster = start_cluster(kafka_home, tmp_path_factory.mktemp("zoned"), nodes=3, racks=RACKS)
    try:
        for node in cluster.nodes:
            done = subprocess.run(
                [
                    str(kafka_home / "bin" / "kafka-configs.sh"),
                    "--bootstrap-server",
                    cluster.bootstrap,
                    "--alter",
                    "--entity-type",
                    "broker-loggers",
                    "--entity-name",
                    str(node.node_id),
                    "--add-config",
                    "kafka.request.logger=DEBUG",
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        yield cluster
    finally:
        cluster.close()


def _log_sizes(cluster: KafkaCluster) -> dict[int, int]:
    return {n.node_id: (n.log_dir / "server.log").stat().st_size for n in cluster.nodes}


def _consumer_fetches(cluster: KafkaCluster, since: dict[int, int]) -> dict[int, int]:
    """FETCH requests from the sink (librdkafka's client id; not replica or KRaft fetchers) per broker."""
    counts = {}
    for node in cluster.nodes:
        with (node.log_dir / "server.log").open("rb") as log:
            log.seek(since[node.node_id])
            text = log.read().decode(errors="replace")
        counts[node.node_id] = sum(1 for m in _FETCH.finditer(text) if m.group(1) == "rdkafka")
    return counts


def _sink(cluster: KafkaCluster, topic: str, tmp: Path, lake: Path, **settings: str) -> dict[int, int]:
    before = _log_sizes(cluster)
    env = cli_env(tmp / "state", STOCKPIPE_BOOTSTRAP=cluster.bootstrap, STOCKPIPE_TOPIC=topic, **settings)
    group = f"rack-{uuid.uuid4().hex[:6]}"
    done = cli(
        ["sink", "--group", group, "--lake", str(lake), "--idle-timeout", "6", "--no-progress"], env, 180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return _consumer_fetches(cluster, before)


def test_a_sink_with_a_rack_fetches_from_its_zone_and_without_one_from_the_leaders(
    zoned: KafkaCluster, tmp_path: Path
) -> None:
    topic = f"zoned-{uuid.uuid4().hex[:6]}"
    source = tmp_path / "source"
    made = cli(["sample", "--out", str(source), "--tickers", "6", "--days", "120"], cli_env(tmp_path / "s"))
    assert made.returncode == 0, made.stderr
    env = cli_env(
        tmp_path / "state",
        STOCKPIPE_BOOTSTRAP=zoned.bootstrap,
        STOCKPIPE_TOPIC=topic,
        STOCKPIPE_PRODUCER_PARTITIONS="3",
    )
    produced = cli(["produce", "--source", str(source), "--no-progress"], env, 180)
    assert produced.returncode == 0, produced.stderr[-3000:]
    rows = int(made.stdout.split()[1].replace(",", ""))

    meta = AdminClient({"bootstrap.servers": zoned.bootstrap}).list_topics(topic, timeout=30).topics[topic]
    leaders = {p.leader for p in meta.partitions.values()}
    assert len(meta.partitions) == 3 and all(len(p.replicas) == 3 for p in meta.partitions.values())
    assert leaders - {2}, f"every partition is led by zone-b's broker ({leaders}): nothing to tell apart"

    plain = _sink(zoned, topic, tmp_path, tmp_path / "lake-plain")
    assert all(plain[leader] > 0 for leader in leaders), plain  # each leader served its partitions

    racked = _sink(zoned, topic, tmp_path, tmp_path / "lake-rack", STOCKPIPE_SINK_CLIENT_RACK="zone-b")
    elsewhere = max(racked[1], racked[3])  # the leaders' first answers name zone-b's replica; then only it
    assert racked[2] > 4 * max(elsewhere, 1), racked
    assert min(plain[1], plain[3]) > 2 * elsewhere, (plain, racked)

    for lake in ("lake-plain", "lake-rack"):
        counted, distinct = lake_counts(str(tmp_path / lake), tmp_path / f"{lake}-state")
        assert counted == distinct == rows, (lake, counted, distinct, rows)

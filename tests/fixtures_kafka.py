"""Real Apache Kafka on 127.0.0.1 for integration tests (KRaft, built from Maven Central).

Registered as a pytest plugin by conftest.py.
- `kafka_home` (session): the unpacked distribution (pipeline/local/kafka_dist.py; built once per
  machine under .cache/kafka-dist, which `make setup-test` fills before the tests run).
- `kafka1` (session): one KRaft node (broker + controller) on free ports; `broker` is its bootstrap.
- `cluster3` (session): a 3-node KRaft cluster (replication factor 3, min.insync.replicas 2) for the
  tests where replication matters. Tests that stop or kill its nodes start them again before they end.
- `topic`: a new, uniquely named topic on `broker` (3 partitions).
- `group_id`: a new consumer group id.
Plain helpers: `start_cluster(...)` for a test that needs its own cluster, `free_port()`,
`wait_for_port(...)`, `stop_process(...)`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.kafka.topics import ensure_topic
from pipeline.local import kafka_dist
from pipeline.local.kafka import KafkaCluster
from pipeline.local.ports import free_port as free_port  # re-exported for the tests
from pipeline.local.ports import stop_process as stop_process
from pipeline.local.ports import wait_for_port as wait_for_port

ROOT = Path(__file__).resolve().parent.parent
#: The version the tests run (the newest the roles install).
KAFKA_VERSION = "4.1.1"
#: Session timeout for sinks in tests: short, so a killed member's partitions move on quickly.
TEST_SESSION_TIMEOUT_MS = 6000
#: Test brokers accept sessions down to this (Kafka's default floor is 6 s), for the kill test's churn.
TEST_MIN_SESSION_TIMEOUT_MS = 1000


def dist_dir() -> Path:
    return Path(os.environ.get("STOCKPIPE_KAFKA_DIST_DIR", ROOT / ".cache" / "kafka-dist"))


def start_cluster(home: Path, workdir: Path, nodes: int = 1, **options: object) -> KafkaCluster:
    """A started KRaft cluster of `nodes` nodes under `workdir`; the caller closes it."""
    overrides = {"group.min.session.timeout.ms": str(TEST_MIN_SESSION_TIMEOUT_MS)}
    overrides.update(options.pop("overrides", None) or {})  # type: ignore[call-overload]
    cluster = KafkaCluster(home, workdir, nodes=nodes, overrides=overrides, die_with_parent=True, **options)  # type: ignore[arg-type]
    try:
        cluster.start(timeout_s=180)
    except BaseException:
        cluster.close()
        raise
    return cluster


@pytest.fixture(scope="session")
def kafka_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = kafka_dist.build(KAFKA_VERSION, dist_dir())
    return kafka_dist.unpack(dist, dist_dir() / "unpacked")


@pytest.fixture(scope="session")
def kafka1(kafka_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    cluster = start_cluster(kafka_home, tmp_path_factory.mktemp("kafka1"), nodes=1)
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def broker(kafka1: KafkaCluster) -> str:
    return kafka1.bootstrap


@pytest.fixture(scope="session")
def cluster3(kafka_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    cluster = start_cluster(kafka_home, tmp_path_factory.mktemp("kafka3"), nodes=3)
    yield cluster
    cluster.close()


@pytest.fixture
def topic(broker: str) -> str:
    name = f"test-{uuid.uuid4().hex[:10]}"
    assert ensure_topic(broker, name, partitions=3)
    return name


@pytest.fixture
def group_id() -> str:
    return f"group-{uuid.uuid4().hex[:10]}"

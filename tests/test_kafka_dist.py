"""The Kafka distribution assembled from Maven Central (pipeline/local/kafka_dist.py) is laid out and
behaves like Apache's tarball: the scripts the roles and tests call, one logging binding, logs that
fill, the environment variables Apache's scripts honour, and a reproducible, cached tarball."""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
from fixtures_kafka import KAFKA_VERSION, dist_dir

from pipeline.local import kafka_dist
from pipeline.local.kafka import KafkaCluster

#: What roles/kafka, roles/zookeeper, the health gate and the tests run (issue: "Real Apache Kafka").
CALLED_SCRIPTS = {
    "kafka-server-start.sh",
    "kafka-server-stop.sh",
    "kafka-storage.sh",
    "kafka-topics.sh",
    "kafka-metadata-quorum.sh",
    "kafka-configs.sh",
    "kafka-producer-perf-test.sh",
}


@pytest.mark.parametrize("version", kafka_dist.TESTED_VERSIONS)
def test_distribution_has_apaches_layout_and_one_logging_binding(version: str) -> None:
    dist = kafka_dist.build(version, dist_dir())
    assert dist.tarball.name == f"kafka_2.13-{version}.tgz"
    assert (dist_dir() / f"{dist.tarball.name}.sha512").read_text().split() == [
        dist.sha512,
        dist.tarball.name,
    ]
    assert kafka_dist.sha512_of(dist.tarball) == dist.sha512
    with tarfile.open(dist.tarball) as tar:
        members = {m.name: m for m in tar.getmembers()}
    top = {name.split("/")[0] for name in members}
    assert top == {f"kafka_2.13-{version}"}
    scripts = {n.split("/")[-1] for n in members if n.split("/")[1:2] == ["bin"] and n.endswith(".sh")}
    wanted = CALLED_SCRIPTS | (
        {"zookeeper-server-start.sh", "zookeeper-server-stop.sh"} if version < "4" else set()
    )
    assert wanted <= scripts
    assert all(members[f"kafka_2.13-{version}/bin/{s}"].mode & 0o111 for s in scripts)
    libs = [n.split("/")[-1] for n in members if "/libs/" in n]
    assert f"kafka_2.13-{version}.jar" in libs and f"kafka-tools-{version}.jar" in libs
    bindings = [
        j for j in libs if re.match(r"(slf4j-reload4j|log4j-slf4j-impl|slf4j-simple|logback-classic)-", j)
    ]
    assert len(bindings) == 1, bindings
    if version < "4":
        assert any(j.startswith("zookeeper-3.") for j in libs)
    assert all(
        m.uid == 0 and m.gid == 0 and m.mtime == members[f"kafka_2.13-{version}"].mtime
        for m in members.values()
    )


def test_a_rebuild_from_unchanged_inputs_is_a_cache_hit_and_packing_is_reproducible(tmp_path: Path) -> None:
    dist = kafka_dist.build(KAFKA_VERSION, dist_dir())
    assert kafka_dist.cached(KAFKA_VERSION, dist_dir()) == dist
    # The same tree packed twice, at different times, gives the same bytes.
    tree = tmp_path / "kafka_2.13-0.0.0"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "x.sh").write_text("#!/bin/sh\n")
    (tree / "bin" / "x.sh").chmod(0o755)
    (tree / "README").write_text("hello\n")
    kafka_dist._pack(tree, tmp_path / "a.tgz")
    os.utime(tree / "README", (1, 1))
    kafka_dist._pack(tree, tmp_path / "b.tgz")
    assert (tmp_path / "a.tgz").read_bytes() == (tmp_path / "b.tgz").read_bytes()


def test_tools_honour_apaches_environment_variables(kafka_home: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KAFKA_HEAP_OPTS": "-Xmx200m",
        "KAFKA_OPTS": "-XX:+PrintCommandLineFlags",
        "LOG_DIR": str(tmp_path / "logs"),
    }
    done = subprocess.run(
        [str(kafka_home / "bin" / "kafka-storage.sh"), "random-uuid"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "-XX:MaxHeapSize=209715200" in done.stdout  # KAFKA_HEAP_OPTS and KAFKA_OPTS reached the JVM
    assert re.search(r"^[A-Za-z0-9_-]{22}$", done.stdout, re.M), done.stdout  # the tool's answer on stdout
    assert (tmp_path / "logs").is_dir()  # LOG_DIR is where logs go
    bad = subprocess.run(
        [str(kafka_home / "bin" / "kafka-topics.sh"), "--version"],
        env={**env, "JAVA_HOME": str(tmp_path / "no-jdk")},
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "JAVA_HOME" in bad.stderr  # JAVA_HOME picks the java that runs


def test_a_started_broker_logs_to_server_log_in_its_log_dir(kafka1: KafkaCluster) -> None:
    server_log = kafka1.nodes[0].log_dir / "server.log"
    text = server_log.read_text()
    assert "Kafka Server started" in text or "[KafkaRaftServer nodeId=1] Kafka Server started" in text, text[
        -2000:
    ]
    assert (kafka1.nodes[0].log_dir / "kafkaServer-gc.log").stat().st_size > 0


def test_a_generated_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """kafka-storage.sh reads `-t -Xy...` as an option: one random id in 64 failed a CI run's broker."""
    import uuid

    from pipeline.local import kafka as local_kafka

    drawn = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" + bytes(15))])
    monkeypatch.setattr(local_kafka.uuid, "uuid4", lambda: next(drawn))
    cluster_id = local_kafka._cluster_id()
    assert cluster_id == "EAAAAAAAAAAAAAAAAAAAAA" and len(cluster_id) == 22

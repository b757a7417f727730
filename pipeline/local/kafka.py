"""Real Apache Kafka (KRaft) nodes on one machine: `stockpipe local up --kafka`, the tests and the benchmarks.

A `KafkaCluster` is N combined broker+controller nodes from one unpacked distribution
(`pipeline.local.kafka_dist`), each with its own ports, data directory and log directory under one
work directory, started through the distribution's own `bin/kafka-server-start.sh`. The quorum is
static (`controller.quorum.voters`), formatted once; a restart keeps every node's ports and data, so
a killed or stopped node comes back as the same broker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.local.ports import free_port, port_answers, stop_process

#: Settings that make small clusters on one machine quick to start and to join, and safe on a small heap.
LOCAL_DEFAULTS: dict[str, str] = {
    "num.partitions": "3",
    "auto.create.topics.enable": "false",
    "unclean.leader.election.enable": "false",
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.num.partitions": "10",
    "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
    "log.segment.bytes": str(64 * 1024 * 1024),
    "controlled.shutdown.enable": "true",
}


@dataclass
class KafkaNode:
    node_id: int
    host: str
    port: int
    controller_port: int
    root: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    external_port: int | None = None  # the SASL_SSL listener, when the cluster has one

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def config(self) -> Path:
        return self.root / "server.properties"

    @property
    def console(self) -> Path:
        return self.root / "console.log"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass(frozen=True)
class SecureListener:
    """A SASL_SSL listener (EXTERNAL) beside the PLAINTEXT one, with the standard authorizer.

    `keystore` gives each node's PEM file (PKCS#8 private key + certificate chain). The PLAINTEXT
    listener stays for the brokers themselves and for setting up users and ACLs (its principal,
    ANONYMOUS, is a super user, as is `admin`): a cluster for tests on 127.0.0.1, not a template for
    production (roles/kafka secures every listener).
    """

    keystore: Callable[[KafkaNode], Path]
    mechanism: str = "SCRAM-SHA-512"
    super_users: tuple[str, ...] = ("User:ANONYMOUS", "User:admin")


class KafkaCluster:
    """N KRaft nodes (broker + controller each) of the distribution at `home`, under `workdir`.

    Ports are chosen once (free on 127.0.0.1 at creation, or given) and kept across restarts.
    Replication settings follow the size: RF = min(3, N), min.insync.replicas = max(1, RF - 1).
    """

    def __init__(
        self,
        home: Path,
        workdir: Path,
        nodes: int | None = None,
        host: str = "127.0.0.1",
        heap: str = "384m",
        overrides: Mapping[str, str] | None = None,
        ports: Iterable[tuple[int, int]] | None = None,
        cluster_id: str | None = None,
        die_with_parent: bool = False,
        secure: SecureListener | None = None,
        racks: Sequence[str] | None = None,
    ) -> None:
        """`nodes` (default 1) nodes on free ports, or one node per (client, controller) port in `ports`.

        `racks` gives each node a `broker.rack` (a zone, as on EC2) and turns on the rack-aware replica
        selector, so a consumer with a `client.rack` reads from the replica in its rack (KIP-392).
        """
        pairs = list(ports) if ports is not None else []
        count = nodes if nodes is not None else (len(pairs) or 1)
        if count < 1 or (pairs and len(pairs) != count):
            raise ValueError(f"a cluster needs one or more nodes, one port pair each ({count}, {pairs})")
        self.home = home
        self.workdir = workdir
        self.host = host
        self.heap = heap
        self.overrides = dict(overrides or {})
        self.cluster_id = cluster_id or _cluster_id()
        # Tests and benchmarks: a broker must not outlive a killed runner. `local up` keeps its broker.
        self.die_with_parent = die_with_parent
        self.secure = secure
        if racks is not None and len(racks) != count:
            raise ValueError(f"one rack per node: {count} nodes, racks {list(racks)}")
        self.racks = list(racks) if racks is not None else None
        pairs = pairs or [(free_port(host), free_port(host)) for _ in range(count)]
        self.nodes = [
            KafkaNode(
                i + 1,
                host,
                port,
                cport,
                workdir / f"node-{i + 1}",
                external_port=free_port(host) if secure else None,
            )
            for i, (port, cport) in enumerate(pairs)
        ]

    @property
    def bootstrap(self) -> str:
        return ",".join(n.address for n in self.nodes)

    @property
    def secure_bootstrap(self) -> str:
        """The SASL_SSL listeners (a cluster made with `secure`)."""
        return ",".join(f"{n.host}:{n.external_port}" for n in self.nodes if n.external_port)

    @property
    def replication_factor(self) -> int:
        return min(3, len(self.nodes))

    @property
    def min_insync_replicas(self) -> int:
        return max(1, self.replication_factor - 1)

    def node(self, node_id: int) -> KafkaNode:
        return self.nodes[node_id - 1]

    def properties(self, node: KafkaNode) -> dict[str, str]:
        voters = ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in self.nodes)
        rf, isr = str(self.replication_factor), str(self.min_insync_replicas)
        return {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "controller.listener.names": "CONTROLLER",
            "listeners": f"PLAINTEXT://{node.host}:{node.port},CONTROLLER://{node.host}:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{node.host}:{node.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(node.data_dir),
            "default.replication.factor": rf,
            "min.insync.replicas": isr,
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": isr,
            **LOCAL_DEFAULTS,
            **self._rack_properties(node),
            **self._secure_properties(node),
            **self.overrides,
        }

    def _rack_properties(self, node: KafkaNode) -> dict[str, str]:
        if self.racks is None:
            return {}
        return {
            "broker.rack": self.racks[node.node_id - 1],
            "replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector",
        }

    def _secure_properties(self, node: KafkaNode) -> dict[str, str]:
        if self.secure is None:
            return {}
        mech = self.secure.mechanism.lower()
        plain = f"PLAINTEXT://{node.host}:{node.port}"
        external = f"EXTERNAL://{node.host}:{node.external_port}"
        return {
            "listeners": f"{plain},{external},CONTROLLER://{node.host}:{node.controller_port}",
            "advertised.listeners": f"{plain},{external}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,EXTERNAL:SASL_SSL",
            "sasl.enabled.mechanisms": self.secure.mechanism,
            f"listener.name.external.{mech}.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.external.ssl.keystore.type": "PEM",
            "listener.name.external.ssl.keystore.location": str(self.secure.keystore(node)),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": ";".join(self.secure.super_users),
            "allow.everyone.if.no.acl.found": "false",
        }

    def _env(self, node: KafkaNode | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
        if node is not None:
            env["KAFKA_HEAP_OPTS"] = f"-Xms{self.heap} -Xmx{self.heap}"
            env["LOG_DIR"] = str(node.log_dir)
        return env

    def format(self) -> None:
        """Write every node's server.properties and format its storage (once; all nodes at once)."""
        procs: list[tuple[KafkaNode, subprocess.Popen[bytes]]] = []
        for node in self.nodes:
            node.root.mkdir(parents=True, exist_ok=True)
            node.config.write_text("".join(f"{k}={v}\n" for k, v in self.properties(node).items()))
            if (node.data_dir / "meta.properties").exists():
                continue
            with (node.root / "format.log").open("wb") as out:
                cmd = [str(self.home / "bin" / "kafka-storage.sh"), "format", "--ignore-formatted"]
                cmd += ["-t", self.cluster_id, "-c", str(node.config)]
                procs.append((node, subprocess.Popen(cmd, stdout=out, stderr=out, env=self._env(None))))
        for node, proc in procs:
            if proc.wait(120) != 0:
                tail = (node.root / "format.log").read_text(errors="replace").strip().splitlines()[-1:]
                raise PipelineError(
                    f"kafka-storage.sh format failed for node {node.node_id}: "
                    f"{tail[0] if tail else '(no output)'}",
                    f"see {node.root / 'format.log'}",
                )

    def start(self, node_ids: Iterable[int] | None = None, wait: bool = True, timeout_s: float = 120) -> None:
        """Start the given nodes (default: all) and, with `wait`, poll until they serve clients."""
        self.format()
        ids = list(node_ids) if node_ids is not None else [n.node_id for n in self.nodes]
        for node_id in ids:
            node = self.node(node_id)
            if node.running():
                continue
            with node.console.open("ab") as out:
                node.proc = subprocess.Popen(
                    [str(self.home / "bin" / "kafka-server-start.sh"), str(node.config)],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    env=self._env(node),
                    start_new_session=True,
                    preexec_fn=_die_with_parent if self.die_with_parent else None,
                )
        if wait:
            self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float = 120) -> None:
        """Poll until every running node answers and the cluster metadata lists each of them."""
        from confluent_kafka.admin import AdminClient  # the clients are a dependency of the package anyway

        deadline = time.monotonic() + timeout_s
        running = [n for n in self.nodes if n.proc is not None]
        want = {n.node_id for n in running}
        seen: set[int] = set()
        while time.monotonic() < deadline:
            dead = [n for n in running if n.proc is not None and n.proc.poll() is not None]
            if dead:
                node = dead[0]
                raise PipelineError(
                    f"Kafka node {node.node_id} exited with code {node.proc.returncode if node.proc else '?'}"
                    f" while starting: {_last_error(node)}",
                    f"see {node.log_dir / 'server.log'} and {node.console}",
                )
            up = [n for n in running if port_answers(n.host, n.port)]
            if len(up) == len(running):
                try:
                    admin = AdminClient(
                        {"bootstrap.servers": ",".join(n.address for n in up), "log_level": 2}
                    )
                    seen = set(admin.list_topics(timeout=5).brokers)
                    if want <= seen:
                        return
                except Exception:
                    pass
            time.sleep(0.25)
        raise PipelineError(
            f"Kafka nodes {sorted(want)} were not all serving after {timeout_s:g} s "
            f"(metadata lists {sorted(seen)})",
            f"see the logs under {self.workdir}",
        )

    def stop(self, node_id: int, timeout_s: float = 60) -> None:
        """A clean stop (SIGTERM: controlled shutdown), waiting for the process to exit."""
        node = self.node(node_id)
        if node.proc is None:
            return
        stop_process(node.proc, timeout_s)
        node.proc = None

    def kill(self, node_id: int) -> None:
        """A crash: SIGKILL, no controlled shutdown."""
        node = self.node(node_id)
        if node.proc is not None:
            if node.proc.poll() is None:
                node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(30)
            node.proc = None

    def close(self) -> None:
        """Stop every node (all at once, so no node waits for a controlled shutdown it cannot get)."""
        live = [n for n in self.nodes if n.running()]
        for node in live:
            if node.proc is not None:
                node.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for node in live:
            if node.proc is None:
                continue
            try:
                node.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(30)
            node.proc = None

    def __enter__(self) -> KafkaCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the process that started it exits (Linux)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (what `random-uuid` prints).

    Never one that starts with "-", as Kafka's own: `kafka-storage.sh format -t -Xy...` reads it as an
    option ("argument --cluster-id/-t: expected one argument"), one id in 64.
    """
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _last_error(node: KafkaNode) -> str:
    for path in (node.log_dir / "server.log", node.console):
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in reversed(lines):
            if " ERROR " in line or "Exception" in line:
                return line.strip()[:300]
    return "(no error logged)"

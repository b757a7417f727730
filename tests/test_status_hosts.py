"""`stockpipe status --hosts INVENTORY` over real SSH: a real OpenSSH server (Debian's sshd, run in the
foreground on a free 127.0.0.1 port with a temporary host key and authorized_keys), paramiko on our side.

What it proves: keys from a file, host keys verified (a host whose key is not in known_hosts is refused
and reported, never accepted), an unreachable host is one line and not a failure of the others, and the
report's heap, disk use and error lines are those of this machine (the session's Kafka JVM, a data
directory of known size, a broker log with known ERROR lines).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures_faults import cli, cli_env
from fixtures_kafka import free_port, stop_process, wait_for_port

from pipeline.local.kafka import KafkaCluster
from pipeline.ops.hosts import host_report, read_inventory

pytestmark = pytest.mark.integration
SSHD = "/usr/sbin/sshd"


def _ensure_sshd() -> None:
    """Debian's openssh-server, installed like the suite's other system packages when missing."""
    if Path(SSHD).exists():
        return
    done = subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "openssh-server"],
        capture_output=True,
        text=True,
        timeout=600,
        env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    if not Path(SSHD).exists():
        pytest.fail(f"openssh-server is not installed and apt-get failed:\n{done.stderr[-2000:]}")


class Sshd:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        for name in ("host_key", "client_key"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True
            )
        (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
        host_pub = (root / "host_key.pub").read_text().split()
        self.known_hosts = root / "known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        self.config = root / "sshd_config"
        self.config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {root / 'host_key'}",
                    f"AuthorizedKeysFile {root / 'authorized_keys'}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "UsePAM no",
                    "StrictModes no",
                    f"PidFile {root / 'sshd.pid'}",
                    "",
                ]
            )
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        self.log = root / "sshd.log"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.config)], stdout=out, stderr=out, stdin=subprocess.DEVNULL
            )
        wait_for_port("127.0.0.1", self.port, 15, self.proc)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    _ensure_sshd()
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    stop_process(server.proc)  # type: ignore[arg-type]


@pytest.fixture
def inventory(sshd: Sshd, tmp_path: Path) -> Path:
    data = tmp_path / "kafka-data"
    (data / "stock-prices-0").mkdir(parents=True)
    (data / "stock-prices-0" / "00000000000000000000.log").write_bytes(b"x" * 3 * 1024 * 1024)
    logs = tmp_path / "kafka-logs"
    logs.mkdir()
    (logs / "server.log").write_text(
        "[2026-11-30 10:00:00,000] INFO started (kafka.server.KafkaServer)\n"
        + "".join(f"[2026-11-30 10:00:0{i},000] ERROR broken thing {i} (kafka.x)\n" for i in range(7))
        + "[2026-11-30 10:00:09,000] WARN not an error (kafka.y)\n"
    )
    state = tmp_path / "pipeline-state"
    state.mkdir()
    dead = free_port()
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        f"""all:
  vars:
    ansible_user: root
  hosts:
    localhost:
      ansible_connection: local
  children:
    kafka:
      hosts:
        broker-1:
          ansible_host: 127.0.0.1
          ansible_port: {sshd.port}
          kafka_data_dirs: [{data}]
          kafka_log_dir: {logs}
        broker-down:
          ansible_host: 127.0.0.1
          ansible_port: {dead}
    pipeline:
      hosts:
        pipeline-1:
          ansible_host: 127.0.0.1
          ansible_port: {sshd.port}
          pipeline_state_dir: {state}
        pipeline-unknown-key:
          ansible_host: localhost
          ansible_port: {sshd.port}
"""
    )
    return inv


def test_the_inventory_gives_each_host_its_role_address_and_variables(inventory: Path) -> None:
    hosts = {h.name: h for h in read_inventory(inventory)}
    assert set(hosts) == {"broker-1", "broker-down", "pipeline-1", "pipeline-unknown-key"}  # not localhost
    assert hosts["broker-1"].roles == {"broker"} and hosts["pipeline-1"].roles == {"pipeline"}
    assert hosts["broker-1"].user == "root" and hosts["broker-1"].address == "127.0.0.1"


def test_hosts_report_heap_disk_and_errors_and_keep_going_past_bad_hosts(
    sshd: Sshd, inventory: Path, kafka1: KafkaCluster
) -> None:
    reports = {
        r.name: r
        for r in host_report(
            inventory, identity=sshd.root / "client_key", known_hosts=sshd.known_hosts, timeout_s=5
        )
    }

    broker = reports["broker-1"]
    assert broker.error is None, broker.error
    # The session's Kafka JVM runs on this machine: its -Xmx as /proc shows it.
    pid = kafka1.nodes[0].proc.pid  # type: ignore[union-attr]
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    heap = [a.decode()[4:] for a in args if a.startswith(b"-Xmx")][-1]
    assert any(j.pid == pid and j.main == "kafka.Kafka" and j.heap == heap for j in broker.java)
    (disk,) = [d for d in broker.disks if d.path.endswith("kafka-data")]
    assert disk.used_kb is not None and 3 * 1024 <= disk.used_kb < 4 * 1024 and disk.filesystem_use
    assert [e.split(" ERROR ")[1] for e in broker.errors] == [
        f"broken thing {i} (kafka.x)" for i in range(2, 7)
    ]
    assert broker.units == [] and broker.ok  # no systemd on this machine: nothing installed, nothing failed

    assert reports["pipeline-1"].error is None and reports["pipeline-1"].disks[0].path.endswith(
        "pipeline-state"
    )

    down = reports["broker-down"]
    assert down.error is not None and "cannot connect" in down.error and not down.ok
    assert down.lines() == [f"broker-down (127.0.0.1, broker): UNREACHABLE: {down.error}"]

    unknown = reports["pipeline-unknown-key"]
    assert unknown.error is not None and "host key" in unknown.error and "unknown" in unknown.error
    assert not (sshd.known_hosts.read_text().count("\n") > 1)  # nothing was added to known_hosts


def test_status_hosts_on_the_command_line_prints_one_json_object_per_host(
    sshd: Sshd, inventory: Path, tmp_path: Path
) -> None:
    args = ["status", "--hosts", str(inventory), "--identity", str(sshd.root / "client_key")]
    args += ["--known-hosts", str(sshd.known_hosts), "--timeout", "5"]
    done = cli([*args, "--json"], cli_env(tmp_path / "state"))
    assert done.returncode == 1, done.stderr  # two hosts could not be asked
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [h["name"] for h in lines] == ["broker-1", "broker-down", "pipeline-1", "pipeline-unknown-key"]
    assert [h["ok"] for h in lines] == [True, False, True, False]

    text = cli(args, cli_env(tmp_path / "state")).stdout
    assert "broker-down (127.0.0.1, broker): UNREACHABLE" in text
    assert "errors    last 5 error lines" in text and "jvm       pid" in text
    assert shutil.which("ssh-keyscan") is None or "ssh-keyscan -p" in text  # says how to add a checked key


def test_an_ini_inventory_reads_the_same_way(tmp_path: Path) -> None:
    inv = tmp_path / "hosts"
    inv.write_text(
        "[all:vars]\nansible_user=ec2-user\n\n"
        "[kafka]\nb-1 ansible_host=10.0.0.11 kafka_log_dir=/data/logs\nb-2 ansible_host=10.0.0.12\n\n"
        "[pipeline]\np-1 ansible_host=10.0.0.21 ansible_port=2222\n\n[other]\nx ansible_host=10.0.0.99\n"
    )
    hosts = {h.name: h for h in read_inventory(inv)}
    assert set(hosts) == {"b-1", "b-2", "p-1"}
    assert (hosts["p-1"].address, hosts["p-1"].port, hosts["p-1"].user) == ("10.0.0.21", 2222, "ec2-user")
    assert hosts["b-1"].log_files() == ["/data/logs/server.log"] and hosts["b-2"].roles == {"broker"}

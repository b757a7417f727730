"""What the role-test checkers share: the test hosts, SSH, Ansible runs and their recaps, broker processes.

Used by preflight.py, drift.py, identity.py, gate.py, rolling.py and site_test.py (tests/ansible/run.sh
runs them). The hosts are the ones scripts/lab-hosts.sh started: `$RUN_DIR/hosts.txt` lists
`NAME PRIVATE PUBLIC` per line, `$RUN_DIR/id_ed25519` reaches each as root.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RUN_DIR = Path(os.environ.get("RUN_DIR", "/run/stockpipe-hosts"))
RECAP = re.compile(
    r"^(?P<host>[\w.-]+)\s*:\s*ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unr>\d+)\s+failed=(?P<failed>\d+)"
)
ANSIBLE_ENV = {"ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1", "PY_COLORS": "0", "ANSIBLE_FORCE_COLOR": "0"}


class Failed(Exception):
    """A check that cannot go on (an SSH command or a playbook failed where it must not)."""


@dataclass(frozen=True)
class Host:
    name: str
    private: str
    public: str


def read_hosts(path: Path | str | None = None) -> list[Host]:
    """The hosts of hosts.txt, in its order (sp-h1, sp-h2, ...)."""
    text = Path(path or RUN_DIR / "hosts.txt").read_text()
    return [Host(*line.split()[:3]) for line in text.splitlines() if line.strip()]


def lab_login(user: str, ca: Path | None = None) -> dict[str, object]:
    """librdkafka settings that log in as `user` on a secured scenario's SASL_SSL listeners: the CA the role
    made (or the CA file `ca`) and the user's SCRAM password, both from the run's private directory
    (tests/ansible/run.sh sets STOCKPIPE_LAB_PKI and STOCKPIPE_LAB_SECRETS)."""
    import yaml

    passwords = yaml.safe_load(Path(os.environ["STOCKPIPE_LAB_SECRETS"]).read_text())
    return {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "ssl.ca.location": str(ca or Path(os.environ["STOCKPIPE_LAB_PKI"]) / "ca.pem"),
        "sasl.username": user, "sasl.password": passwords[user],
    }  # fmt: skip


def lab_broker_identity(name: str) -> dict[str, object]:
    """librdkafka settings for a secured scenario's internal (mutual TLS) listener: the client presents
    broker `name`'s own key and certificate, which roles/kafka_pki keeps on the controller."""
    pki = os.environ["STOCKPIPE_LAB_PKI"]
    return {
        "security.protocol": "SSL", "ssl.ca.location": os.path.join(pki, "ca.pem"),
        "ssl.key.location": os.path.join(pki, f"{name}.key"),
        "ssl.certificate.location": os.path.join(pki, f"{name}.pem"),
    }  # fmt: skip


def ssh_run(
    address: str, command: str, key: Path | str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Runs `command` as root on `address`; returns the finished process, whatever its exit code."""
    return subprocess.run(
        ["ssh", "-i", str(key or RUN_DIR / "id_ed25519"), "-o", "BatchMode=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
         "-o", "ConnectTimeout=10",
         f"root@{address}", command],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def ssh(address: str, command: str, key: Path | str | None = None, timeout: float = 120) -> str:
    """Runs `command` as root on `address`: its stdout (stripped), or Failed on a non-zero exit."""
    result = ssh_run(address, command, key, timeout)
    if result.returncode != 0:
        raise Failed(f"ssh {address} {command!r} exited {result.returncode}: {result.stderr.strip()[-400:]}")
    return result.stdout.strip()


@dataclass(frozen=True)
class Run:
    """One ansible-playbook (or molecule converge) run: exit code, changed= per host (-1: failed or
    unreachable), and the whole output."""

    rc: int
    changed: dict[str, int]
    output: str

    def fatal_lines(self) -> list[str]:
        return [line.strip() for line in self.output.splitlines() if line.startswith("fatal:")]


def recap(output: str) -> dict[str, int]:
    changed: dict[str, int] = {}
    for line in output.splitlines():
        match = RECAP.match(line.strip())
        if match:
            broken = int(match["failed"]) + int(match["unr"]) > 0
            changed[match["host"]] = -1 if broken else int(match["changed"])
    return changed


def run_ansible(cmd: list[str], log: Path, cwd: Path = HERE, timeout: float = 1800) -> Run:
    """Runs an ansible-playbook or molecule command, appends its output to `log`, parses the recap."""
    env = dict(os.environ, **ANSIBLE_ENV)
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    with log.open("a") as fh:
        fh.write(f"\n===== {' '.join(cmd)} (rc={result.returncode})\n{output}")
    return Run(result.returncode, recap(output), output)


def converge(scenario: str, log: Path, *extra: str) -> Run:
    """`molecule converge -s SCENARIO -- EXTRA...` on the scenario's hosts."""
    return run_ansible(["molecule", "converge", "-s", scenario, "--", *extra], log)


def molecule_verify(scenario: str, log: Path) -> Run:
    return run_ansible(["molecule", "verify", "-s", scenario], log, timeout=900)


@contextmanager
def extra_inventory(yaml_text: str) -> Iterator[str]:
    """A temporary inventory file (host variables layered over the scenario's), for `-i PATH`."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as fh:
        fh.write(yaml_text)
    try:
        yield fh.name
    finally:
        os.unlink(fh.name)


@dataclass(frozen=True)
class Broker:
    """The broker's main process as systemd and ps see it."""

    pid: int
    started_us: int  # ExecMainStartTimestampMonotonic: the shared kernel monotonic clock, microseconds
    user: str
    args: list[str]

    def heap(self) -> tuple[str, str]:
        """The (-Xms, -Xmx) flags the JVM was started with ('' when absent)."""
        xms = next((a for a in self.args if a.startswith("-Xms")), "")
        xmx = next((a for a in self.args if a.startswith("-Xmx")), "")
        return xms, xmx


def broker(address: str, key: Path | str | None = None, service: str = "kafka") -> Broker:
    out = ssh(
        address,
        f"pid=$(systemctl show -p MainPID --value {service}); "
        f"echo $pid $(systemctl show -p ExecMainStartTimestampMonotonic --value {service}); "
        '[ "$pid" != 0 ] && ps -o user:32=,args= -p $pid || echo "- -"',
        key,
    )
    first, _, proc = out.partition("\n")
    pid, started = first.split()
    user, *args = proc.split()
    return Broker(int(pid), int(started), user, args)


def gate_log(address: str, key: Path | str | None = None) -> list[tuple[float, str]]:
    """The restart gate's journal lines (kafka-health-check) as (monotonic seconds, message)."""
    out = ssh(address, "journalctl -t kafka-health-check -o short-monotonic --no-pager -q || true", key)
    lines = []
    for line in out.splitlines():
        match = re.match(r"^\[\s*([0-9.]+)\]\s+\S+\s+kafka-health-check\[\d+\]:\s+(.*)$", line)
        if match:
            lines.append((float(match.group(1)), match.group(2)))
    return lines


class Checks:
    """Prints `ok   WHAT` / `FAIL WHAT` per check and a final `N passed, M failed` line."""

    def __init__(self) -> None:
        self.passed = 0
        self.failures: list[str] = []

    def __call__(self, ok: bool, what: str) -> bool:
        print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if ok:
            self.passed += 1
        else:
            self.failures.append(what)
        return ok

    def info(self, what: str) -> None:
        print(f"     {what}", flush=True)

    def done(self) -> int:
        print(f"{self.passed} passed, {len(self.failures)} failed", flush=True)
        return 1 if self.failures else 0


def check_verify_cluster(
    check: Checks, log: Path, topic: str, partitions: int, brokers: list[tuple[int, Host]],
    zookeeper: bool = False, secured: bool = False,
) -> None:  # fmt: skip
    """verify_cluster.py on `brokers` (node id, host), its output appended to `log`, as one check."""
    verify = subprocess.run(
        [sys.executable, str(HERE / "verify_cluster.py"), "--topic", topic,
         "--partitions", str(partitions), "--replication-factor", "3", "--min-isr", "2",
         *(f"--broker={node_id}={h.private}={h.public}" for node_id, h in brokers),
         *(f"--zookeeper={h.private}" for _, h in brokers if zookeeper),
         *(["--secured", brokers[0][1].name] if secured else [])],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    with log.open("a") as fh:
        fh.write(f"\n===== verify_cluster.py (rc={verify.returncode})\n{verify.stdout}{verify.stderr}")
    check(
        verify.returncode == 0,
        f"the brokers pass verify_cluster.py ({verify.stdout.strip().splitlines()[-1:]})",
    )


def main_guard(body: object) -> None:
    """Runs a checker's main(); a Failed (the test could not go on) prints one FAIL line and exits 1."""
    try:
        sys.exit(body())  # type: ignore[operator]
    except Failed as exc:
        print(f"FAIL {exc}", flush=True)
        sys.exit(1)

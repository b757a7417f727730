"""`stockpipe local up|down|status`: the local broker on 127.0.0.1.

Two kinds, one interface:
- `tansu` (the default, what `make demo` runs): a Kafka-protocol broker in one verified static binary,
  ready in milliseconds, nothing else to install. Storage is in memory by default (`down` discards the
  topics); `--storage s3://BUCKET/` with an S3 endpoint in the environment keeps data across restarts.
  It is not Kafka: no replication, and the faults listed in docs/guarantees.md.
- `kafka` (`stockpipe local up --kafka`): real Apache Kafka, one KRaft node (broker + controller),
  assembled from Maven Central on first use (needs Java 17+ and Maven; pipeline/local/kafka_dist.py).
  Its data lives under `<state_dir>/broker/kafka/` and survives `down` and `up`.

The pid file and logs live under `<state_dir>/broker/`. The address of the last broker started is kept
there too (`address`, also after `down`): every command whose bootstrap is not set (option,
STOCKPIPE_BOOTSTRAP or the config file) uses it, so `local up --port N` needs no `--bootstrap` after it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.local.ports import port_answers, port_free
from pipeline.local.tansu import tansu_binary
from pipeline.state import check_state_dir

DEFAULT_PORT = 9092
KINDS = ("tansu", "kafka")
#: Where `--kafka` keeps the distributions it builds (STOCKPIPE_KAFKA_DIST_DIR overrides).
DEFAULT_DIST_DIR = Path.home() / ".cache" / "stockpipe" / "kafka-dist"
DEFAULT_KAFKA_VERSION = "4.1.1"


def wait_until(predicate, timeout_s: float, interval_s: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    """Poll `predicate` until it is true or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())


def spawn_tansu(
    host: str,
    port: int,
    storage: str,
    log_path: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start the verified tansu binary listening on and advertising host:port, output to `log_path`.

    It runs in its own session so a terminal's Ctrl-C reaches only the caller; the caller waits for
    the port and stops the process.
    """
    url = f"tcp://{host}:{port}"
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [
                *(str(tansu_binary()), "broker", "--cluster-id", "stockpipe-local"),
                *("--listener-url", url, "--advertised-listener-url", url, "--storage-engine", storage),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=cwd,
            env={**os.environ, **env} if env else None,
            start_new_session=True,
        )


@dataclass
class BrokerStatus:
    running: bool
    pid: int | None
    address: str
    answering: bool
    log: Path
    kind: str = "tansu"


#: What the command line of each kind's process contains (a reused pid does not pass for ours).
_CMDLINE_MARK = {"tansu": b"tansu", "kafka": b"kafka.Kafka"}


class LocalBroker:
    def __init__(self, state_dir: str | Path, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> None:
        self.dir = Path(state_dir) / "broker"
        self.host = host
        self.port = port
        self.pid_file = self.dir / "broker.pid"
        self.kind = "tansu"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_file(self) -> Path:
        return (
            self.dir / "tansu.log"
            if self.kind == "tansu"
            else self.dir / "kafka" / "node-1" / "logs" / "server.log"
        )

    @property
    def address_file(self) -> Path:
        return self.dir / "address"

    def remembered_address(self) -> str | None:
        """The running broker's address, else the last one started here, else None."""
        if self._pid() is not None:
            return self.address
        try:
            text = self.address_file.read_text().strip()
        except OSError:
            return None
        host, _, port = text.rpartition(":")
        return text if host and port.isdigit() else None

    def _pid(self) -> int | None:
        try:
            text = self.pid_file.read_text().split()
            pid, port, kind = int(text[0]), int(text[1]), text[2] if len(text) > 2 else "tansu"
        except (OSError, ValueError, IndexError):  # no pid file (or no readable state dir): not running
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        if _CMDLINE_MARK.get(kind, b"\0") not in cmdline:
            return None  # the pid was reused by something else
        self.port, self.kind = port, kind
        return pid

    def status(self) -> BrokerStatus:
        pid = self._pid()
        answering = pid is not None and port_answers(self.host, self.port)
        return BrokerStatus(pid is not None, pid, self.address, answering, self.log_file, self.kind)

    def up(
        self,
        storage: str = "memory://tansu/",
        timeout_s: float = 15.0,
        kind: str = "tansu",
        kafka_version: str = DEFAULT_KAFKA_VERSION,
        exact: bool = False,
    ) -> bool:
        """Start the broker unless ours is already running; return True when it was started.

        With `exact`, a broker already running on another port or of another kind is an error (the
        user asked for this port and kind) instead of being used."""
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r} is not one of {KINDS}")
        wanted = self.port
        pid = self._pid()
        if pid is not None:
            if exact and (self.port != wanted or self.kind != kind):
                raise PipelineError(
                    f"a local broker ({self.kind}, pid {pid}) already runs on {self.address}, "
                    f"not the {kind} on port {wanted} asked for",
                    "stop it first with `stockpipe local down`, or use it: commands default to its address",
                )
            return False
        check_state_dir(self.dir.parent)
        if not port_free(self.host, self.port):
            raise PipelineError(
                f"port {self.port} on {self.host} is already in use by another program",
                "stop it, or choose another port with --port N (later commands then default to it)",
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.address_file.write_text(self.address + "\n")
        self.kind = kind
        if kind == "kafka":
            self._up_kafka(kafka_version)
            return True
        proc = spawn_tansu(self.host, self.port, storage, self.log_file, cwd=self.dir)
        self.pid_file.write_text(f"{proc.pid} {self.port} tansu\n")
        if not wait_until(lambda: proc.poll() is not None or port_answers(self.host, self.port), timeout_s):
            proc.kill()
            raise PipelineError(
                f"local broker did not open {self.address} within {timeout_s:g} s", f"see {self.log_file}"
            )
        if proc.poll() is not None:
            self.pid_file.unlink(missing_ok=True)
            tail = self.log_file.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise PipelineError(
                f"local broker exited at start (code {proc.returncode}): {tail[0]}", f"see {self.log_file}"
            )
        return True

    def _up_kafka(self, version: str) -> None:
        from pipeline.local import kafka_dist
        from pipeline.local.kafka import KafkaCluster
        from pipeline.local.ports import free_port

        dist_dir = Path(os.environ.get("STOCKPIPE_KAFKA_DIST_DIR") or DEFAULT_DIST_DIR)
        dist = kafka_dist.build(version, dist_dir)
        home = kafka_dist.unpack(dist, dist_dir / "unpacked")
        work = self.dir / "kafka"
        # The controller port and cluster id are kept, so `up` after `down` reopens the same data.
        saved = work / "node.txt"
        try:
            cport, cluster_id = saved.read_text().split()
            cport_n = int(cport) if port_free(self.host, int(cport)) else free_port(self.host)
        except (FileNotFoundError, ValueError):
            cport_n, cluster_id = free_port(self.host), None
        cluster = KafkaCluster(
            home,
            work,
            nodes=1,
            host=self.host,
            heap="512m",
            ports=[(self.port, cport_n)],
            cluster_id=cluster_id,
        )
        work.mkdir(parents=True, exist_ok=True)
        saved.write_text(f"{cport_n} {cluster.cluster_id}\n")
        try:
            cluster.start(timeout_s=120)
        except BaseException:
            cluster.close()
            raise
        proc = cluster.nodes[0].proc
        assert proc is not None
        self.pid_file.write_text(f"{proc.pid} {self.port} kafka\n")

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop our broker; return True when one was running."""
        pid = self._pid()
        if pid is None:
            with contextlib.suppress(OSError):
                self.pid_file.unlink(missing_ok=True)  # a stale one
            return False
        os.kill(pid, signal.SIGTERM)
        if not wait_until(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), timeout_s):
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True

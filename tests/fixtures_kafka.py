"""A real Kafka-protocol broker (tansu) on 127.0.0.1 for integration tests.

Import into conftest.py with `from fixtures_kafka import *  # noqa`.
- `broker` (session): bootstrap address of a tansu process with in-memory storage on a free port.
- `topic`: a new, uniquely named topic on it (3 partitions).
- `group_id`: a new consumer group id. Known fault of the test broker: a group can get stuck for
  good if a member leaves while it is rebalancing, so every test uses its own group.
Plain helpers: `start_tansu(...)` for tests that need their own broker (restarts, persistent storage),
`free_port()`, `wait_for_port(...)`.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.kafka.topics import ensure_topic
from pipeline.local.broker import spawn_tansu

__all__ = ["broker", "group_id", "topic"]

#: Group join on the test broker takes about half the session timeout; keep it short in tests.
TEST_SESSION_TIMEOUT_MS = 6000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    host: str, port: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {host}:{port} opened")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"{host}:{port} did not open within {timeout_s} s")


def start_tansu(
    log_path: Path,
    port: int | None = None,
    storage: str = "memory://tansu/",
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start tansu on 127.0.0.1; returns (process, bootstrap). The caller stops it with `stop_process`."""
    port = port or free_port()
    proc = spawn_tansu("127.0.0.1", port, storage, log_path, env=env)
    wait_for_port("127.0.0.1", port, 15, proc)
    return proc, f"127.0.0.1:{port}"


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    proc, bootstrap = start_tansu(log)
    yield bootstrap
    stop_process(proc)


@pytest.fixture
def topic(broker: str) -> str:
    name = f"test-{uuid.uuid4().hex[:10]}"
    assert ensure_topic(broker, name, partitions=3)
    return name


@pytest.fixture
def group_id() -> str:
    return f"group-{uuid.uuid4().hex[:10]}"

"""pipeline/local/ports.py: waiting for a local service's port and stopping its process, the helpers
the local brokers, the tests and the benchmarks share."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from pipeline.local.ports import free_port, port_answers, stop_process, wait_for_port


def test_wait_for_port_returns_once_something_listens() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        wait_for_port("127.0.0.1", port, 5)
        assert port_answers("127.0.0.1", port)


def test_wait_for_port_fails_fast_when_the_service_exited_and_times_out_otherwise() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(RuntimeError, match="exited with 3 before"):
        wait_for_port("127.0.0.1", port, 30, proc)
    with pytest.raises(TimeoutError, match=f"127.0.0.1:{port} did not open within 0.2 s"):
        wait_for_port("127.0.0.1", port, 0.2)


def test_stop_process_kills_what_ignores_sigterm() -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"  # its handler is in place
    stop_process(proc, timeout_s=0.5)
    assert proc.returncode == -9
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop_process(polite)
    assert polite.returncode == -15

"""scripts/lab.sh refuses clearly what it cannot do, before touching the machine.

The lab itself (hosts, inventory, site.yml on it) is exercised by tests/ansible/run.sh, as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parent.parent / "scripts" / "lab.sh"


def _as_unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["bash", str(LAB), *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to drop root for this test"
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=30, env={**os.environ, "RUN_DIR": "/nonexistent"}
    )


def test_up_without_root_says_why_and_how():
    result = _as_unprivileged("up")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "lab: error: the lab needs root (it creates a bridge, network namespaces and nspawn machines); "
        "fix: sudo make lab"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["up", "--brokers", "0"], "--brokers 0: use 1 to 9"),
        (["up", "--frobnicate"], "unknown option --frobnicate"),
        (["stockpipe", "query", "--list"], "the lab is not running; fix: sudo make lab"),
    ],
)
def test_bad_arguments_fail_with_one_line(args: list[str], message: str):
    result = _as_unprivileged(*args)
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_command_prints_usage():
    result = _as_unprivileged("sideways")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: scripts/lab.sh up")

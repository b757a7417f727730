"""scripts/lab.sh refuses clearly what it cannot do, before touching the machine.

The lab itself (hosts, inventory, site.yml on it) is exercised by tests/ansible/run.sh, as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parent.parent / "scripts" / "lab.sh"


@pytest.fixture(scope="module")
def lab_copy() -> Iterator[Path]:
    """A copy of lab.sh that the unprivileged user can read wherever the checkout lives (CI clones into
    private directories). These checks fail before the script looks at the repository around it."""
    tmp = Path(tempfile.mkdtemp(prefix="stockpipe-lab-"))
    tmp.chmod(0o755)
    shutil.copy(LAB, tmp / "lab.sh")
    (tmp / "lab.sh").chmod(0o755)
    yield tmp / "lab.sh"
    shutil.rmtree(tmp)


def _as_unprivileged(lab: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["bash", str(lab), *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to drop root for this test"
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=30, env={**os.environ, "RUN_DIR": "/nonexistent"}
    )


def test_up_without_root_says_why_and_how(lab_copy: Path):
    result = _as_unprivileged(lab_copy, "up")
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
def test_bad_arguments_fail_with_one_line(lab_copy: Path, args: list[str], message: str):
    result = _as_unprivileged(lab_copy, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_command_prints_usage(lab_copy: Path):
    result = _as_unprivileged(lab_copy, "sideways")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: scripts/lab.sh up")

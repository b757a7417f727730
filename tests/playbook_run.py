"""One ansible-playbook run as the tests read it: exit code, output and the PLAY RECAP counts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_RECAP = r"^\S+\s*:\s*ok=\d+\s+changed=(?P<changed>\d+).*?failed=(?P<failed>\d+)"


@dataclass
class PlaybookRun:
    rc: int
    out: str

    @property
    def changed(self) -> int:
        """Sum of changed= over every PLAY RECAP line (one per host and play)."""
        return sum(int(m["changed"]) for m in re.finditer(_RECAP, self.out, re.M))

    @property
    def failed(self) -> int:
        return sum(int(m["failed"]) for m in re.finditer(_RECAP, self.out, re.M))


REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def ansible_env(tmp: Path, drop: tuple[str, ...] = ("ANSIBLE_",), **extra: str) -> dict[str, str]:
    """The environment of a test's ansible-playbook: this venv's tools, the repository's roles, its own
    temp directory, no colour; nothing inherited whose name starts with one of `drop`; then `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env |= {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
    }
    return env | extra


def run_local_play(
    tmp: Path, inventory: dict[str, object], play: str, **extra: object
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook on `play` (YAML text) with `inventory` (a YAML inventory as a dict, its hosts
    reached with ansible_connection=local) and `extra` vars, run on this venv's Python from the repository
    root, so the kit's ansible.cfg applies as it does for an operator: the files go in `tmp`, the
    environment is `ansible_env(tmp)`."""
    (tmp / "inventory.json").write_text(json.dumps(inventory))
    (tmp / "play.yml").write_text(play)
    settings = {**extra, "ansible_python_interpreter": sys.executable}
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(tmp / "inventory.json"), "-e", json.dumps(settings),
         str(tmp / "play.yml")],
        cwd=REPO, env=ansible_env(tmp), capture_output=True, text=True, timeout=120,
    )  # fmt: skip

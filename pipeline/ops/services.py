"""systemd units of the pipeline and the brokers: one probe, run locally (`stockpipe status` on a
pipeline host) or over SSH (`stockpipe status --hosts`), and its parser."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

#: The units the kit installs (roles/pipeline, roles/kafka, roles/zookeeper).
PIPELINE_UNITS = ("stockpipe-producer", "stockpipe-sink", "stockpipe-crawl.timer")
BROKER_UNITS = ("kafka", "zookeeper")
_PROPERTIES = "Id,LoadState,ActiveState,SubState,NRestarts,MainPID"


@dataclass(frozen=True)
class UnitState:
    unit: str
    active: str  # active, inactive, failed, activating, ...
    sub: str  # running, dead, exited, ...
    restarts: int | None
    pid: int | None

    def text(self) -> str:
        restarts = (
            "" if self.restarts is None else f", {self.restarts} restart{'' if self.restarts == 1 else 's'}"
        )
        return f"{self.unit} {self.active} ({self.sub}{restarts})"


def show_command(units: tuple[str, ...]) -> str:
    """The shell command whose output `parse_show` reads (no output where systemd is absent)."""
    return f"systemctl show -p {_PROPERTIES} {' '.join(units)} 2>/dev/null"


def parse_show(text: str) -> list[UnitState]:
    """`systemctl show` blocks (blank-line separated) -> the units that are installed."""
    out: list[UnitState] = []
    for block in text.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if not props.get("Id") or props.get("LoadState") != "loaded":
            continue
        restarts = props.get("NRestarts", "")
        pid = props.get("MainPID", "")
        out.append(
            UnitState(
                props["Id"].removesuffix(".service"),
                props.get("ActiveState", "?"),
                props.get("SubState", "?"),
                int(restarts) if restarts.isdigit() else None,
                int(pid) if pid.isdigit() and pid != "0" else None,
            )
        )
    return out


def local_units(units: tuple[str, ...] = PIPELINE_UNITS) -> list[UnitState]:
    """Installed units of this machine (none without systemd)."""
    if shutil.which("systemctl") is None:
        return []
    try:
        done = subprocess.run(
            ["sh", "-c", show_command(units)], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return parse_show(done.stdout)

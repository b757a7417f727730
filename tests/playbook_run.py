"""One ansible-playbook run as the tests read it: exit code, output and the PLAY RECAP counts."""

from __future__ import annotations

import re
from dataclasses import dataclass

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

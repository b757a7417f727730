"""Where bad input goes: every rejected row or file is counted and written with file:line and reason."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TextIO

#: The longest reject line written or shown.
MAX_LINE = 500


class Rejects:
    """Counts rejected rows and files; appends `file:line: reason | raw` lines to an optional file."""

    def __init__(self, path: Path | None = None, echo_first: int = 5) -> None:
        self.path = path
        self.rows = 0
        self.files = 0
        self.reasons: Counter[str] = Counter()
        self._echo_left = echo_first
        self._fh: TextIO | None = None
        self.shown: list[str] = []

    def row(self, source: str, line: int, reason: str, raw: str) -> None:
        self.rows += 1
        self._record(f"{source}:{line}: {reason} | {raw[:200]}", reason)

    def file(self, source: str, reason: str) -> None:
        self.files += 1
        self._record(f"{source}: {reason} (file skipped)", reason)

    def _record(self, text: str, reason: str) -> None:
        if len(text) > MAX_LINE:  # a reason may quote a field; a 10 MB field must not reach the console
            text = text[:MAX_LINE] + f"... ({len(text) - MAX_LINE:,} more characters)"
        self.reasons[reason.split(" (")[0][:200]] += 1
        if self._echo_left > 0:
            self._echo_left -= 1
            self.shown.append(text)
        if self.path is not None:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = self.path.open("w", encoding="utf-8")
            self._fh.write(text + "\n")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    @property
    def total(self) -> int:
        return self.rows + self.files

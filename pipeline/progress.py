"""Progress for long work: a rich bar with rate and ETA on a terminal, a periodic log line otherwise."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

LOG_EVERY_S = 5.0


def _fmt_eta(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class ProgressReporter:
    """`advance(n)` is cheap; the display is refreshed at most a few times a second."""

    def __init__(self, label: str, total: int | None, unit: str = "rows", enabled: bool = True) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self.enabled = enabled
        self._start = time.monotonic()
        self._last_log = self._start
        self._pending = 0
        self._console = Console(stderr=True)
        self._bar: Progress | None = None
        self._task = None

    def __enter__(self) -> ProgressReporter:
        if self.enabled and self._console.is_terminal:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self._console,
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, rate="")
        return self

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._pending += n
        if self._pending >= 2_000:
            self._refresh()

    def _refresh(self) -> None:
        self._pending = 0
        now = time.monotonic()
        rate = self.done / max(now - self._start, 1e-9)
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self.done, rate=f"{rate:,.0f} {self.unit}/s")
        elif self.enabled and now - self._last_log >= LOG_EVERY_S:
            self._last_log = now
            print(self.line(rate), file=sys.stderr, flush=True)

    def line(self, rate: float) -> str:
        if self.total:
            pct = 100.0 * self.done / self.total
            eta = _fmt_eta((self.total - self.done) / rate) if rate > 0 else "?"
            return (
                f"{self.label}: {self.done:,}/{self.total:,} {self.unit} ({pct:.0f}%), "
                f"{rate:,.0f} {self.unit}/s, ETA {eta}"
            )
        return f"{self.label}: {self.done:,} {self.unit}, {rate:,.0f} {self.unit}/s"

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pending = 0
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self.done)
            self._bar.stop()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._start

"""Progress for long work: a one-line bar on a terminal, a periodic log line otherwise.

- On a terminal (stderr) with progress enabled: a bar that fits the terminal's width on one line
  (the label is shortened, never wrapped), counts with thousands separators, the rate of the last few
  seconds (so it falls to 0 when idle instead of keeping a stale value) and an ETA when the total is
  known. It is redrawn on a timer as well as on counts, so it never lags the work by more than a
  fraction of a second; before the first record it says it is waiting.
- Otherwise (a service's journal, a pipe, `--no-progress`): one line every `every_s` seconds
  (`--progress-every`, 30 by default), also while idle, e.g.
  `sink stock-prices: 191,858 rows, 0 rows/s (last 30 s), 2:35 elapsed`.
- `-q` (`configure(quiet=True)`) prints neither.

The command line calls `configure`; without it (the library used from Python) a reporter created with
`enabled=False` prints nothing at all.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

#: Seconds between log lines when there is no bar.
LOG_EVERY_S = 30.0
#: The rate shown is measured over about this many seconds.
RATE_WINDOW_S = 5.0
#: The bar is redrawn at least this often.
REDRAW_S = 0.25


class _Output:
    quiet = False
    every_s = LOG_EVERY_S
    lines_when_disabled = False  # the CLI turns this on: `--no-progress` still logs periodically


OUTPUT = _Output()


def configure(quiet: bool = False, every_s: float | None = None) -> None:
    """How reporters created from now on print (the CLI's `-q` and `--progress-every`)."""
    OUTPUT.quiet = quiet
    OUTPUT.lines_when_disabled = not quiet
    if every_s is not None:
        OUTPUT.every_s = max(float(every_s), 0.1)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, m, s = seconds // 3600, seconds % 3600 // 60, seconds % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressReporter:
    """`advance(n)` is cheap; the display is refreshed by a timer thread and at most a few times a second."""

    def __init__(
        self,
        label: str,
        total: int | None,
        unit: str = "rows",
        enabled: bool = True,
        console: Console | None = None,
        every_s: float | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self.enabled = enabled
        self.every_s = every_s if every_s is not None else OUTPUT.every_s
        self._start = time.monotonic()
        self._console = console or Console(stderr=True)
        self._bar: Progress | None = None
        self._task = None
        self._samples: deque[tuple[float, int]] = deque([(self._start, 0)])
        self._lines = not OUTPUT.quiet and (enabled or OUTPUT.lines_when_disabled)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_draw = 0.0

    # -- life cycle -------------------------------------------------------------------------------

    def __enter__(self) -> ProgressReporter:
        if self.enabled and not OUTPUT.quiet and self._console.is_terminal:
            self._bar = Progress(
                TextColumn("{task.fields[left]}"),
                BarColumn(bar_width=None),
                TextColumn("{task.fields[right]}"),
                console=self._console,
                transient=False,
                auto_refresh=False,
                expand=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, left="", right="")
            self._draw()
            self._thread = threading.Thread(target=self._tick, args=(REDRAW_S,), daemon=True)
        elif self._lines:
            self._thread = threading.Thread(target=self._tick, args=(self.every_s,), daemon=True)
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if self._bar is not None:
            self._draw(final=True)
            self._bar.stop()

    def _tick(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            if self._bar is not None:
                self._draw()
            else:
                print(self.line(), file=sys.stderr, flush=True)

    # -- counting ---------------------------------------------------------------------------------

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            now = time.monotonic()
            if now - self._last_draw >= REDRAW_S:
                self._draw(now=now)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def rate(self, now: float | None = None) -> float:
        """Units per second over the last RATE_WINDOW_S seconds (0 when idle)."""
        now = time.monotonic() if now is None else now
        samples = self._samples
        samples.append((now, self.done))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_S:
            samples.popleft()
        t0, n0 = samples[0]
        return (self.done - n0) / (now - t0) if now - t0 >= 0.2 else 0.0

    # -- text -------------------------------------------------------------------------------------

    def counts(self) -> str:
        if self.total:
            return f"{self.done:,}/{self.total:,} {self.unit} ({100.0 * self.done / self.total:.0f}%)"
        return f"{self.done:,} {self.unit}"

    def line(self, rate: float | None = None) -> str:
        """The log line: label, counts, recent rate, elapsed time and ETA when the total is known."""
        rate = self.rate() if rate is None else rate
        if self.done == 0:
            return f"{self.label}: waiting for the first {self.unit}, {_clock(self.elapsed)} elapsed"
        text = f"{self.label}: {self.counts()}, {rate:,.0f} {self.unit}/s, {_clock(self.elapsed)} elapsed"
        if self.total and rate > 0 and self.done < self.total:
            text += f", ETA {_clock((self.total - self.done) / rate)}"
        return text

    def bar_texts(self, width: int, now: float | None = None) -> tuple[str, int, str]:
        """(left text, bar width, right text) that fit `width` columns on one line."""
        rate = self.rate(now)
        elapsed = _clock(self.elapsed)
        if self.done == 0:
            right = f"waiting for the first {self.unit}  {elapsed}"
        else:
            right = f"{self.counts()}  {rate:,.0f}/s  {elapsed}"
            if self.total and rate > 0 and self.done < self.total:
                right += f"  ETA {_clock((self.total - self.done) / rate)}"
        if len(right) + 1 > width:  # a very narrow terminal: the counts alone
            right = self.counts() if self.done else "waiting"
        room = width - len(right) - 2  # the spaces between the three columns
        label = self.label
        bar = min(40, room - len(label) - 1)
        if bar < 10:  # no room for a useful bar: the whole label rather than a stub of each
            bar = 0
            label = label if len(label) <= room else label[: max(room - 1, 0)] + "…"
        return label, bar, right

    def _draw(self, final: bool = False, now: float | None = None) -> None:
        if self._bar is None or self._task is None:
            return
        now = time.monotonic() if now is None else now
        self._last_draw = now
        left, bar_width, right = self.bar_texts(self._console.width - 1, now)
        self._bar.columns[1].bar_width = bar_width  # type: ignore[attr-defined]
        self._bar.update(self._task, completed=self.done, left=left, right=right)
        self._bar.refresh()

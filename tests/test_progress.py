"""Progress as a person sees it (rich's console capture at a fixed width, as a terminal) and as a
service's journal does (the periodic line off a terminal)."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator

import pytest
from rich.console import Console

from pipeline import progress
from pipeline.progress import ProgressReporter

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def screen(buf: io.StringIO) -> list[str]:
    """The lines drawn, escape sequences and carriage-return redraws taken apart."""
    text = ANSI.sub("", buf.getvalue()).replace("\r", "\n")
    return [line for line in text.split("\n") if line.strip()]


def terminal(width: int) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=True, width=width, color_system=None), buf


@pytest.fixture(autouse=True)
def default_output() -> Iterator[None]:
    progress.configure()  # as the command line does without -q
    yield
    progress.OUTPUT.quiet, progress.OUTPUT.lines_when_disabled = False, False  # the library's defaults
    progress.OUTPUT.every_s = progress.LOG_EVERY_S


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_the_bar_is_one_line_at_any_width_with_thousands_separators(width: int) -> None:
    console, buf = terminal(width)
    label = "sink stock-prices-with-a-rather-long-topic-name-2026-11-30"
    with ProgressReporter(label, 1_250_000, console=console) as bar:
        bar.advance(191_858)
    lines = screen(buf)
    assert lines and all(len(line) <= width for line in lines)
    assert "191,858/1,250,000" in lines[-1]
    if width >= 80:
        assert "sink stock-prices" in lines[-1] and "15%" in lines[-1]


def test_the_bar_is_redrawn_on_time_not_only_on_counts() -> None:
    console, buf = terminal(100)
    with ProgressReporter("sink t", None, console=console) as bar:
        time.sleep(0.3)
        assert "waiting for the first rows" in screen(buf)[-1]  # before the group gives it records
        bar.done = 191_858 - 10
        bar.advance(10)  # a small last batch
        time.sleep(0.6)  # no more counts: the timer still shows the last ones
        assert "191,858 rows" in screen(buf)[-1]


def test_the_rate_falls_to_zero_when_idle() -> None:
    reporter = ProgressReporter("sink t", None, enabled=False)
    start = time.monotonic()
    reporter.advance(5_000)
    assert reporter.rate(start + 1.0) == pytest.approx(5_000, rel=0.01)
    assert reporter.rate(start + 20.0) == 0.0  # nothing for longer than the window: not a stale rate
    assert "0 rows/s" in reporter.line(0.0)


def test_off_a_terminal_a_line_is_printed_periodically_even_with_no_progress(capsys) -> None:
    progress.configure(every_s=0.2)
    with ProgressReporter("sink t", None, enabled=False) as reporter:
        time.sleep(0.5)
        reporter.advance(12_345)
        time.sleep(0.5)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("sink t: waiting for the first rows")
    assert any(line.startswith("sink t: 12,345 rows,") for line in err)  # also while idle after it


def test_quiet_prints_nothing(capsys) -> None:
    progress.configure(quiet=True, every_s=0.1)
    with ProgressReporter("sink t", None, enabled=True) as reporter:
        reporter.advance(3)
        time.sleep(0.3)
    assert capsys.readouterr().err == ""


def test_without_the_command_line_a_disabled_reporter_is_silent(capsys) -> None:
    progress.OUTPUT.lines_when_disabled = False  # the library as used from Python
    progress.OUTPUT.every_s = 0.1
    with ProgressReporter("x", None, enabled=False) as reporter:
        reporter.advance(3)
        time.sleep(0.3)
    assert capsys.readouterr().err == ""

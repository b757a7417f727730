"""Replay pacing: rate parsing and the schedule each pacer keeps."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import pytest

from pipeline.errors import PipelineError
from pipeline.produce.pacing import FixedRate, Pacer, TimeScaled, make_pacer, parse_rate


@pytest.mark.parametrize(
    ("text", "per_s"), [("500/s", 500.0), ("500", 500.0), ("30/min", 0.5), ("2.5/s", 2.5)]
)
def test_rates_parse(text: str, per_s: float):
    assert parse_rate(text) == per_s


@pytest.mark.parametrize("text", ["fast", "0/s", "-3/s", "5/hour"])
def test_bad_rates_are_clear_errors(text: str):
    with pytest.raises(PipelineError, match="--rate"):
        parse_rate(text)


def test_rate_and_speed_together_are_refused():
    with pytest.raises(PipelineError, match="both"):
        make_pacer("10/s", 1.0, threading.Event())


def test_fixed_rate_never_runs_ahead_of_schedule():
    pacer = FixedRate(200.0)
    start = time.monotonic()
    for _ in range(21):
        pacer.wait(date(2017, 1, 3))
    # record n may not leave before start + n / rate: 20 intervals of 5 ms at least
    assert time.monotonic() - start >= 20 / 200.0


def test_time_scaled_waits_only_when_the_trading_day_changes():
    pacer = TimeScaled(days_per_second=20.0)
    start = time.monotonic()
    day = date(2017, 1, 2)
    for i in range(4):
        for _ in range(50):  # many symbols on the same day go out together
            pacer.wait(day + timedelta(days=i))
    assert pacer.days == 3
    assert time.monotonic() - start >= 3 / 20.0


def test_stop_interrupts_a_pacing_wait():
    stop = threading.Event()
    pacer = FixedRate(0.01, stop)  # one record per 100 s
    pacer.wait(date(2017, 1, 3))
    stop.set()
    start = time.monotonic()
    pacer.wait(date(2017, 1, 3))
    assert time.monotonic() - start < 5


def test_unpaced_is_the_default():
    assert type(make_pacer(None, None, threading.Event())) is Pacer

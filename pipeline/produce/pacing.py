"""How fast a replay goes: as fast as possible, a fixed rate, or time-scaled like a live feed."""

from __future__ import annotations

import math
import re
import threading
import time
from datetime import date

from pipeline.errors import PipelineError

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|second|m|min|minute))?\s*$")


def parse_rate(text: str) -> float:
    """`500/s`, `500`, `30/min` -> records per second."""
    match = _RATE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise PipelineError(f"--rate {text!r} is not a rate", "use e.g. --rate 500/s or --rate 30/min")
    per_second = float(match.group(1))
    return per_second / 60 if (match.group(2) or "s").startswith("m") else per_second


def check_speed(days_per_second: float) -> float:
    """A usable --speed: finite and > 0 (0, NaN and infinity would silently mean no pacing)."""
    if not (0 < days_per_second < math.inf):  # also NaN
        raise PipelineError(
            f"--speed {days_per_second} must be a finite number > 0 of trading days per second",
            "use e.g. --speed 1, or leave it out to send as fast as possible",
        )
    return days_per_second


class Pacer:
    """Unpaced: never waits."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop or threading.Event()

    def wait(self, day: date) -> None:
        pass

    def _sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            self.stop.wait(delay)  # returns early on stop


class FixedRate(Pacer):
    """Record n is sent no earlier than start + n / rate (no drift, no catch-up bursts beyond the plan)."""

    def __init__(self, per_second: float, stop: threading.Event | None = None) -> None:
        super().__init__(stop)
        self.interval = 1.0 / per_second
        self.sent = 0
        self.start: float | None = None

    def wait(self, day: date) -> None:
        if self.start is None:
            self.start = time.monotonic()
        self._sleep_until(self.start + self.sent * self.interval)
        self.sent += 1


class TimeScaled(Pacer):
    """`days_per_second` trading days of the data per wall-clock second: the topic looks like a live feed."""

    def __init__(self, days_per_second: float, stop: threading.Event | None = None) -> None:
        check_speed(days_per_second)
        super().__init__(stop)
        self.seconds_per_day = 1.0 / days_per_second
        self.current: date | None = None
        self.days = 0
        self.start: float | None = None

    def wait(self, day: date) -> None:
        if self.start is None:
            self.start = time.monotonic()
            self.current = day
            return
        if day != self.current:
            self.current = day
            self.days += 1
            self._sleep_until(self.start + self.days * self.seconds_per_day)


def make_pacer(rate: str | None, speed: float | None, stop: threading.Event) -> Pacer:
    if rate and speed is not None:
        raise PipelineError("--rate and --speed both given", "choose one way to pace the replay")
    if rate:
        return FixedRate(parse_rate(rate), stop)
    if speed is not None:  # 0 is refused by TimeScaled, not taken for "no pacing"
        return TimeScaled(speed, stop)
    return Pacer(stop)

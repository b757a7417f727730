"""Keeping librdkafka's own logging from flooding the terminal.

librdkafka logs every failed connection attempt (many per second while a broker is down). Its log
lines go to a logger that shows only critical messages unless `-v` is given; the user-facing signal
is the error callback, which reports each distinct error at most once per interval.
"""

from __future__ import annotations

import logging
import time

LIBRDKAFKA = logging.getLogger("pipeline.kafka.librdkafka")
LIBRDKAFKA.setLevel(logging.CRITICAL)


class ErrorReporter:
    """Log each distinct Kafka client error at most once per `interval_s`; keep the latest for reports."""

    def __init__(self, log: logging.Logger, interval_s: float = 30.0) -> None:
        self.log = log
        self.interval_s = interval_s
        self.last_error: str | None = None
        self._seen: dict[str, float] = {}

    def __call__(self, text: str) -> None:
        self.last_error = text
        now = time.monotonic()
        if now - self._seen.get(text, -self.interval_s) >= self.interval_s:
            self._seen[text] = now
            self.log.warning("kafka: %s", text)

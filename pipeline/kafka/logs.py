"""Keeping librdkafka's own logging from flooding the terminal.

librdkafka logs every failed connection attempt (many per second while a broker is down). Its log
lines go to a logger that shows nothing by default, not even its FATAL lines: the command ends with one
`stockpipe: error:` line saying the same (e.g. an ACL that refuses the producer). `-vv` shows them all.
The user-facing signal while running is the error callback, which reports each distinct error at most
once per interval.
"""

from __future__ import annotations

import logging
import time

LIBRDKAFKA = logging.getLogger("pipeline.kafka.librdkafka")
LIBRDKAFKA.setLevel(logging.CRITICAL + 1)
#: kafka-python's own logger, kept as quiet for the same reason.
KAFKA_PYTHON = logging.getLogger("kafka")
KAFKA_PYTHON.setLevel(logging.CRITICAL + 1)


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

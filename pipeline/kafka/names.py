"""Kafka's own naming rule for topics (kafka.common.internals.Topic): checked before anything connects."""

from __future__ import annotations

import re

TOPIC_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"
_TOPIC = re.compile(TOPIC_PATTERN)


def topic_problem(name: object) -> str | None:
    """Why Kafka would refuse `name` as a topic, or None."""
    if not isinstance(name, str) or not _TOPIC.match(name) or name in (".", ".."):
        return f"topic {name!r} must be 1-249 of the characters A-Z a-z 0-9 . _ - (and not '.' or '..')"
    return None

"""Poison messages (not JSON, wrong types, missing fields) go to a dead-letter file with offset and reason."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from pipeline.kafka import Message


class DeadLetters:
    """Appends one JSON line per poison message; fsynced before the batch's offsets are committed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0

    def write(self, items: list[tuple[Message, str]]) -> None:
        if not items:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            for msg, reason in items:
                record = {
                    "topic": msg.topic,
                    "partition": msg.partition,
                    "offset": msg.offset,
                    "reason": reason,
                    "key": msg.key.decode("utf-8", "replace") if msg.key else None,
                    "value_b64": base64.b64encode(msg.value).decode() if msg.value is not None else None,
                }
                fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.count += len(items)

"""Poison messages (not JSON, wrong types, missing fields) go to a dead-letter file with offset and reason."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.kafka import Message


class DeadLetters:
    """Appends one JSON line per poison message; fsynced before the batch's offsets are committed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0

    def write(self, items: list[tuple[Message, str]]) -> None:
        """Append the letters and fsync them; all or none (a failed write is cut back off the file)."""
        if not items:
            return
        data = "".join(json.dumps(_letter(msg, reason)) + "\n" for msg, reason in items).encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise self._error(exc) from None
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError as exc:
                # A full disk mid-write would leave half a line that breaks the file for every reader.
                os.ftruncate(fd, start)
                raise self._error(exc) from None
        finally:
            os.close(fd)
        self.count += len(items)

    def check_writable(self) -> None:
        """Fail now, before anything is consumed, when the dead-letter file cannot be written."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        except OSError as exc:
            raise self._error(exc) from None

    def _error(self, exc: OSError) -> PipelineError:
        return PipelineError(
            f"cannot write dead letters to {self.path} ({exc.strerror or exc})",
            "free space or fix STOCKPIPE_STATE_DIR (the sink commits nothing it could not set aside)",
        )


def _letter(msg: Message, reason: str) -> dict[str, object]:
    return {
        "topic": msg.topic,
        "partition": msg.partition,
        "offset": msg.offset,
        "reason": reason,
        "key": msg.key.decode("utf-8", "replace") if msg.key else None,
        "value_b64": base64.b64encode(msg.value).decode() if msg.value is not None else None,
    }

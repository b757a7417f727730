"""A replay checkpoint: which records of a source were delivered to a topic, so `--resume` skips them.

The merge order of a source is deterministic (date, then symbol, files in name order), so record
number `seq` (0-based position in the merged stream) names the same bar on every run over unchanged
files. A checkpoint keeps a contiguous watermark (every record below it was delivered) plus the
delivered records beyond it (delivery reports of different partitions arrive out of order), written
atomically on stop and every few seconds while running. It is keyed by the source path and the topic,
and carries a fingerprint of the source files so a changed source is refused instead of misread.

What it promises (docs/guarantees.md): after a graceful stop (SIGINT/SIGTERM, or the end of the
input) the checkpoint lists exactly the records with a successful delivery report, so a resumed
run sends each undelivered record once and no delivered one again. After a hard kill the last
periodic save may miss the final seconds of deliveries: those records are sent again (at least once).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from pipeline.atomic import write_atomic
from pipeline.errors import PipelineError
from pipeline.kafka import DeliveryCallback

FORMAT_VERSION = 1
SAVE_EVERY_S = 2.0


def default_checkpoint_path(state_dir: str | Path, source: Path, topic: str) -> Path:
    """`<state_dir>/checkpoints/produce-<topic>-<hash of source path and topic>.json`."""
    key = hashlib.sha256(f"{source.resolve()}\0{topic}".encode()).hexdigest()[:16]
    return Path(state_dir) / "checkpoints" / f"produce-{topic}-{key}.json"


def source_fingerprint(files: Iterable[tuple[str, int]]) -> str:
    """A digest of the (name, size) of every source file: changes when files are added, removed or grow."""
    digest = hashlib.sha256()
    for name, size in files:
        digest.update(f"{name}\0{size}\n".encode())
    return digest.hexdigest()


def _ranges(numbers: Iterable[int]) -> list[list[int]]:
    """Sorted numbers -> [[first, last], ...] runs (a compact form for the JSON file)."""
    out: list[list[int]] = []
    for n in sorted(numbers):
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out


class Checkpoint:
    """Delivered record numbers of one (source, topic), shared with the producer's delivery reports."""

    def __init__(self, path: Path, source: Path, topic: str, fingerprint: str) -> None:
        self.path = path
        self.source = str(source.resolve())
        self.topic = topic
        self.fingerprint = fingerprint
        self.watermark = 0  # every record number below this one was delivered
        self.beyond: set[int] = set()  # delivered record numbers >= watermark
        self.complete = False
        self._lock = threading.Lock()
        self._last_save = time.monotonic()

    @classmethod
    def load(cls, path: Path, source: Path, topic: str, fingerprint: str) -> Checkpoint:
        """Read the checkpoint for `--resume`; a missing, foreign or stale one is a clear error."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PipelineError(
                f"no checkpoint at {path} to resume from",
                "run without --resume to replay everything, or pass --checkpoint PATH of an earlier run",
            ) from None
        except (OSError, ValueError) as exc:
            raise PipelineError(f"checkpoint {path} is unreadable ({exc})", "delete it and replay") from None
        cp = cls(path, source, topic, fingerprint)
        owner = (data.get("version"), data.get("source"), data.get("topic"))
        if owner != (FORMAT_VERSION, cp.source, topic):
            raise PipelineError(
                f"checkpoint {path} belongs to source {data.get('source')!r} and topic {data.get('topic')!r}",
                f"resume with the same --source and --topic, or use another --checkpoint for {cp.source}",
            )
        if data.get("fingerprint") != fingerprint:
            raise PipelineError(
                f"the source files changed since checkpoint {path} was written",
                "run without --resume to replay everything (the sink's lake then needs a fresh topic)",
            )
        cp.watermark = int(data["watermark"])
        cp.beyond = {n for first, last in data.get("delivered_beyond", []) for n in range(first, last + 1)}
        cp.complete = bool(data.get("complete", False))
        return cp

    @property
    def delivered_count(self) -> int:
        with self._lock:
            return self.watermark + len(self.beyond)

    def delivered(self, seq: int) -> bool:
        with self._lock:
            return seq < self.watermark or seq in self.beyond

    def mark(self, seq: int) -> None:
        with self._lock:
            if seq < self.watermark:
                return
            self.beyond.add(seq)
            while self.watermark in self.beyond:
                self.beyond.discard(self.watermark)
                self.watermark += 1

    def callback(self, seq: int, report: DeliveryCallback) -> DeliveryCallback:
        """Wrap a delivery report: a success also marks record `seq` delivered."""

        def on_delivery(error: str | None) -> None:
            if error is None:
                self.mark(seq)
            report(error)

        return on_delivery

    def save_if_due(self) -> None:
        if time.monotonic() - self._last_save >= SAVE_EVERY_S:
            self.save()

    def save(self, complete: bool = False) -> None:
        """Write atomically (temp file, fsync, rename): a crash leaves the old or the new checkpoint."""
        with self._lock:
            data = {
                "version": FORMAT_VERSION,
                "source": self.source,
                "topic": self.topic,
                "fingerprint": self.fingerprint,
                "watermark": self.watermark,
                "delivered_beyond": _ranges(self.beyond),
                "delivered": self.watermark + len(self.beyond),
                "complete": complete,
                "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
        self.complete = complete
        try:
            write_atomic(self.path, json.dumps(data).encode())
        except OSError as exc:
            raise PipelineError(
                f"cannot write checkpoint {self.path} ({exc.strerror or exc})",
                "pass --checkpoint PATH in a writable directory",
            ) from None
        self._last_save = time.monotonic()

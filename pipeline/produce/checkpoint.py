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
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from pathlib import Path

from pipeline.atomic import write_atomic
from pipeline.errors import PipelineError

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
        self._watermark = 0  # every record number below this one was delivered
        self._beyond: list[int] = []  # delivered record numbers above the watermark, sorted
        self._marks: list[int] = []  # delivered numbers not yet folded into the two above
        self.complete = False
        self._lock = threading.RLock()
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
        cp._watermark = int(data["watermark"])
        cp.mark_many([n for first, last in data.get("delivered_beyond", []) for n in range(first, last + 1)])
        cp.complete = bool(data.get("complete", False))
        return cp

    @property
    def watermark(self) -> int:
        """Every record number below this one was delivered."""
        with self._lock:
            self._fold()
            return self._watermark

    @property
    def beyond(self) -> set[int]:
        """The delivered record numbers above the watermark."""
        with self._lock:
            self._fold()
            return set(self._beyond)

    @property
    def delivered_count(self) -> int:
        with self._lock:
            self._fold()
            return self._watermark + len(self._beyond)

    def delivered(self, seq: int) -> bool:
        with self._lock:
            self._fold()
            i = bisect_left(self._beyond, seq)
            return seq < self._watermark or (i < len(self._beyond) and self._beyond[i] == seq)

    def mark(self, seq: int) -> None:
        self.mark_many([seq])

    def mark_many(self, seqs: list[int]) -> None:
        """Record these record numbers as delivered (cheap: they are folded in when next read)."""
        with self._lock:
            self._marks += seqs

    def _fold(self) -> None:
        """Fold the marks in: the watermark moves up over every number delivered without a gap."""
        if not self._marks:
            return
        watermark = self._watermark
        distinct = set(self._beyond)
        distinct.update(self._marks)  # (C loops: this runs over every delivery of the last seconds)
        numbers = sorted(distinct)
        del numbers[: bisect_left(numbers, watermark)]
        self._marks = []
        # numbers[i] >= watermark + i, with equality exactly as long as there is no gap before i
        gapless = bisect_right(range(len(numbers)), 0, key=lambda i: numbers[i] - i - watermark)
        self._watermark = watermark + gapless
        self._beyond = numbers[gapless:]

    def save_if_due(self) -> None:
        if time.monotonic() - self._last_save >= SAVE_EVERY_S:
            self.save()

    def save(self, complete: bool = False) -> None:
        """Write atomically (temp file, fsync, rename): a crash leaves the old or the new checkpoint."""
        with self._lock:
            self._fold()
            data = {
                "version": FORMAT_VERSION,
                "source": self.source,
                "topic": self.topic,
                "fingerprint": self.fingerprint,
                "watermark": self._watermark,
                "delivered_beyond": _ranges(self._beyond),
                "delivered": self._watermark + len(self._beyond),
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

"""Live state of a running replay: small JSON status files the producer and the sink keep up to date.

Each writer owns one file, `<state_dir>/status/<role>-<topic>.json` (role `producer` or `sink`),
replaced atomically (write a temporary file, then rename), at most once per `every_s` seconds and
once more when the run ends. The dashboard reads both files; nothing else coordinates them.

- producer: `{"role", "topic", "sent", "delivered", "failed", "rate", "done", "started_at", "updated_at"}`
- sink: `{"role", "topic", "consumed", "rows_written", "objects_written", "last_object", "rate", "done",
  "started_at", "updated_at"}`

`rate` is records per second since the previous update that was at least 0.5 s before (null until then).
`LiveState.sink_lag` (producer-delivered minus sink-consumed) is only an estimate: the two files may
describe different runs (a new sink run starts counting at 0). The dashboard and `stockpipe status`
show the real lag from Kafka, end offsets minus the sink group's committed offsets
(pipeline/ops/status.py `kafka_status`).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.atomic import write_atomic

ROLES = ("producer", "sink")
#: A status not updated for this long (and not marked done) is shown as stale: its writer has likely died.
STALE_AFTER_S = 15.0
#: A rate is measured over at least this many seconds (null in the file until then).
MIN_RATE_WINDOW_S = 0.5
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def status_path(state_dir: str | Path, role: str, topic: str) -> Path:
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return Path(state_dir) / "status" / f"{role}-{_SAFE.sub('_', topic)}.json"


class StatusWriter:
    """Keeps one status file current; `update(...)` is cheap and writes at most once per `every_s`.

    The count named by `counter` (``delivered`` for the producer, ``consumed`` for the sink) gives the rate.
    Thread-safe; a failed write is ignored (status is best effort and must never stop the pipeline).
    """

    def __init__(
        self,
        state_dir: str | Path,
        role: str,
        topic: str,
        every_s: float = 1.0,
        counter: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = status_path(state_dir, role, topic)
        self.role = role
        self.topic = topic
        self.every_s = every_s
        self.counter = counter or ("delivered" if role == "producer" else "consumed")
        self.started_at = time.time()
        self._clock = clock
        self._last_write = -float("inf")
        self._last_count = 0
        self._last_count_at = clock()
        self._rate: float | None = None  # unknown until MIN_RATE_WINDOW_S has passed
        self._lock = threading.Lock()

    def update(self, force: bool = False, done: bool = False, **fields: Any) -> bool:
        """Record the current counts; returns True when the file was written."""
        now = self._clock()
        with self._lock:
            if not (force or done) and now - self._last_write < self.every_s:
                return False
            count = int(fields.get(self.counter, 0) or 0)
            if now - self._last_count_at >= MIN_RATE_WINDOW_S:  # shorter windows give silly rates
                self._rate = max(count - self._last_count, 0) / (now - self._last_count_at)
                self._last_count, self._last_count_at = count, now
            self._last_write = now
            doc = {
                "role": self.role,
                "topic": self.topic,
                **fields,
                "rate": None if self._rate is None else round(self._rate, 1),
                "done": done,
                "started_at": self.started_at,
                "updated_at": time.time(),
            }
            try:
                write_atomic(self.path, json.dumps(doc, default=str).encode(), durable=False)
            except OSError:
                return False
            return True

    def update_from(self, report: Any, force: bool = False, done: bool = False) -> bool:
        """`update` from a dataclass report (SinkReport, ReplayReport): its fields become the status."""
        fields = {k: v for k, v in asdict(report).items() if isinstance(v, int | float | str | None)}
        return self.update(force=force, done=done, **fields)


def read_status(path: Path) -> dict[str, Any] | None:
    """The status document, or None when the file is missing or unreadable (a writer mid-rename)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


@dataclass(frozen=True)
class LiveState:
    topic: str | None
    producer: dict[str, Any] | None
    sink: dict[str, Any] | None
    records_in_per_s: float | None
    sink_lag: int | None  # an estimate from the two files; the real lag: ops.status.kafka_status
    last_object: str | None
    running: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _stale(doc: dict[str, Any] | None, now: float) -> bool:
    return doc is not None and not doc.get("done") and now - float(doc.get("updated_at", 0)) > STALE_AFTER_S


def latest_topic(state_dir: str | Path) -> str | None:
    """The topic whose status file changed last (the replay running now, or the last one)."""
    files = sorted((Path(state_dir) / "status").glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in files:
        doc = read_status(path)
        if doc and isinstance(doc.get("topic"), str):
            return str(doc["topic"])
    return None


def live_state(state_dir: str | Path, topic: str | None = None, now: float | None = None) -> LiveState:
    """Both status files of `topic` (default: the most recently updated topic): rates, counts, last object."""
    now = time.time() if now is None else now
    topic = topic or latest_topic(state_dir)
    if topic is None:
        return LiveState(None, None, None, None, None, None, False)
    producer = read_status(status_path(state_dir, "producer", topic))
    sink = read_status(status_path(state_dir, "sink", topic))
    for doc in (producer, sink):
        if doc is not None:
            doc["stale"] = _stale(doc, now)
            doc["age_s"] = round(now - float(doc.get("updated_at", now)), 1)
    lag = None
    if producer is not None and sink is not None:
        lag = max(int(producer.get("delivered", 0)) - int(sink.get("consumed", 0)), 0)
    running = any(d is not None and not d.get("done") and not d["stale"] for d in (producer, sink))
    return LiveState(
        topic=topic,
        producer=producer,
        sink=sink,
        records_in_per_s=float(producer["rate"]) if producer and producer.get("rate") is not None else None,
        sink_lag=lag,
        last_object=(sink or {}).get("last_object"),
        running=running,
    )

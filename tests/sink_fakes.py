"""In-process stand-ins for one function's unit tests of the sink loop (pipeline/sink/run.py): a consumer
that hands out one poll and records commits, and a lake of objects in a dict. The integration and fault
tests use real Kafka and real lakes instead."""

from __future__ import annotations

from pipeline.errors import CommitRejected
from pipeline.kafka import Message


class OnePollConsumer:
    """Hands out `messages` in one poll, then nothing; records each commit (into `events` too, if given).

    With `reject_commits` every commit is refused as the group refuses a member that lost its partitions.
    """

    on_revoke = None

    def __init__(
        self, messages: list[Message], events: list[str] | None = None, reject_commits: bool = False
    ) -> None:
        self.messages = messages
        self.events = events
        self.reject = reject_commits
        self.commits: list[dict] = []

    def poll_batch(self, max_records: int, timeout_s: float) -> list[Message]:
        out, self.messages = self.messages, []
        return out

    def assigned(self) -> bool:
        return True

    def lag(self) -> dict[int, int]:
        return {}

    def commit(self, offsets: dict) -> None:
        if self.reject:
            raise CommitRejected("commit refused: Broker: Specified group generation id is not valid")
        self.commits.append(offsets)
        if self.events is not None:
            self.events.append(f"commit {sorted(offsets.items())}")


class MemoryLake:
    """Objects in a dict; `create` refuses a taken key, as both real backends do (unless `fenced` is
    False: then it stands for a server that ignores conditional writes, see S3Lake.create)."""

    def __init__(self, fenced: bool = True) -> None:
        self.objects: dict[str, bytes] = {}
        self.fenced = fenced

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    def location(self, key: str = "") -> str:
        return f"memory://lake/{key}"

    def create(self, key: str, data: bytes) -> bool:
        if key in self.objects:
            return False
        self.objects[key] = data
        return True

    def get(self, key: str) -> bytes:
        return self.objects[key]

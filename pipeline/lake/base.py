"""The lake interface: keys are `/`-separated paths relative to the lake root."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow.fs as pafs


@dataclass(frozen=True)
class LakeObject:
    key: str
    size: int


class Lake(ABC):
    """A place for immutable objects. `put` returns only once the object is durable and whole."""

    #: Human-readable location of the lake root (a path or s3://bucket/prefix).
    url: str

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Write `data` at `key` atomically (readers see the old object or the new, never a part)."""

    @abstractmethod
    def create(self, key: str, data: bytes) -> bool:
        """Write `data` at `key` only if no object is there; return False (writing nothing) when one is.

        Durable and atomic like `put`; of two writers racing for one key exactly one gets True. The
        sink writes data objects only this way, so an object is never replaced (docs/guarantees.md, G1).
        """

    @property
    def fenced(self) -> bool:
        """Whether `create` really refuses a taken key (an S3-compatible server may ignore the condition,
        see S3Lake.create). Only an unfenced lake may have an unreadable object replaced (run.py)."""
        return True

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[LakeObject]:
        """Objects whose key starts with `prefix`, in key order."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def location(self, key: str = "") -> str:
        """Absolute location of `key` for catalogs and engines: a path or an s3:// URL."""

    @abstractmethod
    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem and the root path inside it, for reading datasets."""

    def check_writable(self) -> None:
        """Fail fast with a clear message when the lake cannot be written."""
        probe = "_stockpipe_write_check"
        self.put(probe, b"ok")
        self.delete(probe)

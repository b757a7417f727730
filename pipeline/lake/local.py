"""A lake in a local directory: atomic, durable writes via temp file + fsync + rename."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs

from pipeline.atomic import create_exclusive, write_atomic
from pipeline.errors import PipelineError
from pipeline.lake.base import Lake, LakeObject


class LocalLake(Lake):
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if path != self.root and self.root not in path.parents:
            raise PipelineError(
                f"lake key {key!r} escapes the lake root {self.root}", "use keys inside the lake"
            )
        return path

    def put(self, key: str, data: bytes) -> None:
        self._write(key, data, replace=True)

    def create(self, key: str, data: bytes) -> bool:
        return self._write(key, data, replace=False)

    def _write(self, key: str, data: bytes, replace: bool) -> bool:
        path = self._path(key)
        try:
            if not replace:
                return create_exclusive(path, data)
            write_atomic(path, data)
            return True
        except PermissionError as exc:
            raise PipelineError(
                f"cannot write to the lake directory {path.parent} ({exc.strerror})",
                "choose a writable --lake path or fix its permissions",
            ) from None
        except OSError as exc:
            raise PipelineError(
                f"cannot write {path} ({exc.strerror or exc})",
                "choose a --lake directory that can be created and written (and has free space)",
            ) from None

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise PipelineError(
                f"no object to read at {path}", "list the lake to see what is there"
            ) from None
        except OSError as exc:
            raise PipelineError(
                f"cannot read {path} ({exc.strerror or exc})", "check its permissions"
            ) from None

    def list(self, prefix: str = "") -> Iterator[LakeObject]:
        if not self.root.exists():
            return
        keys = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append((key, path.stat().st_size))
        for key, size in sorted(keys):
            yield LakeObject(key, size)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def location(self, key: str = "") -> str:
        return str(self.root / key) if key else str(self.root)

    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        return pafs.LocalFileSystem(), str(self.root)

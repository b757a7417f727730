"""Finding source files (a directory tree, a zip, or one file) and reading their lines lazily.

A directory of the Kaggle set holds ~8,500 files and the replay merges all of them at once, more
than a process may keep open. Directory files are therefore read in chunks, the file closed between
chunks, so only the buffered bytes stay in memory: at most `MERGE_BUFFER_BYTES` across all files.
Zip members share the zip's single file handle.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import PipelineError

MERGE_BUFFER_BYTES = 64 << 20
MAX_CHUNK = 256 << 10
MIN_CHUNK = 4 << 10
SOURCE_SUFFIXES = (".txt", ".csv")


class UnreadableFile(Exception):
    """The file cannot be read as text (binary, permission, I/O error)."""


@dataclass(frozen=True)
class SourceFile:
    """One source file: `name` is what messages show (relative to the source root)."""

    name: str
    size: int
    path: Path | None = None
    # Zip members share one open ZipFile (one file descriptor for the whole merge).
    archive: zipfile.ZipFile | None = None
    member: str | None = None
    #: Why an entry named like a source file cannot be read at all (a directory, a dangling symlink,
    #: a FIFO): reported as a rejected file instead of being skipped silently. Its `size` is -1.
    problem: str | None = None

    def lines(self, chunk: int = MAX_CHUNK) -> Iterator[tuple[int, str]]:
        """Yield (line number, text without line ending) for every line, 1-based."""
        raw = self._zip_chunks() if self.archive else self._file_chunks(chunk)
        yield from _split_lines(raw, self.name)

    def newline_count(self) -> int:
        """Number of line endings, counted on raw bytes (fast; used for progress totals)."""
        raw = self._zip_chunks() if self.archive else self._file_chunks(MAX_CHUNK)
        return sum(data.count(b"\n") for data in raw)

    def _file_chunks(self, chunk: int) -> Iterator[bytes]:
        assert self.path is not None
        if self.problem is not None:
            raise UnreadableFile(self.problem)
        offset = 0
        while True:
            try:
                with self.path.open("rb") as fh:
                    fh.seek(offset)
                    data = fh.read(chunk)
            except OSError as exc:
                raise UnreadableFile(f"cannot read ({exc.strerror or exc})") from None
            if not data:
                return
            offset += len(data)
            yield data

    def _zip_chunks(self) -> Iterator[bytes]:
        assert self.archive is not None and self.member is not None
        try:
            with self.archive.open(self.member) as fh:
                while data := fh.read(MIN_CHUNK * 4):
                    yield data
        except (OSError, zipfile.BadZipFile) as exc:
            raise UnreadableFile(f"cannot read from zip ({exc})") from None


def _split_lines(chunks: Iterator[bytes], name: str) -> Iterator[tuple[int, str]]:
    pending = b""
    number = 0
    first = True
    for data in chunks:
        if first:
            if b"\x00" in data[:8192]:
                raise UnreadableFile("is a binary file, not CSV text")
            if data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            first = False
        pending += data
        cut = pending.rfind(b"\n")
        if cut < 0:
            continue
        # One decode per chunk, not per line: b"\n" never occurs inside a UTF-8 sequence, so this
        # gives the same text (and the same replacement characters) as decoding line by line.
        block = pending[:cut].decode("utf-8", errors="replace")
        pending = pending[cut + 1 :]
        for text in block.split("\n"):
            number += 1
            yield number, text[:-1] if text.endswith("\r") else text
    if pending:
        yield number + 1, _decode(pending)


def _decode(raw: bytes) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode("utf-8", errors="replace")


def discover(root: Path) -> list[SourceFile]:
    """All source files under `root` (a directory, a .zip, or a single file), sorted by name."""
    if not root.exists():
        raise PipelineError(f"source {root} does not exist", "pass a directory, a .zip or a CSV file")
    if root.is_dir():
        files = [
            _entry(p, p.relative_to(root).as_posix())
            for p in sorted(root.rglob("*"))
            if p.suffix.lower() in SOURCE_SUFFIXES
        ]
    elif root.suffix.lower() == ".zip":
        try:
            zf = zipfile.ZipFile(root)
            files = [
                SourceFile(name=i.filename, size=i.file_size, archive=zf, member=i.filename)
                for i in sorted(zf.infolist(), key=lambda i: i.filename)
                if not i.is_dir() and Path(i.filename).suffix.lower() in SOURCE_SUFFIXES
            ]
        except zipfile.BadZipFile as exc:
            raise PipelineError(f"{root} is not a readable zip file ({exc})", "check the download") from None
    else:
        files = [SourceFile(name=root.name, size=root.stat().st_size, path=root)]
    if not files:
        raise PipelineError(
            f"no source files (*.txt, *.csv) under {root}",
            "point --source at the Kaggle directory/zip or indexProcessed.csv, or run `stockpipe sample`",
        )
    return files


def _entry(path: Path, name: str) -> SourceFile:
    """A directory entry named like a source file; one that is not a regular file carries its `problem`."""
    if path.is_file():
        return SourceFile(name=name, size=path.stat().st_size, path=path)
    if path.is_symlink() and not path.exists():
        problem = f"cannot read (dangling symlink to {os.readlink(path)})"
    elif path.is_dir():
        problem = "cannot read (a directory, not a file)"
    else:
        problem = "cannot read (not a regular file)"
    return SourceFile(name=name, size=-1, path=path, problem=problem)


def chunk_size_for(file_count: int) -> int:
    """Per-file read size that keeps the merge's buffers under MERGE_BUFFER_BYTES."""
    return max(MIN_CHUNK, min(MAX_CHUNK, MERGE_BUFFER_BYTES // max(file_count, 1)))

"""Finding source files (a directory tree, a zip, or one file) and reading their lines lazily.

A directory of the Kaggle set holds ~8,500 files and the replay merges all of them at once, more
than a process may keep open. Directory files are therefore read in chunks, the file closed between
chunks, so only the buffered bytes stay in memory: at most `MERGE_BUFFER_BYTES` across all files.
Zip members share the zip's single file handle.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pipeline.errors import PipelineError

MERGE_BUFFER_BYTES = 32 << 20
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
        for first, block in self.blocks(chunk):
            for number, text in enumerate(block.split("\n"), first):
                yield number, text[:-1] if text.endswith("\r") else text

    def blocks(self, chunk: int = MAX_CHUNK) -> Iterator[tuple[int, str]]:
        """Yield (number of its first line, text) per read: the complete lines read so far, joined by
        "\n", each still ending in "\r" where the file has CRLF line ends (`lines` strips one).
        Between two reads only the unfinished last line is kept."""
        return _Blocks(self._reader(chunk))

    def newline_count(self) -> int:
        """Number of line endings, counted on raw bytes (fast; used for progress totals)."""
        read = self._reader(MAX_CHUNK)
        total = 0
        while data := read():
            total += data.count(b"\n")
        return total

    def _reader(self, chunk: int) -> Callable[[], bytes]:
        """A function returning the next bytes of the file, b"" at its end; raises UnreadableFile."""
        if self.archive is not None:
            assert self.member is not None
            return _ZipReader(self.archive, self.member)
        assert self.path is not None
        return _FileReader(self.path, chunk, self.problem)


class _FileReader:
    """Reads a file `chunk` bytes at a time, open only during each read (thousands are read at once)."""

    def __init__(self, path: Path, chunk: int, problem: str | None) -> None:
        self.path, self.chunk, self.problem = path, chunk, problem
        self.offset = 0
        self.done = False

    def __call__(self) -> bytes:
        if self.problem is not None:
            raise UnreadableFile(self.problem)
        if self.done:
            return b""
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read(self.chunk)
        except OSError as exc:
            raise UnreadableFile(f"cannot read ({exc.strerror or exc})") from None
        self.offset += len(data)
        # A buffered read of a regular file returns less than asked only at its end: no need to
        # open it once more to find nothing.
        self.done = len(data) < self.chunk
        return data


class _ZipReader:
    """Reads a zip member; members share the zip's one file handle."""

    def __init__(self, archive: zipfile.ZipFile, member: str) -> None:
        self.archive, self.member = archive, member
        self.fh: IO[bytes] | None = None
        self.done = False

    def __call__(self) -> bytes:
        if self.done:
            return b""
        try:
            if self.fh is None:
                self.fh = self.archive.open(self.member)
            data = self.fh.read(MIN_CHUNK * 4)
        except (OSError, zipfile.BadZipFile) as exc:
            self._close()
            raise UnreadableFile(f"cannot read from zip ({exc})") from None
        if not data:
            self._close()
        return data

    def _close(self) -> None:
        self.done = True
        if self.fh is not None:
            self.fh.close()
            self.fh = None


class _Blocks(Iterator[tuple[int, str]]):
    """`SourceFile.blocks`: an iterator object rather than a generator, so that nothing but the
    unfinished last line stays referenced between two reads (thousands of these are open at once)."""

    def __init__(self, read: Callable[[], bytes]) -> None:
        self._read = read
        self._pending = b""
        self._number = 1
        self._first = True
        self._done = False

    def __next__(self) -> tuple[int, str]:
        while not self._done:
            try:
                data = self._read()
            except UnreadableFile:
                self._done = True
                raise
            if not data:
                self._done = True
                break
            if self._first:
                self._first = False
                if b"\x00" in data[:8192]:
                    self._done = True
                    raise UnreadableFile("is a binary file, not CSV text")
                if data.startswith(b"\xef\xbb\xbf"):
                    data = data[3:]
            pending = self._pending + data if self._pending else data
            cut = pending.rfind(b"\n")
            if cut < 0:
                self._pending = pending
                continue
            self._pending = pending[cut + 1 :]
            number = self._number
            self._number += pending.count(b"\n", 0, cut) + 1
            # One decode per chunk, not per line: b"\n" never occurs inside a UTF-8 sequence, so this
            # gives the same text (and the same replacement characters) as decoding line by line.
            return number, pending[:cut].decode("utf-8", errors="replace")
        if self._pending:
            pending, self._pending = self._pending, b""
            return self._number, pending.decode("utf-8", errors="replace")
        raise StopIteration


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

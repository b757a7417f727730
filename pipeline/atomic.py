"""Writing files so readers see the old content or the new, never a part of either.

`write_atomic` replaces a file; `create_exclusive` creates one only where none exists (the lake's
fence: an object, once written, is never replaced).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write `data` to `path` via a temporary file in the same directory and a rename.

    With `durable`, the file and the rename are fsynced before returning, so a crash right after
    leaves the new content on disk. Raises OSError; callers turn it into a message for their file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def create_exclusive(path: Path, data: bytes) -> bool:
    """Create `path` with `data` (durably) unless a file is already there; return False then.

    The data goes to a fsynced temporary file first and is linked to `path` in one step, which fails
    when `path` exists: of two writers racing for one name exactly one wins, and a reader never sees a
    part. Raises OSError for anything else; callers turn it into a message for their file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # Readable by the lake's other readers (catalog, SQL as another user), like any data file.
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True

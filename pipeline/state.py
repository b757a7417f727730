"""The local state directory (checkpoints, dead letters, status files, the local broker and catalog):
checked once, before a command consumes, sends or starts anything."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pipeline.errors import PipelineError


def check_state_dir(path: str | Path) -> Path:
    """Create `path` if needed and prove it writable; a one-line error naming it otherwise."""
    where = Path(path)
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=where, prefix=".write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        kind = "is not a directory" if where.exists() and not where.is_dir() else "cannot be written"
        raise PipelineError(
            f"state directory {where} {kind} ({exc.strerror or exc})",
            "point STOCKPIPE_STATE_DIR (or state_dir in the config file) at a writable directory",
        ) from None
    return where

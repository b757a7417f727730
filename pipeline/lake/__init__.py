"""The lake: where the sink writes objects and the catalog and SQL engines read them.

One small interface (`Lake`) with two backends picked once from the lake URL: a local directory
(the embedded default) and S3 (AWS or any S3-compatible endpoint).
"""

from __future__ import annotations

from pipeline.lake.base import Lake, LakeObject
from pipeline.lake.local import LocalLake
from pipeline.lake.s3 import S3Lake


def open_lake(url: str, endpoint_url: str | None = None, region: str | None = None) -> Lake:
    """`s3://bucket/prefix` -> S3Lake; anything else (a path or file:// URL) -> LocalLake."""
    if url.startswith("s3://"):
        return S3Lake(url, endpoint_url=endpoint_url, region=region)
    return LocalLake(url.removeprefix("file://"))


__all__ = ["Lake", "LakeObject", "LocalLake", "S3Lake", "open_lake"]

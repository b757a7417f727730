"""Sources: stock-price files read, validated and merged into one time-ordered stream of bars."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from operator import attrgetter
from pathlib import Path

from pipeline.records import StockBar
from pipeline.sources.batches import BlockMerge, EncodedBatch, EncodedColumns
from pipeline.sources.files import SourceFile, UnreadableFile, chunk_size_for, discover
from pipeline.sources.formats import latest_allowed_date
from pipeline.sources.reader import ReadCounts, open_streams, plan_streams
from pipeline.sources.rejects import Rejects

__all__ = ["EncodedBatch", "EncodedColumns", "ReadCounts", "Rejects", "SourceSet", "StockBar"]


# (date, symbol): a C-level attribute getter, the merge calls it once per bar.
_merge_key = attrgetter("date", "symbol")


class SourceSet:
    """All bars under a source path, in (date, symbol) order, read lazily with a k-way merge."""

    def __init__(self, root: Path, rejects: Rejects | None = None) -> None:
        self.root = root
        self.files: list[SourceFile] = discover(root)
        self.rejects = rejects if rejects is not None else Rejects()
        self.counts = ReadCounts()

    def bars(self) -> Iterator[StockBar]:
        """Every good bar, one at a time (the reference the replay's batches are tested against)."""
        chunk = chunk_size_for(len(self.files))
        streams = open_streams(self.files, chunk, self.rejects, self.counts)
        return heapq.merge(*streams, key=_merge_key)

    def batches(self, batch_rows: int | None = None) -> Iterator[EncodedBatch]:
        """The same records as `bars()`, in the same order, as batches of Kafka keys and JSON values
        (`StockBar.key()`, `StockBar.to_json()`): what the replay sends. See sources/batches.py."""
        return iter(self.merge(batch_rows))

    def merge(self, batch_rows: int | None = None) -> BlockMerge:
        """What `batches()` iterates; its `columns()` gives the batches as Arrow columns."""
        chunk = chunk_size_for(len(self.files))
        latest = latest_allowed_date()
        specs = plan_streams(self.files, chunk, self.rejects, self.counts)
        return BlockMerge(specs, chunk, self.rejects, self.counts, latest, batch_rows)

    def estimate_rows(self) -> int:
        """Data lines in all files (line count minus one header each): the progress bar's total."""
        total = 0
        for src in self.files:
            if src.size == 0:
                continue
            try:
                lines = src.newline_count()
            except UnreadableFile:  # reported when the file is really read
                continue
            total += max(lines - 1, 0)
        return total

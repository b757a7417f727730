"""The replay's fast path: the merged stream of `SourceSet.bars()` as batches of encoded messages.

`bars()` checks one line at a time and merges one bar at a time (`heapq.merge` over every stream).
The replay only needs each record's Kafka key and JSON value, so this does the same work a block at a
time, in Arrow:

- Reading: a stream reads its next block (one chunk of its file, as complete lines) when fewer than
  a quarter of its last block's rows are left to merge. The blocks of one read are checked together:
  a block whose every line is plainly well-formed (digits where numbers go, an ISO date, no blanks,
  no CR in the middle) is parsed and validated column-wise with exactly the checks of `parse_row`
  and `RowChecker`; a block with any other line goes through `RowChecker` line by line, as `bars()`
  would read it.
- Merging: a stream's good rows come in increasing date order, so no unread row can sort before the
  horizon: the smallest last-read date of the streams that may have more rows. Rows up to it are
  sorted by (date, symbol, stream) - `heapq.merge`'s order, ties going to the earlier stream - and
  encoded column-wise by `ColumnEncoder`, WINDOW_ROWS at most at a time, then handed out in batches.
  The rows of one read (the blocks of hundreds of streams) are kept together as one run, sorted in
  merge order when read, so a window takes a slice of each run rather than one of every stream
  (2,000 slices a window cost ~0.35 s per 1M records to cut, combine and free).

Same rows, same order, same bytes as `bars()` and `StockBar.to_json` (tests/test_sources_batches.py
pins it). Rejected lines are reported with the same file:line and reason, in line order within a
file; they are reported as blocks are read rather than as the merge passes them, so files interleave
differently in the rejects file. Memory stays bounded whatever the input's length: at most 1.25
blocks per stream not yet merged (the chunk size keeps one block of every file under
MERGE_BUFFER_BYTES), in runs that are freed when merged and copied down to what is left when more
than half of one is merged (so a slow stream keeps only its own rows), plus one merge window.
"""

from __future__ import annotations

import heapq
import re
from bisect import bisect_right
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import accumulate
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipeline.bar_rules import DATE_PATTERN, PRICES, arrow_fields, good_bars
from pipeline.records import ColumnEncoder, StockBar
from pipeline.sources.files import UnreadableFile
from pipeline.sources.formats import Header, Layout, UnknownFormat, detect_header
from pipeline.sources.reader import ReadCounts, RowChecker, StreamSpec, bar_stream
from pipeline.sources.rejects import Rejects

#: Rows per batch handed to the replay.
BATCH_ROWS = 16_384
#: Rows sorted and encoded in one go, at most (about): bounds the memory of a merge window.
WINDOW_ROWS = 131_072
#: Text checked and parsed in one go: bounds the temporary columns of a read.
PARSE_BYTES = 4 << 20
#: Bars taken at a time from a multi-symbol file's stream (read line by line, as `bars()` does).
BAR_TAKE = 4_096
#: A stream reads its next block when fewer than 1/READ_AHEAD of its last block's rows are left.
READ_AHEAD = 4
#: The first read of a file on disk, at most (then chunks): nothing can be merged before every
#: stream has rows, so a smaller first read hands out the first batch sooner. Not below the 8 KB
#: `SourceFile.blocks` checks for a binary file.
FIRST_READ = 8 << 10

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_SCHEMA = pa.schema(
    [
        ("key", pa.int64()),  # day * number of streams + rank: the merge order
        ("day", pa.int32()),
        ("rank", pa.int32()),
        *arrow_fields((*PRICES, "volume")),  # as the lake holds them
        ("line", pa.int32()),
        ("json", pa.binary()),  # the value, where a row was checked line by line
    ]
)

# What a column must look like for the column-wise path (anything else is checked line by line):
# Python's float() and Arrow read these digits to the same double; volumes stay exact in a float.
_DATE = DATE_PATTERN
_PRICE = r"\d{1,20}(?:\.\d{1,20})?"
_VOLUME = r"\d{1,15}"
_OTHER = r"[^,\r\n]*"


def _day(day: date) -> int:
    return day.toordinal() - _EPOCH_ORDINAL


@dataclass
class EncodedBatch:
    """Consecutive records of the merged stream: Kafka keys and JSON values, ready to send."""

    keys: list[bytes]
    values: list[bytes]
    days: Any  # pyarrow Int32Array: days since 1970-01-01

    def __len__(self) -> int:
        return len(self.values)

    def dates(self) -> list[date]:
        """The trading date of each record (for pacing)."""
        return [date.fromordinal(_EPOCH_ORDINAL + d) for d in self.days.to_pylist()]


@dataclass
class EncodedColumns:
    """An `EncodedBatch` still in Arrow columns: compact, and cheap to hand to another process
    (sources/ahead.py); `batch` makes the Python lists the client takes."""

    ranks: Any  # pyarrow Int32Array: the key is `keys[rank]` (ColumnEncoder.keys)
    values: Any  # pyarrow BinaryArray
    days: Any  # pyarrow Int32Array: days since 1970-01-01

    def batch(self, keys: list[bytes]) -> EncodedBatch:
        return EncodedBatch(
            list(map(keys.__getitem__, self.ranks.to_pylist())), self.values.to_pylist(), self.days
        )


class _RowFormat:
    """The column-wise check of a header's data lines: a line regex plus the CSV read of the columns."""

    def __init__(self, header: Header) -> None:
        i_date, i_open, i_high, i_low, i_close, i_volume = header.positions
        kinds = {i_date: _DATE, i_open: _PRICE, i_high: _PRICE, i_low: _PRICE, i_close: _PRICE}
        kinds[i_volume] = _VOLUME
        line = ",".join(kinds.get(i, _OTHER) for i in range(header.width))
        self.pattern = f"^{line}$"  # one line
        self.text_pattern = rf"\A(?:{line}\n)*{line}\z"  # lines joined by "\n": one regex pass
        # A repeated header must be reported as one: if it could pass as data, read line by line.
        self.usable = header.layout is Layout.KAGGLE and not re.fullmatch(line, ",".join(header.columns))
        names = [f"c{i}" for i in range(header.width)]
        self.read_options = pacsv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 22)
        self.parse_options = pacsv.ParseOptions(
            quote_char=False, escape_char=False, newlines_in_values=False, ignore_empty_lines=False
        )
        types = {i_date: pa.date32(), i_volume: pa.int64()}
        types |= {i: pa.float64() for i in (i_open, i_high, i_low, i_close)}
        self.names = {
            name: names[i]
            for name, i in zip(self.COLUMNS, (i_date, i_open, i_high, i_low, i_close, i_volume), strict=True)
        }
        self.convert_options = pacsv.ConvertOptions(
            column_types={names[i]: t for i, t in types.items()},
            include_columns=list(self.names.values()),
            null_values=[],
            strings_can_be_null=False,
        )

    COLUMNS = ("date", *PRICES, "volume")

    def read(self, text: str) -> dict[str, pa.Array]:
        """The columns of `text` (lines that matched `pattern`), by name; raises ArrowInvalid."""
        table = pacsv.read_csv(
            pa.py_buffer(text.encode()), self.read_options, self.parse_options, self.convert_options
        )
        return {name: table.column(column).combine_chunks() for name, column in self.names.items()}


class _Stream:
    """One input of the merge (its rows are in the merge's runs)."""

    def __init__(self, spec: StreamSpec, index: int) -> None:
        self.spec = spec
        self.index = index
        self.symbol = spec.symbol_name
        self.rank = 0  # position in (symbol, index) order, set by the merge
        self.last_day: int | None = None  # of the last row read
        self.eof = False


class _Run:
    """Rows read together, in merge order (by `key`): from `pos` on, not yet handed out."""

    def __init__(self, rows: pa.RecordBatch) -> None:
        self.rows = rows
        self.days: Sequence[int] = _int32_view(rows.column("day"))
        self.pos = 0


class _FileStream(_Stream):
    """A single-symbol file, read a block at a time."""

    def __init__(self, spec: StreamSpec, index: int, chunk: int, merge: BlockMerge) -> None:
        super().__init__(spec, index)
        self.merge = merge
        self.blocks = spec.src.blocks(chunk, FIRST_READ)
        self.checker: RowChecker | None = None
        self.format: _RowFormat | None = None

    def next_block(self) -> tuple[int, str] | None:
        """(first line number, text) of the next data lines, or None at the end of the file."""
        try:
            for first, text in self.blocks:
                if self.checker is None:
                    found = self._find_header(first, text)
                    if found is None:
                        if self.eof:
                            return None
                        continue
                    first, text = found
                return first, text
        except UnreadableFile as exc:
            self.merge.rejects.file(self.spec.src.name, str(exc))
        return None

    def _find_header(self, first: int, text: str) -> tuple[int, str] | None:
        """Skip blank lines to the header; what follows it in this block, if anything."""
        while True:
            line, newline, rest = text.partition("\n")
            if line.strip():  # (a trailing "\r" is whitespace)
                try:
                    header = detect_header(line[:-1] if line.endswith("\r") else line)
                except UnknownFormat as exc:
                    self.merge.rejects.file(self.spec.src.name, str(exc))
                    self.eof = True
                    return None
                m = self.merge
                self.checker = RowChecker(self.spec.src, header, m.rejects, m.counts, m.latest)
                self.format = m.row_format(header)
                return (first + 1, rest) if newline else None
            if not newline:
                return None
            first, text = first + 1, rest


class _BarStream(_Stream):
    """One symbol of a multi-symbol file: `bars()`'s line-by-line stream, taken a few thousand at a time."""

    def __init__(self, spec: StreamSpec, index: int, chunk: int, merge: BlockMerge) -> None:
        super().__init__(spec, index)
        self.bars = bar_stream(spec.src, chunk, merge.rejects, merge.counts, spec.symbol, merge.latest)

    def take(self) -> list[StockBar]:
        out = []
        for bar in self.bars:
            out.append(bar)
            if len(out) >= BAR_TAKE:
                break
        return out


class BlockMerge:
    """The k-way merge of `SourceSet.bars()`, a block at a time: iterate it for `EncodedBatch`es."""

    def __init__(
        self,
        specs: list[StreamSpec],
        chunk: int,
        rejects: Rejects,
        counts: ReadCounts,
        latest: date,
        batch_rows: int | None = None,
    ) -> None:
        self.rejects = rejects
        self.counts = counts
        self.latest = latest
        self.batch_rows = batch_rows or BATCH_ROWS
        self._formats: dict[tuple[str, ...], _RowFormat] = {}
        self.streams: list[_Stream] = [
            (_FileStream if spec.symbol is None else _BarStream)(spec, i, chunk, self)
            for i, spec in enumerate(specs)
        ]
        for rank, stream in enumerate(sorted(self.streams, key=lambda s: (s.symbol, s.index))):
            stream.rank = rank
        by_rank = sorted(self.streams, key=lambda s: s.rank)
        self.encoder = ColumnEncoder([s.symbol for s in by_rank], [s.spec.src.name for s in by_rank])
        self._width = max(len(self.streams), 1)
        self._runs: list[_Run] = []
        self._merged: float = float("-inf")  # every row up to this day was handed out
        self._wants: list[tuple[int, int]] = []  # (day merged when the stream reads on, stream index)
        self._limits: list[tuple[int, int]] = []  # (last read day, stream index), may be stale
        self._pending = 0  # rows read and not yet handed out

    def row_format(self, header: Header) -> _RowFormat | None:
        fmt = self._formats.get(header.columns)
        if fmt is None:
            fmt = self._formats[header.columns] = _RowFormat(header)
        return fmt if fmt.usable else None

    def __iter__(self) -> Iterator[EncodedBatch]:
        keys = self.encoder.keys
        for columns in self.columns():
            yield columns.batch(keys)

    def columns(self) -> Iterator[EncodedColumns]:
        """The batches, as Arrow columns."""
        need = list(self.streams)
        while True:
            while need:
                self._read(need)
                need = [s for s in need if not s.eof and not self._has_rows(s)]
            if not self._pending:
                return
            horizon = self._horizon()
            while self._pending and self._front() <= horizon:
                yield from self._emit(self._step(horizon))
            need = self._wanted()

    def _has_rows(self, stream: _Stream) -> bool:
        return stream.last_day is not None and stream.last_day > self._merged

    def _front(self) -> int:
        """The first day not yet handed out."""
        return min(run.days[run.pos] for run in self._runs)

    def _step(self, horizon: float) -> float:
        """How far the next window goes: to `horizon`, or less when more than WINDOW_ROWS rows are
        pending. A stream has at most one row per day, so k days hold at most k rows per stream."""
        if self._pending <= WINDOW_ROWS:
            return horizon
        streams = sum(1 for s in self.streams if self._has_rows(s))
        days = max(1, WINDOW_ROWS // max(streams, 1))
        return min(horizon, self._front() + days - 1)

    def _wanted(self) -> list[_Stream]:
        """The streams due for their next block: fewer than a READ_AHEAD-th of their last block's rows
        are left to hand out."""
        wants, due = self._wants, []
        while wants and wants[0][0] <= self._merged:
            stream = self.streams[heapq.heappop(wants)[1]]
            if not stream.eof:
                due.append(stream)
        return due

    # -- merging ---------------------------------------------------------------------------------
    def _horizon(self) -> float:
        """The last day no unread row can precede: the least last-read day of the unfinished streams."""
        limits = self._limits
        while limits:
            day, index = limits[0]
            stream = self.streams[index]
            if not stream.eof and stream.last_day == day:
                return day
            heapq.heappop(limits)
        return float("inf")

    def _emit(self, horizon: float) -> Iterator[EncodedColumns]:
        """Hand out every row up to `horizon`, in merge order."""
        slices, runs = [], []
        for run in self._runs:
            end = bisect_right(run.days, horizon, run.pos)
            if end > run.pos:
                slices.append(run.rows.slice(run.pos, end - run.pos))
                self._pending -= end - run.pos
                run.pos = end
            left = len(run.days) - end
            if left and 2 * left < len(run.days):  # keep only what is left: the rest can be freed
                run = _Run(pa.concat_batches([run.rows.slice(end)]))
            if left:
                runs.append(run)
        self._runs = runs
        self._merged = horizon
        table = pa.Table.from_batches(slices, _SCHEMA).combine_chunks()
        slices.clear()
        parts = deque(
            table.take(pc.sort_indices(table.column("key"))).combine_chunks().to_batches(self.batch_rows)
        )
        del table
        while parts:  # (popped, so that the batches already handed out can be freed)
            part = parts.popleft()
            yield EncodedColumns(part.column("rank"), self.encoder.encode_values(part), part.column("day"))
        pa.default_memory_pool().release_unused()  # the window's columns: back to the system

    def _took(self, stream: _Stream, days: Sequence[int]) -> None:
        """Note a read of `stream` that gave the rows of `days` (their rows go into a run)."""
        added = len(days)
        if added:
            stream.last_day = days[-1]
            self._pending += added
            heapq.heappush(self._limits, (stream.last_day, stream.index))
            # The next block is read before these run out: so that the horizon moves a block at a
            # time, not to the next stream's block end (reads of thousands of streams end on
            # different days). It is due when no more than a READ_AHEAD-th of these rows are left.
            heapq.heappush(self._wants, (days[added - added // READ_AHEAD - 1], stream.index))
        elif not stream.eof and self._has_rows(stream):  # nothing new: due when the rest is out
            assert stream.last_day is not None
            heapq.heappush(self._wants, (stream.last_day, stream.index))

    # -- reading ---------------------------------------------------------------------------------
    def _read(self, streams: list[_Stream]) -> None:
        """The next rows of each stream (none at its end); blocks that can be are read column-wise,
        up to PARSE_BYTES of text at a time."""
        groups: dict[int, tuple[_RowFormat, list[tuple[_FileStream, int, str]]]] = {}
        sizes: dict[int, int] = {}
        for stream in streams:
            if isinstance(stream, _BarStream):
                bars = stream.take()
                if bars:
                    self._add_bars(stream, bars)
                else:
                    stream.eof = True
                continue
            assert isinstance(stream, _FileStream)
            block = stream.next_block()
            if block is None:
                stream.eof = True
                continue
            first, text = block
            fmt = stream.format
            if fmt is None:
                self._add_bars(stream, self._check_lines(stream, first, text))
                continue
            key = id(fmt)
            group = groups.setdefault(key, (fmt, []))[1]
            group.append((stream, first, text))
            sizes[key] = sizes.get(key, 0) + len(text)
            if sizes[key] >= PARSE_BYTES:
                self._read_columns(fmt, group)
                del groups[key], sizes[key]
        for fmt, group in groups.values():
            self._read_columns(fmt, group)

    def _check_lines(self, stream: _FileStream, first: int, text: str) -> list[StockBar]:
        assert stream.checker is not None
        return stream.checker.check_block(first, text, stream.symbol)

    def _add_bars(self, stream: _Stream, bars: list[StockBar]) -> None:
        if not bars:
            self._took(stream, ())
            return
        n = len(bars)
        days = [_day(b.date) for b in bars]
        zeros = pa.array([0.0] * n)
        rows = pa.RecordBatch.from_arrays(
            [
                pa.array([d * self._width + stream.rank for d in days], pa.int64()),
                pa.array(days, pa.int32()),
                pa.array([stream.rank] * n, pa.int32()),
                zeros,
                zeros,
                zeros,
                zeros,
                pa.array([0] * n, pa.int64()),
                pa.array([b.source_line for b in bars], pa.int32()),
                pa.array([b.to_json() for b in bars], pa.binary()),
            ],
            schema=_SCHEMA,
        )
        self._took(stream, days)
        self._runs.append(_Run(rows))  # one stream's rows: already in merge order

    def _read_columns(self, fmt: _RowFormat, items: list[tuple[_FileStream, int, str]]) -> None:
        """Check and parse blocks together; a block that fails any check is read line by line."""
        slow = self._columns(fmt, items)
        if slow is None:
            if len(items) == 1:
                slow = items
            else:  # an error without a row to blame (a date like 2017-02-30): halve and retry
                half = len(items) // 2
                self._read_columns(fmt, items[:half])
                self._read_columns(fmt, items[half:])
                return
        if slow:
            bad = {id(item) for item in slow}
            good = [item for item in items if id(item) not in bad]
            if good:
                self._read_columns(fmt, good)
            for stream, first, text in slow:
                self._add_bars(stream, self._check_lines(stream, first, text))

    def _columns(self, fmt: _RowFormat, items: list[tuple[_FileStream, int, str]]) -> list[Any] | None:
        """Read `items` column-wise and add their rows; or return the items that need reading line by
        line (without adding anything), or None when Arrow refused the lot without naming a row."""
        text = "\n".join(_without_cr(t) for _, _, t in items)
        sizes = [t.count("\n") + 1 for _, _, t in items]
        starts = [0, *accumulate(sizes)]
        n = starts[-1]

        def blocks_of(rows: list[int]) -> list[Any]:
            return [items[i] for i in sorted({bisect_right(starts, r) - 1 for r in rows})]

        whole = pa.array([text])
        if not pc.match_substring_regex(whole, fmt.text_pattern)[0].as_py():
            plain = pc.match_substring_regex(pc.split_pattern(whole, "\n").flatten(), fmt.pattern)
            return blocks_of(pc.indices_nonzero(pc.invert(plain)).to_pylist()) or None
        del whole
        try:
            table = fmt.read(text)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        if len(table["date"]) != n:
            return None
        day = pc.cast(table["date"], pa.int32())
        o, h, lo, c = (table[name] for name in PRICES)
        # parse_row's rules, column-wise (the volume is whole by the regex, within int64 by the read)
        ok = good_bars(day, o, h, lo, c, table["volume"], self.latest)
        bad_rows = pc.indices_nonzero(pc.invert(ok)).to_pylist()
        # RowChecker's order check: each date after the previous good one (the stream's last).
        if n > 1:
            step = pc.less_equal(day.slice(1), day.slice(0, n - 1))
            block_starts = set(starts)
            bad_rows += [i + 1 for i in pc.indices_nonzero(step).to_pylist() if i + 1 not in block_starts]
        firsts = pc.take(day, pa.array(starts[:-1], pa.int32())).to_pylist()
        for (stream, _, _), start, first_day in zip(items, starts, firsts, strict=False):
            previous = stream.checker.previous if stream.checker is not None else None
            if previous is not None and first_day <= _day(previous):
                bad_rows.append(start)
        if bad_rows:
            return blocks_of(bad_rows)

        ends = pa.array(starts[1:], pa.int32())
        ranks = pc.run_end_decode(
            pa.RunEndEncodedArray.from_arrays(ends, pa.array([s.rank for s, _, _ in items], pa.int32()))
        )
        offsets = pc.run_end_decode(
            pa.RunEndEncodedArray.from_arrays(
                ends, pa.array([first - start for (_, first, _), start in zip(items, starts, strict=False)])
            )
        )
        line = pc.cast(pc.add(offsets, _arange(n)), pa.int32())
        rows = pa.RecordBatch.from_arrays(
            [
                pc.add(pc.multiply(pc.cast(day, pa.int64()), self._width), pc.cast(ranks, pa.int64())),
                day,
                ranks,
                o,
                h,
                lo,
                c,
                table["volume"],
                line,
                pa.nulls(n, pa.binary()),
            ],
            schema=_SCHEMA,
        )
        days = _int32_view(day)
        self.counts.rows_read += n
        self.counts.rows_good += n
        for (stream, _, _), start, size in zip(items, starts, sizes, strict=False):
            assert stream.checker is not None
            stream.checker.previous = date.fromordinal(_EPOCH_ORDINAL + days[start + size - 1])
            self._took(stream, days[start : start + size])
        self._runs.append(_Run(rows.take(pc.sort_indices(rows.column("key")))))
        return []


def _int32_view(array: pa.Array) -> memoryview:
    """The values of an int32 array without nulls, as a zero-copy memoryview of ints."""
    view = memoryview(array.buffers()[1]).cast("i")
    return view[array.offset : array.offset + len(array)]


def _without_cr(text: str) -> str:
    """`text` with CRLF line ends as LF: what `lines()` makes of it (one "\r" stripped per line)."""
    if "\r" not in text:
        return text
    text = text.replace("\r\n", "\n")
    return text[:-1] if text.endswith("\r") else text


_ARANGE = pa.array([], pa.int64())


def _arange(n: int) -> pa.Array:
    """0, 1, ..., n - 1 (int64), sliced from a cached array."""
    global _ARANGE
    if len(_ARANGE) < n:
        _ARANGE = pa.array(range(max(n, 2 * len(_ARANGE))), pa.int64())
    return _ARANGE.slice(0, n)

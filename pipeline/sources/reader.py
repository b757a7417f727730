"""Turning source files into time-ordered streams of validated `StockBar`s.

Each stream yields one symbol's bars in date order. A Kaggle file is one stream. A multi-symbol file
(indexProcessed.csv) becomes one filtered stream per symbol over the same file, so the merge stays
streaming however the file is grouped; a first pass finds the symbols.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from pipeline.bar_rules import symbol_problem
from pipeline.records import StockBar
from pipeline.sources.files import SourceFile, UnreadableFile
from pipeline.sources.formats import (
    Header,
    Layout,
    RowError,
    UnknownFormat,
    detect_header,
    is_header_line,
    latest_allowed_date,
    normalise,
    parse_row,
    symbol_from_filename,
)
from pipeline.sources.rejects import Rejects


@dataclass
class ReadCounts:
    """What was read: every data line is either a good row or a rejected row."""

    rows_read: int = 0
    rows_good: int = 0
    empty_files: int = 0
    files: int = 0
    extra_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _header(src: SourceFile, lines: Iterator[tuple[int, str]], rejects: Rejects) -> Header | None:
    """Read up to the header; report and skip the file when it has none we know."""
    for _number, text in lines:
        if not text.strip():
            continue
        try:
            return detect_header(text)
        except UnknownFormat as exc:
            rejects.file(src.name, str(exc))
            return None
    return None


class RowChecker:
    """The checks every data line of one stream goes through, in order: a repeated header, the row
    itself (`parse_row`), then its date against the stream's previous good row. A failing line is
    reported to `rejects` with its file:line and reason."""

    def __init__(self, src: SourceFile, header: Header, rejects: Rejects, counts: ReadCounts, latest: date):
        self.src = src
        self.header = header
        self.rejects = rejects
        self.counts = counts
        self.latest = latest
        self.previous: date | None = None  # date of the last good row

    def check(self, number: int, text: str, fields: list[str], symbol: str) -> StockBar | None:
        """The line's bar, or None when it is rejected (`text` is not blank)."""
        self.counts.rows_read += 1
        header, previous = self.header, self.previous
        try:
            # A repeated header: its first column names the first header column (cheap pre-check).
            if normalise(fields[0]) == header.columns[0] and is_header_line(text, header):
                raise RowError("repeated header line")
            bar = parse_row(fields, header, symbol, self.src.name, number, self.latest)
            if previous is not None and bar.date <= previous:
                kind = "duplicate date" if bar.date == previous else "date goes backwards"
                raise RowError(f"{kind} for {symbol} ({bar.date} after {previous})")
        except RowError as exc:
            self.rejects.row(self.src.name, number, str(exc), text)
            return None
        self.previous = bar.date
        self.counts.rows_good += 1
        return bar

    def check_block(self, first: int, block: str, symbol: str) -> list[StockBar]:
        """Every line of a block (`SourceFile.blocks`) of a single-symbol file: its good bars."""
        bars = []
        for number, text in enumerate(block.split("\n"), first):
            if text.endswith("\r"):
                text = text[:-1]
            if text.strip():
                bar = self.check(number, text, text.split(","), symbol)
                if bar is not None:
                    bars.append(bar)
        return bars


def bar_stream(
    src: SourceFile,
    chunk: int,
    rejects: Rejects,
    counts: ReadCounts,
    symbol: str | None,
    latest: date,
) -> Iterator[StockBar]:
    """Validated bars of one symbol from `src`; `symbol=None` means a single-symbol (Kaggle) file."""
    lines = src.lines(chunk)
    try:
        header = _header(src, lines, rejects)
        if header is None:
            return
        if symbol is None:
            symbol_of_file = symbol_from_filename(src.name)
        sym_col = header.index.get("index")
        rows = RowChecker(src, header, rejects, counts, latest)
        for number, text in lines:
            if not text.strip():
                continue
            fields = text.split(",")
            if symbol is not None:
                # Rows that cannot belong to a symbol were reported by the first pass.
                if len(fields) != header.width or sym_col is None or fields[sym_col].strip() != symbol:
                    continue
                row_symbol = symbol
            else:
                row_symbol = symbol_of_file
            bar = rows.check(number, text, fields, row_symbol)
            if bar is not None:
                yield bar
    except UnreadableFile as exc:
        rejects.file(src.name, str(exc))


def _index_symbols(src: SourceFile, chunk: int, rejects: Rejects, counts: ReadCounts) -> list[str]:
    """First pass over a multi-symbol file: its symbols, reporting rows no symbol stream will see."""
    lines = src.lines(chunk)
    symbols: dict[str, None] = {}
    try:
        header = _header(src, lines, rejects)
        if header is None:
            return []
        col = header.index["index"]
        for number, text in lines:
            if not text.strip():
                continue
            fields = text.split(",")
            problem = (
                f"expected {header.width} columns, found {len(fields)}"
                if len(fields) != header.width
                else symbol_problem(fields[col].strip())
            )
            if problem is not None:
                counts.rows_read += 1
                rejects.row(src.name, number, problem, text)
                continue
            if is_header_line(text, header):
                counts.rows_read += 1
                rejects.row(src.name, number, "repeated header line", text)
                continue
            symbols.setdefault(fields[col].strip(), None)
    except UnreadableFile as exc:
        rejects.file(src.name, str(exc))
        return []
    return list(symbols)


@dataclass(frozen=True)
class StreamSpec:
    """One stream of the merge: a single-symbol (Kaggle) file, or one symbol of a multi-symbol file."""

    src: SourceFile
    symbol: str | None = None  # None: the file's symbol, from its name

    @property
    def symbol_name(self) -> str:
        return self.symbol if self.symbol is not None else symbol_from_filename(self.src.name)


def plan_streams(
    files: list[SourceFile], chunk: int, rejects: Rejects, counts: ReadCounts
) -> list[StreamSpec]:
    """The merge's streams, in merge order (ties in date and symbol go to the earlier stream); files
    that cannot be read, or have no known header, are reported here."""
    streams: list[StreamSpec] = []
    owner: dict[str, str] = {}  # symbol -> the file whose stream has it (one source per symbol)
    for src in files:
        counts.files += 1
        if src.size == 0:
            counts.empty_files += 1
            continue
        rejected_before = rejects.files
        layout = _peek_layout(src, rejects)
        if layout is None:
            if rejects.files == rejected_before:
                counts.empty_files += 1  # only blank lines
            continue
        if layout is Layout.KAGGLE:
            symbol = symbol_from_filename(src.name)
            problem = symbol_problem(symbol)
            if problem is not None:
                rejects.file(src.name, f"{problem} (the symbol comes from the file name)")
            elif symbol in owner:
                # Stocks/dup.us.txt, ETFs/dup.us.txt, Stocks/DUP.us.txt: one symbol, one source.
                rejects.file(src.name, f"symbol {symbol} already comes from {owner[symbol]}")
            else:
                owner[symbol] = src.name
                streams.append(StreamSpec(src))
            continue
        for symbol in _index_symbols(src, chunk, rejects, counts):
            if symbol in owner:
                rejects.file(f"{src.name} [{symbol}]", f"symbol {symbol} already comes from {owner[symbol]}")
                continue
            owner[symbol] = src.name
            streams.append(StreamSpec(src, symbol))
    return streams


def open_streams(
    files: list[SourceFile], chunk: int, rejects: Rejects, counts: ReadCounts
) -> list[Iterator[StockBar]]:
    """One lazy bar stream per (file, symbol)."""
    latest = latest_allowed_date()
    return [
        bar_stream(spec.src, chunk, rejects, counts, spec.symbol, latest)
        for spec in plan_streams(files, chunk, rejects, counts)
    ]


def _peek_layout(src: SourceFile, rejects: Rejects) -> Layout | None:
    try:
        for _number, text in src.lines(4096):
            if text.strip():
                try:
                    return detect_header(text).layout
                except UnknownFormat as exc:
                    rejects.file(src.name, str(exc))
                    return None
    except UnreadableFile as exc:
        rejects.file(src.name, str(exc))
    return None

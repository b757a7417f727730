"""Source formats, validation and the time-ordered k-way merge."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import pytest

from pipeline.errors import PipelineError
from pipeline.sources import Rejects, SourceSet
from pipeline.sources.files import chunk_size_for
from pipeline.sources.formats import (
    INDEX_HEADER,
    KAGGLE_HEADER,
    Layout,
    RowError,
    UnknownFormat,
    detect_header,
    parse_row,
    symbol_from_filename,
)

LATEST = date(2030, 1, 1)


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path


def _bars(root: Path, rejects: Rejects | None = None) -> tuple[list, SourceSet]:
    sources = SourceSet(root, rejects or Rejects())
    return list(sources.bars()), sources


def test_kaggle_header_is_detected_by_column_names():
    header = detect_header(KAGGLE_HEADER)
    assert header.layout is Layout.KAGGLE
    assert header.extra == ()


def test_index_header_is_detected_and_columns_may_be_reordered():
    header = detect_header("Date,Index,Open,High,Low,Close,Adj Close,Volume,CloseUSD")
    assert header.layout is Layout.INDEX
    assert header.index["index"] == 1


def test_unknown_header_error_names_both_expected_layouts():
    with pytest.raises(UnknownFormat) as exc:
        detect_header("ticker,price")
    assert KAGGLE_HEADER in str(exc.value) and INDEX_HEADER in str(exc.value)


def test_extra_unknown_columns_are_tolerated_and_listed():
    header = detect_header(KAGGLE_HEADER + ",Exchange")
    assert header.layout is Layout.KAGGLE
    assert header.extra == ("exchange",)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("2017-01-03,1,2,0.5,1.5", "expected 7 columns"),
        ("2017-01-03,abc,2,0.5,1.5,100,0", "open is not a number"),
        ("2017-01-03,1,2,0.5,1.5,-5,0", "volume is negative"),
        ("2017-01-03,1,2,0.5,1.5,1.5,0", "volume is not a whole number"),
        ("2017-01-03,1,0.4,0.5,0.45,100,0", "high 0.4 is below low 0.5"),
        ("2017-01-03,1,1.2,0.5,1.5,100,0", "high 1.2 is below open/close"),
        ("2017-01-03,1,2,1.1,1.5,100,0", "low 1.1 is above open/close"),
        ("2017-02-30,1,2,0.5,1.5,100,0", "not a valid YYYY-MM-DD"),
        ("03/01/2017,1,2,0.5,1.5,100,0", "not a valid YYYY-MM-DD"),
        ("1850-01-03,1,2,0.5,1.5,100,0", "outside"),
        ("2017-01-03,nan,2,0.5,1.5,100,0", "not finite"),
        ("2017-01-03,0,2,0.5,1.5,100,0", "open must be > 0"),
    ],
)
def test_bad_rows_are_rejected_with_a_reason(row: str, reason: str):
    header = detect_header(KAGGLE_HEADER)
    with pytest.raises(RowError, match=reason.replace("(", r"\(")):
        parse_row(row.split(","), header, "AAPL", "Stocks/aapl.us.txt", 7, LATEST)


def test_good_row_becomes_a_typed_bar_with_its_origin():
    header = detect_header(KAGGLE_HEADER)
    bar = parse_row(
        ["2017-01-03", "1.0", "2.0", "0.5", "1.5", "100", "0"], header, "AAPL", "a.txt", 2, LATEST
    )
    assert (bar.symbol, bar.date, bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        "AAPL",
        date(2017, 1, 3),
        1.0,
        2.0,
        0.5,
        1.5,
        100,
    )
    assert (bar.source_file, bar.source_line) == ("a.txt", 2)


@pytest.mark.parametrize(
    ("name", "symbol"),
    [("Stocks/aapl.us.txt", "AAPL"), ("ETFs/spy.us.txt", "SPY"), ("brk-b.us.txt", "BRK-B")],
)
def test_symbol_comes_from_the_file_name(name: str, symbol: str):
    assert symbol_from_filename(name) == symbol


def test_merge_yields_all_tickers_in_date_then_symbol_order(tmp_path: Path):
    _write(
        tmp_path / "Stocks/bbb.us.txt",
        f"{KAGGLE_HEADER}\n2017-01-03,1,2,0.5,1.5,10,0\n2017-01-05,1,2,0.5,1.5,11,0\n",
    )
    _write(
        tmp_path / "Stocks/aaa.us.txt",
        f"{KAGGLE_HEADER}\n2017-01-04,1,2,0.5,1.5,12,0\n2017-01-05,1,2,0.5,1.5,13,0\n",
    )
    _write(tmp_path / "ETFs/spy.us.txt", f"{KAGGLE_HEADER}\n2017-01-02,1,2,0.5,1.5,14,0\n")
    bars, sources = _bars(tmp_path)
    assert [(b.date.day, b.symbol) for b in bars] == [
        (2, "SPY"),
        (3, "BBB"),
        (4, "AAA"),
        (5, "AAA"),
        (5, "BBB"),
    ]
    assert sources.counts.rows_read == sources.counts.rows_good == 5


def test_empty_files_are_counted_not_rejected(tmp_path: Path):
    _write(tmp_path / "Stocks/empty.us.txt", b"")
    _write(tmp_path / "Stocks/aaa.us.txt", f"{KAGGLE_HEADER}\n2017-01-04,1,2,0.5,1.5,12,0\n")
    bars, sources = _bars(tmp_path)
    assert len(bars) == 1
    assert sources.counts.empty_files == 1
    assert sources.rejects.total == 0


def test_bom_and_crlf_are_read_transparently(tmp_path: Path):
    body = f"\ufeff{KAGGLE_HEADER}\r\n2017-01-04,1,2,0.5,1.5,12,0\r\n2017-01-05,1,2,0.5,1.5,13,0\r\n"
    _write(tmp_path / "aaa.us.txt", body)
    bars, sources = _bars(tmp_path)
    assert [b.volume for b in bars] == [12, 13]
    assert sources.rejects.total == 0


def test_bad_rows_are_reported_with_file_and_line_and_good_rows_flow(tmp_path: Path):
    body = (
        f"{KAGGLE_HEADER}\n2017-01-03,1,2,0.5,1.5,10,0\n2017-01-04,x,2,0.5,1.5,10,0\n"
        f"{KAGGLE_HEADER}\n2017-01-05,1,2,0.5,1.5,10,0\n2017-01-05,1,2,0.5,1.5,10,0\n2017-01-02,1,2,0.5,1.5,10,0\n"
    )
    _write(tmp_path / "Stocks/aaa.us.txt", body)
    rejects_file = tmp_path / "rejects.txt"
    rejects = Rejects(rejects_file)
    bars, sources = _bars(tmp_path, rejects)
    rejects.close()
    assert [b.date.day for b in bars] == [3, 5]
    assert sources.counts.rows_read == 6 and sources.counts.rows_good == 2
    lines = rejects_file.read_text().splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        "Stocks/aaa.us.txt:3",
        "Stocks/aaa.us.txt:4",
        "Stocks/aaa.us.txt:6",
        "Stocks/aaa.us.txt:7",
    ]
    assert "open is not a number" in lines[0]
    assert "repeated header line" in lines[1]
    assert "duplicate date" in lines[2]
    assert "date goes backwards" in lines[3]


def test_binary_and_unknown_files_are_skipped_with_the_file_named(tmp_path: Path):
    _write(tmp_path / "Stocks/bin.us.txt", b"\x00\x01\x02garbage")
    _write(tmp_path / "Stocks/odd.us.txt", "ticker,price\nA,1\n")
    _write(tmp_path / "Stocks/aaa.us.txt", f"{KAGGLE_HEADER}\n2017-01-04,1,2,0.5,1.5,12,0\n")
    rejects = Rejects()
    bars, _ = _bars(tmp_path, rejects)
    assert len(bars) == 1
    assert rejects.files == 2
    assert any(s.startswith("Stocks/bin.us.txt: is a binary file") for s in rejects.shown)
    assert any(s.startswith("Stocks/odd.us.txt: unrecognised header") for s in rejects.shown)


def test_index_file_streams_each_symbol_in_time_order(tmp_path: Path):
    rows = [INDEX_HEADER]
    # Grouped by index, as the tutorial's file is; the merge must still interleave by date.
    for sym in ("NYA", "HSI"):
        for day in (3, 4, 5):
            rows.append(f"{sym},2017-01-0{day},10,12,9,11,11,1000.0,11")
    rows.append("N225,2017-01-04,10,12,9,11,11")  # wrong column count
    _write(tmp_path / "indexProcessed.csv", "\n".join(rows) + "\n")
    rejects = Rejects()
    bars, sources = _bars(tmp_path / "indexProcessed.csv", rejects)
    assert [(b.date.day, b.symbol) for b in bars] == [
        (3, "HSI"),
        (3, "NYA"),
        (4, "HSI"),
        (4, "NYA"),
        (5, "HSI"),
        (5, "NYA"),
    ]
    assert bars[0].volume == 1000
    assert rejects.rows == 1 and "expected 9 columns" in rejects.shown[0]
    assert sources.counts.rows_read == 7


def test_kaggle_zip_is_read_without_extracting(tmp_path: Path):
    archive = tmp_path / "prices.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Stocks/aaa.us.txt", f"{KAGGLE_HEADER}\n2017-01-04,1,2,0.5,1.5,12,0\n")
        zf.writestr("ETFs/spy.us.txt", f"{KAGGLE_HEADER}\n2017-01-03,1,2,0.5,1.5,12,0\n")
        zf.writestr("Stocks/empty.us.txt", "")
    bars, sources = _bars(archive)
    assert [b.symbol for b in bars] == ["SPY", "AAA"]
    assert sources.counts.empty_files == 1


def test_small_read_chunks_give_the_same_rows(tmp_path: Path):
    body = KAGGLE_HEADER + "\n" + "".join(f"2017-01-{d:02d},1,2,0.5,1.5,{d},0\n" for d in range(1, 29))
    src = _write(tmp_path / "aaa.us.txt", body)
    sources = SourceSet(src)
    whole = [line for _, line in sources.files[0].lines(1 << 20)]
    tiny = [line for _, line in sources.files[0].lines(7)]
    assert whole == tiny and len(whole) == 29


def test_merge_buffers_shrink_as_files_grow():
    assert chunk_size_for(1) == 256 << 10
    assert chunk_size_for(8500) * 8500 <= 64 << 20


def test_discover_finds_what_rglob_finds_in_the_same_order(tmp_path: Path):
    """discover walks the tree with os.scandir; the files, their order and their names are those of
    `sorted(root.rglob("*"))` with a source suffix (the rule it replaced)."""
    root = tmp_path / "src"
    for name in ("b.us.txt", "A.us.TXT", "a.us.txt", "Stocks/z.us.txt", "Stocks/deep/x.csv", "ETFs/y.us.txt",
                 "Stocks-2/w.us.txt", ".txt", "notes.md", "Stocks/deep/readme"):  # fmt: skip
        _write(root / name, KAGGLE_HEADER + "\n")
    (root / "folder.us.txt").mkdir()
    (root / "Stocks" / "empty.csv").write_bytes(b"")
    outside = _write(tmp_path / "outside" / "hidden.us.txt", KAGGLE_HEADER + "\n").parent
    (root / "linked").symlink_to(outside, target_is_directory=True)  # not descended, as rglob does not
    (root / "link.us.txt").symlink_to(root / "b.us.txt")
    (root / "dangling.us.txt").symlink_to(tmp_path / "nowhere.txt")
    found = sorted(root.rglob("*"))
    expected = [p.relative_to(root).as_posix() for p in found if p.suffix.lower() in (".txt", ".csv")]
    files = SourceSet(root).files
    assert [f.name for f in files] == expected
    assert len(expected) == 11
    by_name = {f.name: f for f in files}
    assert by_name["link.us.txt"].size == by_name["b.us.txt"].size > 0
    assert by_name["Stocks/empty.csv"].size == 0 and by_name["Stocks/empty.csv"].problem is None
    assert "a directory" in (by_name["folder.us.txt"].problem or "")
    assert "dangling symlink" in (by_name["dangling.us.txt"].problem or "")


def test_missing_source_is_a_clear_error(tmp_path: Path):
    with pytest.raises(PipelineError, match="does not exist"):
        SourceSet(tmp_path / "nope")


def test_directory_without_source_files_is_a_clear_error(tmp_path: Path):
    _write(tmp_path / "readme.md", "hello")
    with pytest.raises(PipelineError, match=r"no source files"):
        SourceSet(tmp_path)


def test_estimate_counts_data_lines(tmp_path: Path):
    _write(
        tmp_path / "a.us.txt", f"{KAGGLE_HEADER}\n2017-01-04,1,2,0.5,1.5,12,0\n2017-01-05,1,2,0.5,1.5,12,0\n"
    )
    _write(tmp_path / "b.us.txt", b"")
    assert SourceSet(tmp_path).estimate_rows() == 2

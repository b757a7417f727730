"""The replay's fast path (`SourceSet.batches`, column-wise) against the reference (`SourceSet.bars`
with `StockBar.key` / `StockBar.to_json`): the same records in the same order, byte for byte, the
same rejects (file:line: reason | raw) and the same counts, whatever the block and window sizes."""

from __future__ import annotations

import random
import zipfile
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest

import pipeline.sources as sources_pkg
from pipeline.sources import ReadCounts, Rejects, SourceSet
from pipeline.sources import batches as batches_mod
from pipeline.sources.formats import INDEX_HEADER, KAGGLE_HEADER
from pipeline.sources.sample import generate

CORPUS = Path(__file__).resolve().parent / "badinput"

#: (read chunk bytes, merge window rows, parse bytes, rows per batch): the defaults, and sizes small
#: enough that every file is read in many blocks, merged in many windows, parsed in many groups.
SIZES = {
    "defaults": None,
    "tiny": (150, 40, 300, 7),
    "small": (700, 500, 5_000, 100),
}


def _run(root: Path, tmp_path: Path, fast: bool) -> tuple[list[tuple[bytes, bytes]], list[str], ReadCounts]:
    rejects_file = tmp_path / f"rejects-{'fast' if fast else 'reference'}.txt"
    rejects = Rejects(rejects_file)
    sources = SourceSet(root, rejects)
    if fast:
        records = [pair for batch in sources.batches() for pair in zip(batch.keys, batch.values, strict=True)]
    else:
        records = [(bar.key(), bar.to_json()) for bar in sources.bars()]
    rejects.close()
    lines = rejects_file.read_text(encoding="utf-8").splitlines() if rejects_file.exists() else []
    return records, lines, sources.counts


def _by_file(lines: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        out[line.split(":", 1)[0]].append(line)
    return dict(out)


def _assert_same(root: Path, tmp_path: Path) -> list[tuple[bytes, bytes]]:
    reference, ref_rejects, ref_counts = _run(root, tmp_path, fast=False)
    fast, fast_rejects, fast_counts = _run(root, tmp_path, fast=True)
    assert len(fast) == len(reference)
    assert fast == reference  # same keys and values, in the same order
    # Rejects are reported as blocks are read, not as the merge passes them: the same lines, in line
    # order within each file.
    assert _by_file(fast_rejects) == _by_file(ref_rejects)
    assert fast_counts == ref_counts
    return reference


@pytest.fixture(params=list(SIZES))
def sizes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    chosen = SIZES[request.param]
    if chosen is not None:
        chunk, window, parse, batch = chosen
        monkeypatch.setattr(sources_pkg, "chunk_size_for", lambda _files: chunk)
        monkeypatch.setattr(batches_mod, "WINDOW_ROWS", window)
        monkeypatch.setattr(batches_mod, "PARSE_BYTES", parse)
        monkeypatch.setattr(batches_mod, "BATCH_ROWS", batch)
        monkeypatch.setattr(batches_mod, "BAR_TAKE", 3)
    return request.param


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)


def _rows(start: date, count: int, rng: random.Random, price: float = 50.0) -> list[str]:
    """Valid Kaggle rows on consecutive weekdays."""
    rows, day = [], start
    while len(rows) < count:
        if day.weekday() < 5:
            low = round(price * 0.98, 4)
            high = round(price * 1.02, 4)
            rows.append(f"{day},{price},{high},{low},{round(price * 1.01, 4)},{rng.randrange(1, 10**7)},0")
            price = round(price * (1 + rng.uniform(-0.02, 0.02)), rng.choice((0, 1, 2, 4)))
        day += timedelta(days=1)
    return rows


def _adversarial(root: Path) -> Path:
    """Well-formed data with every kind of trouble mixed in, deep inside large files too."""
    rng = random.Random(7)
    big = _rows(date(2005, 1, 3), 1500, rng)
    # Rows the column-wise check must hand to the line-by-line one (some good, some rejected):
    big[300] = big[300].replace(big[300][:10], "2006-02-30")  # invalid date: Arrow refuses the block
    big[400] = big[400].replace(",0", ", 0", 1)  # whitespace: still a good row
    big[500] = big[500] + ",extra"  # wrong column count
    big[600] = big[599]  # duplicate date
    big[700] = f"{big[100][:10]},10,11,9,10,100,0"  # date goes backwards
    big[800] = KAGGLE_HEADER  # repeated header
    big[900] = f"{big[900][:10]},10,10,10,10,1234567890123456789,0"  # volume beyond float precision
    big[950] = f"{big[950][:10]},10,10,10,10,1000.0,0"  # a float volume: good
    big[1000] = f"{big[1000][:10]},0.00005,0.00006,0.00004,0.00005,10,0"  # prices repr writes as 5e-05
    big[1100] = f"{big[1100][:10]},12345678901.5,12345678902.25,12345678900,12345678901,10,0"  # >= 1e10
    big[1200] = f"{big[1200][:10]},7,8,6,7,10,0"  # whole prices: repr writes 7.0
    big[1300] = ""  # a blank line
    big[1301] = "   "  # a blank line too
    big[1400] = f"{big[1400][:10]},10.50,11.500,9.0,10.000,00042,0"  # trailing and leading zeros
    _write(root / "Stocks/aaa.us.txt", KAGGLE_HEADER + "\n" + "\n".join(big) + "\n")
    # The same symbol in another folder (and in indexProcessed.csv below): one source per symbol, so
    # both paths skip it the same way.
    duplicate = "\n".join(_rows(date(2005, 6, 1), 400, rng))
    _write(root / "Stocks2/AAA.us.txt", KAGGLE_HEADER + "\n" + duplicate + "\n")
    # BOM, CRLF, a stray CR, no final newline.
    crlf = "\r\n".join(_rows(date(2004, 12, 1), 300, rng))
    _write(root / "Stocks/crlf.us.txt", "\ufeff" + KAGGLE_HEADER + "\r\n" + crlf.replace("\r\n", "\r\r\n", 1))
    # Columns reordered, an unknown column; listed later, delisted early.
    reordered = ["Volume,Date,Close,Open,High,Low,OpenInt,Exchange"]
    for row in _rows(date(2003, 3, 3), 700, rng):
        d, o, h, lo, c, v, _ = row.split(",")
        reordered.append(f"{v},{d},{c},{o},{h},{lo},0,NYSE")
    _write(root / "Stocks/reorder.us.txt", "\n".join(reordered))
    _write(
        root / "Stocks/late.us.txt",
        KAGGLE_HEADER + "\n" + "\n".join(_rows(date(2009, 9, 1), 200, rng)) + "\n",
    )
    _write(
        root / "Stocks/blank.us.txt",
        "\n\n  \n" + KAGGLE_HEADER + "\n\n" + "\n".join(_rows(date(2005, 1, 3), 50, rng)),
    )
    _write(
        root / "Stocks/latin1.us.txt",
        (KAGGLE_HEADER + "\n2005-01-03,1\xe9,2,0.5,1.5,10,0\n").encode("latin-1"),
    )
    _write(root / "Stocks/empty.us.txt", b"")
    _write(root / "Stocks/binary.us.txt", b"\x00\x01" + b"x" * 100)
    _write(root / "Stocks/unknown.us.txt", "ticker,price\nA,1\n")
    index = [INDEX_HEADER]
    for sym, start in (("NYA", date(2005, 1, 3)), ("HSI", date(2004, 6, 1)), ("AAA", date(2005, 2, 1))):
        for row in _rows(start, 120, rng):
            d, o, h, lo, c, v, _ = row.split(",")
            index.append(f"{sym},{d},{o},{h},{lo},{c},{c},{v}.0,{c}")
    index.append("N225,2005-01-04,10,12,9,11,11")  # wrong column count
    _write(root / "indexProcessed.csv", "\n".join(index) + "\n")
    return root


def test_batches_match_bars_on_the_bad_input_corpus(tmp_path: Path, sizes: str) -> None:
    records = _assert_same(CORPUS, tmp_path)
    assert len(records) == 22


def test_batches_match_bars_on_large_files_with_trouble_deep_inside(tmp_path: Path, sizes: str) -> None:
    records = _assert_same(_adversarial(tmp_path / "src"), tmp_path)
    assert len(records) > 1_800
    # the rows the column-wise encoder leaves to StockBar.to_json are there, as repr writes them
    values = b"\n".join(value for _, value in records)
    assert b'"open":5e-05' in values and b'"open":12345678901.5' in values and b'"open":7.0' in values


def test_batches_match_bars_on_generated_data(tmp_path: Path, sizes: str) -> None:
    generate(tmp_path / "src", tickers=40, days=300, seed=3, empty_files=2)
    records = _assert_same(tmp_path / "src", tmp_path)
    assert len(records) > 10_000


def test_batches_match_bars_in_a_zip(tmp_path: Path) -> None:
    generate(tmp_path / "src", tickers=5, days=50, seed=4)
    archive = tmp_path / "prices.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((tmp_path / "src").rglob("*.txt")):
            zf.write(path, path.relative_to(tmp_path / "src").as_posix())
    assert len(_assert_same(archive, tmp_path)) > 200


def test_batches_carry_each_records_date_for_pacing(tmp_path: Path) -> None:
    generate(tmp_path / "src", tickers=3, days=20, seed=5)
    sources = SourceSet(tmp_path / "src")
    dates = [day for batch in sources.batches(batch_rows=4) for day in batch.dates()]
    assert dates == [bar.date for bar in SourceSet(tmp_path / "src").bars()]

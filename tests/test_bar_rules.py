"""One definition of a good bar (pipeline/bar_rules.py) for the producer's readers and the sink's decoder.

The row form (`bar_problem`, `symbol_problem`) and the Arrow form (`good_bars`, `good_symbols`) must
agree value for value; the producer applies them to files and the sink to foreign records.
"""

from __future__ import annotations

import random
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.bar_rules import (
    EARLIEST_DATE,
    MAX_VOLUME,
    bar_problem,
    good_bars,
    good_optional_prices,
    good_symbols,
    latest_allowed_date,
    optional_prices_problem,
    symbol_problem,
)
from pipeline.records import BadMessage, bar_from_json
from pipeline.sources import Rejects, SourceSet
from pipeline.sources.formats import KAGGLE_HEADER

LATEST = date(2030, 1, 1)
EDGES = [
    0.0,
    -0.0,
    1e-300,
    0.5,
    1.0,
    1.0 + 1e-10,
    2.0,
    1e300,
    float("inf"),
    float("-inf"),
    float("nan"),
    -1.0,
]


def test_the_row_and_arrow_forms_of_the_bar_rules_agree_on_edge_and_random_values():
    rng = random.Random(7)
    rows = []
    for _ in range(4000):
        day = rng.choice([EARLIEST_DATE - timedelta(days=1), EARLIEST_DATE, date(2017, 1, 3), LATEST,
                          LATEST + timedelta(days=1)])  # fmt: skip
        prices = [rng.choice(EDGES) if rng.random() < 0.3 else rng.uniform(0.1, 3.0) for _ in range(4)]
        volume = rng.choice([0, 1, -1, MAX_VOLUME]) if rng.random() < 0.2 else 1000
        rows.append((day, *prices, volume))
    by_row = [bar_problem(d, o, h, lo, c, v, LATEST) is None for d, o, h, lo, c, v in rows]
    columns = list(zip(*rows, strict=True))
    by_column = good_bars(
        pa.array(columns[0], pa.date32()),
        *(pa.array(col, pa.float64()) for col in columns[1:5]),
        pa.array(columns[5], pa.int64()),
        LATEST,
    ).to_pylist()
    assert by_row == by_column
    assert 50 < sum(by_row) < 3950  # both outcomes are exercised


def test_the_row_and_arrow_forms_of_the_optional_prices_rule_agree():
    values = [None, *EDGES]
    pairs = [(a, b) for a in values for b in values]
    by_row = [optional_prices_problem(a, b) is None for a, b in pairs]
    adj, usd = (pa.array(col, pa.float64()) for col in zip(*pairs, strict=True))
    assert good_optional_prices(adj, usd).to_pylist() == by_row
    assert 10 < sum(by_row) < len(pairs) - 10


@pytest.mark.parametrize(
    "symbol",
    [
        "AAPL",
        "BRK-B",
        "^GSPC",
        "000001.SS",
        "",
        "A B",
        "a/b",
        "STOCKS\\WIN",
        "X\x00",
        "É",
        "x" * 33,
        "x" * 32,
    ],
)
def test_the_row_and_arrow_forms_of_the_symbol_rule_agree(symbol: str) -> None:
    assert (symbol_problem(symbol) is None) == good_symbols(pa.array([symbol])).to_pylist()[0]


def test_a_record_the_producer_would_reject_is_poison_to_the_sink_with_the_same_reason():
    value = b'{"symbol":"AAA","date":"2017-01-03","open":1.0,"high":0.5,"low":0.9,"close":1.0,"volume":1}'
    with pytest.raises(BadMessage, match=r"high 0\.5 is below low 0\.9"):
        bar_from_json(value, b"AAA")
    assert bar_problem(date(2017, 1, 3), 1.0, 0.5, 0.9, 1.0, 1, latest_allowed_date()) == (
        "high 0.5 is below low 0.9"
    )


def _kaggle(root: Path, name: str, rows: list[str]) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(KAGGLE_HEADER + "\n" + "\n".join(rows) + "\n")


def _read(root: Path) -> tuple[list, Rejects]:
    rejects = Rejects()
    return list(SourceSet(root, rejects).bars()), rejects


def test_volumes_beyond_float_precision_arrive_exactly_and_beyond_int64_are_rejected(tmp_path: Path):
    _kaggle(tmp_path, "Stocks/big.us.txt", ["2017-01-03,1,2,0.5,1.5,9007199254740993,0",
                                            "2017-01-04,1,2,0.5,1.5,9223372036854775808,0"])  # fmt: skip
    bars, rejects = _read(tmp_path)
    assert [b.volume for b in bars] == [9007199254740993]
    assert rejects.reasons == {"volume 9223372036854775808 is beyond the lake's int64 range": 1}
    for bar in bars:  # and the JSON the sink reads keeps every digit
        assert bar_from_json(bar.to_json(), bar.key()).volume == bar.volume


def test_only_plain_yyyy_mm_dd_dates_are_accepted(tmp_path: Path):
    _kaggle(tmp_path, "Stocks/d.us.txt", ["20170110,1,2,0.5,1.5,1,0", "2017-W02-3,1,2,0.5,1.5,1,0",
                                          "2017-01-12,1,2,0.5,1.5,1,0"])  # fmt: skip
    bars, rejects = _read(tmp_path)
    assert [b.date for b in bars] == [date(2017, 1, 12)]
    assert rejects.rows == 2 and set(rejects.reasons) == {"date is not a valid YYYY-MM-DD date"}


def test_one_symbol_comes_from_one_file_whatever_the_folder_or_case(tmp_path: Path):
    row = ["2017-01-03,1,2,0.5,1.5,1,0"]
    for name in ("ETFs/dup.us.txt", "Stocks/DUP.us.txt", "Stocks/dup.us.txt"):
        _kaggle(tmp_path, name, row)
    bars, rejects = _read(tmp_path)
    assert [(b.symbol, b.source_file) for b in bars] == [("DUP", "ETFs/dup.us.txt")]
    assert rejects.files == 2 and rejects.shown == [
        "Stocks/DUP.us.txt: symbol DUP already comes from ETFs/dup.us.txt (file skipped)",
        "Stocks/dup.us.txt: symbol DUP already comes from ETFs/dup.us.txt (file skipped)",
    ]


def test_symbols_from_file_names_are_checked_and_windows_zip_paths_are_split(tmp_path: Path):
    _kaggle(tmp_path, "Stocks/.us.txt", ["2017-01-03,1,2,0.5,1.5,1,0"])
    with zipfile.ZipFile(tmp_path / "src.zip", "w") as zf:
        zf.writestr("Stocks\\win.us.txt", KAGGLE_HEADER + "\n2017-01-03,1,2,0.5,1.5,1,0\n")
    bars, rejects = _read(tmp_path / "src.zip")
    assert [b.symbol for b in bars] == ["WIN"]
    bars, rejects = _read(tmp_path / "Stocks")
    assert bars == [] and rejects.shown == [
        ".us.txt: symbol is empty (the symbol comes from the file name) (file skipped)"
    ]


def test_a_reject_line_never_carries_a_huge_field(tmp_path: Path):
    _kaggle(tmp_path, "Stocks/long.us.txt", ["2017-01-03," + "9" * 5_000_000 + "x,2,0.5,1.5,1,0"])
    _bars, rejects = _read(tmp_path)
    assert rejects.rows == 1 and len(rejects.shown[0]) < 700, len(rejects.shown[0])


def test_the_sink_holds_foreign_dates_to_the_same_yyyy_mm_dd_rule():
    for text in ("20170110", "2017-W02-3", "2017-1-10"):
        value = f'{{"symbol":"AAA","date":"{text}","open":1.0,"high":2.0,"low":0.5,"close":1.0,"volume":1}}'
        with pytest.raises(BadMessage, match="date is not a valid YYYY-MM-DD date"):
            bar_from_json(value.encode(), b"AAA")

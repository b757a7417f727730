"""`ColumnEncoder`: `StockBar.to_json` for many bars at once, column-wise; the same bytes."""

from __future__ import annotations

import random
import struct
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipeline.records import ColumnEncoder, StockBar

EPOCH = date(1970, 1, 1).toordinal()
SCHEMA = pa.schema(
    [
        ("day", pa.int32()),
        ("rank", pa.int32()),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.int64()),
        ("line", pa.int32()),
        ("json", pa.binary()),
    ]
)
SYMBOLS = ["AAPL", "BRK-B", 'Q"T\\', "ÄÖ", "A\nB"]
FILES = ["Stocks/aapl.us.txt", "Stocks/brk-b.us.txt", 'odd/q"t\\.txt', "ünï/äö.txt", "a\nb.txt"]


def _batch(bars: list[StockBar], ranks: list[int], given: list[bytes | None] | None = None) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [
            pa.array([b.date.toordinal() - EPOCH for b in bars], pa.int32()),
            pa.array(ranks, pa.int32()),
            pa.array([b.open for b in bars], pa.float64()),
            pa.array([b.high for b in bars], pa.float64()),
            pa.array([b.low for b in bars], pa.float64()),
            pa.array([b.close for b in bars], pa.float64()),
            pa.array([b.volume for b in bars], pa.int64()),
            pa.array([b.source_line for b in bars], pa.int32()),
            pa.array(given or [None] * len(bars), pa.binary()),
        ],
        schema=SCHEMA,
    )


def _price(rng: random.Random) -> float:
    kind = rng.randrange(6)
    if kind == 0:  # as the Kaggle files write them
        return round(rng.uniform(0.01, 2000), rng.randrange(0, 5))
    if kind == 1:  # whole numbers (repr adds ".0")
        return float(rng.randrange(1, 10**6))
    if kind == 2:  # any double in the fixed-notation range
        return rng.uniform(1e-4, 1e10)
    if kind == 3:  # the edges of it, and beyond
        return rng.choice(
            [1e-4, 9.999999999999999e-05, 1e10, 9999999999.999998, 1e16, 5e-324, 1e300, 0.1 + 0.2]
        )
    if kind == 4:  # random bit patterns (finite, positive)
        while True:
            x = abs(struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0])
            if 0 < x < float("inf"):
                return x
    return rng.uniform(0, 1e-3)


@pytest.mark.parametrize("seed", range(5))
def test_encoder_writes_what_to_json_writes(seed: int) -> None:
    rng = random.Random(seed)
    bars, ranks = [], []
    for line in range(5_000):
        rank = rng.randrange(len(SYMBOLS))
        day = date.fromordinal(rng.randrange(date(1900, 1, 1).toordinal(), date(2030, 1, 1).toordinal()))
        o, h, lo, c = (_price(rng) for _ in range(4))
        volume = rng.choice([0, 1, rng.randrange(10**15), 2**63 - 1])
        bars.append(StockBar(SYMBOLS[rank], day, o, h, lo, c, volume, FILES[rank], line))
        ranks.append(rank)
    keys, values = ColumnEncoder(SYMBOLS, FILES).encode(_batch(bars, ranks))
    assert values == [b.to_json() for b in bars]
    assert keys == [b.key() for b in bars]


def test_rows_given_as_json_are_passed_through() -> None:
    bar = StockBar("AAPL", date(2017, 11, 10), 1.5, 2.5, 0.5, 1.5, 10, "Stocks/aapl.us.txt", 2)
    given = [b"{}", None]
    _, values = ColumnEncoder(SYMBOLS, FILES).encode(_batch([bar, bar], [0, 0], given))
    assert values == [b"{}", bar.to_json()]


def test_many_whole_prices_are_fixed_column_wise() -> None:
    bars = [
        StockBar("AAPL", date(2017, 11, 10), float(n), float(n + 1), float(n), float(n), n, FILES[0], n)
        for n in range(1, 500)
    ]
    _, values = ColumnEncoder(SYMBOLS, FILES).encode(_batch(bars, [0] * len(bars)))
    assert values == [b.to_json() for b in bars]


def test_arrow_writes_repr_digits_in_fixed_notation_from_1e_4_to_1e10() -> None:
    """What the encoder relies on (pyarrow is pinned): for 1e-4 <= x < 1e10 Arrow's float-to-string
    cast writes repr(x), except a whole number, which lacks repr's ".0"."""
    rng = random.Random(11)
    xs = [10 ** rng.uniform(-4, 10) for _ in range(100_000)]
    xs += [round(x, rng.randrange(0, 8)) for x in xs[:50_000]]
    xs = [x for x in xs if 1e-4 <= x < 1e10]
    texts = pc.cast(pa.array(xs, pa.float64()), pa.string()).to_pylist()
    for x, text in zip(xs, texts, strict=True):
        assert (text if x != int(x) else text + ".0") == repr(x)

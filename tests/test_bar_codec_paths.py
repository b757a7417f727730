"""Every path of the bar codec agrees: the same hostile and edge rows give the same verdicts and values.

The producer validates rows two ways (`SourceSet.bars`: `parse_row` line by line; `SourceSet.batches`:
column-wise in Arrow), encodes them three ways (`StockBar.to_json`, its dict fallback, `ColumnEncoder`),
and the sink decodes values two ways (`bar_from_json`, `decode_messages` in Arrow). Each pair is pinned
byte for byte elsewhere (test_sources_batches.py, test_records_columns.py, test_sink_decode.py); here
the same rows go through all of them at once, so a rule changed on one side shows up as a disagreement:
a row the producer accepts is a value the sink accepts with the same fields, and a row the producer
rejects is, written as a value by any other producer, poison to the sink with the same reason.
"""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline import bar_rules
from pipeline.kafka import Message
from pipeline.records import BadMessage, ColumnEncoder, StockBar, bar_from_json
from pipeline.sink import decode as decode_mod
from pipeline.sink.decode import decode_messages
from pipeline.sink.encode import SCHEMA
from pipeline.sources import Rejects, SourceSet
from pipeline.sources import batches as batches_mod
from pipeline.sources.formats import KAGGLE_HEADER

TOMORROW = bar_rules.latest_allowed_date()
PRICES = [
    "1.5",
    "2",
    "3.25",
    "0.5",
    "0.00005",
    "12345678901.5",
    "1e-300",
    "0",
    "-0",
    "-1",
    "nan",
    "inf",
    "1e400",
]
VOLUMES = ["0", "1", "00042", "-1", "9007199254740993", "9223372036854775807", "9223372036854775808"]
DATES = [
    "2017-01-03",
    "2017-01-03",
    "1900-01-01",
    "1899-12-31",
    TOMORROW.isoformat(),
    (TOMORROW + timedelta(days=1)).isoformat(),
    "2017-02-30",
    "20170103",
]


def _edge_rows(count: int) -> list[tuple[str, str, str, str, str, str]]:
    """(date, open, high, low, close, volume) as text: mostly good bars, each field sometimes an edge."""
    rng = random.Random(15)
    rows = []
    for _ in range(count):
        base = rng.choice(["1.5", "2", "3.25", "12345678901.5", "0.00005"])
        o, h, lo, c = base, base, base, base
        if rng.random() < 0.5:  # a real range, sometimes inverted or not bracketing open/close
            value = float(base)
            lo, h = repr(value * 0.9), repr(value * 1.1)
            if rng.random() < 0.2:
                lo, h = h, lo
            if rng.random() < 0.2:
                o = repr(value * 1.2)
        prices = [o, h, lo, c]
        if rng.random() < 0.4:
            prices[rng.randrange(4)] = rng.choice(PRICES)
        day = rng.choice(DATES) if rng.random() < 0.3 else "2017-01-03"
        volume = rng.choice(VOLUMES) if rng.random() < 0.3 else "1000"
        rows.append((day, *prices, volume))
    return rows


def _write_sources(root: Path, rows: list[tuple[str, ...]]) -> list[str]:
    """One Kaggle file per row (so each is read column-wise unless it is refused): the file names."""
    names = []
    for i, (day, o, h, lo, c, v) in enumerate(rows):
        name = f"Stocks/s{i:03d}.us.txt"
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{KAGGLE_HEADER}\n{day},{o},{h},{lo},{c},{v},0\n")
        names.append(name)
    return names


def _rejects(path: Path) -> dict[str, str]:
    """file -> reason, from a rejects file (`file:line: reason | raw`)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        where, _, rest = line.partition(": ")
        out[where.rsplit(":", 1)[0]] = rest.rsplit(" | ", 1)[0]
    return out


def _foreign_value(name: str, row: tuple[str, ...]) -> bytes:
    """The row as another producer would put it on the topic: the numbers as JSON numbers (NaN and
    Infinity as json.dumps writes them), the date as the text it is."""
    day, o, h, lo, c, v = row
    doc: dict[str, Any] = {"v": 1, "symbol": _symbol(name), "date": day}
    doc |= {field: float(text) for field, text in zip(bar_rules.PRICES, (o, h, lo, c), strict=True)}
    doc |= {"volume": int(v), "event_time": 0, "source": f"{name}:2"}
    return json.dumps(doc).encode()


def _symbol(name: str) -> str:
    return name.rsplit("/", 1)[-1].split(".", 1)[0].upper()


def _bar_fields(bar: StockBar) -> tuple[Any, ...]:
    return tuple(repr(getattr(bar, f)) for f, _ in bar_rules.BAR_FIELDS)


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Rows each column-wise form of the rules checked: proof the Arrow paths saw these rows."""
    seen = {"batches": 0, "decode": 0}
    for module, key in ((batches_mod, "batches"), (decode_mod, "decode")):

        def counting(*args: Any, _key: str = key) -> Any:
            seen[_key] += len(args[0])
            return bar_rules.good_bars(*args)

        monkeypatch.setattr(module, "good_bars", counting)
    return seen


def test_the_same_edge_rows_get_the_same_verdicts_and_values_on_every_path(
    tmp_path: Path, spies: dict[str, int]
) -> None:
    rows = _edge_rows(400)
    names = _write_sources(tmp_path / "src", rows)

    # The producer, line by line and column-wise.
    by_line = Rejects(tmp_path / "rejects-lines.txt")
    bars = {bar.source_file: bar for bar in SourceSet(tmp_path / "src", by_line).bars()}
    by_line.close()
    by_column = Rejects(tmp_path / "rejects-columns.txt")
    records = {
        json.loads(value)["source"].rsplit(":", 1)[0]: (key, value)
        for batch in SourceSet(tmp_path / "src", by_column).batches()
        for key, value in zip(batch.keys, batch.values, strict=True)
    }
    by_column.close()
    producer_rejects = _rejects(tmp_path / "rejects-lines.txt")
    assert _rejects(tmp_path / "rejects-columns.txt") == producer_rejects
    assert records == {name: (bar.key(), bar.to_json()) for name, bar in bars.items()}
    assert set(bars) | set(producer_rejects) == set(names) and not set(bars) & set(producer_rejects)
    assert 150 < len(bars) < 350, len(bars)  # both verdicts well exercised
    assert spies["batches"] >= len(bars)  # the good rows were checked column-wise

    # The sink, one value at a time and a poll at once, on the same rows as foreign values.
    values = [_foreign_value(name, row) for name, row in zip(names, rows, strict=True)]
    keys = [_symbol(name).encode() for name in names]
    one_by_one: dict[str, StockBar | str] = {}
    for name, key, value in zip(names, keys, values, strict=True):
        try:
            one_by_one[name] = bar_from_json(value, key)
        except BadMessage as exc:
            one_by_one[name] = str(exc)
    decoded = decode_messages(
        [Message("t", 0, i, k, v) for i, (k, v) in enumerate(zip(keys, values, strict=True))]
    )
    # Values Arrow refuses (NaN, Infinity, integers beyond int64) take their neighbours in a small
    # buffer to the one-by-one route with them: most still went column-wise.
    assert spies["decode"] >= len(values) // 2

    sink_rejects = {name: v for name, v in one_by_one.items() if isinstance(v, str)}
    assert sink_rejects == producer_rejects  # the same rows, each for the same reason
    assert {names[i]: reason for i, reason in decoded.poison.items()} == sink_rejects
    kept = [names[offset] for offset in decoded.table.column("kafka_offset").to_pylist()]
    assert kept == [name for name in names if name in bars]
    for name, row in zip(
        kept, decoded.table.drop(["kafka_partition", "kafka_offset"]).to_pylist(), strict=True
    ):
        bar = bars[name]
        # The producer's bar, its own value read back, the foreign value and the Arrow row: one bar.
        assert _bar_fields(bar_from_json(bar.to_json(), bar.key())) == _bar_fields(bar)
        assert _bar_fields(one_by_one[name]) == _bar_fields(bar)  # type: ignore[arg-type]
        assert tuple(repr(row[f]) for f, _ in bar_rules.BAR_FIELDS) == _bar_fields(bar)


def test_every_encoder_writes_the_value_fields_in_their_order_and_every_schema_reads_the_bar_fields():
    kaggle = StockBar("AAA", date(2017, 1, 3), 1.5, 2.0, 1.0, 1.75, 10, "Stocks/aaa.us.txt", 2)
    index = dataclasses.replace(kaggle, adj_close=1.7, close_usd=0.2)
    fast, fallback = json.loads(kaggle.to_json()), json.loads(index.to_json())
    assert list(fast) == list(bar_rules.VALUE_FIELDS)
    assert list(fallback) == [*bar_rules.VALUE_FIELDS, *bar_rules.OPTIONAL_PRICES]

    import pyarrow as pa

    batch = pa.RecordBatch.from_pydict(
        {
            "day": pa.array([(kaggle.date - date(1970, 1, 1)).days], pa.int32()),
            "rank": pa.array([0], pa.int32()),
            **{name: pa.array([getattr(kaggle, name)], pa.float64()) for name in bar_rules.PRICES},
            "volume": pa.array([kaggle.volume], pa.int64()),
            "line": pa.array([kaggle.source_line], pa.int32()),
            "json": pa.nulls(1, pa.binary()),
        }
    )
    (_key,), (column_value,) = ColumnEncoder([kaggle.symbol], [kaggle.source_file]).encode(batch)
    assert column_value == kaggle.to_json() and list(json.loads(column_value)) == list(bar_rules.VALUE_FIELDS)

    bar_names = [name for name, _ in bar_rules.BAR_FIELDS]
    assert {f.name for f in dataclasses.fields(StockBar)} == set(bar_names)
    assert SCHEMA.names[: len(bar_names)] == bar_names
    assert [str(SCHEMA.field(name).type) for name in bar_names] == [
        {"date32": "date32[day]", "float64": "double"}.get(t, t) for _, t in bar_rules.BAR_FIELDS
    ]
    # The lake's column types hold exactly the limits the rules allow.
    assert bar_rules.MAX_VOLUME == 2**63 - 1 and str(SCHEMA.field("volume").type) == "int64"
    assert bar_rules.MAX_SOURCE_LINE == 2**31 - 1 and str(SCHEMA.field("source_line").type) == "int32"

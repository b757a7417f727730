"""The sink's columnar decode: a whole poll at once, with exactly `bar_from_json`'s verdict per value."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from sink_fakes import MemoryLake, OnePollConsumer

from pipeline.kafka import Message
from pipeline.layout import partition_codes, partition_of_code, partition_path
from pipeline.progress import ProgressReporter
from pipeline.records import StockBar, bar_from_json
from pipeline.sink.deadletter import DeadLetters
from pipeline.sink.decode import _decode_one, decode_messages
from pipeline.sink.run import Sink, SinkOptions


def _bar(i: int, day: date = date(2017, 3, 1)) -> StockBar:
    return StockBar(
        f"S{i % 7}", day, 10.0 + i, 11.5 + i, 9.25 + i, 10.75 + i, 1000 + i, f"Stocks/s{i}.txt", i + 2
    )


def _key(value: bytes | None) -> bytes:
    """What the producer keys a record by: its symbol (any key for values without one)."""
    try:
        symbol = json.loads(value)["symbol"]  # type: ignore[arg-type]
    except Exception:
        return b"k"
    return symbol.encode(errors="surrogatepass") if isinstance(symbol, str) else b"k"


def _messages(values: list[bytes | None], partition: int = 0, first: int = 0) -> list[Message]:
    return [Message("t", partition, first + i, _key(v), v) for i, v in enumerate(values)]


def _rows(bars: list[StockBar]) -> list[dict[str, object]]:
    return [
        {
            "symbol": b.symbol,
            "date": b.date,
            "open": b.open,
            "high": b.high,
            "low": b.low,
            "close": b.close,
            "volume": b.volume,
            "adj_close": b.adj_close,
            "close_usd": b.close_usd,
            "source_file": b.source_file,
            "source_line": b.source_line,
        }
        for b in bars
    ]


def _without_kafka(table: pa.Table) -> list[dict[str, object]]:
    return table.drop_columns(["kafka_partition", "kafka_offset"]).to_pylist()


def test_a_poll_of_good_values_decodes_to_the_same_rows_as_one_at_a_time():
    bars = [_bar(i) for i in range(500)]
    decoded = decode_messages(_messages([b.to_json() for b in bars], partition=2, first=100))
    assert decoded.poison == {}
    assert _without_kafka(decoded.table) == _rows(bars)
    assert decoded.table.column("kafka_offset").to_pylist() == list(range(100, 600))
    assert set(decoded.table.column("kafka_partition").to_pylist()) == {2}


def test_one_poison_value_in_the_middle_is_set_aside_with_its_reason_and_the_rest_kept():
    bars = [_bar(i) for i in range(1000)]
    values: list[bytes | None] = [b.to_json() for b in bars]
    values[500] = b'{"symbol": "AAA", "date": "2017-01-03", "open": 1.0}'
    decoded = decode_messages(_messages(values))
    assert decoded.poison == {500: "missing field 'high'"}
    assert _without_kafka(decoded.table) == _rows(bars[:500] + bars[501:])
    assert decoded.table.column("kafka_offset").to_pylist() == [*range(500), *range(501, 1000)]


def test_a_value_arrow_rejects_is_isolated_and_the_rest_stay_on_the_fast_route():
    bars = [_bar(i) for i in range(2000)]
    values: list[bytes | None] = [b.to_json() for b in bars]
    values[1234] = (
        b'{"symbol": 7, "date": "2017-01-03", "open": 1, "high": 1, "low": 1, "close": 1, "volume": 1}'
    )
    values[3] = None
    decoded = decode_messages(_messages(values))
    assert decoded.poison == {3: "empty value (tombstone)", 1234: "field 'symbol' has the wrong type (int)"}
    assert _without_kafka(decoded.table) == _rows([b for i, b in enumerate(bars) if i not in (3, 1234)])


_GOOD = _bar(1).to_json()
_OBJ = json.loads(_GOOD)


def _with(**fields: object) -> bytes:
    return json.dumps({**_OBJ, **fields}).encode()


def _raw(text: str) -> bytes:
    return text.encode()


#: Values where a fast route could plausibly disagree with json.loads + bar_from_json.
CORPUS: list[bytes | None] = [
    None,
    b"",
    b"   ",
    b"not json",
    b"\xff\xfe\x00binary",
    b'["an", "array"]',
    b"5",
    b'"a string"',
    b"{}",
    b"{",
    b"}",
    b"{}{}",
    _GOOD + b" " + _GOOD,
    _GOOD + b"\n" + _GOOD,
    _GOOD + b"\r" + _GOOD,
    _GOOD + b"x",
    json.dumps(_OBJ, indent=2).encode(),  # pretty-printed: newlines inside the value
    json.dumps(_OBJ).replace(", ", ",\r\n").encode(),
    b"\xef\xbb\xbf" + _GOOD,  # UTF-8 BOM: json.loads accepts it
    json.dumps(_OBJ).encode("utf-16"),  # json.loads detects UTF-16 too
    _with(symbol="\u00c5BB"),  # escaped non-ASCII
    _with(symbol="\u00c5BB").replace(b"\\u00c5", "\u00c5".encode()),  # raw UTF-8
    _with(symbol="A\\B"),
    _with(symbol="A\ud800"),  # lone surrogate: json.loads takes it, UTF-8 cannot store it
    _with(symbol="A\tB"),
    _with(symbol=7),
    _with(symbol=None),
    _with(symbol=["A"]),
    _with(open="1"),
    _with(open=True),
    _with(open=None),
    _with(open=1),
    _with(open=0),
    _with(open=0.0),
    _with(open=-0.0),
    _with(open=2**64),
    _with(open=2**53 + 1),
    _with(open=1e308),
    _with(open=5e-324),
    _with(open=-5e-324),
    _raw('{"symbol":"A","date":"2017-01-03","open":-0,"high":1,"low":1,"close":1,"volume":1,"source":"f:1"}'),
    _raw(
        '{"symbol":"A","date":"2017-01-03","open":1e400,"high":1,"low":1,"close":1,"volume":1,"source":"f:1"}'
    ),
    _raw(
        '{"symbol":"A","date":"2017-01-03","open":NaN,"high":1,"low":1,"close":1,"volume":1,"source":"f:1"}'
    ),
    _raw(
        '{"symbol":"A","date":"2017-01-03","open":Infinity,"high":1,"low":1,"close":1,"volume":1,"source":"f:1"}'
    ),
    _raw(
        '{"symbol":"A","date":"2017-01-03","open":-Infinity,"high":1,"low":1,"close":1,"volume":1,"source":"f"}'
    ),
    _raw(
        '{"symbol":"A","date":"2017-01-03","open":1' + "0" * 5000 + ',"high":1,"low":1,"close":1,"volume":1}'
    ),
    _raw('{"symbol":"A","date":"2017-01-03","open":01,"high":1,"low":1,"close":1,"volume":1,"source":"f:1"}'),
    _raw('{"symbol":"A","date":"2017-01-03","open":1.,"high":1,"low":1,"close":1,"volume":1,"source":"f:1"}'),
    _raw(
        '{"symbol":"A","date":"2017-01-03","open":1E2,"high":1,"low":1,"close":1,"volume":1,"source":"f:1"}'
    ),
    _raw('{"symbol":"A","date":"2017-01-03","open":1,"open":2,"high":1,"low":1,"close":1,"volume":1}'),
    _raw(
        '{ "symbol" : "A" , "date" : "2017-01-03" , "open" : 1 , "high" : 1 , "low" : 1 , "close" : 1 , '
        '"volume" : 1 , "source" : "f:1" }'
    ),
    _raw(
        '{"x":{"y":[1,{"z":null}]},"symbol":"A","date":"2017-01-03","open":1,"high":1,"low":1,"close":1,"volume":1}'
    ),
    _raw(
        '{"x":NaN,"symbol":"A","date":"2017-01-03","open":1,"high":1,"low":1,"close":1,"volume":1,"source":"f:1"}'
    ),
    _raw('{"x":' + "[" * 100_000 + "]" * 100_000 + "}"),  # deeper than json.loads' recursion
    _with(volume="100"),
    _with(volume=True),
    _with(volume=1.0),
    _with(volume=-5),
    _with(volume=-0),
    _with(volume=2**63 - 1),
    _with(volume=2**63),
    _with(volume=-(2**63) - 1),
    _raw('{"symbol":"A","date":"2017-01-03","open":1,"high":1,"low":1,"close":1,"volume":1e3}'),
    _with(date="2017-13-01"),
    _with(date="2017-02-30"),
    _with(date="2016-02-29"),
    _with(date="0000-01-01"),
    _with(date="0001-01-01"),
    _with(date="9999-12-31"),
    _with(date="2017-1-03"),
    _with(date="20170103"),
    _with(date="2017-W01-1"),
    _with(date="03/01/2017"),
    _with(date=" 2017-01-03"),
    _with(date=20170103),
    _with(source="no-colon"),
    _with(source="12"),
    _with(source="a:b:12"),
    _with(source="x:"),
    _with(source=":5"),
    _with(source="x:0012"),
    _with(source="x:1a"),
    _with(source="x:999999999"),
    _with(source="x:2147483647"),
    _with(source="x:2147483648"),
    _with(source="x:99999999999999999999"),
    _with(source="x:\uff11\uff12"),  # fullwidth digits
    _with(source="x:\u00b2"),  # superscript two: isdigit() but not int()
    _with(source=5),
    _with(source=None),
    json.dumps({k: v for k, v in _OBJ.items() if k != "source"}).encode(),
    _with(v="anything", event_time=[1, 2]),
    _with(extra={"nested": True}),
]


@pytest.mark.parametrize("index", range(len(CORPUS)))
def test_every_value_gets_the_verdict_bar_from_json_gives(index: int):
    """Each odd value between good ones: the same bar (bit for bit) or the same poison reason."""
    good = [_bar(i).to_json() for i in range(40)]
    value = CORPUS[index]
    decoded = decode_messages(_messages([*good[:20], value, *good[20:]]))
    expected = _decode_one(value)  # bar_from_json, and whether the lake's schema can hold the bar
    if isinstance(expected, str):
        assert decoded.poison == {20: expected}
        assert decoded.table.num_rows == 40
    else:
        assert decoded.poison == {}
        row = decoded.table.slice(20, 1)
        assert row.column("kafka_offset").to_pylist() == [20]
        assert repr(_without_kafka(row)) == repr(_rows([expected]))  # repr: -0.0 is not 0.0 here


def test_a_poll_of_all_those_values_among_good_ones_gets_each_verdict():
    values: list[bytes | None] = []
    for i, odd in enumerate(CORPUS):
        values += [_bar(i).to_json(), odd]
    decoded = decode_messages(_messages(values))
    verdicts = [_decode_one(v) for v in values]
    assert decoded.poison == {i: v for i, v in enumerate(verdicts) if isinstance(v, str)}
    good = [v for v in verdicts if not isinstance(v, str)]
    assert repr(_without_kafka(decoded.table)) == repr(_rows(good))  # type: ignore[arg-type]
    assert decoded.table.column("kafka_offset").to_pylist() == [
        i for i, v in enumerate(verdicts) if not isinstance(v, str)
    ]


def test_values_that_used_to_stop_the_sink_are_poison_with_a_reason():
    assert _decode_one(_with(volume=2**63)) == "volume 9223372036854775808 is beyond the lake's int64 range"
    assert (
        _decode_one(_with(source="x:2147483648")) == "the line number in 'source' is out of range for int32"
    )
    lone = str(_decode_one(_with(symbol="A\ud800")))
    assert lone.startswith("symbol 'A\\ud800' is not 1-32 printable ASCII")
    assert _decode_one(_with(source="\ud800:3")) == "field 'source' is not valid Unicode (lone surrogate)"
    huge = _raw(
        '{"symbol":"A","date":"2017-01-03","open":1' + "0" * 400 + ',"high":1,"low":1,"close":1,"volume":1}'
    )
    assert _decode_one(huge) == "not decodable: OverflowError: int too large to convert to float"
    deep = _raw('{"x":' + "[" * 100_000 + "]" * 100_000 + "}")
    assert str(_decode_one(deep)).startswith("not decodable: RecursionError")


def test_the_reference_is_bar_from_json():
    assert _decode_one(_GOOD) == bar_from_json(_GOOD)
    assert _decode_one(b"[1]") == "JSON value is not an object"


@pytest.mark.parametrize("partition_by", ["month", "year", "date"])
def test_partition_keys_match_partition_path_across_month_and_year_boundaries(partition_by: str):
    days = [date(2016, 12, 1) + timedelta(days=i) for i in range(400)]  # Dec 2016 .. Jan 2018, leap Feb
    days += [date(1, 1, 1), date(1969, 12, 31), date(1970, 1, 1), date(9999, 12, 31)]
    codes = partition_codes(pa.array(days, pa.date32()), partition_by).to_pylist()
    assert [partition_of_code(c, partition_by) for c in codes] == [
        partition_path(d, partition_by) for d in days
    ]
    for a, b, ca, cb in zip(days, days[1:], codes, codes[1:], strict=False):
        assert (ca == cb) == (partition_path(a, partition_by) == partition_path(b, partition_by))


def test_a_poll_crossing_lake_partitions_with_poison_writes_one_object_per_partition(tmp_path: Path):
    import io

    import pyarrow.parquet as pq

    days = [date(2016, 12, 30), date(2016, 12, 31), date(2017, 1, 1), date(2017, 1, 31), date(2017, 2, 1)]
    values: list[bytes | None] = []
    for i, day in enumerate(days):
        values += [_bar(i * 10 + j, day).to_json() for j in range(3)]
    values.insert(7, b"this is not json")  # poison in the middle of January
    consumer = OnePollConsumer(_messages(values, partition=1))
    lake = MemoryLake()
    dead = DeadLetters(tmp_path / "dl.jsonl")
    options = SinkOptions(max_records=len(values), batch_records=1000, batch_age_s=3600)
    with ProgressReporter("test", None, enabled=False) as progress:
        report = Sink(consumer, lake, dead, options, threading.Event(), progress).run()  # type: ignore[arg-type]

    assert sorted(lake.objects) == [
        "prices/year=2016/month=12/t-1-00000000000000000000.parquet",
        "prices/year=2017/month=01/t-1-00000000000000000006.parquet",
        "prices/year=2017/month=02/t-1-00000000000000000013.parquet",
    ]
    january = pq.read_table(
        io.BytesIO(lake.objects["prices/year=2017/month=01/t-1-00000000000000000006.parquet"])
    )
    assert january.column("kafka_offset").to_pylist() == [6, 8, 9, 10, 11, 12]
    assert {d.month for d in january.column("date").to_pylist()} == {1}
    assert (report.rows_written, report.poison, report.objects_written) == (15, 1, 3)
    (letter,) = [json.loads(line) for line in (tmp_path / "dl.jsonl").read_text().splitlines()]
    assert (letter["offset"], letter["partition"]) == (7, 1)
    assert letter["reason"].startswith("not JSON")
    assert consumer.commits == [{("t", 1): 6}, {("t", 1): 13}, {("t", 1): 16}]

"""The wire format on the topic and the validation of what comes back."""

from __future__ import annotations

import json
from datetime import date

import pytest

from pipeline.records import BadMessage, StockBar, bar_from_json

BAR = StockBar("AAPL", date(2017, 11, 10), 174.5, 175.0, 173.0, 174.67, 25_000_000, "Stocks/aapl.us.txt", 42)


def test_json_round_trip_keeps_every_field():
    assert bar_from_json(BAR.to_json()) == BAR


def test_value_carries_types_and_event_time():
    value = json.loads(BAR.to_json())
    assert value["date"] == "2017-11-10" and isinstance(value["volume"], int)
    assert value["event_time"] == 1510272000000  # 2017-11-10T00:00:00Z
    assert BAR.key() == b"AAPL"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1,2]", "not an object"),
        (b'{"symbol":"A"}', "missing field 'date'"),
        (None, "tombstone"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_poison_values_are_rejected_with_a_reason(raw, reason):
    with pytest.raises(BadMessage, match=reason):
        bar_from_json(raw)


@pytest.mark.parametrize(
    ("field", "value"),
    [("volume", "100"), ("open", "1.0"), ("volume", True), ("symbol", 5), ("date", "2017-13-01")],
)
def test_wrong_types_are_poison(field, value):
    obj = json.loads(BAR.to_json())
    obj[field] = value
    with pytest.raises(BadMessage):
        bar_from_json(json.dumps(obj).encode())

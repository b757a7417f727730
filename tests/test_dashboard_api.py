"""The dashboard's JSON API on 127.0.0.1 answers from SQL over the lake and matches what was written."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fixtures_aws import make_bars, write_lake

from pipeline.catalog import crawl
from pipeline.config import Settings
from pipeline.dashboard import DashboardServer, StatusWriter, make_server
from pipeline.dashboard.page import plotly_js_path
from pipeline.lake import LocalLake

START, END = date(2023, 1, 2), date(2023, 6, 30)


@pytest.fixture(scope="module")
def bars() -> list[dict[str, Any]]:
    # CCC misses March, so a chart of the wrong symbol would show a different number of candles.
    return [b for b in make_bars(START, END) if not (b["symbol"] == "CCC" and b["date"].month == 3)]


TODAY = date.today()


def canary_bar() -> dict[str, Any]:
    """What `stockpipe canary` leaves in the lake: a ZZCANARY bar dated today."""
    return {
        "symbol": "ZZCANARY", "date": TODAY, "open": 100.0, "high": 101.0, "low": 99.0, "close": 100.5,
        "volume": 1, "source_file": "canary", "source_line": 0,
    }  # fmt: skip


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, bars: list[dict[str, Any]]) -> Settings:
    root = tmp_path_factory.mktemp("dash")
    s = Settings(lake=str(root / "lake"), state_dir=str(root / "state"))
    write_lake(LocalLake(s.lake), [*bars, canary_bar()])
    crawl(s)
    return s


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[DashboardServer]:
    with make_server(settings, port=0).start() as srv:
        yield srv


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            body = resp.read()
            kind = resp.headers["Content-Type"]
            return resp.status, json.loads(body) if kind.startswith("application/json") else body
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_server_listens_on_loopback_only(server: DashboardServer) -> None:
    assert server.server_address[0] == "127.0.0.1"
    assert server.url.startswith("http://127.0.0.1:")


def test_meta_lists_the_symbols_and_dates_in_the_lake_without_the_canary(
    server: DashboardServer, bars: list[dict[str, Any]]
) -> None:
    status, meta = get(server.url + "api/meta")
    assert status == 200
    assert meta["symbols"] == sorted({b["symbol"] for b in bars})
    assert (meta["first_date"], meta["last_date"]) == (START.isoformat(), END.isoformat())
    assert (meta["engine"], meta["table"]) == ("duckdb", "prices")


def test_candles_are_the_rows_of_that_symbol_in_date_order(
    server: DashboardServer, bars: list[dict[str, Any]]
) -> None:
    want = sorted((b for b in bars if b["symbol"] == "CCC"), key=lambda b: b["date"])
    status, c = get(server.url + "api/candles?symbol=CCC")
    assert status == 200
    assert c["symbol"] == "CCC"
    assert c["date"] == [b["date"].isoformat() for b in want]
    assert list(zip(c["open"], c["high"], c["low"], c["close"], c["volume"], strict=True)) == [
        (b["open"], b["high"], b["low"], b["close"], b["volume"]) for b in want
    ]


def test_candles_keep_to_the_date_range(server: DashboardServer, bars: list[dict[str, Any]]) -> None:
    _, c = get(server.url + "api/candles?symbol=AAA&start=2023-02-01&end=2023-02-28")
    want = [b["date"].isoformat() for b in bars if b["symbol"] == "AAA" and b["date"].month == 2]
    assert c["date"] == sorted(want) and want


def test_movers_rank_symbols_by_change_over_the_range(
    server: DashboardServer, bars: list[dict[str, Any]]
) -> None:
    lo, hi = date(2023, 2, 1), date(2023, 5, 31)
    first: dict[str, dict[str, Any]] = {}
    last: dict[str, dict[str, Any]] = {}
    for b in sorted(bars, key=lambda b: b["date"]):
        if lo <= b["date"] <= hi:
            first.setdefault(b["symbol"], b)
            last[b["symbol"]] = b
    change = {s: (last[s]["close"] - first[s]["close"]) / first[s]["close"] * 100 for s in first}
    expected = sorted(change, key=lambda s: -change[s])[:3]

    status, movers = get(server.url + f"api/movers?start={lo}&end={hi}&limit=3")

    assert status == 200
    assert [m["symbol"] for m in movers] == expected
    assert [m["pct_change"] for m in movers] == [round(change[s], 2) for s in expected]


def test_bad_requests_get_a_message_not_a_crash(server: DashboardServer) -> None:
    assert get(server.url + "api/candles?symbol=AAA&start=2023-13-01") == (
        400,
        {"error": "start '2023-13-01' is not a date; give start as YYYY-MM-DD"},
    )
    status, body = get(server.url + "api/candles")
    assert status == 400 and "symbol" in body["error"]
    status, body = get(server.url + "api/movers?limit=many")
    assert status == 400 and "limit" in body["error"]
    status, body = get(server.url + "nope")
    assert status == 404
    status, body = get(server.url + "api/candles?symbol=NOPE")
    assert status == 404 and "no rows for symbol 'NOPE'" in body["error"]
    assert get(server.url + "api/meta")[0] == 200  # still serving


def test_an_uncrawled_lake_says_to_crawl(tmp_path: Path) -> None:
    s = Settings(lake=str(tmp_path / "lake"), state_dir=str(tmp_path / "state"))
    with make_server(s, port=0).start() as srv:
        status, body = get(srv.url + "api/meta")
    assert status == 400
    assert "stockpipe crawl" in body["error"]


def test_page_and_plotly_are_served_locally(server: DashboardServer) -> None:
    status, page = get(server.url)
    assert status == 200
    text = page.decode()
    assert '<script src="static/plotly.min.js">' in text
    assert "https://" not in text and "http://" not in text  # nothing from a CDN
    for panel in ("candles", "movers", "live"):  # each panel says it is loading until its data arrives
        assert re.search(rf'id="{panel}-loading">[^<]+…<', text), panel
    status, js = get(server.url + "static/plotly.min.js")
    assert status == 200 and js == plotly_js_path().read_bytes()


def test_movers_leave_the_canary_out(server: DashboardServer) -> None:
    _, movers = get(server.url + f"api/movers?start=2023-01-02&end={TODAY}&limit=100")
    assert "ZZCANARY" not in {m["symbol"] for m in movers} and len(movers) == 4


@pytest.mark.integration
def test_live_lag_comes_from_kafka_offsets_not_the_status_files(
    settings: Settings, broker: str, topic: str, group_id: str
) -> None:
    from dataclasses import replace

    from confluent_kafka import Consumer, Producer
    from confluent_kafka import TopicPartition as Tp

    producer = Producer({"bootstrap.servers": broker, "acks": "all"})
    for i in range(30):
        producer.produce(topic, b"{}", b"k", partition=i % 3)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": broker, "group.id": group_id, "enable.auto.commit": False})
    consumer.commit(offsets=[Tp(topic, 0, 10), Tp(topic, 1, 4)], asynchronous=False)
    consumer.close()
    # Status files of an unrelated earlier run: the old file-based lag would say 24,434.
    StatusWriter(settings.state_dir, "producer", topic).update(delivered=24_435, sent=24_435)
    StatusWriter(settings.state_dir, "sink", topic).update(consumed=1, rows_written=1, objects_written=1)
    live_settings = replace(settings, bootstrap=broker, group_id=group_id)
    with make_server(live_settings, port=0).start() as srv:
        status, live = get(srv.url + f"api/live?topic={topic}")
    assert status == 200
    assert (live["topic"], live["group"], live["sink_lag"]) == (topic, group_id, (10 - 10) + (10 - 4) + 10)
    kafka = live["kafka"]
    assert (kafka["end"], kafka["committed"], kafka["error"]) == (30, 14, None)
    assert [p["committed"] for p in kafka["partitions"]] == [10, 4, None]


def test_live_says_why_when_kafka_cannot_be_reached(settings: Settings) -> None:
    from dataclasses import replace

    from fixtures_kafka import free_port

    with make_server(replace(settings, bootstrap=f"127.0.0.1:{free_port()}"), port=0).start() as srv:
        status, live = get(srv.url + "api/live")
    assert status == 200 and live["sink_lag"] is None
    assert (
        "cannot reach Kafka" in live["kafka"]["error"]
        and "stockpipe local up --port" in live["kafka"]["error"]
    )


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_command_serves_the_dashboard_until_interrupted(
    settings: Settings, signum: signal.Signals
) -> None:
    env = {**os.environ, "STOCKPIPE_LAKE": settings.lake, "STOCKPIPE_STATE_DIR": settings.state_dir}
    # Started with SIGINT ignored, as a shell without job control starts a background job: Ctrl-C and
    # kill must stop it all the same.
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "dashboard", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        preexec_fn=_ignore_sigint,
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:  # the first line names the address; it serves by then
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(timeout=60), "stockpipe dashboard printed nothing within 60 s"
        line = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert m, line
        status, meta = get(m[0] + "api/meta")
        assert status == 200 and meta["symbols"] == ["AAA", "BBB", "CCC", "DDD"]
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "dashboard stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

"""`stockpipe report`: one self-contained HTML file with the dashboard's charts and their data inlined."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fixtures_aws import make_bars, write_lake
from typer.testing import CliRunner

from pipeline.catalog import crawl
from pipeline.cli import app
from pipeline.config import Settings
from pipeline.dashboard import write_report
from pipeline.dashboard.page import plotly_js_path, script_json
from pipeline.errors import PipelineError
from pipeline.lake import LocalLake

START, END = date(2023, 1, 2), date(2023, 4, 28)
SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF")


@pytest.fixture(scope="module")
def bars() -> list[dict[str, Any]]:
    return make_bars(START, END, symbols=SYMBOLS)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, bars: list[dict[str, Any]]) -> Settings:
    root = tmp_path_factory.mktemp("report")
    s = Settings(lake=str(root / "lake"), state_dir=str(root / "state"))
    write_lake(LocalLake(s.lake), bars)
    crawl(s)
    return s


def embedded(html: str) -> dict[str, Any]:
    m = re.search(r'<script id="stockpipe-data" type="application/json">(.*?)</script>', html, re.DOTALL)
    assert m, "the report has no embedded data"
    return json.loads(m[1])  # type: ignore[no-any-return]


def test_report_is_self_contained(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "r" / "report.html"
    result = write_report(settings, out)
    html = out.read_text()

    assert result.path == out and result.bytes == len(html.encode())
    assert not re.search(r"<script[^>]+src=", html)  # no script loaded from anywhere
    assert not re.search(r"<link[^>]+href=", html)
    assert plotly_js_path().read_text()[:2000] in html  # Plotly is inlined
    assert '"report"' in html  # the page runs from its snapshot, not the API


def test_report_embeds_every_candle_of_the_top_movers(
    settings: Settings, bars: list[dict[str, Any]], tmp_path: Path
) -> None:
    result = write_report(settings, tmp_path / "report.html", top=4)
    data = embedded((tmp_path / "report.html").read_text())

    movers = [m["symbol"] for m in data["movers"]]
    assert len(movers) == 4
    assert data["meta"]["symbols"] == movers == result.symbols
    for symbol in movers:
        want = sorted(b["date"].isoformat() for b in bars if b["symbol"] == symbol)
        assert data["candles"][symbol]["date"] == want
    assert result.candles == sum(1 for b in bars if b["symbol"] in movers)


def test_report_charts_the_symbols_and_range_asked_for(settings: Settings, tmp_path: Path) -> None:
    write_report(settings, tmp_path / "r.html", symbols=["FFF", "AAA"], start="2023-02-01", end="2023-02-28")
    data = embedded((tmp_path / "r.html").read_text())

    assert data["meta"]["symbols"] == ["FFF", "AAA"]
    assert (data["meta"]["first_date"], data["meta"]["last_date"]) == ("2023-02-01", "2023-02-28")
    assert all(d.startswith("2023-02") for d in data["candles"]["AAA"]["date"])
    assert {m["first_date"] for m in data["movers"]} == {"2023-02-01"}


def test_unknown_symbol_is_an_error_naming_it(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="ZZZ"):
        write_report(settings, tmp_path / "r.html", symbols=["AAA", "ZZZ"])
    assert not (tmp_path / "r.html").exists()


def test_embedded_json_cannot_close_the_script_element() -> None:
    text = script_json({"symbol": "</script><script>alert(1)</script>"})
    assert "</" not in text and "<script" not in text
    assert json.loads(text) == {"symbol": "</script><script>alert(1)</script>"}


def test_cli_writes_the_report(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKPIPE_LAKE", settings.lake)
    monkeypatch.setenv("STOCKPIPE_STATE_DIR", settings.state_dir)
    out = tmp_path / "cli.html"

    result = CliRunner().invoke(app, ["report", "--out", str(out), "--symbol", "BBB", "--top", "3"])

    assert result.exit_code == 0, result.output
    assert "report: 1 symbol, " in result.output and str(out) in result.output
    assert list(embedded(out.read_text())["candles"]) == ["BBB"]

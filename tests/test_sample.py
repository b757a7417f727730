"""The synthetic Kaggle-layout generator: deterministic, plausible, trading days only."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pipeline.sources import SourceSet
from pipeline.sources.sample import generate, is_trading_day, trading_days


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.txt")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_gives_identical_files(tmp_path: Path):
    generate(tmp_path / "a", 12, 60, seed=7)
    generate(tmp_path / "b", 12, 60, seed=7)
    generate(tmp_path / "c", 12, 60, seed=8)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_bars_are_plausible_and_on_trading_days(tmp_path: Path):
    manifest = generate(tmp_path, 20, 120, seed=3, empty_files=2)
    sources = SourceSet(tmp_path)
    bars = list(sources.bars())
    assert len(bars) == manifest.rows
    assert sources.rejects.total == 0
    assert sources.counts.empty_files == 2
    for bar in bars:
        assert bar.high >= max(bar.open, bar.close)
        assert bar.low <= min(bar.open, bar.close)
        assert bar.low > 0 and bar.volume > 0
        assert bar.date.weekday() < 5 and is_trading_day(bar.date)


def test_manifest_totals_match_the_files(tmp_path: Path):
    manifest = generate(tmp_path, 15, 80, seed=11)
    saved = json.loads((tmp_path / "manifest.json").read_text())
    bars = list(SourceSet(tmp_path).bars())
    assert saved["rows"] == manifest.rows == len(bars)
    assert saved["total_volume"] == sum(b.volume for b in bars)
    last = {b.symbol: b.close for b in bars}
    assert {s: v["last_close"] for s, v in saved["symbols"].items()} == last


def test_layout_has_stocks_and_etfs_folders(tmp_path: Path):
    generate(tmp_path, 20, 5, seed=1)
    assert len(list((tmp_path / "Stocks").glob("*.us.txt"))) == 18
    assert len(list((tmp_path / "ETFs").glob("*.us.txt"))) == 2


def test_calendar_skips_weekends_and_fixed_holidays():
    days = trading_days(300)
    assert len(days) == 300 and days == sorted(days)
    assert all(d.weekday() < 5 for d in days)
    assert not any((d.month, d.day) in {(12, 25), (1, 1), (7, 4)} for d in days)

"""The synthetic data sets of the benchmarks: Kaggle-layout CSV files, generated once and cached under
bench/results/data/, with their records pre-encoded for the bare loops."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from common import RESULTS, log

TICKERS = 2000  # ~ the number of tickers with data in a recent month of the Kaggle set


@dataclass
class DataSet:
    name: str
    path: Path
    rows: int
    messages: Path


def dataset(name: str, tickers: int, rows: int, messages: bool = True) -> DataSet:
    """The synthetic Kaggle-layout set with about `rows` rows, generated once and cached; with
    `messages`, also its records pre-encoded for the bare loops (`StockBar.to_json`, one at a time)."""
    from pipeline.sources import SourceSet
    from pipeline.sources.sample import generate

    path = data_path(name, tickers, rows)
    manifest = path / "source" / "manifest.json"
    encoded = path / "messages.bin"
    if not manifest.exists():
        shutil.rmtree(path, ignore_errors=True)
        days = int(path.name.rsplit("-d", 1)[1])
        log(f"generating {name}: {tickers} tickers x {days} days -> {path}")
        generate(path / "source", tickers, days)
    if messages and not encoded.exists():
        from children import write_messages

        bars = SourceSet(path / "source").bars()
        write_messages(encoded, ((b.key(), b.to_json()) for b in bars))
    total = json.loads(manifest.read_text())["rows"]
    return DataSet(name, path / "source", int(total), encoded)


def data_path(name: str, tickers: int, rows: int) -> Path:
    # One ticker in five lists partway through the period (sample.py): ~0.953 of tickers x days.
    days = max(1, round(rows / tickers / 0.953))
    return RESULTS / "data" / f"{name}-t{tickers}-d{days}"


def tickers_for(records: int) -> int:
    """Tickers of the data sets: TICKERS, fewer for a small --records."""
    return TICKERS if records >= 100_000 else max(10, records // 500)

"""`ReadAhead` (sources/ahead.py): the replay's batches computed in a child process are what
`SourceSet.batches()` gives in-process - the same records and dates in the same order, the same
rejects in the same order, the same counts - and the child never outlives what asked for it."""

from __future__ import annotations

import select
import signal
import zipfile
from pathlib import Path

import pytest
from test_sources_batches import CORPUS, _adversarial

from pipeline.errors import PipelineError
from pipeline.sources import ReadCounts, Rejects, SourceSet
from pipeline.sources.ahead import ReadAhead
from pipeline.sources.sample import generate

Run = tuple[list[tuple[bytes, bytes, int]], list[str], list[str], ReadCounts]


def _run(root: Path, tmp_path: Path, ahead: bool, batch_rows: int | None = None) -> Run:
    rejects_file = tmp_path / f"rejects-{'ahead' if ahead else 'in-process'}.txt"
    rejects = Rejects(rejects_file)
    sources = SourceSet(root, rejects)
    if ahead:
        with ReadAhead(root, batch_rows) as reader:
            batches = list(reader.batches(sources))
    else:
        batches = list(sources.batches(batch_rows))
    records = [
        record
        for batch in batches
        for record in zip(batch.keys, batch.values, batch.days.to_pylist(), strict=True)
    ]
    rejects.close()
    lines = rejects_file.read_text(encoding="utf-8").splitlines() if rejects_file.exists() else []
    return records, lines, rejects.shown, sources.counts


def _assert_same(root: Path, tmp_path: Path, batch_rows: int | None = None) -> int:
    in_process = _run(root, tmp_path, ahead=False, batch_rows=batch_rows)
    ahead = _run(root, tmp_path, ahead=True, batch_rows=batch_rows)
    assert ahead[0] == in_process[0]  # keys, values and days, in order
    assert ahead[1] == in_process[1]  # the rejects file, line for line in the same order
    assert ahead[2] == in_process[2]  # the rejects shown on the console
    assert ahead[3] == in_process[3]  # rows read, good, files, empty files, extra columns
    return len(ahead[0])


def test_read_ahead_gives_what_batches_gives_on_the_bad_input_corpus(tmp_path: Path) -> None:
    assert _assert_same(CORPUS, tmp_path) == 22


def test_read_ahead_gives_what_batches_gives_with_trouble_deep_inside(tmp_path: Path) -> None:
    assert _assert_same(_adversarial(tmp_path / "src"), tmp_path, batch_rows=97) > 1_800


def test_read_ahead_gives_what_batches_gives_on_generated_data_and_in_a_zip(tmp_path: Path) -> None:
    generate(tmp_path / "src", tickers=40, days=300, seed=3, empty_files=2)
    assert _assert_same(tmp_path / "src", tmp_path) > 10_000
    archive = tmp_path / "prices.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((tmp_path / "src").rglob("*.txt")):
            zf.write(path, path.relative_to(tmp_path / "src").as_posix())
    assert _assert_same(archive, tmp_path, batch_rows=1_000) > 10_000


def test_an_error_in_the_source_reader_is_raised_where_the_replay_asks(tmp_path: Path) -> None:
    generate(tmp_path / "src", tickers=3, days=20, seed=5)
    sources = SourceSet(tmp_path / "src")
    reader = ReadAhead(tmp_path / "gone")  # the child fails as an in-process read would
    with pytest.raises(PipelineError, match="does not exist"):
        list(reader.batches(sources))
    assert reader._process.poll() is not None


def test_a_replay_that_stops_early_stops_the_source_reader(tmp_path: Path) -> None:
    generate(tmp_path / "src", tickers=20, days=400, seed=6)
    reader = ReadAhead(tmp_path / "src", batch_rows=50)
    batches = reader.batches(SourceSet(tmp_path / "src"))
    assert len(next(batches)) == 50
    reader.close()
    assert reader._process.poll() is not None


def test_a_source_reader_reads_before_it_is_asked_and_exits_on_close(tmp_path: Path) -> None:
    """It starts at once (its first batch is on the pipe before anything asks), stops DEPTH messages
    ahead (more than that here), and exits by itself when the pipe is closed, not by a kill."""
    generate(tmp_path / "src", tickers=20, days=400, seed=6)
    reader = ReadAhead(tmp_path / "src", batch_rows=10)
    assert reader._data is not None
    readable, _, _ = select.select([reader._data], [], [], 60)
    assert readable, "nothing on the pipe a minute after the reader started"
    reader.close()
    assert reader._process.returncode == 0


def test_ctrl_c_and_sigterm_are_left_to_the_replay(tmp_path: Path) -> None:
    """A terminal's Ctrl-C or systemd's stop asks the replay to stop gracefully; the reader keeps going
    until the replay stops asking."""
    generate(tmp_path / "src", tickers=10, days=200, seed=7)
    expected = sum(len(b) for b in SourceSet(tmp_path / "src").batches())
    with ReadAhead(tmp_path / "src", batch_rows=100) as reader:
        batches = reader.batches(SourceSet(tmp_path / "src"))
        total = len(next(batches))
        reader._process.send_signal(signal.SIGINT)
        reader._process.send_signal(signal.SIGTERM)
        total += sum(len(b) for b in batches)
    assert total == expected
    assert reader._process.returncode == 0

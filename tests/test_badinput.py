"""Malformed source files (tests/badinput/) through `stockpipe produce`: every bad row or file is
reported with file:line and the reason, every good row is delivered, and only --strict fails the run.

Guarantee checked: docs/guarantees.md, "G4 - bad input is reported, never silently dropped".
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from fixtures_faults import cli, cli_env, consume_values

CORPUS = Path(__file__).resolve().parent / "badinput"

#: Every rejected row (file:line) or file (file) of the corpus, with a piece of the reason it must give.
EXPECTED_REJECTS = {
    "Stocks/cols.us.txt:3": "expected 7 columns, found 6",
    "Stocks/cols.us.txt:4": "expected 7 columns, found 8",
    "Stocks/prices.us.txt:2": "open is not a number ('abc')",
    "Stocks/prices.us.txt:3": "high is not a number ('')",
    "Stocks/prices.us.txt:4": "close is not finite (nan)",
    "Stocks/prices.us.txt:5": "open must be > 0",
    "Stocks/volume.us.txt:2": "volume is negative",
    "Stocks/volume.us.txt:3": "volume is not a whole number",
    "Stocks/highlow.us.txt:2": "high 9.0 is below low 9.5",
    "Stocks/dates.us.txt:2": "date is not a valid YYYY-MM-DD date ('2017-13-01')",
    "Stocks/dates.us.txt:3": "date is not a valid YYYY-MM-DD date ('2017-02-30')",
    "Stocks/dates.us.txt:4": "date is not a valid YYYY-MM-DD date ('01/31/2017')",
    "Stocks/dates.us.txt:5": "date 2999-01-03 is outside",
    "Stocks/dates.us.txt:6": "date 1850-01-03 is outside",
    "Stocks/dates.us.txt:8": "duplicate date for DATES",
    "Stocks/dates.us.txt:9": "date goes backwards for DATES",
    "Stocks/duphdr.us.txt:3": "repeated header line",
    "Stocks/crlf.us.txt:4": "open is not a number ('x')",
    "Stocks/extra.us.txt:3": "expected 8 columns, found 7",
    "Stocks/latin1.us.txt:3": "open is not a number",
    "indexProcessed.csv:3": "volume is not a number ('abc')",
    "indexProcessed.csv:5": "symbol is empty",
    "indexProcessed.csv:6": "expected 9 columns, found 6",
    # Whole files: unknown layout, binary, and two that cannot be read at all, even by root.
    "Stocks/noheader.us.txt": "unrecognised header 'Day,Price'",
    "Stocks/binary.us.txt": "is a binary file",
    "Stocks/folder.us.txt": "a directory, not a file",
    "Stocks/dangling.us.txt": "dangling symlink",
}
REJECTED_ROWS, REJECTED_FILES = 23, 4

#: Every good row (file:line); BOM, CRLF, extra columns, blank lines and a missing final newline are fine.
EXPECTED_GOOD = {
    *(f"Stocks/good.us.txt:{n}" for n in (2, 3, 4)),
    *(f"Stocks/cols.us.txt:{n}" for n in (2, 5)),
    "Stocks/prices.us.txt:6",
    "Stocks/volume.us.txt:4",
    "Stocks/highlow.us.txt:3",
    *(f"Stocks/dates.us.txt:{n}" for n in (7, 10)),
    *(f"Stocks/duphdr.us.txt:{n}" for n in (2, 4)),
    *(f"Stocks/bom.us.txt:{n}" for n in (2, 3)),
    *(f"Stocks/crlf.us.txt:{n}" for n in (2, 3)),
    *(f"Stocks/extra.us.txt:{n}" for n in (2, 4)),
    *(f"Stocks/latin1.us.txt:{n}" for n in (2, 5)),
    *(f"indexProcessed.csv:{n}" for n in (2, 4)),
}
_REJECT_LINE = re.compile(r"^(?P<where>[^:]+(?::\d+)?): (?P<reason>.*?)(?: \| .*| \(file skipped\))$")


def _produce(broker: str, topic: str, tmp_path: Path, *extra: str) -> tuple[int, str, Path]:
    rejects = tmp_path / f"rejects-{topic}.txt"
    done = cli(
        [
            "produce",
            "--source",
            str(CORPUS),
            "--bootstrap",
            broker,
            "--topic",
            topic,
            "--rejects",
            str(rejects),
            "--no-progress",
            *extra,
        ],
        cli_env(tmp_path / "state"),
        timeout_s=120,
    )
    return done.returncode, done.stdout + done.stderr, rejects


@pytest.mark.integration
def test_malformed_corpus_reports_each_bad_row_with_file_line_and_reason_and_delivers_every_good_row(
    broker: str, topic: str, tmp_path: Path
) -> None:
    returncode, output, rejects = _produce(broker, topic, tmp_path)
    assert returncode == 0, output  # not strict: bad rows are reported, the run succeeds

    reported = {}
    for line in rejects.read_text(encoding="utf-8").splitlines():
        match = _REJECT_LINE.match(line)
        assert match, f"reject line without file:line and reason: {line!r}"
        reported[match["where"]] = match["reason"]
    assert set(reported) == set(EXPECTED_REJECTS)
    for where, reason in EXPECTED_REJECTS.items():
        assert reason in reported[where], f"{where}: {reported[where]!r} does not say {reason!r}"
    assert f"{REJECTED_ROWS:,} rejected rows, {REJECTED_FILES} rejected files" in output
    assert "(1 empty)" in output  # an empty file is not an error

    delivered = int(re.search(r"delivered ([\d,]+)", output).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert delivered == len(EXPECTED_GOOD)
    values = consume_values(broker, topic, expected=delivered)
    assert sorted(json.loads(v)["source"] for v in values) == sorted(EXPECTED_GOOD)


@pytest.mark.integration
def test_strict_run_exits_non_zero_on_rejects_but_still_delivers_the_good_rows(
    broker: str, tmp_path: Path
) -> None:
    topic = f"test-strict-{uuid.uuid4().hex[:8]}"
    returncode, output, _ = _produce(broker, topic, tmp_path, "--strict")
    assert returncode == 1, output
    assert f"delivered {len(EXPECTED_GOOD)}," in output

"""Hostile input and broken environments end in one clear line (or a rejected file or row), never in a
traceback, and good data keeps flowing.

Guarantees checked: docs/guarantees.md, "G4 - bad input is reported, never silently dropped" and
"G6 - wrong settings fail fast with one line".
"""

from __future__ import annotations

import errno
import os
import struct
import zipfile
from pathlib import Path

import pytest
from fixtures_faults import CliResult, cli, cli_env, parse_summary

from pipeline.errors import PipelineError
from pipeline.kafka import Message
from pipeline.sink.deadletter import DeadLetters
from pipeline.sources import Rejects, SourceSet
from pipeline.sources.formats import KAGGLE_HEADER

ROWS = "".join(f"2017-01-{d:02d},1,2,0.5,1.5,1,0\n" for d in range(3, 20))  # 17 good rows


def _one_line_error(done: CliResult, *phrases: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("stockpipe: error: "), line
    for phrase in phrases:
        assert phrase in line, line


def _patch_zip(path: Path, member: str, local_offset: int, central_offset: int, value: int) -> None:
    """Set a 2-byte field of `member` in its local header and its central directory entry."""
    data = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).getinfo(member)
    data[info.header_offset + local_offset : info.header_offset + local_offset + 2] = struct.pack("<H", value)
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) >= 0:
        name_len = struct.unpack("<H", data[pos + 28 : pos + 30])[0]
        if bytes(data[pos + 46 : pos + 46 + name_len]) == member.encode():
            data[pos + central_offset : pos + central_offset + 2] = struct.pack("<H", value)
        pos += 4
    path.write_bytes(data)


def test_damaged_encrypted_and_deflate64_zip_members_are_rejected_whole_and_the_rest_delivered(
    tmp_path: Path,
):
    path = tmp_path / "src.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in ("good", "crc", "d64", "enc"):
            zf.writestr(f"Stocks/{name}.us.txt", KAGGLE_HEADER + "\n" + ROWS)
    info = zipfile.ZipFile(path).getinfo("Stocks/crc.us.txt")
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + len(KAGGLE_HEADER) + 400] ^= 1  # late in the member
    path.write_bytes(data)
    _patch_zip(path, "Stocks/d64.us.txt", 8, 10, 9)  # compression method 9: Deflate64
    _patch_zip(path, "Stocks/enc.us.txt", 6, 8, 1)  # general purpose flag bit 0: encrypted

    for read in ("bars", "batches"):
        rejects = Rejects()
        sources = SourceSet(path, rejects)
        if read == "bars":
            symbols = [b.symbol for b in sources.bars()]
        else:
            symbols = [k.decode() for batch in sources.batches() for k in batch.keys]
        assert symbols == ["GOOD"] * 17, (
            read
        )  # no row of a damaged member, not even the ones before the damage
        shown = "\n".join(rejects.shown)
        assert rejects.files == 3 and rejects.rows == 0, shown
        assert "Stocks/crc.us.txt: is damaged in the zip (Bad CRC-32" in shown
        assert "Stocks/d64.us.txt: uses a zip compression method Python cannot read (method 9" in shown
        assert "Stocks/enc.us.txt: is encrypted in the zip" in shown


def test_a_huge_line_is_cut_and_rejected_as_one_row_and_the_next_rows_are_read(tmp_path: Path):
    src = tmp_path / "Stocks" / "long.us.txt"
    src.parent.mkdir()
    src.write_bytes(
        (KAGGLE_HEADER + "\n2017-01-02,1,2,0.5,1.5,1,0\n" + "9" * (24 << 20) + "\n" + ROWS).encode()
    )
    rejects = Rejects()
    bars = list(SourceSet(tmp_path, rejects).bars())
    assert len(bars) == 18 and rejects.rows == 1
    assert rejects.shown[0].startswith("Stocks/long.us.txt:3: expected 7 columns, found 1 | 999")
    assert len(rejects.shown[0]) < 700


def test_a_dead_letter_write_that_fails_midway_leaves_no_half_line(tmp_path: Path, monkeypatch):
    letters = DeadLetters(tmp_path / "dl.jsonl")
    good = [(Message("t", 0, i, b"k", b"x" * 100), "not JSON") for i in range(3)]
    letters.write(good)
    before = letters.path.read_bytes()
    real_write = os.write

    def half_then_full(fd: int, data) -> int:  # type: ignore[no-untyped-def]
        written = real_write(fd, bytes(data[: len(data) // 2]))
        monkeypatch.setattr(
            os, "write", lambda *_: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left"))
        )
        return written

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(PipelineError, match=r"cannot write dead letters to .*No space left"):
        letters.write(good)
    monkeypatch.undo()
    assert letters.path.read_bytes() == before  # the file every reader parses is whole


@pytest.mark.integration
def test_a_file_name_that_is_not_utf8_is_reported_and_the_other_files_are_delivered(
    broker: str, topic: str, tmp_path: Path
):
    src = tmp_path / "src" / "Stocks"
    src.mkdir(parents=True)
    (src / "good.us.txt").write_text(KAGGLE_HEADER + "\n" + ROWS)
    with open(os.fsencode(src) + b"/caf\xe9.us.txt", "w") as fh:
        fh.write(KAGGLE_HEADER + "\n" + ROWS)
    done = cli(["produce", "--source", str(tmp_path / "src"), "--bootstrap", broker, "--topic", topic,
                "--no-progress"], cli_env(tmp_path / "state"))  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert parse_summary(done.stdout)["delivered"] == 17
    assert "Stocks/caf\\xe9.us.txt: symbol" in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        (None, ("is a directory",)),
        (b'[stockpipe]\ntable = "\xff"\n', ("is not UTF-8 text",)),
        (b"[stockpipe]\ntable = 5\n", ("setting table = 5 is a int", 'quote it: table = "5"')),
        (b"[stockpipe]\ntopic = 5\n", ("setting topic = 5 is a int",)),
        (b'[stockpipe]\ntable = "2024p"\n', ("table name '2024p' must start with a letter",)),
        (b'[stockpipe]\ntopic = "a b"\n', ("topic 'a b' must be",)),
    ],
)
def test_bad_settings_files_are_one_line_errors(tmp_path: Path, text: bytes | None, phrases: tuple[str, ...]):
    config = tmp_path / "stockpipe.toml"
    if text is None:
        config.mkdir()
    else:
        config.write_bytes(text)
    _one_line_error(cli(["config", "--config", str(config)], cli_env(tmp_path)), *phrases)


@pytest.mark.parametrize("speed", ["0", "nan", "inf", "-1"])
def test_a_speed_that_paces_nothing_is_refused(tmp_path: Path, speed: str):
    (tmp_path / "a.us.txt").write_text(KAGGLE_HEADER + "\n" + ROWS)
    done = cli(["produce", "--source", str(tmp_path / "a.us.txt"), "--speed", speed], cli_env(tmp_path))
    _one_line_error(done, f"--speed {float(speed)} must be a finite number > 0")


@pytest.mark.integration
@pytest.mark.parametrize(
    "command", [["sink", "--lake", "LAKE"], ["produce", "--source", "SRC"], ["local", "up"]]
)
def test_a_state_dir_that_is_a_file_fails_before_anything_starts(
    broker: str, topic: str, tmp_path: Path, command: list[str]
):
    (tmp_path / "a.us.txt").write_text(KAGGLE_HEADER + "\n" + ROWS)
    blocker = tmp_path / "state"
    blocker.write_text("not a directory\n")
    args = [
        str(tmp_path / "lake") if a == "LAKE" else str(tmp_path / "a.us.txt") if a == "SRC" else a
        for a in command
    ]
    if command[0] != "local":
        args += ["--bootstrap", broker, "--topic", topic]
    else:
        args += ["--port", "1"]  # never reached: the state dir is checked first
    done = cli(args, cli_env(blocker))
    _one_line_error(done, f"state directory {blocker} is not a directory", "STOCKPIPE_STATE_DIR")
    assert not (tmp_path / "lake").exists()  # nothing was written anywhere


@pytest.mark.integration
def test_static_partitions_beyond_the_topic_are_refused(broker: str, topic: str, tmp_path: Path):
    done = cli(["sink", "--bootstrap", broker, "--topic", topic, "--partitions", "1,7", "--lake",
                str(tmp_path / "lake"), "--no-progress"], cli_env(tmp_path))  # fmt: skip
    _one_line_error(done, "--partitions 7", "has only partitions 0..2")

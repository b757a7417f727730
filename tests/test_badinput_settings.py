"""Wrong settings fail fast with one clear line: what is wrong and how to fix it, no stack trace, no hang.

Guarantee checked: docs/guarantees.md, "G6 - wrong settings fail fast with one line". The elapsed-time
bound only catches hangs; it is not a performance assertion.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from fixtures_faults import CliResult, cli, cli_env
from fixtures_kafka import free_port

pytestmark = pytest.mark.integration

HANG_GUARD_S = 30


def _assert_one_line_error(done: CliResult, *phrases: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("stockpipe: error: "), lines[0]
    assert "Traceback" not in done.stdout + done.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    assert done.elapsed_s < HANG_GUARD_S


def test_produce_to_unreachable_broker_fails_in_one_line_naming_the_address(tmp_path: Path) -> None:
    source = tmp_path / "one.csv"
    source.write_text("Date,Open,High,Low,Close,Volume,OpenInt\n2017-01-03,10,11,9.5,10.5,1000,0\n")
    dead = f"127.0.0.1:{free_port()}"
    done = cli(["produce", "--source", str(source), "--bootstrap", dead, "--no-progress"], cli_env(tmp_path))
    _assert_one_line_error(done, f"cannot reach Kafka at {dead}", "--bootstrap")


def test_sink_from_unreachable_broker_fails_in_one_line_naming_the_address(tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"
    done = cli(
        ["sink", "--bootstrap", dead, "--lake", str(tmp_path / "lake"), "--no-progress"], cli_env(tmp_path)
    )
    _assert_one_line_error(done, f"cannot reach Kafka at {dead}", "--bootstrap")


def test_sink_to_unwritable_lake_path_fails_in_one_line_before_consuming(tmp_path: Path, broker: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the lake directory should be\n")  # unwritable even for root
    done = cli(
        ["sink", "--bootstrap", broker, "--lake", str(blocker / "lake"), "--no-progress"], cli_env(tmp_path)
    )
    _assert_one_line_error(done, "cannot write", "--lake")


def test_sink_to_missing_bucket_fails_in_one_line_naming_the_bucket(
    tmp_path: Path, broker: str, moto_endpoint: str
) -> None:
    env = cli_env(tmp_path, STOCKPIPE_AWS_ENDPOINT_URL=moto_endpoint)
    done = cli(
        ["sink", "--bootstrap", broker, "--lake", "s3://no-such-bucket-here/lake", "--no-progress"], env
    )
    _assert_one_line_error(done, "bucket 'no-such-bucket-here' does not exist", "--lake")


def test_sink_to_s3_without_credentials_fails_in_one_line_saying_how_to_provide_them(
    tmp_path: Path, broker: str, moto_endpoint: str, s3_bucket: str
) -> None:
    env = cli_env(
        tmp_path,
        STOCKPIPE_AWS_ENDPOINT_URL=moto_endpoint,
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",  # never ask an instance-metadata address (127.0.0.1 only)
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)
    done = cli(["sink", "--bootstrap", broker, "--lake", f"s3://{s3_bucket}/lake", "--no-progress"], env)
    _assert_one_line_error(done, "no AWS credentials", "AWS_ACCESS_KEY_ID")
    assert not list(boto3.resource("s3", endpoint_url=moto_endpoint).Bucket(s3_bucket).objects.all())

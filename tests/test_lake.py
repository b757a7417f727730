"""Lake backends: a local directory and a real S3-compatible server (moto_server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import PipelineError
from pipeline.lake import LocalLake, S3Lake, open_lake


def test_local_put_is_atomic_and_listed_in_key_order(tmp_path: Path):
    lake = LocalLake(tmp_path / "lake")
    lake.put("t/year=2017/month=02/b.parquet", b"2")
    lake.put("t/year=2017/month=01/a.parquet", b"1")
    lake.put("t/year=2017/month=01/a.parquet", b"1-again")
    assert [(o.key, o.size) for o in lake.list("t/")] == [
        ("t/year=2017/month=01/a.parquet", 7),
        ("t/year=2017/month=02/b.parquet", 1),
    ]
    assert lake.get("t/year=2017/month=01/a.parquet") == b"1-again"
    assert not list((tmp_path / "lake").rglob(".tmp-*"))


def test_local_keys_cannot_escape_the_lake(tmp_path: Path):
    with pytest.raises(PipelineError, match="escapes"):
        LocalLake(tmp_path / "lake").put("../outside", b"x")


@pytest.mark.integration
def test_both_backends_raise_the_same_error_types_for_the_same_failures(
    tmp_path: Path, moto_endpoint: str, s3_bucket: str
):
    """A missing object is a PipelineError everywhere; only `Unavailable` (shared) means retry."""
    from pipeline.errors import Unavailable

    for lake in (LocalLake(tmp_path / "lake"), S3Lake(f"s3://{s3_bucket}/lake", endpoint_url=moto_endpoint)):
        with pytest.raises(PipelineError, match="no object to read") as missing:
            lake.get("prices/none.parquet")
        assert not isinstance(missing.value, Unavailable), lake


def test_unwritable_lake_path_is_a_clear_error(tmp_path: Path):
    # Tests run as root, who can write anywhere; a path below a regular file fails for everyone.
    (tmp_path / "afile").write_text("x")
    with pytest.raises(PipelineError, match="cannot write"):
        LocalLake(tmp_path / "afile" / "lake").check_writable()


def test_open_lake_picks_the_backend_from_the_url(tmp_path: Path, moto_endpoint: str):
    assert isinstance(open_lake(str(tmp_path)), LocalLake)
    assert isinstance(open_lake(f"file://{tmp_path}"), LocalLake)
    assert isinstance(open_lake("s3://b/p", endpoint_url=moto_endpoint), S3Lake)


@pytest.mark.integration
def test_s3_put_get_list_under_a_prefix(moto_endpoint: str, s3_bucket: str):
    lake = S3Lake(f"s3://{s3_bucket}/lake/", endpoint_url=moto_endpoint)
    lake.put("prices/year=2017/month=01/a.parquet", b"abc")
    lake.put("prices/year=2017/month=02/b.parquet", b"de")
    assert [(o.key, o.size) for o in lake.list("prices/")] == [
        ("prices/year=2017/month=01/a.parquet", 3),
        ("prices/year=2017/month=02/b.parquet", 2),
    ]
    assert lake.get("prices/year=2017/month=02/b.parquet") == b"de"
    assert lake.location("prices") == f"s3://{s3_bucket}/lake/prices"


@pytest.mark.integration
def test_s3_missing_bucket_is_a_clear_error(moto_endpoint: str):
    lake = S3Lake("s3://no-such-bucket-here/lake", endpoint_url=moto_endpoint)
    with pytest.raises(PipelineError, match="bucket 'no-such-bucket-here' does not exist"):
        lake.check_writable()


@pytest.mark.integration
def test_s3_unreachable_endpoint_is_retryable_and_clear(aws_env):
    from fixtures_kafka import free_port

    from pipeline.errors import Unavailable

    lake = S3Lake("s3://bucket/lake", endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Unavailable, match="cannot reach S3"):
        lake.put("x", b"1")

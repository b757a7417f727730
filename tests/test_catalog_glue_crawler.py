"""run_glue_crawler: the boto3 call sequence (moto_server) and how the end of a crawl is read.

moto's start_crawler never finishes a crawl, so against moto the run must end with the timeout
message; finished crawls (SUCCEEDED / FAILED) are scripted with botocore's Stubber, which checks
every request against the Glue API model.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from fixtures_aws import unique_name

from pipeline.aws import aws_client
from pipeline.catalog import run_glue_crawler
from pipeline.config import Settings
from pipeline.errors import PipelineError

ROLE = "arn:aws:iam::123456789012:role/stockpipe-crawler"


def _settings(endpoint: str | None, bucket: str = "lake-bucket") -> Settings:
    return Settings(
        lake=f"s3://{bucket}/lake",
        catalog="glue",
        database=unique_name("db").replace("-", "_"),
        aws_endpoint_url=endpoint,
        region="us-east-1",
    )


def _recording_client(settings: Settings) -> tuple[Any, list[str]]:
    client = aws_client("glue", settings)
    calls: list[str] = []
    client.meta.events.register("before-call.glue.*", lambda model, **_: calls.append(model.name))
    return client, calls


@pytest.mark.integration
def test_glue_crawler_is_created_started_and_times_out_with_a_clear_message(
    moto_endpoint: str, s3_bucket: str
) -> None:
    settings = _settings(moto_endpoint, s3_bucket)
    name = unique_name("crawler")
    client, calls = _recording_client(settings)

    with pytest.raises(PipelineError) as err:
        run_glue_crawler(settings, name, ROLE, timeout_s=1.0, client=client, poll_s=0.1, max_poll_s=0.2)

    assert f"Glue crawler {name} is still RUNNING after 1s" in str(err.value)
    assert f"aws glue get-crawler --name {name}" in str(err.value)
    polls = calls[5:]
    assert calls[:5] == ["GetDatabase", "CreateDatabase", "GetCrawler", "CreateCrawler", "StartCrawler"]
    assert len(polls) >= 3 and set(polls) == {"GetCrawler"}
    crawler = boto3.client("glue", endpoint_url=moto_endpoint).get_crawler(Name=name)["Crawler"]
    assert crawler["State"] == "RUNNING"
    assert crawler["Role"] == ROLE
    assert crawler["DatabaseName"] == settings.database
    assert crawler["Targets"]["S3Targets"][0]["Path"] == f"s3://{s3_bucket}/lake/"


@pytest.mark.integration
def test_glue_crawler_already_running_is_waited_for_not_restarted(moto_endpoint: str, s3_bucket: str) -> None:
    settings = _settings(moto_endpoint, s3_bucket)
    name = unique_name("crawler")
    with pytest.raises(PipelineError, match="still RUNNING"):
        run_glue_crawler(settings, name, ROLE, timeout_s=0.2, poll_s=0.1)
    client, calls = _recording_client(settings)

    with pytest.raises(PipelineError, match="still RUNNING"):
        run_glue_crawler(settings, name, ROLE, timeout_s=0.2, client=client, poll_s=0.1)

    # StartCrawler answered CrawlerRunningException; no CreateCrawler/UpdateCrawler while it runs.
    assert calls[:3] == ["GetDatabase", "GetCrawler", "StartCrawler"]
    assert "CreateCrawler" not in calls and "UpdateCrawler" not in calls


def _stubbed(settings: Settings, last_crawl: dict[str, Any]) -> tuple[Any, Stubber]:
    client = boto3.client("glue", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_response("get_database", {"Database": {"Name": settings.database}}, {"Name": settings.database})
    crawler = {"Name": "c", "Role": ROLE, "DatabaseName": settings.database}
    stub.add_response("get_crawler", {"Crawler": {**crawler, "State": "READY"}}, {"Name": "c"})
    stub.add_response(
        "update_crawler",
        {},
        {
            "Name": "c",
            **{
                k: ANY
                for k in (
                    "Role",
                    "DatabaseName",
                    "Description",
                    "Targets",
                    "SchemaChangePolicy",
                    "Configuration",
                )
            },
        },
    )
    stub.add_response("start_crawler", {}, {"Name": "c"})
    stub.add_response("get_crawler", {"Crawler": {**crawler, "State": "RUNNING"}}, {"Name": "c"})
    stub.add_response("get_crawler", {"Crawler": {**crawler, "State": "STOPPING"}}, {"Name": "c"})
    stub.add_response(
        "get_crawler", {"Crawler": {**crawler, "State": "READY", "LastCrawl": last_crawl}}, {"Name": "c"}
    )
    return client, stub


def test_glue_crawler_that_succeeds_returns_the_tables_after_backoff_polls() -> None:
    settings = _settings(None)
    start = datetime.now(UTC)
    client, stub = _stubbed(settings, {"Status": "SUCCEEDED", "StartTime": start})
    stub.add_response("get_tables", {"TableList": [{"Name": "prices"}]}, {"DatabaseName": settings.database})
    sleeps: list[float] = []

    with stub:
        run = run_glue_crawler(
            settings, "c", ROLE, timeout_s=60, client=client, poll_s=1, sleep=sleeps.append
        )

    stub.assert_no_pending_responses()
    assert (run.status, run.polls, run.tables) == ("SUCCEEDED", 3, ["prices"])
    assert sleeps == [1, 1.5]  # exponential backoff between polls


def test_glue_crawler_that_fails_raises_with_its_error_message() -> None:
    settings = _settings(None)
    last = {
        "Status": "FAILED",
        "ErrorMessage": "Insufficient Lake Formation permission(s) on s3://lake-bucket/lake/",
        "LogGroup": "/aws-glue/crawlers",
        "LogStream": "c",
        "StartTime": datetime.now(UTC) - timedelta(seconds=5),
    }
    client, stub = _stubbed(settings, last)

    with stub, pytest.raises(PipelineError) as err:
        run_glue_crawler(settings, "c", ROLE, timeout_s=60, client=client, sleep=lambda s: None)

    assert "Glue crawler c ended FAILED: Insufficient Lake Formation permission(s)" in str(err.value)
    assert "/aws-glue/crawlers/c" in str(err.value)


def test_glue_crawler_needs_an_s3_lake(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path), catalog="glue")

    with pytest.raises(PipelineError, match="a Glue crawler reads S3"):
        run_glue_crawler(settings, "c", ROLE, timeout_s=1)

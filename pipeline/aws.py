"""AWS access for the lake (S3), the catalog (Glue) and SQL (Athena): clients from settings, and one
mapping of AWS failures to the pipeline's errors (`Unavailable` when a retry may help)."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.exceptions as bce
from botocore.config import Config

from pipeline.errors import PipelineError, Unavailable

_CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 4, "mode": "standard"})
#: The lake fails fast on a dead endpoint: the sink owns retrying, with backoff and a visible message.
LAKE_CLIENT_CONFIG = Config(
    connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}
)

#: Exceptions the helpers below turn into PipelineError.
AWS_ERRORS = (bce.BotoCoreError, bce.ClientError)
#: Fix for missing credentials, shared by every service.
CREDENTIALS_FIX = "attach an instance profile, or set AWS_PROFILE / AWS_ACCESS_KEY_ID+AWS_SECRET_ACCESS_KEY"


def session(region: str | None) -> boto3.session.Session:
    """A boto3 session of its own (boto3's default session caches credentials across callers)."""
    return boto3.session.Session(region_name=region)


def client(
    service: str, endpoint_url: str | None, region: str | None, config: Config = _CLIENT_CONFIG
) -> tuple[Any, boto3.session.Session]:
    """A client for `service` at `endpoint_url` (None: AWS itself), and the session it came from."""
    sess = session(region)
    made = sess.client(
        service, endpoint_url=endpoint_url, region_name=sess.region_name or "us-east-1", config=config
    )
    return made, sess


def aws_client(service: str, settings: Any) -> Any:
    """A client for `service` at settings.aws_endpoint_url in settings.region (catalog and SQL)."""
    return client(service, settings.aws_endpoint_url, settings.region)[0]


def error_code(exc: Exception) -> str:
    if isinstance(exc, bce.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def aws_error(exc: Exception, service: str, action: str, endpoint: str | None) -> PipelineError:
    """A one-line, user-fixable description of a failed AWS call."""
    where = f"{service} at {endpoint or 'AWS'}"
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return PipelineError(f"no AWS credentials to {action} ({where})", CREDENTIALS_FIX)
    if isinstance(exc, bce.NoRegionError):
        return PipelineError(f"no AWS region to {action} ({where})", "set --region or AWS_REGION")
    if isinstance(exc, bce.EndpointConnectionError | bce.ConnectTimeoutError | bce.ReadTimeoutError):
        return Unavailable(
            f"cannot reach {where} to {action} ({type(exc).__name__})",
            "check --aws-endpoint-url / the network, and that the service is up",
        )
    if isinstance(exc, bce.ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= 500 or code in {
            "SlowDown",
            "ServiceUnavailable",
            "InternalError",
            "ThrottlingException",
        }:
            return Unavailable(f"{where} answered {code or status} to {action}", "retrying")
        if code in {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException"} or (
            "security token" in message.lower()
        ):
            return PipelineError(
                f"{where} denied access to {action} ({code}: {message})",
                f"grant these credentials the {service} permissions listed in docs/lake-layout.md",
            )
        return PipelineError(f"{where} refused to {action}: {code}: {message}", None)
    return Unavailable(f"{where} failed to {action}: {exc}", "retrying")

"""boto3 clients for Glue and Athena from settings, and one mapping of AWS failures to PipelineError."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.exceptions as bce
from botocore.config import Config

from pipeline.config import Settings
from pipeline.errors import PipelineError

_CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 4, "mode": "standard"})

#: Exceptions the helpers below turn into PipelineError.
AWS_ERRORS = (bce.BotoCoreError, bce.ClientError)


def aws_client(service: str, settings: Settings) -> Any:
    """A client for `service` at settings.aws_endpoint_url (None: AWS itself) in settings.region."""
    session = boto3.session.Session(region_name=settings.region)
    return session.client(
        service,
        endpoint_url=settings.aws_endpoint_url,
        region_name=session.region_name or "us-east-1",
        config=_CLIENT_CONFIG,
    )


def error_code(exc: Exception) -> str:
    if isinstance(exc, bce.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def aws_error(exc: Exception, service: str, action: str, endpoint: str | None) -> PipelineError:
    """A one-line, user-fixable description of a failed AWS call."""
    where = f"{service} at {endpoint or 'AWS'}"
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return PipelineError(
            f"no AWS credentials to {action} ({where})",
            "attach an instance profile, or set AWS_PROFILE / AWS_ACCESS_KEY_ID+AWS_SECRET_ACCESS_KEY",
        )
    if isinstance(exc, bce.NoRegionError):
        return PipelineError(f"no AWS region to {action} ({where})", "set --region or AWS_REGION")
    if isinstance(exc, bce.EndpointConnectionError | bce.ConnectTimeoutError | bce.ReadTimeoutError):
        return PipelineError(
            f"cannot reach {where} to {action} ({type(exc).__name__})",
            "check --aws-endpoint-url / the network, and that the service is up",
        )
    if isinstance(exc, bce.ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        if code in {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException"} or (
            "security token" in message.lower()
        ):
            return PipelineError(
                f"{where} denied access to {action} ({code}: {message})",
                f"grant these credentials the {service} permissions listed in docs/lake-layout.md",
            )
        return PipelineError(f"{where} refused to {action}: {code}: {message}", None)
    return PipelineError(f"{where} failed to {action}: {exc}", None)

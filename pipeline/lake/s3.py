"""A lake in S3 or any S3-compatible server (endpoint URL), through boto3."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator

import botocore.exceptions as bce
import pyarrow.fs as pafs

from pipeline import aws
from pipeline.errors import PipelineError, Unavailable
from pipeline.lake.base import Lake, LakeObject


def split_s3_url(url: str) -> tuple[str, str]:
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise PipelineError(f"lake URL {url!r} has no bucket", "use s3://BUCKET/PREFIX")
    return bucket, prefix.strip("/")


class S3Lake(Lake):
    def __init__(self, url: str, endpoint_url: str | None = None, region: str | None = None) -> None:
        self.bucket, self.prefix = split_s3_url(url)
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.endpoint_url = endpoint_url
        self.client, self.session = aws.client("s3", endpoint_url, region, aws.LAKE_CLIENT_CONFIG)
        self.region = self.session.region_name or "us-east-1"
        self._conditional: bool | None = None  # does the endpoint honour If-None-Match? (asked once)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _where(self) -> str:
        return f"{self.url} (endpoint {self.endpoint_url or 'AWS'})"

    def _fail(self, exc: Exception, action: str) -> PipelineError:
        """The shared AWS mapping (pipeline/aws.py), with the lake's own words for S3's answers."""
        code = aws.error_code(exc)
        if code == "NoSuchBucket":
            return PipelineError(
                f"bucket {self.bucket!r} does not exist at {self.endpoint_url or 'AWS'}",
                "create it (the aws_analytics role does) or fix --lake",
            )
        if code in {"NoSuchKey", "404"}:
            return PipelineError(
                f"no object to {action} at {self._where()}", "list the lake to see what is there"
            )
        if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}:
            return PipelineError(
                f"access denied to {action} {self._where()} ({code})",
                "grant s3:PutObject/GetObject/ListBucket on the lake prefix to these credentials",
            )
        error = aws.aws_error(exc, "S3", f"{action} {self._where()}", self.endpoint_url)
        if isinstance(error, Unavailable) and "cannot reach" in error.problem:
            return Unavailable(
                f"cannot reach S3 to {action} {self._where()} ({type(exc).__name__})", error.fix
            )
        return error

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise self._fail(exc, "write to") from None

    def create(self, key: str, data: bytes) -> bool:
        """PutObject with `If-None-Match: *` (S3 refuses it with 412 when the key exists).

        An S3-compatible server that ignores the header would silently replace objects, so the first
        call asks the endpoint whether it honours it; if not, it warns once (naming the endpoint and
        the risk) and falls back to a HEAD before the PUT, which narrows the race but cannot close it.
        """
        if self._conditional is None:
            self._conditional = self._honours_if_none_match()
            if not self._conditional:
                print(
                    f"stockpipe: warning: {self._where()} ignores conditional writes (If-None-Match); a sink "
                    "paused past its session could replace an object written by its successor; run one sink "
                    "per topic there, or use S3 itself (or a server that honours If-None-Match)",
                    file=sys.stderr,
                    flush=True,
                )
        try:
            if self._conditional:
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*")
                return True
            if self._exists(key):
                return False
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
            return True
        except bce.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
                return False
            raise self._fail(exc, "write to") from None
        except bce.BotoCoreError as exc:
            raise self._fail(exc, "write to") from None

    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except bce.ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return False
            raise

    @property
    def fenced(self) -> bool:
        return self._conditional is not False  # unknown until the first create asks: assume fenced

    def _honours_if_none_match(self) -> bool:
        probe = f"_stockpipe/conditional-write-check-{uuid.uuid4().hex}"
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(probe), Body=b"1", IfNoneMatch="*")
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._key(probe), Body=b"2", IfNoneMatch="*")
                return False
            except bce.ClientError as exc:
                return exc.response.get("Error", {}).get("Code") == "PreconditionFailed"
            finally:
                self.client.delete_object(Bucket=self.bucket, Key=self._key(probe))
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise self._fail(exc, "write to") from None

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise self._fail(exc, "read from") from None

    def list(self, prefix: str = "") -> Iterator[LakeObject]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    yield LakeObject(obj["Key"][strip:], obj["Size"])
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise self._fail(exc, "list") from None

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise self._fail(exc, "delete from") from None

    def location(self, key: str = "") -> str:
        return f"{self.url}/{key}" if key else self.url

    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        creds = self.session.get_credentials()
        frozen = creds.get_frozen_credentials() if creds else None
        fs = pafs.S3FileSystem(
            access_key=frozen.access_key if frozen else None,
            secret_key=frozen.secret_key if frozen else None,
            session_token=frozen.token if frozen else None,
            region=self.region,
            endpoint_override=self.endpoint_url,
            scheme="https" if not self.endpoint_url or self.endpoint_url.startswith("https") else "http",
        )
        return fs, f"{self.bucket}/{self.prefix}".rstrip("/")

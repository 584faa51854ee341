"""S3ObjectStore: recordings' objects on AWS S3 or an S3-compatible store, through boto3.

boto3's exceptions stop here: above this module there are only ObjectHead, None for "not there",
and StorageUnavailable. `local_store.LocalObjectStore` offers the same port for a shared local volume.
"""

from __future__ import annotations

import logging
from typing import Any

import boto3
from botocore.client import Config
from botocore.exceptions import BotoCoreError, ClientError

from orchestrator.domain.errors import StorageUnavailable
from orchestrator.domain.recordings import ObjectHead
from orchestrator.domain.requests import S3Target

log = logging.getLogger(__name__)

_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})


class S3ObjectStore:
    """HEAD, GET, DELETE and presigned GETs on one S3 account.

    Credentials come from the target when given, else from boto3's usual chain (environment,
    shared config, the instance's or task's role). Endpoint, region and path-style addressing
    make MinIO, Cloudflare R2 and GCS interoperability work as well as AWS.
    """

    def __init__(self, target: S3Target, *, timeout_s: float = 10.0, attempts: int = 2) -> None:
        self.target = target
        config = Config(
            connect_timeout=timeout_s, read_timeout=timeout_s, retries={"max_attempts": attempts, "mode": "standard"},
            s3={"addressing_style": "path" if target.force_path_style else "auto"}, signature_version="s3v4",
        )
        kwargs: dict[str, Any] = {"config": config}
        if target.region:
            kwargs["region_name"] = target.region
        if target.endpoint:
            kwargs["endpoint_url"] = target.endpoint
        if target.access_key and target.secret:
            kwargs["aws_access_key_id"] = target.access_key
            kwargs["aws_secret_access_key"] = target.secret
        self._client: Any = boto3.session.Session().client("s3", **kwargs)

    def head(self, bucket: str, key: str) -> ObjectHead | None:
        """The object's size and type, or None when it does not exist."""
        try:
            answer = self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise _unavailable("HEAD", bucket, key, exc) from None
        except BotoCoreError as exc:
            raise _unavailable("HEAD", bucket, key, exc) from None
        return ObjectHead(size=int(answer.get("ContentLength", 0)), content_type=answer.get("ContentType", ""))

    def read_text(self, bucket: str, key: str, limit: int = 4 * 1024 * 1024) -> str | None:
        """A small object (an HLS playlist) as text, or None when it does not exist."""
        try:
            answer = self._client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{limit - 1}")
            data: bytes = answer["Body"].read()
            return data.decode("utf-8", errors="replace")
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND | {"NoSuchBucket"}:
                return None
            raise _unavailable("GET", bucket, key, exc) from None
        except BotoCoreError as exc:
            raise _unavailable("GET", bucket, key, exc) from None

    def delete(self, bucket: str, keys: list[str]) -> None:
        """Delete objects; deleting what is already gone is not an error."""
        try:
            for start in range(0, len(keys), 1000):
                chunk = keys[start : start + 1000]
                answer = self._client.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
                failed = [e for e in answer.get("Errors", []) if e.get("Code") not in _NOT_FOUND]
                if failed:
                    raise StorageUnavailable(f"could not delete {len(failed)} object(s) in bucket {bucket}: "
                                             f"{failed[0].get('Code', '')}")
        except ClientError as exc:
            raise _unavailable("DELETE", bucket, keys[0] if keys else "", exc) from None
        except BotoCoreError as exc:
            raise _unavailable("DELETE", bucket, keys[0] if keys else "", exc) from None

    def presign_get(self, bucket: str, key: str, expires_s: int, *, filename: str = "") -> str:
        """A GET URL anyone can use until it expires (signed locally: no request is made)."""
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        try:
            url: str = self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s)
            return url
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"could not sign a link for s3://{bucket}/{key}: {type(exc).__name__}") from None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _unavailable(op: str, bucket: str, key: str, exc: Exception) -> StorageUnavailable:
    # Only the error's type and code: botocore messages can carry the endpoint's query string.
    detail = _code(exc) if isinstance(exc, ClientError) else type(exc).__name__
    log.warning("S3 %s s3://%s/%s failed: %s", op, bucket, key, detail)
    return StorageUnavailable(f"storage unreachable ({op} s3://{bucket}/{key}: {detail})")

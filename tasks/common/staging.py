"""Small JSON documents a step stages for a later step of the same run.

What has one entry per column (a CSV header, the column summaries) can outgrow Step Functions'
256 KB state payload, so it is written under the run's ``staging/`` prefix and the state carries
its key (DESIGN, "Pointers, never data, between states").
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from tasks.common.aws import s3_errors, staged_errors

T = TypeVar("T")


def put_document(s3: Any, *, bucket: str, key: str, document: object) -> None:
    """Write ``document`` (a message or a list of them) as JSON to ``key``."""
    with s3_errors(f"s3://{bucket}/{key}"):
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=msgspec.json.encode(document),
            ContentType="application/json",
            ServerSideEncryption="AES256",
        )


def get_document(s3: Any, *, bucket: str, key: str, kind: type[T]) -> T:
    """Read the document an earlier step staged at ``key``; ``StagedOutputMissing`` if it is gone."""
    with staged_errors(f"staged s3://{bucket}/{key}"):
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return msgspec.json.decode(body, type=kind)

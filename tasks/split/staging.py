"""The split's staged JSON objects in S3: written whole, read back typed, many at once.

A staged object that is gone is ``StagedOutputMissing`` (a system error: the run fails at the
step and a redrive can run it again once what stages it has rerun), never ``ObjectNotFound``,
which would reject the user's file for the pipeline's own loss.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

import msgspec

from tasks.common.aws import s3_errors
from tasks.common.errors import ObjectNotFound, StagedOutputMissing
from tasks.common.layout import STAGING_PREFIX

READERS = 16
"""Staged objects read at once: one small GET each, so the wait is per request, not per byte."""

T = TypeVar("T")


@contextmanager
def staged_errors(what: str) -> Iterator[None]:
    """``s3_errors`` for objects this run staged: a missing one is ``StagedOutputMissing``."""
    try:
        with s3_errors(what):
            yield
    except ObjectNotFound as exc:
        raise StagedOutputMissing(f"{exc}: it was staged by this run") from None


def reading_errors(bucket: str, key: str, version_id: str) -> AbstractContextManager[None]:
    """The errors of reading the object a split reads: the user's source, or its staged copy."""
    what = f"s3://{bucket}/{key} (version {version_id})"
    return staged_errors(what) if key.startswith(STAGING_PREFIX) else s3_errors(what)


def put_json(s3: Any, *, bucket: str, key: str, value: object) -> None:
    with staged_errors(f"s3://{bucket}/{key}"):
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=msgspec.json.encode(value),
            ContentType="application/json",
            ServerSideEncryption="AES256",
        )


def get_json(s3: Any, *, bucket: str, key: str, model: type[T]) -> T:
    with staged_errors(f"staged object s3://{bucket}/{key}"):
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        return msgspec.json.decode(body, type=model)
    except msgspec.DecodeError as exc:
        raise StagedOutputMissing(f"s3://{bucket}/{key} is not the {model.__name__} this step staged: {exc}") from None


def get_many(s3: Any, *, bucket: str, keys: Sequence[str], model: type[T]) -> list[T]:
    """The staged objects at ``keys``, in their order; read concurrently."""
    if not keys:
        return []
    with ThreadPoolExecutor(max_workers=min(READERS, len(keys))) as pool:
        return list(pool.map(lambda key: get_json(s3, bucket=bucket, key=key, model=model), keys))

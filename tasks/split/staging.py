"""The split's staged JSON objects in S3, read back typed and many at once (they are written with
``tasks.common.staging.put_document``).

A staged object that is gone is ``StagedOutputMissing`` (a system error: the run fails at the
step and a redrive can run it again once what stages it has rerun), never ``ObjectNotFound``,
which would reject the user's file for the pipeline's own loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import msgspec

from tasks.common.aws import s3_errors, staged_errors
from tasks.common.errors import StagedOutputMissing
from tasks.common.layout import STAGING_PREFIX

READERS = 16
"""Staged objects read at once: one small GET each, so the wait is per request, not per byte."""

T = TypeVar("T")


def reading_errors(bucket: str, key: str, version_id: str) -> AbstractContextManager[None]:
    """The errors of reading the object a split reads: the user's source, or its staged copy."""
    what = f"s3://{bucket}/{key} (version {version_id})"
    return staged_errors(what) if key.startswith(STAGING_PREFIX) else s3_errors(what)


def get_json(s3: Any, *, bucket: str, key: str, model: type[T]) -> T:
    return _get_decoded(s3, bucket, key, msgspec.json.Decoder(model))


def get_many(s3: Any, *, bucket: str, keys: Sequence[str], model: type[T]) -> list[T]:
    """The staged objects at ``keys``, in their order; read concurrently.

    The decoder is built here, before the readers start. msgspec (0.22) builds a Struct's type
    information on the first decode of that type, without a lock: readers decoding a model
    for the first time at once crashed the Lambda's process with SIGSEGV (a cold CutRanges, in
    CI; ``tests/unit/test_split_staging.py`` reproduces it). Decoding with a built ``Decoder``
    is thread-safe.
    """
    if not keys:
        return []
    decoder = msgspec.json.Decoder(model)
    with ThreadPoolExecutor(max_workers=min(READERS, len(keys))) as pool:
        return list(pool.map(lambda key: _get_decoded(s3, bucket, key, decoder), keys))


def _get_decoded(s3: Any, bucket: str, key: str, decoder: msgspec.json.Decoder[T]) -> T:
    with staged_errors(f"staged object s3://{bucket}/{key}"):
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise StagedOutputMissing(
            f"s3://{bucket}/{key} is not the {decoder.type.__name__} this step staged: {exc}"
        ) from None

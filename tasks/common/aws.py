"""AWS clients and the translation of AWS failures into the pipeline's named errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from tasks.common.errors import ObjectNotFound, StagedOutputMissing, TransientError
from tasks.common.multipart import COPY_CONCURRENCY

# The SDK retries throttling a few times itself; what still fails becomes TransientError and the
# state machine retries the whole step with backoff and jitter. The pool keeps a connection for
# each part a multipart copy has in flight (botocore's default is 10: more threads than that open
# and drop a connection per request); connections open only when used.
_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=5,
    read_timeout=60,
    max_pool_connections=COPY_CONCURRENCY,
)

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound", "PreconditionFailed", "412"})
# ConditionalRequestConflict: two conditional writes of one key raced; S3 says to retry.
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "Throttling",
        "ConditionalRequestConflict",
        "500",
        "503",
    }
)
_TRANSIENT_EXCEPTIONS = (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)


@cache
def s3_client() -> Any:
    """The S3 client, created on first use: after a SnapStart restore, never in the snapshot."""
    return boto3.client("s3", config=_CLIENT_CONFIG)


@cache
def sns_client() -> Any:
    return boto3.client("sns", config=_CLIENT_CONFIG)


def reset_clients() -> None:
    """Forget every cached client: the next call creates it anew, from the default session of then.

    For a process that runs the functions in more than one environment (the local emulator), so
    that each environment's functions start cold, with clients of its own session and hooks.
    """
    s3_client.cache_clear()
    sns_client.cache_clear()


def error_code(exc: ClientError) -> str:
    code: str = exc.response.get("Error", {}).get("Code", "")
    return code


# A refused GET names its code; a refused HEAD has no body, and botocore names it by its status.
_DENIED_CODES = frozenset({"AccessDenied", "403"})


def refusal_hides_absence(s3: Any, exc: ClientError, bucket: str, key: str) -> bool:
    """Whether S3's 403 to a read of ``key`` (the current version) stands for a key that is absent.

    S3 answers 404 for a missing key only to a caller who may list the bucket; anyone else gets 403.
    Our roles may list only under the prefixes they read, and AWS does not document whether such a
    grant counts for a read. So on a 403 the function asks the way that grant surely covers: a
    listing under the key itself. Absent there, the key is absent; present, the 403 is a refusal.
    A listing that is refused too raises its own AccessDenied.
    """
    if error_code(exc) not in _DENIED_CODES:
        return False
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return not any(entry.get("Key") == key for entry in listed.get("Contents", ()))


@contextmanager
def s3_errors(what: str) -> Iterator[None]:
    """Translate S3 failures about ``what`` (an object description) into named errors.

    Missing objects are a business error, throttling and timeouts are transient; anything else
    (access denied, a bug) propagates unchanged as a system error.
    """
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if code in _NOT_FOUND_CODES:
            raise ObjectNotFound(f"{what} does not exist ({code})") from None
        if code in _TRANSIENT_CODES:
            raise TransientError(f"S3 {code} on {what}") from exc
        raise
    except _TRANSIENT_EXCEPTIONS as exc:
        raise TransientError(f"S3 connection failure on {what}: {exc}") from exc


@contextmanager
def staged_errors(what: str) -> Iterator[None]:
    """``s3_errors`` for the run's own objects under ``staging/``: a missing one is
    ``StagedOutputMissing``, a system error, never a rejection of the input."""
    try:
        with s3_errors(what):
            yield
    except ObjectNotFound as missing:
        raise StagedOutputMissing(
            f"{missing}: what an earlier step of this run staged is gone (expired or deleted); "
            "redriving cannot bring it back, start a new run of the source"
        ) from None


_SNS_TRANSIENT_CODES = frozenset(
    {"Throttling", "ThrottledException", "InternalError", "InternalFailure", "KMSThrottling"}
)


@contextmanager
def sns_errors(topic_arn: str) -> Iterator[None]:
    """Translate SNS throttling and connection failures into ``TransientError``."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in _SNS_TRANSIENT_CODES:
            raise TransientError(f"SNS {error_code(exc)} publishing to {topic_arn}") from exc
        raise
    except _TRANSIENT_EXCEPTIONS as exc:
        raise TransientError(f"SNS connection failure publishing to {topic_arn}: {exc}") from exc

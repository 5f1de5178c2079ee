"""S3's answer to a plain GetObject or HeadObject, without moto's web layers.

moto answers every S3 request through Flask, its generic request setup (``BaseResponse.setup_class``:
the body, the form, the query string, every header copied) and ``S3Response``'s dispatch: most of
a read's cost, which under ``pipeline serve`` is nine reads a run (six GetObjects, three
HeadObjects). A plain read, what the handlers send, is answered here from moto's own S3 model
(``S3Backend.get_object``, ``FakeKey.response_dict`` and ``metadata``) as ``S3Response.get_object``
and ``head_object`` build the answer, ranges by moto's own rule (``_handle_range_header``):

- **plain**: a path-style request on S3's routes with no query but ``versionId``, no header but the
  SDK's own (signature, dates, ids, no payload) and ``x-amz-checksum-mode``, a GetObject also one
  ``If-Match`` and one ``Range``; while moto neither records requests nor checks IAM itself;
- **of an object there**: the current version or the one asked, not a delete marker, not in an
  archive storage class, in a bucket without access logging whose policy moto does not deny it.

Anything else is None, and goes to moto as before: a missing key or version, an ``If-Match`` that
does not match, a range S3 refuses, another condition, CORS, SSE-C, ``partNumber``, response-header
overrides, a virtual-hosted request. So every error is moto's, and so is the concealment of a
missing key (``gateway.py``). A body on disk is streamed from its file, as ``s3_store`` has moto
stream it. ``tests/workflow/test_s3_reads.py`` answers each kind of read both ways and compares
status, headers and body: it is what holds this module to moto's answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from flask import Response
from moto import settings as moto_settings
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.utils import extract_region_from_aws_authorization
from moto.iam.access_control import PermissionResult
from moto.moto_api import recorder
from moto.s3.exceptions import S3ClientError
from moto.s3.models import FakeKey, S3Backend, s3_backends
from moto.s3.responses import DEFAULT_REGION_NAME, S3Response
from moto.s3.utils import ARCHIVE_STORAGE_CLASSES, parse_region_from_url
from moto.settings import DISABLE_GLOBAL_CORS
from moto.utilities.aws_headers import gen_amzn_requestid_long
from moto.utilities.utils import get_partition

from workflow.local import s3_store

# What an SDK's read carries besides what is read here (WSGI's names).
_SDK_HEADERS = frozenset(
    {
        "HTTP_HOST",
        "HTTP_USER_AGENT",
        "HTTP_ACCEPT",
        "HTTP_ACCEPT_ENCODING",
        "HTTP_CONNECTION",
        "HTTP_AUTHORIZATION",
        "HTTP_X_AMZ_DATE",
        "HTTP_X_AMZ_CONTENT_SHA256",
        "HTTP_X_AMZ_SECURITY_TOKEN",
        "HTTP_AMZ_SDK_INVOCATION_ID",
        "HTTP_AMZ_SDK_REQUEST",
        "HTTP_X_AMZ_CHECKSUM_MODE",
    }
)
_HEADERS = {"GET": _SDK_HEADERS | {"HTTP_IF_MATCH", "HTTP_RANGE"}, "HEAD": _SDK_HEADERS}
# The SHA-256 of an empty payload, which a signed read without a body declares.
_EMPTY_PAYLOAD = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
# Paths moto's server, or the gateway's dispatcher, sends to another application than S3's.
_ROUTED_ELSEWHERE = ("/moto-api", "/latest/", "/v20180820/")


@dataclass(frozen=True, slots=True)
class _Read:
    """A plain read, as moto reads it: the bucket from the raw path, the key from it unquoted."""

    method: str
    url: str
    partition: str
    bucket: str
    key: str
    version_id: str | None
    checksum_mode: bool
    if_match: str | None
    range: str

    @property
    def asked(self) -> Any:
        """The request as moto's static rules read it: its method, URL and headers."""
        return SimpleNamespace(method=self.method, url=self.url, headers={"range": self.range})


def plain_read(environ: Mapping[str, Any]) -> Response | None:
    """moto's answer to ``environ``'s GetObject or HeadObject if the read is plain, else None."""
    read = _plain_request(environ)
    if read is None:
        return None
    # (moto's account of an access key it does not know, as the sandboxes' are; the partition of
    # the region they sign for)
    key = _plain_object(s3_backends[DEFAULT_ACCOUNT_ID][read.partition], read)
    if key is None:
        return None
    if read.method == "HEAD":
        return _answer(*_head(key, read.checksum_mode), head=True)
    status, headers, body = _get(key, read.checksum_mode)
    if read.range:
        try:
            status, headers, body = S3Response()._handle_range_header(read.asked, headers, body)
        except S3ClientError:
            return None  # moto's InvalidRange
    return _answer(status, headers, body, head=False)


def _plain_request(environ: Mapping[str, Any]) -> _Read | None:
    method = str(environ.get("REQUEST_METHOD"))
    allowed = _HEADERS.get(method)
    raw_uri = str(environ.get("RAW_URI", ""))
    if (
        allowed is None
        or not raw_uri.startswith("/")
        or raw_uri.startswith(_ROUTED_ELSEWHERE)
        or _unplain_headers(environ, allowed)
        or environ.get("HTTP_X_AMZ_CONTENT_SHA256", _EMPTY_PAYLOAD) not in (_EMPTY_PAYLOAD, "UNSIGNED-PAYLOAD")
        # moto's own IAM checks are on: it counts and checks each request
        or float("inf") != moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
        # moto records each request it serves
        or recorder._user_enabled
    ):
        return None
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    if set(query) - {"versionId"} or any(len(values) != 1 for values in query.values()):
        return None
    host = str(environ.get("HTTP_HOST", ""))
    url = f"http://{host}{raw_uri}"
    if S3Response.subdomain_based_buckets(SimpleNamespace(url=url, headers={"host": host})):
        return None
    key = "/".join(unquote(raw_uri.partition("?")[0]).split("/")[2:])
    if "\n" in key:
        return None  # Flask's route of a key does not match a line break: moto's 404
    if_match = environ.get("HTTP_IF_MATCH")
    return _Read(
        method=method,
        url=url,
        partition=get_partition(_region(url, str(environ.get("HTTP_AUTHORIZATION", "")))),
        bucket=urlparse(url).path.lstrip("/").split("/")[0],
        key=key,
        version_id=query["versionId"][0] if query else None,
        checksum_mode=environ.get("HTTP_X_AMZ_CHECKSUM_MODE") == "ENABLED",
        if_match=None if if_match is None else str(if_match),
        range=str(environ.get("HTTP_RANGE", "")),
    )


def _region(url: str, authorization: str) -> str:
    """The region moto's S3 takes a request to be for (``S3Response.setup_class``)."""
    region: str | None = parse_region_from_url(url, use_default_region=False)
    return region or extract_region_from_aws_authorization(authorization) or DEFAULT_REGION_NAME


def _unplain_headers(environ: Mapping[str, Any], allowed: frozenset[str]) -> bool:
    return any(
        (name.startswith("HTTP_") and name not in allowed)
        or (name in ("CONTENT_LENGTH", "CONTENT_TYPE") and environ[name] not in ("", "0"))
        for name in environ
    )


def _plain_object(backend: S3Backend, read: _Read) -> FakeKey | None:
    """The key read, if moto would answer it as ``_get`` or ``_head`` does."""
    head = read.method == "HEAD"
    try:
        bucket = backend.get_bucket(read.bucket)
    except S3ClientError:
        return None
    key = _stored(bucket, read)
    if (
        bucket.logging  # moto writes an access log entry
        or (head and read.version_id is not None and not bucket.is_versioned)  # moto's 400
        or not isinstance(key, FakeKey)
    ):
        return None
    # (what moto's lookup does to a key it finds, as each of its reads does: a step of its restore
    # state; an archived key's is left to moto, untouched)
    key.advance()
    action = "s3:HeadObject" if head else "s3:GetObject"
    resource = f"arn:{bucket.partition}:s3:::{read.bucket}/{read.key}"
    if read.if_match is not None and key.etag not in (read.if_match, f'"{read.if_match}"'):
        return None  # moto's 412
    if bucket.get_permission(action, resource) == PermissionResult.DENIED:
        return None  # moto's 403
    return key


def _stored(bucket: Any, read: _Read) -> Any:
    """The key or delete marker ``S3Backend.get_object`` finds, if not in an archive storage class,
    without advancing its state."""
    if read.version_id is None:
        found = bucket.keys.get(read.key)
    else:
        versions = bucket.keys.getlist(read.key, default=[])
        found = next((version for version in versions if str(version.version_id) == read.version_id), None)
    return None if getattr(found, "storage_class", None) in ARCHIVE_STORAGE_CLASSES else found


def _get(key: FakeKey, checksum_mode: bool) -> tuple[int, dict[str, Any], Any]:
    """``S3Response.get_object``'s answer for a key found, unconditioned, with no override."""
    headers: dict[str, Any] = {}
    if key.version_id != "null":
        headers["x-amz-version-id"] = key.version_id
    headers.update(key.response_dict)
    if checksum_mode and key.checksum_algorithm:
        value = key.checksum_value
        if key.checksum_type == "COMPOSITE":
            value = f"{key.checksum_value}-{key.checksum_parts}"
        headers[f"x-amz-checksum-{key.checksum_algorithm.lower()}"] = value
        if key.checksum_type:
            headers["x-amz-checksum-type"] = key.checksum_type
    headers.update(key.metadata)
    headers["Accept-Ranges"] = "bytes"
    return 200, headers, s3_store.streamed(key)


def _head(key: FakeKey, checksum_mode: bool) -> tuple[int, dict[str, Any], Any]:
    """``S3Response.head_object``'s answer for a key found, unconditioned, of no part."""
    headers: dict[str, Any] = {}
    headers.update(key.metadata)
    headers.update(key.response_dict)
    headers["Accept-Ranges"] = "bytes"
    if checksum_mode and key.checksum_algorithm:
        headers[f"x-amz-checksum-{key.checksum_algorithm.lower()}"] = key.checksum_value
    return 200, headers, b""


def _answer(status: int, headers: dict[str, Any], body: Any, *, head: bool) -> Response:
    """The answer as moto's server sends it (``S3Response._send_response``, then
    ``convert_to_flask_response``)."""
    gen_amzn_requestid_long(headers)
    if body and "content-type" not in (name.lower() for name in headers):
        headers["content-type"] = "application/xml"
    response = Response(response=body, status=status, headers=headers)
    if head and "content-length" in headers:
        response.headers["Content-Length"] = headers["content-length"]
    if not DISABLE_GLOBAL_CORS:
        # (moto's server wraps each service's app in flask_cors's defaults: what it adds to an
        # answer to a request without an Origin)
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response

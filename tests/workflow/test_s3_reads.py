"""A plain S3 read is answered as moto answers it, without moto's web layers (``s3_reads.py``).

Each read is the request botocore builds, as the gateway's server hands it to the application;
moto's own server application (``gateway.Dispatcher``) answers it too, and the two answers must be
the same but for the request id.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from moto import settings as moto_settings
from moto.moto_api import recorder
from werkzeug.test import EnvironBuilder

from tasks.common.layout import UPLOADS_PREFIX
from tests.scenarios import SOURCES, run_upload
from tests.sdk_requests import built_request
from workflow.local import s3_reads
from workflow.local.environment import LocalPipeline
from workflow.local.gateway import Dispatcher
from workflow.local.s3_store import SPOOL_BYTES

ENDPOINT = "http://127.0.0.1:4566"
KEY = UPLOADS_PREFIX + "café and tea+milk.csv"
LARGE = UPLOADS_PREFIX + "large.csv"
BODY = b"id,name\n" + b"".join(b"%d,name %d\n" % (row, row) for row in range(200))

Answer = tuple[str, list[tuple[str, str]], bytes]


def read_environ(operation: str, **params: Any) -> dict[str, Any]:
    """The WSGI environ of the request botocore builds for an S3 read, as werkzeug's server makes it."""
    request = built_request("s3", operation, endpoint_url=ENDPOINT, **params)
    url = urlsplit(request.url)
    headers = {name: value.decode() if isinstance(value, bytes) else value for name, value in request.headers.items()}
    environ: dict[str, Any] = EnvironBuilder(
        method=request.method, path=unquote(url.path), query_string=url.query, headers=headers, base_url=ENDPOINT
    ).get_environ()
    environ["RAW_URI"] = url.path + (f"?{url.query}" if url.query else "")
    return environ


def answered(application: Any, environ: dict[str, Any]) -> Answer:
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda _: None

    result: Iterable[bytes] = application(dict(environ, **{"wsgi.input": io.BytesIO()}), start_response)
    try:
        body = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    status, headers = started[0]
    # (the request id is drawn for each answer)
    return status, sorted((name.lower(), value) for name, value in headers if name.lower() != "x-amzn-requestid"), body


def assert_answered_as_moto(environ: dict[str, Any]) -> Answer:
    plain = s3_reads.plain_read(environ)
    assert plain is not None, "the read was not taken for a plain one"
    ours = answered(plain, environ)
    assert ours == answered(Dispatcher(), environ)
    return ours


@pytest.fixture
def objects(pipeline: LocalPipeline) -> dict[str, str]:
    """Objects of each kind a read meets, by name: their version ids."""
    s3 = pipeline.client("s3")
    bucket = pipeline.stack.bucket_name
    first = s3.put_object(Bucket=bucket, Key=KEY, Body=b"an older version")["VersionId"]
    current = s3.put_object(
        Bucket=bucket,
        Key=KEY,
        Body=BODY,
        ContentType="text/csv",
        Metadata={"processing-type": "standard"},
        ChecksumAlgorithm="CRC32",
        ServerSideEncryption="AES256",
        Tagging="team=data",
    )["VersionId"]
    large = s3.put_object(Bucket=bucket, Key=LARGE, Body=b"x" * (SPOOL_BYTES + 10))["VersionId"]
    return {"older": first, "current": current, "large": large}


def test_a_get_of_an_object_is_answered_as_moto_answers_it(pipeline: LocalPipeline, objects: dict[str, str]) -> None:
    bucket = pipeline.stack.bucket_name
    status, headers, body = assert_answered_as_moto(read_environ("get_object", Bucket=bucket, Key=KEY))
    assert (status, body) == ("200 OK", BODY)
    assert (
        "x-amz-checksum-crc32",
        pipeline.client("s3").head_object(Bucket=bucket, Key=KEY, ChecksumMode="ENABLED")["ChecksumCRC32"],
    ) in headers
    assert ("x-amz-meta-processing-type", "standard") in headers
    # an older version, by its id; and the version asked with the ETag it has (quoted or not)
    older = assert_answered_as_moto(read_environ("get_object", Bucket=bucket, Key=KEY, VersionId=objects["older"]))
    assert older[2] == b"an older version"
    etag = pipeline.client("s3").head_object(Bucket=bucket, Key=KEY)["ETag"]
    for if_match in (etag, etag.strip('"')):
        assert_answered_as_moto(
            read_environ("get_object", Bucket=bucket, Key=KEY, VersionId=objects["current"], IfMatch=if_match)
        )


@pytest.mark.parametrize(
    "ranged", ["bytes=0-9", "bytes=5-", "bytes=-3", "bytes=3-100000", "bytes=0-1,4-5", "bytes=x-y"]
)
def test_a_ranged_get_is_answered_as_moto_answers_it(
    pipeline: LocalPipeline, objects: dict[str, str], ranged: str
) -> None:
    # (a range of several parts, or unreadable, is the whole object, as S3 answers it)
    environ = read_environ("get_object", Bucket=pipeline.stack.bucket_name, Key=KEY, Range=ranged)
    assert_answered_as_moto(environ)


def test_a_get_of_a_body_on_disk_is_streamed_and_answered_as_moto_answers_it(
    pipeline: LocalPipeline, objects: dict[str, str]
) -> None:
    bucket = pipeline.stack.bucket_name
    environ = read_environ("get_object", Bucket=bucket, Key=LARGE)
    plain = s3_reads.plain_read(environ)
    assert plain is not None
    assert not isinstance(plain.response, list), "a body on disk is read whole"
    _, _, body = assert_answered_as_moto(environ)
    assert body == b"x" * (SPOOL_BYTES + 10)
    _, headers, tail = assert_answered_as_moto(read_environ("get_object", Bucket=bucket, Key=LARGE, Range="bytes=-4"))
    assert tail == b"xxxx"
    assert ("content-range", f"bytes {SPOOL_BYTES + 6}-{SPOOL_BYTES + 9}/{SPOOL_BYTES + 10}") in headers


def test_a_head_is_answered_as_moto_answers_it(pipeline: LocalPipeline, objects: dict[str, str]) -> None:
    bucket = pipeline.stack.bucket_name
    for params in ({}, {"VersionId": objects["older"]}, {"ChecksumMode": "ENABLED"}):
        status, headers, body = assert_answered_as_moto(read_environ("head_object", Bucket=bucket, Key=KEY, **params))
        assert (status, body) == ("200 OK", b"")
        assert ("x-amz-version-id", params.get("VersionId", objects["current"])) in headers


def test_any_other_read_is_left_to_moto(pipeline: LocalPipeline, objects: dict[str, str]) -> None:
    bucket = pipeline.stack.bucket_name
    s3 = pipeline.client("s3")
    s3.put_object(Bucket=bucket, Key=UPLOADS_PREFIX + "cold.csv", Body=b"a", StorageClass="GLACIER")
    s3.put_object(Bucket=bucket, Key=UPLOADS_PREFIX + "gone.csv", Body=b"a")
    s3.delete_object(Bucket=bucket, Key=UPLOADS_PREFIX + "gone.csv")
    others = [
        read_environ("get_object", Bucket=bucket, Key=UPLOADS_PREFIX + "absent.csv"),
        read_environ("get_object", Bucket=bucket, Key=KEY, VersionId="no-such-version"),
        read_environ("get_object", Bucket=bucket, Key=KEY, IfMatch='"not-its-etag"'),
        read_environ("get_object", Bucket=bucket, Key=KEY, IfNoneMatch="*"),
        read_environ("get_object", Bucket=bucket, Key=KEY, Range="bytes=100000-"),
        read_environ("get_object", Bucket=bucket, Key=KEY, ResponseContentType="text/plain"),
        read_environ("get_object", Bucket=bucket, Key=KEY, PartNumber=1),
        read_environ("get_object", Bucket=bucket, Key=UPLOADS_PREFIX + "cold.csv"),
        read_environ("head_object", Bucket=bucket, Key=UPLOADS_PREFIX + "gone.csv"),
        read_environ("head_object", Bucket=bucket, Key=KEY, IfMatch='"not-its-etag"'),
        read_environ("get_object_tagging", Bucket=bucket, Key=KEY),
        read_environ("get_object", Bucket="no-such-bucket", Key=KEY),
    ]
    # (a key Flask's route cannot match: moto answers 404)
    s3.put_object(Bucket=bucket, Key=UPLOADS_PREFIX + "line\nbreak.csv", Body=b"a")
    others.append(read_environ("get_object", Bucket=bucket, Key=UPLOADS_PREFIX + "line\nbreak.csv"))
    with_origin = read_environ("get_object", Bucket=bucket, Key=KEY)
    with_origin["HTTP_ORIGIN"] = "https://example.com"
    # (moto decodes a streamed payload whatever the method, and fails without its length)
    streamed = dict(read_environ("get_object", Bucket=bucket, Key=KEY))
    streamed["HTTP_X_AMZ_CONTENT_SHA256"] = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    for environ in [*others, with_origin, streamed]:
        assert s3_reads.plain_read(environ) is None, environ["RAW_URI"]
    # and none while moto records the requests it serves
    plain = read_environ("get_object", Bucket=bucket, Key=KEY)
    recorder.start_recording()
    try:
        assert s3_reads.plain_read(plain) is None
    finally:
        recorder.stop_recording()
    assert s3_reads.plain_read(plain) is not None


def test_a_read_of_a_bucket_or_request_moto_treats_otherwise_is_left_to_moto(
    pipeline: LocalPipeline, objects: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = pipeline.stack.bucket_name
    s3 = pipeline.client("s3")
    # SSE-C: moto reads the customer's key headers
    with_customer_key = read_environ(
        "get_object", Bucket=bucket, Key=KEY, SSECustomerAlgorithm="AES256", SSECustomerKey="k" * 32
    )
    # a virtual-hosted request: moto takes the bucket from the host
    virtual = read_environ("get_object", Bucket=bucket, Key=KEY)
    virtual["HTTP_HOST"] = f"{bucket}.s3.amazonaws.com"
    # a version asked of an unversioned bucket's object: moto answers a HEAD 400
    s3.create_bucket(Bucket="unversioned")
    s3.put_object(Bucket="unversioned", Key="a.csv", Body=b"a")
    unversioned = read_environ("head_object", Bucket="unversioned", Key="a.csv", VersionId="null")
    for environ in (with_customer_key, virtual, unversioned):
        assert s3_reads.plain_read(environ) is None, environ["RAW_URI"]

    plain = read_environ("get_object", Bucket=bucket, Key=KEY)
    assert s3_reads.plain_read(plain) is not None
    # moto's own IAM checks on: it counts and checks each request
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    assert s3_reads.plain_read(plain) is None
    monkeypatch.undo()
    # a bucket policy that denies the read: moto answers 403
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny))
    assert answered(Dispatcher(), plain)[0].startswith("403")
    assert s3_reads.plain_read(plain) is None


def test_the_reads_of_a_run_but_the_missing_manifest_s_are_plain(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fast answers serve the handlers' reads, not some other shape of read.
    answers: list[bool] = []
    plain_read = s3_reads.plain_read

    def recording(environ: dict[str, Any]) -> Any:
        answer = plain_read(environ)
        answers.append(answer is not None)
        return answer

    monkeypatch.setattr(s3_reads, "plain_read", recording)
    execution = run_upload(pipeline, "people.csv", SOURCES["people.csv"])
    assert execution.status == "SUCCEEDED"
    # (WriteOutput reads the manifest before any run has written it: moto's 404)
    assert answers.count(False) == 1
    assert answers.count(True) >= 8

"""The multipart S3 writer against moto's S3: single put, multipart, abort, encryption."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tasks.common.s3_stream import MIN_PART_SIZE, S3MultipartWriter
from tests.handlers.conftest import BUCKET

KEY = "staging/run-1/data.jsonl"
MIB = 1024 * 1024


class Boom(Exception):
    """Stands for any failure inside the writer's block."""


def write_all(target: S3MultipartWriter, *pieces: bytes) -> None:
    with target:
        for piece in pieces:
            target.write(piece)


def write_then_fail(target: S3MultipartWriter, size: int) -> None:
    """Write ``size`` bytes inside the writer's block, then fail."""
    with target:
        write_in_chunks(target, size)
        raise Boom


def writer(s3: Any, **options: Any) -> S3MultipartWriter:
    return S3MultipartWriter(s3, bucket=BUCKET, key=KEY, content_type="application/x-ndjson", **options)


def body_of(s3: Any) -> bytes:
    data: bytes = s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read()
    return data


def write_in_chunks(target: S3MultipartWriter, total: int, chunk: int = MIB) -> bytes:
    """Write ``total`` bytes of a recognisable pattern in ``chunk``-sized writes; return them."""
    written = bytearray()
    for offset in range(0, total, chunk):
        piece = bytes([offset // chunk % 251]) * min(chunk, total - offset)
        target.write(piece)
        written += piece
    return bytes(written)


def pending_uploads(s3: Any) -> list[Any]:
    uploads: list[Any] = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    return uploads


def object_versions(s3: Any) -> list[Any]:
    versions: list[Any] = s3.list_object_versions(Bucket=BUCKET).get("Versions", [])
    return versions


@pytest.mark.parametrize("content", [b'{"a":1}\n', b""], ids=["small", "empty"])
def test_object_smaller_than_a_part_is_written_with_a_single_put(s3: Any, content: bytes) -> None:
    # Given a writer that receives less than one part
    # When the block ends normally
    with writer(s3, metadata={"run": "1"}) as out:
        out.write(content)
    # Then the object holds the bytes, with no multipart ETag, its content type and metadata
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert body_of(s3) == content
    assert "-" not in head["ETag"]
    assert head["ContentType"] == "application/x-ndjson"
    assert head["Metadata"] == {"run": "1"}
    assert out.bytes_written == len(content)
    assert pending_uploads(s3) == []


def test_object_larger_than_a_part_is_a_completed_multipart_upload(s3: Any) -> None:
    # Given a writer with the S3 minimum part size
    # When about 11 MiB are written in 1 MiB pieces
    with writer(s3, part_size=5 * MIB, metadata={"run": "1"}) as out:
        expected = write_in_chunks(out, 11 * MIB + 123)
    # Then the object holds exactly those bytes, in three parts, with its metadata
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert body_of(s3) == expected
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentLength"] == 11 * MIB + 123
    assert head["ContentType"] == "application/x-ndjson"
    assert head["Metadata"] == {"run": "1"}
    assert out.bytes_written == 11 * MIB + 123
    assert pending_uploads(s3) == []


def test_object_of_exactly_whole_parts_completes_without_an_empty_part(s3: Any) -> None:
    # Given writes that fill exactly two parts
    # When the block ends
    with writer(s3, part_size=5 * MIB) as out:
        expected = write_in_chunks(out, 10 * MIB)
    # Then the object has two parts and the right bytes
    assert body_of(s3) == expected
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"].strip('"').endswith("-2")


@pytest.mark.parametrize("size", [100, 11 * MIB], ids=["before-any-part", "after-parts-uploaded"])
def test_exception_in_the_block_leaves_no_object_and_no_pending_upload(s3: Any, size: int) -> None:
    # Given a writer that has received some bytes (parts may already be in S3)
    # When the block raises
    with pytest.raises(Boom):
        write_then_fail(writer(s3, part_size=5 * MIB), size)
    # Then there is no object, no version of it, and no multipart upload left pending
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key=KEY)
    assert object_versions(s3) == []
    assert pending_uploads(s3) == []


@pytest.mark.parametrize("size", [10, 6 * MIB], ids=["single-put", "multipart"])
def test_object_is_encrypted_with_sse_s3(s3: Any, size: int) -> None:
    # Given an object written either way
    with writer(s3, part_size=5 * MIB) as out:
        write_in_chunks(out, size)
    # When its metadata is read
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    # Then it is encrypted with S3-managed keys
    assert head["ServerSideEncryption"] == "AES256"


def test_part_size_below_the_s3_minimum_is_refused(s3: Any) -> None:
    # Given a part size S3 would refuse at completion
    # When a writer is created with it
    # Then it is refused up front
    with pytest.raises(ValueError, match=str(MIN_PART_SIZE)):
        writer(s3, part_size=MIN_PART_SIZE - 1)


class FailingS3:
    """An S3 client whose multipart calls can fail on demand; records what was called."""

    def __init__(self, *, fail_complete: bool = False, fail_abort: bool = False) -> None:
        self.fail_complete = fail_complete
        self.fail_abort = fail_abort
        self.calls: list[str] = []

    def create_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("create")
        return {"UploadId": "upload-1"}

    def upload_part(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("upload_part")
        return {"ETag": f'"etag-{kwargs["PartNumber"]}"'}

    def complete_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("complete")
        if self.fail_complete:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "CompleteMultipartUpload")
        return {}

    def abort_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("abort")
        if self.fail_abort:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "AbortMultipartUpload")
        return {}


def test_failed_completion_aborts_the_upload() -> None:
    # Given a multipart upload whose completion fails
    client = FailingS3(fail_complete=True)
    # When a part and a last part are written and the block ends normally
    with pytest.raises(ClientError, match="CompleteMultipartUpload"):
        write_all(writer(client, part_size=5 * MIB), b"x" * (6 * MIB), b"last part")
    # Then the upload is aborted and the completion error propagates
    assert client.calls == ["create", "upload_part", "upload_part", "complete", "abort"]


def test_failed_abort_keeps_the_original_error_with_a_note() -> None:
    # Given a started upload whose abort fails
    client = FailingS3(fail_abort=True)
    # When the block raises
    with pytest.raises(Boom) as raised:
        write_then_fail(writer(client, part_size=5 * MIB), 6 * MIB)
    # Then the block's own error propagates, noting the failed abort
    assert client.calls == ["create", "upload_part", "abort"]
    assert any("aborting the multipart upload" in note for note in raised.value.__notes__)

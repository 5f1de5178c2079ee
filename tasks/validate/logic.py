"""Validate: is this request about an object the pipeline can process, and in which format?"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import unquote_plus

import msgspec
from botocore.exceptions import ClientError

from tasks.common.aws import error_code, refusal_hides_absence, s3_errors
from tasks.common.datasets import DatasetSettings, contract_version, dataset_of, dataset_settings
from tasks.common.errors import (
    EmptyObject,
    ObjectNotFound,
    ObjectTooLarge,
    UnsupportedFormat,
    ValidationError,
)
from tasks.common.layout import (
    MAX_KEY_BYTES,
    MAX_METADATA_BYTES,
    OUTPUT_FORMAT_METADATA,
    PROCESSING_TYPE_METADATA,
    SOURCE_PREFIXES,
    metadata_bytes,
    output_keys,
    output_metadata,
)
from tasks.common.models import (
    Compression,
    Format,
    OutputFormat,
    PipelineRequest,
    ProcessingType,
    SourceObject,
    Trigger,
    decode_event,
)
from tasks.common.sample import Sample, read_sample

# What the functions' roles cannot read, as S3 says it (the bucket policy refuses such uploads under
# incoming/ and uploads/; an object written before that policy, or elsewhere, is refused here):
# a customer-provided key (SSE-C) fails HEAD with a bare 400 and GET with InvalidRequest; an archive
# storage class fails GET with InvalidObjectState
# (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
_UNREADABLE_CODES = frozenset({"400", "InvalidRequest", "InvalidObjectState"})
_KMS_ENCRYPTIONS = frozenset({"aws:kms", "aws:kms:dsse"})
_ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
_REUPLOAD = "upload it again with the bucket's default encryption and the STANDARD storage class"

_EXTENSIONS: dict[str, Format] = {
    ".csv": Format.CSV,
    ".json": Format.JSON,
    ".jsonl": Format.JSONL,
    ".ndjson": Format.JSONL,
}


class ValidateSettings(msgspec.Struct, frozen=True):
    bucket_name: str
    max_object_bytes: int


def parse_request(raw: dict[str, Any], *, bucket_name: str) -> PipelineRequest:
    """Decode the workflow input and check the fields that need no AWS call.

    An S3-triggered request carries the key as the S3 event does: URL-encoded, a space as ``+``
    (``incoming/my file+1.csv`` arrives as ``incoming/my+file%2B1.csv``), so its key is decoded.
    An API request names the key as it is.
    """
    request = decode_event(raw, PipelineRequest)
    if request.bucket != bucket_name:
        raise ValidationError(f"bucket must be {bucket_name!r}, not {request.bucket!r}")
    if request.trigger is Trigger.S3:
        request = msgspec.structs.replace(request, key=unquote_plus(request.key))
    check_key(request.key)
    return request


def check_key(key: str) -> None:
    """A source key is a file under ``incoming/`` or ``uploads/`` with no path tricks in it."""
    if not any(key.startswith(prefix) and key != prefix for prefix in SOURCE_PREFIXES):
        raise ValidationError(f"key must name a file under {' or '.join(map(repr, SOURCE_PREFIXES))}: {key!r}")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ValidationError(f"key is longer than {MAX_KEY_BYTES} bytes")
    if key.endswith("/"):
        raise ValidationError(f"key names a folder, not a file: {key!r}")
    if any(unicodedata.category(char) == "Cc" for char in key):
        raise ValidationError(f"key contains control characters: {key!r}")
    if any(part in {"", ".", ".."} for part in key.split("/")):
        raise ValidationError(f"key contains an empty, '.' or '..' segment: {key!r}")


def format_of(key: str) -> tuple[Format, Compression]:
    """The format and compression named by the key's extension."""
    name = key.rsplit("/", 1)[-1].lower()
    compression = Compression.NONE
    if name.endswith(".gz"):
        compression = Compression.GZIP
        name = name.removesuffix(".gz")
    for extension, fmt in _EXTENSIONS.items():
        if name.endswith(extension):
            return fmt, compression
    supported = ", ".join([*_EXTENSIONS, "each optionally .gz"])
    raise UnsupportedFormat(f"unsupported file type {key.rsplit('/', 1)[-1]!r}: expected {supported}")


def check_content(fmt: Format, sample: Sample) -> None:
    """Reject content that cannot be the format its extension claims."""
    text = sample.text_bytes.removeprefix(b"\xef\xbb\xbf").lstrip()
    if b"\x00" in sample.text_bytes:
        raise UnsupportedFormat("the content is binary (it contains NUL bytes), not text")
    if not text:
        if sample.complete:
            raise EmptyObject("the object holds only whitespace")
        return
    if fmt is Format.JSON and not text.startswith(b"["):
        raise UnsupportedFormat("a .json file must hold a JSON array of objects; this one does not start with '['")
    if fmt is Format.JSONL and not text.startswith(b"{"):
        raise UnsupportedFormat("a JSON Lines file must hold one JSON object per line; the first line is not an object")


E = TypeVar("E", ProcessingType, OutputFormat)


def _declared(metadata: dict[str, str], name: str, choices: type[E]) -> E | None:
    """The choice an uploader declared in the object's user metadata ``name``, if any."""
    declared = metadata.get(name)
    if declared is None:
        return None
    try:
        return choices(declared.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in choices)
        raise ValidationError(f"object metadata {name}={declared!r} is not one of {allowed}") from None


def resolve_processing_type(request: PipelineRequest, metadata: dict[str, str]) -> ProcessingType:
    """The request's type, else the object's ``processing-type`` metadata, else standard."""
    if request.processing_type is not None:
        return request.processing_type
    return _declared(metadata, PROCESSING_TYPE_METADATA, ProcessingType) or ProcessingType.STANDARD


def resolve_output_format(
    request: PipelineRequest, metadata: dict[str, str], dataset: DatasetSettings | None
) -> OutputFormat:
    """The request's format, else the object's ``output-format`` metadata, else the dataset's, else JSON Lines.

    The object's own choice comes before its folder's default, as a request's does.
    """
    if request.output_format is not None:
        return request.output_format
    declared = _declared(metadata, OUTPUT_FORMAT_METADATA, OutputFormat)
    if declared is not None:
        return declared
    if dataset is not None and dataset.output_format is not None:
        return dataset.output_format
    return OutputFormat.JSONL


def _where(request: PipelineRequest) -> str:
    where = f"s3://{request.bucket}/{request.key}"
    return where + (f" (version {request.version_id})" if request.version_id is not None else "")


@contextmanager
def _readable(where: str) -> Iterator[None]:
    """Refuse, as a business error, an object S3 will not let the pipeline read."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if code not in _UNREADABLE_CODES:
            raise
        raise ValidationError(
            f"{where} cannot be read ({code}): S3 refuses to return it as it is (a customer-provided "
            f"encryption key, SSE-C; an archive storage class; or an invalid version id); {_REUPLOAD}"
        ) from None


def check_readable(where: str, head: dict[str, Any]) -> None:
    """Refuse an object whose HEAD says the functions cannot read it: they have no KMS key grant and
    cannot restore archived objects."""
    encryption = head.get("ServerSideEncryption")
    if encryption in _KMS_ENCRYPTIONS:
        raise ValidationError(f"{where} is encrypted with a KMS key ({encryption}); {_REUPLOAD}")
    storage_class = head.get("StorageClass")
    if storage_class in _ARCHIVE_CLASSES or head.get("ArchiveStatus"):
        raise ValidationError(f"{where} is archived ({head.get('ArchiveStatus') or storage_class}); {_REUPLOAD}")


def check_outputs(source: SourceObject, execution_arn: str) -> None:
    """Refuse a source whose outputs S3 would refuse: a key over 1,024 bytes (the source key plus
    ``processed/``, the version id and the file name) or user metadata over 2 KB (the
    percent-encoded source key is part of it). Caught here, it is the input's fault; at the
    commit, it would fail the run as a system error."""
    keys = output_keys(source.key, source.version_id, source.output_format)
    longest = max((keys.data, keys.rejects, keys.manifest, keys.notified), key=lambda key: len(key.encode()))
    if len(longest.encode()) > MAX_KEY_BYTES:
        excess = len(longest.encode()) - MAX_KEY_BYTES
        raise ValidationError(
            f"the key is too long for its outputs: {longest!r} would be {len(longest.encode())} bytes, "
            f"over S3's {MAX_KEY_BYTES}; shorten the key by {excess} bytes"
        )
    size = metadata_bytes(output_metadata(source, execution_arn))
    if size > MAX_METADATA_BYTES:
        raise ValidationError(
            f"the key is too long for its outputs' metadata: {size} bytes (the key percent-encoded), "
            f"over S3's {MAX_METADATA_BYTES}; use a shorter key, with fewer spaces and non-ASCII characters"
        )


def _head(s3: Any, request: PipelineRequest) -> dict[str, Any]:
    head_args: dict[str, Any] = {"Bucket": request.bucket, "Key": request.key}
    if request.version_id is not None:
        head_args["VersionId"] = request.version_id
    with s3_errors(_where(request)), _readable(_where(request)), _absence_revealed(s3, request):
        head: dict[str, Any] = s3.head_object(**head_args)
    return head


@contextmanager
def _absence_revealed(s3: Any, request: PipelineRequest) -> Iterator[None]:
    """``ObjectNotFound`` for a 403 to the HEAD of a source's current version that hides its absence.
    A HEAD of a named version (an S3 event names one) is left as S3 answers it: a deletion without a
    version id keeps that version, and one that names it is the rare case this does not cover."""
    try:
        yield
    except ClientError as exc:
        if request.version_id is not None or not refusal_hides_absence(s3, exc, request.bucket, request.key):
            raise
        raise ObjectNotFound(f"{_where(request)} does not exist (403, and not listed)") from None


def locate(s3: Any, request: PipelineRequest, received_key: Any) -> tuple[PipelineRequest, dict[str, Any]]:
    """The request naming the object that exists, and that object's HEAD.

    AWS documents the URL-encoding of the key for S3's own notifications, not for its EventBridge
    events; decoding is right for both, but an object whose literal key is the one received (``a+b``)
    is found too, rather than rejected.
    """
    try:
        return request, _head(s3, request)
    except ObjectNotFound as missing:
        if request.trigger is not Trigger.S3 or not isinstance(received_key, str) or received_key == request.key:
            raise
        literal = msgspec.structs.replace(request, key=received_key)
        try:
            check_key(literal.key)
            return literal, _head(s3, literal)
        except (ObjectNotFound, ValidationError):
            raise missing from None


def validate(s3: Any, raw_request: dict[str, Any], settings: ValidateSettings, *, execution_arn: str) -> SourceObject:
    """Check the request and the object; describe the exact version the run will process."""
    request = parse_request(raw_request, bucket_name=settings.bucket_name)
    format_of(request.key)  # an unsupported type is refused before any AWS call
    request, head = locate(s3, request, raw_request.get("key"))
    fmt, compression = format_of(request.key)
    where = _where(request)
    check_readable(where, head)
    size = int(head["ContentLength"])
    if size == 0:
        raise EmptyObject(f"{where} is empty (0 bytes)")
    if size > settings.max_object_bytes:
        raise ObjectTooLarge(f"{where} is {size} bytes; the limit is {settings.max_object_bytes} bytes")
    version_id = head.get("VersionId") or "null"
    with _readable(where):
        sample = read_sample(s3, bucket=request.bucket, key=request.key, version_id=version_id, compression=compression)
    check_content(fmt, sample)
    dataset = dataset_of(request.key)
    found = dataset_settings(dataset)
    source = SourceObject(
        bucket=request.bucket,
        key=request.key,
        version_id=version_id,
        etag=head["ETag"],
        size=size,
        format=fmt,
        compression=compression,
        processing_type=resolve_processing_type(request, head.get("Metadata", {})),
        trigger=request.trigger,
        output_format=resolve_output_format(request, head.get("Metadata", {}), found),
        dataset=dataset if found is not None else None,
        contract_version=contract_version(dataset if found is not None else None),
        reason=request.reason or "",
        skip_unchanged_content=found is not None and found.skip_unchanged_content,
    )
    check_outputs(source, execution_arn)
    return source

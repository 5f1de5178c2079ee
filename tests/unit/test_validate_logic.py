"""Request and content checks of the Validate step that need no AWS."""

from __future__ import annotations

import pytest

from tasks.common.errors import EmptyObject, UnsupportedFormat, ValidationError
from tasks.common.models import Compression, Format, PipelineRequest, ProcessingType
from tasks.common.sample import Sample
from tasks.validate.logic import check_content, check_key, format_of, parse_request, resolve_processing_type

BUCKET = "pipeline-bucket"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("incoming/a.csv", (Format.CSV, Compression.NONE)),
        ("incoming/deep/A.CSV.GZ", (Format.CSV, Compression.GZIP)),
        ("incoming/a.json", (Format.JSON, Compression.NONE)),
        ("incoming/a.jsonl", (Format.JSONL, Compression.NONE)),
        ("incoming/a.ndjson.gz", (Format.JSONL, Compression.GZIP)),
    ],
)
def test_format_comes_from_the_extension(key: str, expected: tuple[Format, Compression]) -> None:
    assert format_of(key) == expected


@pytest.mark.parametrize("key", ["incoming/a.txt", "incoming/a.gz", "incoming/csv", "incoming/a.csv.zip"])
def test_other_extensions_are_unsupported(key: str) -> None:
    with pytest.raises(UnsupportedFormat, match="unsupported file type"):
        format_of(key)


@pytest.mark.parametrize(
    "key",
    [
        "processed/a.csv",
        "incoming/",
        "incoming/../secret.csv",
        "incoming/./a.csv",
        "incoming//a.csv",
        "incoming/a\x00.csv",
        "incoming/a\n.csv",
        "incoming/folder/",
        "incoming/" + "a" * 1100 + ".csv",
    ],
)
def test_keys_outside_incoming_or_with_path_tricks_are_refused(key: str) -> None:
    with pytest.raises(ValidationError):
        check_key(key)


@pytest.mark.parametrize("key", ["incoming/a b.csv", "incoming/zoë/ünï.json", "incoming/100%25.jsonl", "uploads/a.csv"])
def test_unusual_but_legal_keys_are_accepted(key: str) -> None:
    check_key(key)


def test_request_for_another_bucket_is_refused() -> None:
    with pytest.raises(ValidationError, match="bucket must be"):
        parse_request({"bucket": "other", "key": "incoming/a.csv"}, bucket_name=BUCKET)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"key": "incoming/a.csv"}, "bucket"),
        ({"bucket": BUCKET, "key": 5}, "Expected `str`"),
        ({"bucket": BUCKET, "key": "incoming/a.csv", "processingType": "urgent"}, "processingType"),
        ({"bucket": BUCKET, "key": "incoming/a.csv", "colour": "red"}, "unknown field"),
    ],
)
def test_malformed_requests_say_what_is_wrong(raw: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        parse_request(raw, bucket_name=BUCKET)


def sample(text: bytes, *, complete: bool = True) -> Sample:
    return Sample(raw=text, text_bytes=text, complete=complete)


@pytest.mark.parametrize(
    ("fmt", "text", "error"),
    [
        (Format.JSON, b'{"a": 1}', UnsupportedFormat),
        (Format.JSONL, b"[1, 2]\n", UnsupportedFormat),
        (Format.CSV, b"a,b\x00\n", UnsupportedFormat),
        (Format.CSV, b"   \n\n", EmptyObject),
    ],
)
def test_content_that_contradicts_the_extension_is_refused(fmt: Format, text: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_content(fmt, sample(text))


@pytest.mark.parametrize(
    ("fmt", "text"),
    [(Format.JSON, b'\xef\xbb\xbf  [{"a": 1}]'), (Format.JSONL, b'\n{"a": 1}\n'), (Format.CSV, b"a,b\n1,2\n")],
)
def test_content_matching_the_extension_passes(fmt: Format, text: bytes) -> None:
    check_content(fmt, sample(text))


def test_processing_type_prefers_the_request_then_the_metadata_then_standard() -> None:
    explicit = PipelineRequest(bucket=BUCKET, key="incoming/a.csv", processing_type=ProcessingType.PRIORITY)
    implicit = PipelineRequest(bucket=BUCKET, key="incoming/a.csv")
    assert resolve_processing_type(explicit, {"processing-type": "batch"}) is ProcessingType.PRIORITY
    assert resolve_processing_type(implicit, {"processing-type": " Batch "}) is ProcessingType.BATCH
    assert resolve_processing_type(implicit, {}) is ProcessingType.STANDARD
    with pytest.raises(ValidationError, match="processing-type"):
        resolve_processing_type(implicit, {"processing-type": "urgent"})

"""The ledger's partition keys: a refused request's key fits DynamoDB's limit, or is its digest."""

from __future__ import annotations

import hashlib

import pytest

from workflow.ledger import PARTITION_KEY_MAX_BYTES, request_source_id, source_id

BUCKET = "data-bucket"


@pytest.mark.parametrize("extra", [0, -1])
def test_a_request_s_key_that_fits_the_partition_key_is_recorded_as_it_is(extra: int) -> None:
    # Given a key that makes '<bucket>/<key>' exactly 2,048 bytes, or one byte fewer (two-byte characters)
    key = "incoming/" + "a" * (PARTITION_KEY_MAX_BYTES - len(BUCKET) - 1 - len("incoming/") - 2 + extra) + "\u00e9"
    assert len(source_id(BUCKET, key).encode()) == PARTITION_KEY_MAX_BYTES + extra

    # Then it is its own partition key
    assert request_source_id(BUCKET, key) == source_id(BUCKET, key)


def test_a_request_s_key_one_byte_too_long_is_recorded_under_its_digest() -> None:
    # Given a key that makes '<bucket>/<key>' 2,049 bytes
    key = "incoming/" + "a" * (PARTITION_KEY_MAX_BYTES - len(BUCKET) - 1 - len("incoming/") - 1) + "\u00e9"
    assert len(source_id(BUCKET, key).encode()) == PARTITION_KEY_MAX_BYTES + 1

    # Then its partition key is the bucket and the SHA-256 of the key's UTF-8, as States.Hash computes it
    assert request_source_id(BUCKET, key) == f"{BUCKET}/sha256:{hashlib.sha256(key.encode()).hexdigest()}"

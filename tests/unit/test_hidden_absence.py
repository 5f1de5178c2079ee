"""``refusal_hides_absence``: a 403 to a read stands for an absent key only when a listing under
the key itself does not name it (S3 hides an absence from a caller who may not list)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tasks.common.aws import refusal_hides_absence

BUCKET = "pipeline-bucket"
KEY = "processed/a.csv/v1/manifest.json"


class ListingS3:
    """An S3 client whose bucket holds ``keys``; it records each listing it answers."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = sorted(keys)
        self.listings: list[dict[str, Any]] = []

    def list_objects_v2(self, **params: Any) -> dict[str, Any]:
        self.listings.append(params)
        under = [key for key in self.keys if key.startswith(params["Prefix"])][: params["MaxKeys"]]
        return {"Contents": [{"Key": key} for key in under]} if under else {}


def refusal(code: str, operation: str = "GetObject") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "refused"}}, operation)


@pytest.mark.parametrize(("code", "operation"), [("AccessDenied", "GetObject"), ("403", "HeadObject")])
def test_a_refused_read_of_a_key_not_listed_is_an_absence(code: str, operation: str) -> None:
    # Given a bucket that holds only a longer key under the same prefix
    s3 = ListingS3([KEY + ".old"])
    # When the read of the key was refused (a GET names its code, a HEAD only its status)
    # Then the key is absent, found by one listing under the key itself
    assert refusal_hides_absence(s3, refusal(code, operation), BUCKET, KEY)
    assert s3.listings == [{"Bucket": BUCKET, "Prefix": KEY, "MaxKeys": 1}]


def test_a_refused_read_of_a_listed_key_is_a_refusal() -> None:
    # Given the key exists (and longer ones after it)
    s3 = ListingS3([KEY, KEY + ".old"])
    # Then its 403 is a refusal, not an absence
    assert not refusal_hides_absence(s3, refusal("AccessDenied"), BUCKET, KEY)


@pytest.mark.parametrize("code", ["NoSuchKey", "SlowDown", "InternalError"])
def test_any_other_error_is_no_absence_and_lists_nothing(code: str) -> None:
    s3 = ListingS3([])
    assert not refusal_hides_absence(s3, refusal(code), BUCKET, KEY)
    assert s3.listings == []

"""The HTTP request botocore builds for a call, taken before anything is sent (nothing is)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest


class _Built(Exception):
    """Raised by the hook once botocore has built the request."""

    def __init__(self, request: Any) -> None:
        self.request = request


def built_request(service: str, operation: str, *, endpoint_url: str, **params: Any) -> Any:
    """The ``AWSPreparedRequest`` a client of ``endpoint_url`` builds for ``operation(**params)``."""
    client = boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="ASIATESTKEY",
        aws_secret_access_key="secret",
    )

    def built(request: Any, **_: Any) -> None:
        raise _Built(request)

    # (first: an environment's mock would answer the request before the hook sees it)
    client.meta.events.register_first("before-send", built)
    with pytest.raises(_Built) as captured:
        getattr(client, operation)(**params)
    return captured.value.request

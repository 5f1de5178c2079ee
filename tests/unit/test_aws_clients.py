"""The runtime's cached AWS clients: one per process, and one function that forgets them all."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tasks.common import aws


@pytest.fixture
def cached_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[], Any]]]:
    """Every cached client factory of tasks.common.aws, creating stand-ins instead of boto3 clients."""
    monkeypatch.setattr(aws.boto3, "client", lambda service, **_: object())
    aws.reset_clients()
    yield [factory for factory in vars(aws).values() if callable(getattr(factory, "cache_clear", None))]
    aws.reset_clients()


def test_a_client_is_created_once_and_then_reused(cached_clients: list[Callable[[], Any]]) -> None:
    # Given the S3 and SNS clients among the cached ones
    assert {aws.s3_client, aws.sns_client} <= set(cached_clients)
    # When each is asked for twice
    # Then the second call answers the client of the first
    for factory in cached_clients:
        assert factory() is factory()


def test_reset_clients_forgets_every_cached_client(cached_clients: list[Callable[[], Any]]) -> None:
    # Given every cached client created once
    first = [factory() for factory in cached_clients]
    # When the clients are reset
    aws.reset_clients()
    # Then each is created anew, none left over from before (a client added later included)
    assert all(factory() is not old for factory, old in zip(cached_clients, first, strict=True))

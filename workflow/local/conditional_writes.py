"""Conditional writes, atomic on moto as on AWS: DynamoDB's item writes and S3's conditional PutObject.

DynamoDB checks a write's condition and applies it as one step: of two writes racing on an item,
the second sees the first's result ("conditional writes ... are atomic",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html#WorkingWithItems.ConditionalUpdate).
So does S3 for ``If-Match``/``If-None-Match`` on PutObject: of two writes conditioned on the same
state, one gets 412 Precondition Failed
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html). The pipeline relies
on both: of two runs taking one source version, exactly one wins the ledger; of two commits of one
manifest, exactly one switches it; of two notifications, one is published. moto reads the item or
the object, evaluates the condition and writes in Python with no lock, and the interpreter's
executions call it from their own threads. ``installed`` serialises DynamoDB's item writes and
S3's conditional puts with one lock (moto internals, guarded by a test in
``tests/workflow/test_moto_reliances.py``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.s3.responses import S3Response

DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
S3_CONDITIONS = ("If-Match", "If-None-Match")


@contextmanager
def installed() -> Iterator[None]:
    """Make those writes atomic until the block ends."""
    lock = threading.RLock()
    originals: dict[str, Callable[..., Any]] = {name: getattr(DynamoDBBackend, name) for name in DYNAMODB_WRITES}
    original_put_object = S3Response.put_object

    def atomic(write: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(write)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return write(*args, **kwargs)

        return locked

    @functools.wraps(original_put_object)
    def put_object(self: S3Response) -> Any:
        if not any(self.headers.get(name) for name in S3_CONDITIONS):
            return original_put_object(self)
        with lock:
            return original_put_object(self)

    for name, write in originals.items():
        setattr(DynamoDBBackend, name, atomic(write))
    S3Response.put_object = put_object  # type: ignore[method-assign]
    try:
        yield
    finally:
        for name, write in originals.items():
            setattr(DynamoDBBackend, name, write)
        S3Response.put_object = original_put_object  # type: ignore[method-assign]

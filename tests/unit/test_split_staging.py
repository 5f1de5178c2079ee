"""The split's staged objects read back many at once (``tasks.split.staging``)."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tasks.common.errors import StagedOutputMissing
from tasks.common.models import Model
from tasks.split.staging import get_many

ROOT = Path(__file__).resolve().parents[2]

# Each pass defines its models anew, so every pass is a model's first decode, from 16 readers at
# once; switching threads every microsecond makes them meet inside msgspec's type building.
FIRST_DECODES_AT_ONCE = textwrap.dedent(
    """
    import io, sys
    import msgspec
    from tasks.common.models import Model
    from tasks.split.staging import get_many

    class Staged:
        def get_object(self, Bucket, Key):
            return {"Body": io.BytesIO(b'{"index": 0, "ends": [0, 1], "first": [null, {"at": 3}]}')}

    sys.setswitchinterval(1e-6)
    for _ in range(100):
        class First(Model, frozen=True):
            at: int

        class Failure(Model, frozen=True):
            message: str

        class Summary(Model, frozen=True):
            index: int
            ends: list[int]
            first: list[First | None]
            error: Failure | None = None

        summaries = get_many(Staged(), bucket="b", keys=[f"k{n}" for n in range(16)], model=Summary)
        assert [summary.first[1].at for summary in summaries] == [3] * 16
    """
)


class Item(Model, frozen=True):
    index: int


class StagedObjects:
    """S3's GetObject over a dict of bodies (the staged objects)."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self._bodies = bodies

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": io.BytesIO(self._bodies[Key])}


def test_readers_decoding_a_model_for_the_first_time_at_once_do_not_crash_the_process() -> None:
    # Given 100 models, each read by 16 readers at once on its first decode (in a process of its
    # own: msgspec 0.22's race ends its process with SIGSEGV, as it ended a cold CutRanges in CI)
    script = [sys.executable, "-c", FIRST_DECODES_AT_ONCE]
    ended = subprocess.run(script, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    # Then every read decoded, and the process ended normally
    assert ended.returncode == 0, ended.stderr[-2000:]


def test_staged_objects_come_back_in_the_order_of_their_keys() -> None:
    keys = [f"part-{index}" for index in range(40)]
    staged = StagedObjects({key: msgspec.json.encode({"index": index}) for index, key in enumerate(keys)})
    assert get_many(staged, bucket="b", keys=keys, model=Item) == [Item(index=index) for index in range(40)]


def test_a_staged_object_that_is_not_its_model_is_a_missing_staged_output_naming_it() -> None:
    staged = StagedObjects({"good": b'{"index": 1}', "bad": b'{"index": "one"}'})
    with pytest.raises(StagedOutputMissing, match=r"s3://b/bad is not the Item this step staged"):
        get_many(staged, bucket="b", keys=["good", "bad"], model=Item)

"""How the parts' staged objects become one object: the parts of one S3 multipart upload.

S3 joins objects without moving their bytes through the function (``UploadPartCopy``), but every
part of a multipart upload except the last must hold at least 5 MiB, and at most 5 GiB
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html). A part's output can be
smaller: a range of blank lines or of rejected records, and rejects are usually a few bytes. So
small objects, and the 5 MiB that follow them, are read and uploaded again as one part; every
other stretch is copied by S3. Memory holds one re-uploaded part at most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tasks.common.multipart import MAX_PART_BYTES
from tasks.common.s3_stream import MIN_PART_SIZE


@dataclass(frozen=True, slots=True)
class Segment:
    """Bytes [start, end) of the ``piece``-th object."""

    piece: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Part:
    """One part of the upload: copied by S3 (one segment) or uploaded (its segments read and joined)."""

    segments: tuple[Segment, ...]
    copied: bool

    @property
    def size(self) -> int:
        return sum(segment.end - segment.start for segment in self.segments)


def plan_parts(sizes: Sequence[int], *, min_part: int = MIN_PART_SIZE, max_part: int = MAX_PART_BYTES) -> list[Part]:
    """The parts whose concatenation is the objects of ``sizes`` put end to end, in order.

    Every part but the last holds ``min_part`` to ``max_part`` bytes; an uploaded part holds at
    most ``min_part``. No part for an empty object; no part at all when every object is empty.
    """
    parts: list[Part] = []
    pending: list[Segment] = []
    pending_size = 0
    for piece, size in enumerate(sizes):
        position = 0
        while position < size:
            rest = size - position
            if pending_size or rest < min_part:
                take = min(rest, min_part - pending_size)
                pending.append(Segment(piece, position, position + take))
                pending_size += take
                if pending_size == min_part:
                    parts.append(Part(tuple(pending), copied=False))
                    pending, pending_size = [], 0
            else:
                # What is left after a copy must be a part of its own too: none, or min_part at least.
                take = rest if rest <= max_part else max_part if rest - max_part >= min_part else rest - min_part
                parts.append(Part((Segment(piece, position, position + take),), copied=True))
            position += take
    if pending:
        parts.append(Part(tuple(pending), copied=False))
    return parts

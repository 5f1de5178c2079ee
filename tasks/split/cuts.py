"""The reduce: from the ranges' summaries, the parts cut on record boundaries, with global lines.

Each ``RangeSummary`` is a function of the state its range starts in (the state at its end, its
first record start). The file starts in ``State.RECORD``, so composing the functions in order
(a prefix over the ranges) gives every range its true start state, hence its first record
start: the cut. A part runs from one cut to the next, so it holds exactly the records that start
in its range, the last one read past the range's end if it straddles it. A range in which no
record starts (inside one long quoted value) adds no cut: its bytes belong to the part before.

Line numbers are summed the same way, from the breaks before each cut, so every part numbers
its records as one pass would. Cuts before the end of the CSV header are dropped: the first part
holds the header, as the single pass reads it (blank lines before it included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tasks.common.errors import StagedOutputMissing
from tasks.split.models import PartItem, RangeSummary
from tasks.split.scan import State


@dataclass(frozen=True, slots=True)
class _Cut:
    offset: int
    line: int
    newline_line: int


def cut_parts(summaries: Sequence[RangeSummary], *, start: int, size: int, header_end: int) -> list[PartItem]:
    """The parts of the bytes [start, size) that ``summaries`` cover, in order, one range each.

    Raises ``StagedOutputMissing`` when the summaries do not tile [start, size) in index order:
    they were staged for another plan, so the run's own are missing.
    """
    _check_tiling(summaries, start=start, size=size)
    state = State.RECORD
    breaks = newlines = 0  # before the current range
    cuts: list[_Cut] = []
    for summary in summaries:
        first = summary.first[state]
        if first is not None and (not cuts or first.offset >= header_end):
            cuts.append(_Cut(first.offset, 1 + breaks + first.breaks, 1 + newlines + first.newlines))
        breaks += summary.breaks
        newlines += summary.newlines
        state = State(summary.ends[state])
    ends = [cut.offset for cut in cuts[1:]] + [size] * bool(cuts)
    return [
        PartItem(
            index=index,
            start=cut.offset,
            end=end,
            line=cut.line,
            newline_line=cut.newline_line,
            header=index == 0,
        )
        for index, (cut, end) in enumerate(zip(cuts, ends, strict=True))
    ]


def _check_tiling(summaries: Sequence[RangeSummary], *, start: int, size: int) -> None:
    expected = start
    for index, summary in enumerate(summaries):
        if summary.index != index or summary.start != expected or summary.end < summary.start:
            raise StagedOutputMissing(
                f"the scan of range {index} covers bytes {summary.start}-{summary.end} (range {summary.index}),"
                f" not the plan's range starting at {expected}: it was staged by another plan"
            )
        expected = summary.end
    if expected != size:
        raise StagedOutputMissing(f"the scanned ranges end at byte {expected}, the object at {size}")

"""A run of a given file size: the path it takes, each step's Lambda time and S3 requests, its wall
time on AWS, and what the size costs.

Pure. ``size_run`` routes the source as the runtime does (``tasks.split.plan.route`` with its
``SplitSettings``): one pass below the split threshold, else PlanRanges, ScanRanges (a Distributed
Map, one child per range), CutRanges, TransformRanges (a second Map), CommitRanges, after
InflateSource for a large gzip. Each function's duration is modeled from the bytes it moves and
converts, at the throughputs of ``ScaleAssumptions`` (measured locally where the comments say so,
assumed elsewhere). ``price_run`` prices what depends on the size: the transform's functions,
the Maps' transitions (or Express children), the data's S3 requests, the staged bytes' storage and
WriteOutput's copy. What every run pays whatever its size (Validate, Fetch, Notify, the
notification, logs, the fixed lines) is ``pipeline cost``'s table.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from tasks.common.models import Compression, Format, Route
from tasks.common.multipart import COPY_CONCURRENCY, part_ranges
from tasks.common.s3_stream import DEFAULT_PART_SIZE
from tasks.split.parts import plan_parts
from tasks.split.plan import SplitSettings, route
from tasks.split.staging import READERS
from tasks.transform.csv_converter import CHUNK_BYTES
from tasks.write_output.switch import COPY_PART_SIZE
from workflow.cost.prices import US_EAST_1, Prices
from workflow.cost.report import CostLine
from workflow.executions import REDRIVE_WINDOW

MB = 1_000_000  # throughputs are in MB/s of 10^6 bytes, as the benchmarks print them
DAYS_PER_MONTH = 730 / 24  # the month of prices.HOURS_PER_MONTH
EXPRESS_BILLING_SECONDS = 0.1
EXPRESS_BILLING_MB = 64
# The split path's states in the parent execution (workflow/pipeline.asl.json), after the state it
# enters by: a Pass for a source split as stored, InflateSource for a gzip. One pass enters the
# transform's one state instead.
SPLIT_PARENT_STATES = ("PlanRanges", "ScanRanges", "CutRanges", "TransformRanges", "CommitRanges")
INFLATE_STATE = "InflateSource"
SPLIT_ENTRY_STATES = {Route.SPLIT: "SplitAsStored", Route.INFLATE: INFLATE_STATE}
WRITE_OUTPUT = "WriteOutput (copy)"

_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


class InvalidFileSize(ValueError):
    """A file size that is not a positive number of bytes with an optional unit."""


def parse_size(text: str) -> int:
    """Bytes in ``text``: a number and an optional unit, decimal (B, KB, MB, GB, TB) or binary
    (KiB, MiB, GiB, TiB), case-insensitive: ``10GB`` is 10,000,000,000 bytes."""
    match = _SIZE.fullmatch(text)
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _UNITS:
        raise InvalidFileSize(
            f"{text!r} is not a file size: a number and an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), "
            "e.g. 10GB"
        )
    size = round(float(match.group(1)) * _UNITS[unit])
    if size < 1:
        raise InvalidFileSize(f"{text!r} is not a file size: a file holds at least one byte")
    return size


class ChildType(enum.StrEnum):
    """The Distributed Maps' child executions (ProcessorConfig.ExecutionType)."""

    STANDARD = "STANDARD"
    EXPRESS = "EXPRESS"


@dataclass(frozen=True, slots=True)
class ScaleAssumptions:
    """What the model takes as given: the runtime's split settings, the Maps' settings, and the
    throughputs that turn bytes into seconds (one vCPU: a 1,769 MB function)."""

    split: SplitSettings = field(default_factory=SplitSettings)
    # MaxConcurrency of both Maps: children running at once. The default is the runtime's, which
    # the stack's rangeConcurrency default equals (tests/infra/test_cost_defaults.py).
    concurrency: int = SplitSettings().range_concurrency
    child_type: ChildType = ChildType.STANDARD
    # Measured by `python -m benchmarks.split --size 2000 --ranges 16` (2026-11-30, 2 GB of CSV with
    # quoted line breaks, 16 ranges; figures in docs/cost.md): CSV -> JSON Lines per vCPU, the parts'
    # bytes over their CPU seconds, reading included (the README benchmark's other dataset gives
    # 64-73 MB/s); the scan per core, likewise; bytes of JSON Lines written per CSV byte.
    csv_mb_s: float = 124.7
    scan_mb_s: float = 776.0
    output_ratio: float = 2.770
    # JSON Lines and JSON arrays per vCPU: the lower ends of the README benchmark's 60-88 and
    # 16-23 MB/s (not measured by the split benchmark).
    jsonl_mb_s: float = 60.0
    json_mb_s: float = 16.0
    # S3 to and from one function, each way, in sequence with the conversion (the functions read,
    # convert and upload in one thread). Assumed, not measured: third-party runs of one Python
    # Lambda of 1,024 MB streaming 15 GB in and 15 GB out of S3 took 211-262 s, about 60 MB/s each
    # way (https://rustysl.com/en/blog/beyond-s3-archive-streaming); tasks/split/plan.py takes 50.
    s3_mb_s: float = 50.0
    # One server-side copy (CopyObject, UploadPartCopy) request. AWS publishes no figure; assumed.
    copy_mb_s: float = 100.0
    # Latency of one small S3 request made in sequence (a summary, a result, a manifest). Assumed.
    request_seconds: float = 0.1
    # gzip: text bytes per compressed byte, assumed (text gzips 4-10 times: tasks/split/plan.py; the
    # benchmark's generated CSV, random values, 3.5 times at level 6); zlib's inflate per vCPU in
    # bytes out, measured on 200 MB of that CSV (205 MB/s, docs/cost.md).
    gzip_ratio: float = 5.0
    inflate_mb_s: float = 205.0
    # Every function the model times (the template gives the transform 1,769 MB: one vCPU, which
    # the throughputs above are per; the split's functions are assumed to get the same).
    memory_mb: int = 1769
    arm64: bool = True
    # stacks/tasks.py RESOURCES["WriteOutput"]: the function that copies the output.
    write_output_memory_mb: int = 256
    # stacks/tasks.py TIMEOUT.
    timeout_seconds: float = 300.0
    # How long staged bytes are stored: stacks/storage.py expires staging/ STAGING_DAYS
    # (REDRIVE_WINDOW + 1 day) after it is written, at the next midnight UTC (half a day on
    # average), and the noncurrent version one day after that.
    staging_days: float = REDRIVE_WINDOW.days + 1 + 0.5 + 1

    def __post_init__(self) -> None:
        rates = (self.csv_mb_s, self.jsonl_mb_s, self.json_mb_s, self.scan_mb_s, self.s3_mb_s, self.copy_mb_s)
        if min(*rates, self.inflate_mb_s, self.output_ratio, self.gzip_ratio) <= 0:
            raise ValueError("throughputs and ratios must be positive")
        if self.concurrency < 1 or self.memory_mb < 128:
            raise ValueError("concurrency must be at least 1 and memory_mb at least 128")

    def convert_mb_s(self, fmt: Format) -> float:
        return {Format.CSV: self.csv_mb_s, Format.JSONL: self.jsonl_mb_s, Format.JSON: self.json_mb_s}[fmt]


DEFAULT_SCALE = ScaleAssumptions()


@dataclass(frozen=True, slots=True)
class Source:
    """A source as stored: its size, format and compression."""

    size: int
    format: Format = Format.CSV
    compression: Compression = Compression.NONE


@dataclass(frozen=True, slots=True)
class Requests:
    """S3 requests by price class: PUT, COPY, POST, LIST (``puts``) and GET and others (``gets``)."""

    puts: int = 0
    gets: int = 0

    def __add__(self, other: Requests) -> Requests:
        return Requests(self.puts + other.puts, self.gets + other.gets)


@dataclass(frozen=True, slots=True)
class Step:
    """One state's functions: each invocation's modeled duration, its requests, its share of the wall time."""

    state: str
    durations: tuple[float, ...]
    requests: Requests
    wall_seconds: float
    map_children: bool = False


@dataclass(frozen=True, slots=True)
class SizedRun:
    source: Source
    route: Route
    text_bytes: int
    output_bytes: int
    ranges: int
    waves: int
    steps: tuple[Step, ...]
    parent_states_added: int
    staged_bytes: int
    warnings: tuple[str, ...]

    @property
    def wall_seconds(self) -> float:
        return sum(step.wall_seconds for step in self.steps)

    @property
    def transform_wall_seconds(self) -> float:
        """From the source to the staged JSON Lines: the run's wall time without WriteOutput's copy."""
        return sum(step.wall_seconds for step in self.steps if step.state != WRITE_OUTPUT)


# The pieces, each a formula the tests check by hand ------------------------------------------------


def range_sizes(size: int, range_bytes: int) -> list[int]:
    """The nominal ranges' sizes: ``range_bytes`` each, the last what is left."""
    return [min(range_bytes, size - start) for start in range(0, size, range_bytes)]


def waves(children: int, concurrency: int) -> int:
    """Rounds of children a Map runs when at most ``concurrency`` run at once."""
    return math.ceil(children / concurrency)


def scan_seconds(nbytes: int, a: ScaleAssumptions) -> float:
    """ScanRange: read the range, then scan it."""
    return nbytes / MB / a.s3_mb_s + nbytes / MB / a.scan_mb_s


def convert_seconds(nbytes: int, fmt: Format, a: ScaleAssumptions) -> float:
    """Read ``nbytes`` of text, convert them, write their JSON Lines (one pass or one part)."""
    written = nbytes * a.output_ratio
    return nbytes / MB / a.s3_mb_s + nbytes / MB / a.convert_mb_s(fmt) + written / MB / a.s3_mb_s


def upload_requests(nbytes: int, part_size: int = DEFAULT_PART_SIZE) -> Requests:
    """Writing ``nbytes`` through ``S3MultipartWriter``: one PutObject below a part, else a
    multipart upload (create, the parts, complete)."""
    if nbytes < part_size:
        return Requests(puts=1)
    return Requests(puts=2 + math.ceil(nbytes / part_size))


def join_requests(sizes: Sequence[int]) -> Requests:
    """CommitRanges' join of the parts' objects (``join_objects``): copies, re-uploads and the
    reads the re-uploads need, per ``plan_parts``."""
    parts = plan_parts(sizes)
    if not parts or (len(parts) == 1 and not parts[0].copied):
        reads = len(parts[0].segments) if parts else 0
        return Requests(puts=1, gets=reads)
    reads = sum(len(part.segments) for part in parts if not part.copied)
    return Requests(puts=2 + len(parts), gets=reads)


def copies_seconds(sizes: Sequence[int], a: ScaleAssumptions) -> float:
    """Server-side copies of ``sizes`` bytes, ``COPY_CONCURRENCY`` at a time (``send_parts``),
    largest first: each round as long as the largest copy in it."""
    ordered = sorted(sizes, reverse=True)
    return sum(ordered[i] for i in range(0, len(ordered), COPY_CONCURRENCY)) / MB / a.copy_mb_s


def join_seconds(sizes: Sequence[int], a: ScaleAssumptions) -> float:
    """The join's copies (its re-uploaded parts are a few MiB: not timed)."""
    return copies_seconds([part.size for part in plan_parts(sizes) if part.copied], a)


def copy_output(nbytes: int, a: ScaleAssumptions) -> tuple[float, Requests]:
    """WriteOutput's copy of the staged JSON Lines to the output (``copy_versioned``): one
    CopyObject up to a part, else a multipart copy of ``COPY_PART_SIZE`` parts, ``COPY_CONCURRENCY``
    at once; the HeadObject before either."""
    parts = [end - start for start, end in part_ranges(nbytes, COPY_PART_SIZE)]
    if len(parts) <= 1:
        return nbytes / MB / a.copy_mb_s, Requests(puts=1, gets=1)
    return copies_seconds(parts, a), Requests(puts=2 + len(parts), gets=1)


# The run ---------------------------------------------------------------------------------------------


def size_run(source: Source, a: ScaleAssumptions = DEFAULT_SCALE) -> SizedRun:
    """The path a source takes and each step's modeled work; ``ObjectTooLarge`` (from the runtime's
    routing) for a JSON array too large for one function."""
    path = route(source.format, source.compression, source.size, a.split)
    gzip = source.compression is Compression.GZIP
    text = source.size * a.gzip_ratio if gzip else source.size
    text_bytes = math.ceil(text)
    output = math.ceil(text_bytes * a.output_ratio)
    steps: list[Step] = []
    latency = a.request_seconds
    if path is Route.SINGLE:
        seconds = convert_seconds(text_bytes, source.format, a)
        if gzip:  # the function reads the compressed bytes and inflates them
            seconds += (source.size - text_bytes) / MB / a.s3_mb_s + text_bytes / MB / a.inflate_mb_s
        steps.append(Step("Transform", (seconds,), Requests(gets=1) + upload_requests(output), seconds))
        ranges = rounds = 0
        staged = output
        parents = 0
    else:
        if path is Route.INFLATE:
            seconds = source.size / MB / a.s3_mb_s + text_bytes / MB / a.inflate_mb_s + text_bytes / MB / a.s3_mb_s
            steps.append(Step(INFLATE_STATE, (seconds,), Requests(gets=1) + upload_requests(text_bytes), seconds))
        sizes = range_sizes(text_bytes, a.split.range_bytes)
        ranges, rounds = len(sizes), waves(len(sizes), a.concurrency)
        head = min(CHUNK_BYTES, text_bytes)
        plan = head / MB / a.s3_mb_s + head / MB / a.convert_mb_s(source.format) + 3 * latency
        steps.append(Step("PlanRanges", (plan,), Requests(puts=2, gets=1), plan))
        # Each scan: its range read, its summary put.
        scans = [scan_seconds(size, a) for size in sizes]
        steps.append(_map("ScanRanges", scans, [Requests(puts=1, gets=1)] * ranges, rounds))
        cut = waves(ranges, READERS) * latency + latency
        steps.append(Step("CutRanges", (cut,), Requests(puts=1, gets=ranges), cut))
        outputs = [math.ceil(size * a.output_ratio) for size in sizes]
        # Each part: the schema and the range read, data and rejects (none assumed) written, the result put.
        part_requests = [Requests(gets=2) + upload_requests(out) + Requests(puts=2) for out in outputs]
        parts = [convert_seconds(size, source.format, a) + 2 * latency for size in sizes]
        steps.append(_map("TransformRanges", parts, part_requests, rounds))
        commit = (waves(ranges, READERS) + 4) * latency + join_seconds(outputs, a)
        commit_requests = Requests(gets=ranges + 1) + join_requests(outputs) + Requests(puts=2)
        steps.append(Step("CommitRanges", (commit,), commit_requests, commit))
        staged = output * 2 + (text_bytes if path is Route.INFLATE else 0)
        # The entry state and the split's states, in place of the transform's one.
        parents = 1 + len(SPLIT_PARENT_STATES) - 1
    copy_seconds, copy_requests = copy_output(output, a)
    steps.append(Step(WRITE_OUTPUT, (copy_seconds,), copy_requests, copy_seconds))
    warnings = tuple(
        f"{step.state}: {max(step.durations):,.0f} s modeled, over the {a.timeout_seconds:.0f} s Lambda timeout"
        for step in steps
        if max(step.durations) > a.timeout_seconds
    )
    return SizedRun(source, path, text_bytes, output, ranges, rounds, tuple(steps), parents, staged, warnings)


def _map(state: str, durations: Sequence[float], requests: Sequence[Requests], rounds: int) -> Step:
    """A Distributed Map of one Task per child, ``rounds`` waves each as long as the longest child:
    the children's requests and the item reader's GET."""
    return Step(state, tuple(durations), _sum(requests) + Requests(gets=1), rounds * max(durations), map_children=True)


def _sum(requests: Sequence[Requests]) -> Requests:
    total = Requests()
    for item in requests:
        total += item
    return total


# The price ---------------------------------------------------------------------------------------


def billed_gb_seconds(durations: Sequence[float], memory_mb: int) -> float:
    """Lambda bills each invocation's duration rounded up to the next millisecond, times its memory."""
    return sum(math.ceil(duration * 1000) for duration in durations) / 1000 * memory_mb / 1024


def express_gb_seconds(durations: Sequence[float]) -> float:
    """Express executions bill their duration rounded up to 100 ms, in 64 MB steps (one step: a
    child of one Task and a small payload)."""
    steps = sum(math.ceil(round(duration / EXPRESS_BILLING_SECONDS, 9)) for duration in durations)
    return steps * EXPRESS_BILLING_SECONDS * EXPRESS_BILLING_MB / 1024


def price_run(run: SizedRun, a: ScaleAssumptions = DEFAULT_SCALE, prices: Prices = US_EAST_1) -> tuple[CostLine, ...]:
    """What the size adds to a run, line by line (quantities per run)."""
    gb_second = prices.lambda_gb_second_arm64 if a.arm64 else prices.lambda_gb_second_x86_64
    functions = [step for step in run.steps if step.state != WRITE_OUTPUT]
    copy = next(step for step in run.steps if step.state == WRITE_OUTPUT)
    invocations = sum(len(step.durations) for step in functions)
    lines = [
        CostLine(
            "Lambda",
            "requests",
            invocations,
            "request",
            prices.lambda_request,
            ", ".join(f"{step.state} {len(step.durations)}" for step in functions),
        ),
        CostLine(
            "Lambda",
            "duration",
            billed_gb_seconds([d for step in functions for d in step.durations], a.memory_mb),
            "GB-s",
            gb_second,
            f"{sum(sum(step.durations) for step in functions):,.1f} s modeled x {a.memory_mb} MB",
        ),
        CostLine(
            "Lambda",
            "duration (WriteOutput's copy)",
            billed_gb_seconds(copy.durations, a.write_output_memory_mb),
            "GB-s",
            gb_second,
            f"{copy.wall_seconds:,.1f} s copying {run.output_bytes / MB:,.0f} MB x {a.write_output_memory_mb} MB",
        ),
    ]
    children = [step for step in run.steps if step.map_children]
    count = sum(len(step.durations) for step in children)
    if run.parent_states_added:
        lines.append(
            CostLine(
                "Step Functions",
                "state transitions (parent)",
                run.parent_states_added,
                "transition",
                prices.sfn_state_transition,
                f"{' + '.join((SPLIT_ENTRY_STATES[run.route], *SPLIT_PARENT_STATES))} instead of one transform state",
            )
        )
    if children and a.child_type is ChildType.STANDARD:
        lines.append(
            CostLine(
                "Step Functions",
                "state transitions (Map children)",
                2 * count,
                "transition",
                prices.sfn_state_transition,
                f"{count} Standard children x 2 (the child the Map starts, its Task state)",
            )
        )
    elif children:
        durations = [d for step in children for d in step.durations]
        lines += [
            CostLine(
                "Step Functions",
                "state transitions (Map children)",
                count,
                "transition",
                prices.sfn_state_transition,
                f"{count} Express children x 1 (the child the Map starts)",
            ),
            CostLine("Step Functions", "Express requests", count, "request", prices.sfn_express_request, "one a child"),
            CostLine(
                "Step Functions",
                "Express duration",
                express_gb_seconds(durations),
                "GB-s",
                prices.sfn_express_gb_second,
                "each child's Lambda time rounded up to 100 ms x 64 MB",
            ),
        ]
    requests = _sum([step.requests for step in run.steps])
    lines += [
        CostLine(
            "S3",
            "PUT, COPY, POST, LIST requests",
            requests.puts,
            "request",
            prices.s3_put_copy_post_list_request,
            "uploads and their parts, copies, staged documents",
        ),
        CostLine(
            "S3",
            "GET and other requests",
            requests.gets,
            "request",
            prices.s3_get_and_other_request,
            "range reads, staged documents, the Maps' item readers",
        ),
        CostLine(
            "S3",
            "staging storage",
            run.staged_bytes / 1024**3 * a.staging_days / DAYS_PER_MONTH,
            "GB-month",
            prices.s3_standard_gb_month,
            f"{run.staged_bytes / MB:,.0f} MB staged for {a.staging_days:g} days (the staging lifecycle)",
        ),
    ]
    return tuple(lines)


# The report --------------------------------------------------------------------------------------


def render_run(run: SizedRun, lines: Sequence[CostLine], a: ScaleAssumptions = DEFAULT_SCALE) -> str:
    """The path, each step's time, the wall time and the priced lines, as text."""
    source = run.source
    compression = "gzip" if source.compression is Compression.GZIP else "uncompressed"
    out = [f"A {source.format.value.upper()} source of {_size(source.size)} ({source.size:,} bytes, {compression})"]
    if run.route is Route.SINGLE:
        out.append(f"path: one pass (at most {_size(a.split.split_threshold_bytes)} is not split)")
    else:
        inflated = f"inflated to {_size(run.text_bytes)}, then " if run.route is Route.INFLATE else ""
        out.append(
            f"path: {inflated}split into {run.ranges:,} ranges of {_size(a.split.range_bytes)}: {run.waves:,} wave(s) "
            f"of at most {a.concurrency} children per Map ({a.child_type.value} children)"
        )
    out += ["", f"{'step':<20}  {'invocations':>11}  {'seconds each':>12}  {'wall seconds':>12}"]
    for step in run.steps:
        each = max(step.durations)
        out.append(f"{step.state:<20}  {len(step.durations):>11,}  {each:>12,.1f}  {step.wall_seconds:>12,.1f}")
    out.append(
        f"wall time on AWS: {run.transform_wall_seconds:,.0f} s to the staged JSON Lines, {run.wall_seconds:,.0f} s "
        f"({run.wall_seconds / 60:,.1f} min) with WriteOutput's copy, plus the steps every run takes (a second or two)"
    )
    out += ["", "what the size costs, per run (USD):"]
    for line in lines:
        out.append(
            f"  {line.service + ': ' + line.item:<52} {line.quantity:>14,.3f} {line.unit:<11} {line.cost:>10.4f}"
        )
        out.append(f"      {line.basis}")
    out.append(f"  {'total':<79} {sum(line.cost for line in lines):>10.4f}")
    if run.warnings:
        out += ["", "warnings:", *(f"  - {warning}" for warning in run.warnings)]
    out += ["", "assumptions:", *(f"  - {item}" for item in assumptions_text(a))]
    return "\n".join(out) + "\n"


def assumptions_text(a: ScaleAssumptions) -> list[str]:
    return [
        f"one vCPU ({a.memory_mb} MB, {'arm64' if a.arm64 else 'x86_64'}) per function; CSV -> JSON Lines "
        f"{a.csv_mb_s:g} MB/s, scan {a.scan_mb_s:g} MB/s (measured: python -m benchmarks.split); JSON Lines "
        f"{a.jsonl_mb_s:g}, JSON arrays {a.json_mb_s:g} MB/s (README benchmark)",
        f"{a.output_ratio:g} bytes of JSON Lines per input byte (measured on the benchmark's CSV)",
        f"S3 {a.s3_mb_s:g} MB/s each way per function, in sequence with the conversion; server-side copies "
        f"{a.copy_mb_s:g} MB/s a request, {COPY_CONCURRENCY} at once; {a.request_seconds:g} s a small request "
        "(all assumed)",
        f"gzip: {a.gzip_ratio:g} text bytes per compressed byte (assumed), inflated at {a.inflate_mb_s:g} MB/s",
        f"no retries, cold starts or Map scheduling delays; the Maps run {a.concurrency} children at once",
    ]


def _size(nbytes: int) -> str:
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if nbytes >= scale:
            return f"{nbytes / scale:,.4g} {unit}"
    return f"{nbytes} B"


def run_json(run: SizedRun, lines: Sequence[CostLine], a: ScaleAssumptions = DEFAULT_SCALE) -> dict[str, object]:
    """The report as JSON."""
    return {
        "source": {
            "bytes": run.source.size,
            "format": run.source.format.value,
            "compression": run.source.compression.value,
        },
        "path": run.route.value,
        "textBytes": run.text_bytes,
        "outputBytes": run.output_bytes,
        "ranges": run.ranges,
        "waves": run.waves,
        "concurrency": a.concurrency,
        "childType": a.child_type.value,
        "steps": [
            {
                "state": step.state,
                "invocations": len(step.durations),
                "maxSeconds": round(max(step.durations), 3),
                "wallSeconds": round(step.wall_seconds, 3),
                "putRequests": step.requests.puts,
                "getRequests": step.requests.gets,
            }
            for step in run.steps
        ],
        "wallSeconds": round(run.wall_seconds, 3),
        "transformWallSeconds": round(run.transform_wall_seconds, 3),
        "lines": [line.as_json() for line in lines],
        "costPerRun": round(sum(line.cost for line in lines), 6),
        "currency": "USD",
        "warnings": list(run.warnings),
        "assumptions": assumptions_text(a),
    }

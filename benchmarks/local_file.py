"""The transform of one local file into local JSON Lines files: the Lambda's path without S3.

The benchmark times this, so what it measures is exactly what the transform steps run: the
same sniffing as Fetch, the same converters and writers.
"""

from __future__ import annotations

from pathlib import Path

from tasks.common.sample import SAMPLE_BYTES, sample_of
from tasks.fetch.logic import profile_of
from tasks.transform.logic import TransformResult, TransformSettings, transform_stream
from tasks.transform.output import Lineage
from tasks.validate.logic import format_of

LOCAL_VERSION = "local"


def transform_file(
    source: Path, data: Path, rejects: Path, *, settings: TransformSettings | None = None
) -> TransformResult:
    """Transform ``source`` (its format from its name, as Validate decides) into ``data`` and ``rejects``."""
    fmt, compression = format_of(source.name)
    with source.open("rb") as head:
        raw = head.read(SAMPLE_BYTES)
    sample = sample_of(raw, whole=len(raw) == source.stat().st_size, compression=compression)
    profile = profile_of(sample, fmt, version_id=LOCAL_VERSION, etag="")
    with source.open("rb") as stream, data.open("wb") as data_sink, rejects.open("wb") as rejects_sink:
        return transform_stream(
            stream,
            fmt=fmt,
            compression=compression,
            profile=profile,
            lineage=Lineage(str(source), LOCAL_VERSION),
            data=data_sink,
            rejects=rejects_sink,
            settings=settings or TransformSettings(),
        )

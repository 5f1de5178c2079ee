"""Copy a run's committed output out of the local bucket into a folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.common.layout import MANIFEST_FILE, REJECTS_FILE

if TYPE_CHECKING:
    from tasks.common.models import OutputLocation
    from workflow.local.environment import LocalPipeline


def copy_output(pipeline: LocalPipeline, output: OutputLocation, folder: Path) -> list[Path]:
    """Write data (``data.jsonl`` or ``data.parquet``), rejects and manifest into ``folder``; each file
    appears whole or not at all."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for key, name in (
        (output.key, output.key.rsplit("/", 1)[-1]),
        (output.rejects_key, REJECTS_FILE),
        (output.manifest_key, MANIFEST_FILE),
    ):
        target = folder / name
        handle, scratch = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        with os.fdopen(handle, "wb") as stream:
            pipeline.client("s3").download_fileobj(pipeline.stack.bucket_name, key, stream)
        os.replace(scratch, target)
        written.append(target)
    return written

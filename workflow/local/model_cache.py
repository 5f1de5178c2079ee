"""botocore's data files (service models, endpoint rules, partitions) parsed once per installation.

botocore parses each JSON data file it loads (S3's model, the endpoint rules, ``endpoints.json``)
in every process that needs it: the engine, and each sandbox zygote. ``PickledFileLoader`` keeps
each file, once parsed, pickled under the engine's cache (3-5 times faster to load than JSON),
keyed by the file's path, size and modification time and by the botocore and moto versions, so an
upgrade or an edited file is parsed again. Standard library and botocore only: the sandboxes'
zygote imports it too. The reliance on botocore's ``JSONFileLoader._load_file`` is guarded by a
test in ``tests/workflow/test_moto_reliances.py``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from botocore.loaders import JSONFileLoader

from workflow.local.synth import cache_root


def model_cache_dir() -> Path:
    """Where the parsed files are kept: beside the synthesized templates."""
    return cache_root() / "models"


class PickledFileLoader(JSONFileLoader):  # type: ignore[misc]  # botocore ships no type information
    """botocore's JSON file loader, whose parsed files are kept pickled in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._versions = f"botocore=={version('botocore')} moto=={version('moto')}"

    def _load_file(self, full_path: str, open_method: Callable[..., Any]) -> Any:
        try:
            stat = os.stat(full_path)
        except OSError:
            return None
        key = hashlib.sha256(f"{full_path}\0{stat.st_size}\0{stat.st_mtime_ns}\0{self._versions}".encode())
        cached = self._directory / f"{key.hexdigest()}.pickle"
        try:
            return pickle.loads(cached.read_bytes())  # noqa: S301 - the engine's own cache, written below
        except (OSError, pickle.UnpicklingError, EOFError):
            data = super()._load_file(full_path, open_method)
        write_whole(cached, pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
        return data


def write_whole(path: Path, blob: bytes) -> None:
    """Write whole or not at all: a parallel reader never sees half a file (the engine's caches:
    service models here, parsed definitions in ``interpreter.py``). A cache that cannot be written
    is only slower, so a failure is ignored."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=".cache-")
        with os.fdopen(handle, "wb") as stream:
            stream.write(blob)
        os.replace(scratch, path)
    except OSError:
        return

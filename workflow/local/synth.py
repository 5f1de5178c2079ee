"""Synthesize the CDK app once and reuse the template until a file it depends on changes.

A full synth takes 7-13 s (Node, jsii); a warm ``pipeline run`` reads the cached template. The
cache key is a digest of every file the template is built from, plus the CDK version. Bundling
is skipped: the local runtime imports the handlers from this checkout, so the wheels that the
deployed asset carries are not needed here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from workflow.deployment import STACK_NAME

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_INPUT_GLOBS = (
    "app.py",
    "cdk.json",
    "stacks/**/*.py",
    # What the stack reads from workflow/: the contract at its root (definition, API, names).
    "workflow/*.py",
    "workflow/*.asl.json",
    "tasks/**/*.py",
    # The C extensions' sources: part of the code asset's hash, which the template names.
    "tasks/**/*.c",
    "tasks/**/requirements.txt",
)
CACHE_ENVIRONMENT = "PIPELINE_CACHE_DIR"


class SynthError(RuntimeError):
    """``cdk synth`` failed; the message carries its output."""


def cache_root() -> Path:
    configured = os.environ.get(CACHE_ENVIRONMENT)
    return Path(configured) if configured else PROJECT_ROOT / ".pipeline" / "synth"


def parse_cache() -> Path:
    """Where parsed state machine definitions are kept (``interpreter.py``), beside the templates."""
    return cache_root() / "asl"


def source_digest(root: Path = PROJECT_ROOT) -> str:
    digest = hashlib.sha256(f"aws-cdk-lib=={version('aws-cdk-lib')}".encode())
    files = sorted({path for pattern in _INPUT_GLOBS for path in root.glob(pattern) if path.is_file()})
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def synth_context(root: Path = PROJECT_ROOT) -> dict[str, object]:
    """What ``cdk synth`` would pass: cdk.json's context, with asset bundling turned off."""
    context: dict[str, object] = json.loads((root / "cdk.json").read_text())["context"]
    return {**context, "aws:cdk:bundling-stacks": []}


def cached_template(root: Path = PROJECT_ROOT) -> Path:
    """Where the template of the current sources is (or will be) cached."""
    return cache_root() / source_digest(root) / f"{STACK_NAME}.template.json"


def template_path(root: Path = PROJECT_ROOT) -> Path:
    """The synthesized template, from the cache when the sources have not changed."""
    template = cached_template(root)
    if template.is_file():
        return template
    target = template.parent
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        out_dir = Path(scratch) / "cdk.out"
        env = {
            **os.environ,
            "CDK_OUTDIR": str(out_dir),
            "CDK_CONTEXT_JSON": json.dumps(synth_context(root)),
            "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        }
        result = subprocess.run(
            [sys.executable, str(root / "app.py")], cwd=root, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise SynthError(f"cdk synth failed:\n{result.stderr[-4000:]}")
        staged = Path(scratch) / "template"
        staged.mkdir()
        # The template, the cloud assembly manifest (environment) and cdk-nag's reports.
        for kept in [out_dir / template.name, out_dir / "manifest.json", *out_dir.glob("*-NagReport.csv")]:
            shutil.copy2(kept, staged / kept.name)
        # If another process cached the same digest first, its template is identical: keep it.
        with contextlib.suppress(OSError):
            staged.rename(target)
    return template

"""Build the Lambda code asset without Docker: the ``tasks`` package plus its wheels for Lambda.

``pip install --platform`` fetches manylinux wheels for the functions' architecture and Python
version, so synth works on any machine with pip. Powertools is not bundled: it comes from AWS's
published layer.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TASKS_DIR = PROJECT_ROOT / "tasks"
REQUIREMENTS = TASKS_DIR / "requirements.txt"
ASSET_EXCLUDES = ["*", "!tasks", "!tasks/**", "**/__pycache__", "**/*.pyc"]


@jsii.implements(ILocalBundling)
class PipInstallBundling:
    def __init__(self, *, platform: str, python_version: str) -> None:
        self._platform = platform
        self._python_version = python_version

    def try_bundle(self, output_dir: str, _options: Any) -> bool:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                output_dir,
                "--platform",
                self._platform,
                "--implementation",
                "cp",
                "--python-version",
                self._python_version,
                "--only-binary=:all:",
                "--requirement",
                str(REQUIREMENTS),
            ],
            check=True,
        )
        shutil.copytree(
            TASKS_DIR,
            Path(output_dir) / "tasks",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
        return True


def tasks_code(runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> lambda_.Code:
    """The one code asset every task function shares."""
    platform = "manylinux2014_aarch64" if architecture.name == "arm64" else "manylinux2014_x86_64"
    python_version = runtime.name.removeprefix("python")
    return lambda_.Code.from_asset(
        str(PROJECT_ROOT),
        exclude=ASSET_EXCLUDES,
        bundling=BundlingOptions(
            image=DockerImage.from_registry("public.ecr.aws/sam/build-" + runtime.name),
            # jsii calls try_bundle(output_dir, options) positionally; its stub declares keywords.
            local=cast(ILocalBundling, PipInstallBundling(platform=platform, python_version=python_version)),
        ),
    )

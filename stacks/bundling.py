"""Build the Lambda code assets without Docker: the ``tasks`` package, its C extensions and its wheels.

``pip install --platform`` fetches manylinux wheels for the functions' architecture and Python
version, and Zig (a C compiler that carries the headers and libc of every target) cross-compiles
the extensions of ``pyproject.toml`` for that architecture, so synth works on any machine with pip.
Powertools is not bundled: it comes from AWS's published layer.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = PROJECT_ROOT / "pyproject.toml"
TASKS_DIR = PROJECT_ROOT / "tasks"
REQUIREMENTS = TASKS_DIR / "requirements.txt"
# Built on this machine for this machine: neither shipped nor part of the asset's hash.
HOST_ARTEFACTS = ("__pycache__", "*.pyc", "*.so")
# What the build reads but the functions do not run: hashed, not shipped.
BUILD_INPUTS = ("*.c", "*.h")
ASSET_EXCLUDES = ["*", "!tasks", "!tasks/**", *(f"**/{pattern}" for pattern in HOST_ARTEFACTS)]


class BundlingError(RuntimeError):
    """The asset cannot be built on this machine; the message says what is missing."""


@dataclass(frozen=True, slots=True)
class LambdaPlatform:
    """Where a function runs, as pip names it (wheel platform tags) and as Zig does (target triple)."""

    wheel_platforms: tuple[str, ...]
    zig_target: str


# glibc 2.17 is manylinux2014's floor: the extensions load wherever the manylinux2014 wheels do.
# Wheels may also be manylinux_2_28: the Python 3.12+ runtimes run on Amazon Linux 2023 (glibc
# 2.34), and some packages (DuckDB 2) publish no manylinux2014 wheel any more.
PLATFORMS = {
    lambda_.Architecture.ARM_64.name: LambdaPlatform(
        ("manylinux2014_aarch64", "manylinux_2_28_aarch64"), "aarch64-linux-gnu.2.17"
    ),
    lambda_.Architecture.X86_64.name: LambdaPlatform(
        ("manylinux2014_x86_64", "manylinux_2_28_x86_64"), "x86_64-linux-gnu.2.17"
    ),
}


@dataclass(frozen=True, slots=True)
class Extension:
    """One ``[[tool.setuptools.ext-modules]]`` entry: the module `pip install -e .` builds for this machine."""

    module: str
    sources: tuple[Path, ...]
    flags: tuple[str, ...]

    @property
    def target(self) -> str:
        """The file in the asset; abi3 because one stable-ABI build serves every newer Python."""
        return self.module.replace(".", "/") + ".abi3.so"


def extensions(pyproject: Path = PYPROJECT) -> tuple[Extension, ...]:
    """The C extensions of ``pyproject``, compiled with the same macros and flags as the local build."""
    entries = tomllib.loads(pyproject.read_text())["tool"]["setuptools"].get("ext-modules", [])
    found = []
    for entry in entries:
        # Only a stable-ABI build made with this machine's (older) Python headers runs on Lambda's Python.
        if not entry.get("py-limited-api"):
            raise BundlingError(f"{entry['name']}: only py-limited-api extensions can be cross-compiled for Lambda")
        macros = tuple(f"-D{name}={value}" for name, value in entry.get("define-macros", []))
        found.append(
            Extension(
                module=entry["name"],
                sources=tuple(pyproject.parent / source for source in entry["sources"]),
                flags=(*macros, *entry.get("extra-compile-args", [])),
            )
        )
    return tuple(found)


def zig_cc() -> list[str]:
    """The cross compiler's command line; fails before any download when Zig is not installed."""
    if find_spec("ziglang") is None:
        raise BundlingError(
            "Bundling the Lambda asset needs the Python package 'ziglang' (it cross-compiles the C "
            "extensions for Lambda): install it with `pip install -e '.[dev]'`"
        )
    return [sys.executable, "-m", "ziglang", "cc"]


@jsii.implements(ILocalBundling)
class TasksBundling:
    def __init__(self, *, platform: LambdaPlatform, python_version: str, requirements: Path) -> None:
        self._platform = platform
        self._python_version = python_version
        self._requirements = requirements

    def try_bundle(self, output_dir: str, _options: Any) -> bool:
        compiler = zig_cc()
        output = Path(output_dir)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                # Bytecode compiled by this machine's Python would be dead weight for Lambda's.
                "--no-compile",
                "--target",
                output_dir,
                *(argument for tag in self._platform.wheel_platforms for argument in ("--platform", tag)),
                "--implementation",
                "cp",
                "--python-version",
                self._python_version,
                "--only-binary=:all:",
                "--requirement",
                str(self._requirements),
            ],
            check=True,
        )
        shutil.copytree(
            TASKS_DIR,
            output / "tasks",
            ignore=shutil.ignore_patterns(*HOST_ARTEFACTS, *BUILD_INPUTS),
            dirs_exist_ok=True,
        )
        # Stable-ABI code built with this machine's headers: the limited API's layout is the same
        # on every 64-bit Linux, and Py_LIMITED_API pins the oldest Python it needs.
        include = f"-I{sysconfig.get_path('include')}"
        for extension in extensions():
            subprocess.run(
                [
                    *compiler,
                    "-target",
                    self._platform.zig_target,
                    "-shared",
                    "-fPIC",
                    *extension.flags,
                    include,
                    *map(str, extension.sources),
                    "-o",
                    str(output / extension.target),
                ],
                check=True,
            )
        return True


def tasks_code(
    runtime: lambda_.Runtime, architecture: lambda_.Architecture, *, requirements: Path = REQUIREMENTS
) -> lambda_.Code:
    """The ``tasks`` package with its extensions built for ``architecture`` and the wheels of ``requirements``.

    Functions given equal arguments share one asset. A function that needs more packages passes a
    requirements file of its own, inside ``tasks/`` (whose files make the asset's hash), that starts
    with ``-r ../requirements.txt`` to keep the common ones.
    """
    platform = PLATFORMS[architecture.name]
    return lambda_.Code.from_asset(
        str(PROJECT_ROOT),
        exclude=ASSET_EXCLUDES,
        bundling=BundlingOptions(
            image=DockerImage.from_registry("public.ecr.aws/sam/build-" + runtime.name),
            # CDK tells assets apart by these options and the source files, not by the local bundler:
            # naming the platform and the requirements here keeps different builds from sharing one asset.
            platform=architecture.docker_platform,
            environment={"REQUIREMENTS": requirements.resolve().relative_to(TASKS_DIR).as_posix()},
            # jsii calls try_bundle(output_dir, options) positionally; its stub declares keywords.
            local=cast(
                ILocalBundling,
                TasksBundling(
                    platform=platform,
                    python_version=runtime.name.removeprefix("python"),
                    requirements=requirements,
                ),
            ),
        ),
    )

"""The deployable code of every function, built as `cdk synth` builds it: what each asset ships, and its size.

One synth with bundling (wheels from PyPI, extensions cross-compiled by Zig) serves the module,
so it needs PyPI. The table of sizes is printed in the run's summary.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from stacks.bundling import PLATFORMS, REQUIREMENTS, BundlingError, TasksBundling, extensions
from tests.infra.queries import of_type
from workflow.deployment import STACK_NAME
from workflow.local.synth import PROJECT_ROOT, synth_context

MB = 10**6
# The budget per function (README, Deploy); Lambda itself allows 250 MB unzipped.
SIZE_LIMIT = 50 * MB
# WriteParquet carries DuckDB (README, Deploy: the one engine here that writes Parquet in bounded
# memory); its budget is its own, so that the other functions stay small.
SIZE_LIMITS = {"tasks.write_parquet.handler.lambda_handler": 100 * MB}
SYNTH_DEADLINE_S = 600
ELF_MACHINES = {"arm64": 0xB7, "x86_64": 0x3E}
WHEEL_ARCHITECTURES = {"arm64": "aarch64", "x86_64": "x86_64"}
MANYLINUX2014_GLIBC = (2, 17)


@dataclass(frozen=True, slots=True)
class DeployedFunction:
    name: str
    handler: str
    runtime: str
    architecture: str
    asset: Path

    def files(self) -> list[Path]:
        return [path for path in self.asset.rglob("*") if path.is_file()]

    def unzipped_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.files())


@dataclass(frozen=True, slots=True)
class CloudAssembly:
    out_dir: Path
    synth_seconds: float


@pytest.fixture(scope="module")
def cloud_assembly(tmp_path_factory: pytest.TempPathFactory) -> CloudAssembly:
    """The app synthesized with every asset bundled, unlike the cached synth the other suites read."""
    out_dir = tmp_path_factory.mktemp("cdk.out")
    env = {
        **os.environ,
        "CDK_OUTDIR": str(out_dir),
        "CDK_CONTEXT_JSON": json.dumps({**synth_context(), "aws:cdk:bundling-stacks": ["**"]}),
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SYNTH_DEADLINE_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return CloudAssembly(out_dir, time.monotonic() - started)


@pytest.fixture(scope="module")
def deployed(cloud_assembly: CloudAssembly) -> list[DeployedFunction]:
    """Each function of the template with the asset directory its ``Code`` names in the assembly."""
    out_dir = cloud_assembly.out_dir
    template = json.loads((out_dir / f"{STACK_NAME}.template.json").read_text())
    assets = json.loads((out_dir / f"{STACK_NAME}.assets.json").read_text())["files"]
    found = []
    for name, body in of_type(template, "AWS::Lambda::Function").items():
        props = body["Properties"]
        asset_hash = props["Code"]["S3Key"].removesuffix(".zip")
        (architecture,) = props.get("Architectures", ["x86_64"])
        asset = out_dir / assets[asset_hash]["source"]["path"]
        found.append(DeployedFunction(name, props["Handler"], props["Runtime"], architecture, asset))
    assert found
    return found


def elf_machine(path: Path) -> int | None:
    """The ``e_machine`` field of an ELF file's header, or None when the file is not ELF."""
    with path.open("rb") as file:
        header = file.read(20)
    if header[:4] != b"\x7fELF":
        return None
    byte_order: Literal["little", "big"] = "little" if header[5] == 1 else "big"
    return int.from_bytes(header[18:20], byte_order)


def newest_glibc(path: Path) -> tuple[int, int]:
    """The newest glibc symbol version the binary asks for (its ``GLIBC_x.y`` version strings);
    (0, 0) for one that asks for none (the compiler inlined all the C library it uses)."""
    versions = re.findall(rb"GLIBC_(\d+)\.(\d+)", path.read_bytes())
    return max(((int(major), int(minor)) for major, minor in versions), default=(0, 0))


def test_each_function_asset_unzips_to_at_most_50_mb_but_write_parquet_to_100_mb(
    deployed: list[DeployedFunction], cloud_assembly: CloudAssembly, record_property: Callable[[str, object], None]
) -> None:
    sizes = {function.name: function.unzipped_bytes() for function in deployed}
    rows = [f"{'function':<40} {'asset':<14} {'arch':<7} {'files':>6} {'unzipped MB':>12}"]
    rows += [
        f"{function.name:<40} {function.asset.name.removeprefix('asset.')[:12]:<14} {function.architecture:<7} "
        f"{len(function.files()):>6} {sizes[function.name] / MB:>12.2f}"
        for function in deployed
    ]
    rows.append(f"synth with bundling: {cloud_assembly.synth_seconds:.1f} s")
    record_property("report", "\n".join(rows))
    limits = {function.name: SIZE_LIMITS.get(function.handler, SIZE_LIMIT) for function in deployed}
    assert all(size <= limits[name] for name, size in sizes.items()), (sizes, limits)


def test_each_asset_carries_the_extensions_built_for_its_function_architecture_and_manylinux2014(
    deployed: list[DeployedFunction],
) -> None:
    built = extensions()
    assert built, "pyproject.toml declares the C extensions"
    for function in deployed:
        for extension in built:
            binary = function.asset / extension.target
            assert binary.is_file(), (function.name, extension.target)
            assert elf_machine(binary) == ELF_MACHINES[function.architecture], (function.name, extension.target)
            assert newest_glibc(binary) <= MANYLINUX2014_GLIBC, (function.name, extension.target)


def test_msgspec_in_each_asset_is_the_manylinux_wheel_for_its_function_architecture(
    deployed: list[DeployedFunction],
) -> None:
    for function in deployed:
        (core,) = (function.asset / "msgspec").glob("_core*.so")
        assert elf_machine(core) == ELF_MACHINES[function.architecture], function.name
        (wheel,) = function.asset.glob("msgspec-*.dist-info/WHEEL")
        tags = [line.removeprefix("Tag: ") for line in wheel.read_text().splitlines() if line.startswith("Tag: ")]
        assert tags, function.name
        python = "cp" + function.runtime.removeprefix("python").replace(".", "")
        expected = rf"{python}-{python}-manylinux\w*_{WHEEL_ARCHITECTURES[function.architecture]}"
        for tag in tags:
            assert re.fullmatch(expected, tag), tag


def test_no_asset_holds_machine_code_for_another_architecture(deployed: list[DeployedFunction]) -> None:
    for function in deployed:
        native = ELF_MACHINES[function.architecture]
        machines = {path.relative_to(function.asset): elf_machine(path) for path in function.files()}
        foreign = {path for path, machine in machines.items() if machine not in {None, native}}
        assert foreign == set(), function.name


def test_no_asset_ships_c_sources_or_bytecode(deployed: list[DeployedFunction]) -> None:
    for function in deployed:
        shipped = [path.relative_to(function.asset) for path in function.asset.rglob("*")]
        unwanted = [path for path in shipped if path.suffix in {".c", ".h", ".pyc"} or path.name == "__pycache__"]
        assert unwanted == [], function.name


def test_each_asset_holds_the_handler_module_its_function_names(deployed: list[DeployedFunction]) -> None:
    for function in deployed:
        module, _, _ = function.handler.rpartition(".")
        *packages, _ = module.split(".")
        assert (function.asset / (module.replace(".", "/") + ".py")).is_file(), function.handler
        for depth in range(1, len(packages) + 1):
            assert (function.asset / "/".join(packages[:depth]) / "__init__.py").is_file(), function.handler


def test_bundling_without_zig_fails_naming_the_package_before_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a machine without the ziglang package
    monkeypatch.setattr("stacks.bundling.find_spec", lambda _name: None)
    bundling = TasksBundling(platform=PLATFORMS["arm64"], python_version="3.13", requirements=REQUIREMENTS)
    # When the asset is bundled
    with pytest.raises(BundlingError, match="'ziglang'"):
        bundling.try_bundle(str(tmp_path), None)
    # Then it fails at once, with nothing fetched
    assert list(tmp_path.iterdir()) == []

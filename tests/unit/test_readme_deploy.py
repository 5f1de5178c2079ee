"""The README's Deploy section says what deploying with the pinned tools really takes."""

from __future__ import annotations

import json
import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
README = PROJECT_ROOT / "README.md"


def deploy_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Deploy\n")
    return text[start : text.index("\n## ", start + 1)]


def pinned_cli_version() -> str:
    found = re.search(r"^CDK_CLI_VERSION := (\S+)$", (PROJECT_ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found is not None
    return found.group(1)


def test_every_cdk_command_uses_the_cli_the_makefile_pins() -> None:
    commands = re.findall(r"npx aws-cdk@(\S+) (\w+)", deploy_section())
    assert {verb for _, verb in commands} >= {"bootstrap", "deploy", "destroy"}
    assert {version for version, _ in commands} == {pinned_cli_version()}


def test_it_asks_for_the_node_version_the_cli_supports_and_says_how_to_get_it() -> None:
    section = deploy_section()
    assert "Node.js 22 or newer" in section
    assert "npm install --prefix .tools/node node@22" in section
    assert "JSII_NODE=" in section


def test_a_deploy_without_a_terminal_is_shown_with_approval_off() -> None:
    assert re.search(r"npx aws-cdk@\S+ deploy --require-approval never", deploy_section())


def test_every_context_value_the_stack_reads_is_documented() -> None:
    read = set(re.findall(r'value\(node, "(\w+)"', (PROJECT_ROOT / "stacks" / "config.py").read_text()))
    documented = set(re.findall(r"^\| `(\w+)` \|", deploy_section(), re.MULTILINE))
    assert read
    assert read <= documented, read - documented


def test_the_context_cdk_json_deploys_is_the_documented_default() -> None:
    # cdk.json shows the parameters for editing; as shipped, a deploy gets the defaults the README
    # documents (a 2 GiB maxObjectBytes there once refused every source the split is built for)
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    defaults = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)`", deploy_section(), re.MULTILINE))
    shown = {name: value for name, value in context.items() if not name.startswith("@")}
    assert shown.keys() - {"notificationEmail"} <= defaults.keys()
    for name, value in shown.items():
        if name == "notificationEmail":
            assert value == "", "the default subscribes no address"
            continue
        assert str(value) == defaults[name], name

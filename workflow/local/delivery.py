"""What EventBridge makes of a matched event for a rule's target: the target's input (its input
transformer), and the name the engine gives the execution it starts.

Pure functions of the event, in a module that imports no moto (``eventbridge.py`` delivers with
them; an import contract in ``pyproject.toml`` holds it).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from workflow.executions import NAME_LIMIT, S3_NAME_PREFIX

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.-]+)>")
# A JSON string literal, or a placeholder outside one.
_TOKEN = re.compile(r'("(?:[^"\\]|\\.)*")|<([A-Za-z0-9_.-]+)>')
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
EVENT_NAME_PREFIX = "event-"


def json_path(event: dict[str, Any], path: str) -> Any:
    """Evaluate the dotted JSONPath subset input transformers use (``$.detail.object.key``)."""
    value: Any = event
    for part in path.removeprefix("$").strip(".").split("."):
        if not part:
            continue
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def apply_input_transformer(event: dict[str, Any], input_paths: dict[str, str], input_template: str | None) -> str:
    """EventBridge's input transformer.

    A placeholder inside a JSON string literal takes the value's text (escaped); one outside a
    string takes the JSON value. Without a template the whole event is the input.
    """
    if input_template is None:
        return json.dumps(event)
    values = {name: json_path(event, path) for name, path in input_paths.items()}

    def as_text(value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        return json.dumps(text)[1:-1]

    def inside_string(match: re.Match[str]) -> str:
        name = match.group(1)
        return as_text(values[name]) if name in values else match.group(0)

    def replace(match: re.Match[str]) -> str:
        literal, name = match.group(1), match.group(2)
        if literal is not None:
            return _PLACEHOLDER.sub(inside_string, literal)
        return json.dumps(values[name]) if name in values else match.group(0)

    return _TOKEN.sub(replace, input_template)


def execution_name(event: dict[str, Any]) -> str:
    """A name from the fields unique to an S3 event (moto's event ``id`` is a constant).

    The same object version always gives the same name, so a duplicated delivery of one event
    cannot start a second execution here. On AWS it can: a rule's target names no execution, so
    Step Functions names each one itself, and a redelivered event starts another run, which the
    ledger ends at AlreadyHandled (``tests/workflow/test_reliability.py`` starts one so). An event
    about no object (a Step Functions status change) is named after its whole detail.
    """
    detail = event.get("detail", {})
    if "object" not in detail:
        digest = hashlib.sha256(json.dumps(detail, sort_keys=True).encode()).hexdigest()[:32]
        return f"{EVENT_NAME_PREFIX}{digest}"
    bucket = detail.get("bucket", {}).get("name", "")
    obj = detail.get("object", {})
    key, version = obj.get("key", ""), obj.get("version-id", "")
    digest = hashlib.sha256(f"{bucket}\0{key}\0{version}".encode()).hexdigest()[:16]
    readable = _NAME_CHARS.sub("-", key.rsplit("/", 1)[-1]).strip("-") or "object"
    room = NAME_LIMIT - len(S3_NAME_PREFIX) - len(digest) - 1
    return f"{S3_NAME_PREFIX}{readable[:room]}-{digest}"

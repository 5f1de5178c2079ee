"""The workflow definition as a Mermaid flowchart, optionally coloured by a run's state statuses.

Shapes follow the state type (Task rectangle, Choice rhombus, Pass rounded, Fail and Succeed
stadium); edges are ``Next``, each Choice rule (labelled with the value it compares), ``Default``,
each ``Catch`` (dotted) and ``End`` (to a terminal node). The output depends only on the input:
states in the definition's order, edges in the order the definition lists them.
Parallel branches and Map iterators are drawn as one node each, not expanded.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tasks.common.errors import BUSINESS_ERROR_NAMES
from workflow.definition import definition_text, placeholders, substitute
from workflow.deployment import LOCAL_ACCOUNT, REGION

START_ID = "__start__"
END_ID = "__end__"
BUSINESS_ERROR_LABEL = "business error"

# Status (a visit's, as in workflow.executions, plus NOTRUN for a state the run never entered) -> class.
STATUS_CLASSES: dict[str, str] = {
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "CAUGHT": "caught",
    "RUNNING": "running",
    "NOTRUN": "notrun",
}
CLASS_STYLES: dict[str, str] = {
    "succeeded": "fill:#d8f0d8,stroke:#2e7d32,color:#1b5e20",
    "failed": "fill:#fbd5d5,stroke:#c62828,color:#8e0000,stroke-width:2px",
    "caught": "fill:#ffe3c2,stroke:#ef6c00,color:#8a3b00",
    "running": "fill:#d6e8fb,stroke:#1565c0,color:#0d3c78",
    "notrun": "fill:#eeeeee,stroke:#9e9e9e,color:#616161",
}

# (opening, closing) of the node shape per state type; anything else is a rectangle.
_SHAPES: dict[str, tuple[str, str]] = {
    "Task": ("[", "]"),
    "Choice": ("{", "}"),
    "Pass": ("(", ")"),
    "Fail": ("([", "])"),
    "Succeed": ("([", "])"),
    "Wait": ("[/", "/]"),
    "Parallel": ("[[", "]]"),
    "Map": ("[[", "]]"),
}
# Words Mermaid's flowchart grammar reserves; a state so named gets a suffixed id.
_RESERVED = frozenset(
    {
        "end",
        "graph",
        "flowchart",
        "subgraph",
        "style",
        "linkstyle",
        "classdef",
        "class",
        "click",
        "call",
        "href",
        "direction",
        "default",
        "interpolate",
        "callback",
    }
)
_NOT_ID_CHARS = re.compile(r"[^A-Za-z0-9_]")
_CHOICE_META = frozenset({"Variable", "Next", "Comment", "Assign", "Output"})
_RELATIONS = (
    ("GreaterThanEquals", ">= "),
    ("LessThanEquals", "<= "),
    ("GreaterThan", "> "),
    ("LessThan", "< "),
    ("Equals", ""),
    ("Matches", "matches "),
)


def _label(text: str) -> str:
    """Text for a quoted Mermaid label: characters the grammar or HTML would read, as entity codes."""
    return (
        text.replace("#", "#35;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("|", "#124;")
        .replace("\n", " ")
    )


def _node_ids(names: list[str]) -> dict[str, str]:
    """A Mermaid id per state name: the name itself when it is a safe identifier, else a cleaned
    form; unique, and never one of the start and end ids."""
    used = {START_ID, END_ID}
    ids: dict[str, str] = {}
    for name in names:
        candidate = _NOT_ID_CHARS.sub("_", name)
        if not candidate[:1].isalpha():
            candidate = "s_" + candidate
        if candidate.lower() in _RESERVED:
            candidate += "_state"
        unique, number = candidate, 2
        while unique in used:
            unique, number = f"{candidate}_{number}", number + 1
        used.add(unique)
        ids[name] = unique
    return ids


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def choice_label(rule: dict[str, Any]) -> str:
    """What a Choice rule tests, briefly: the compared value for an equality (``csv``), the
    relation otherwise (``> 10``, ``matches *.csv``, ``is present``), combined for And/Or/Not."""
    if isinstance(rule.get("Condition"), str):  # JSONata
        return str(rule["Condition"])
    for combinator, joiner in (("And", " and "), ("Or", " or ")):
        if isinstance(rule.get(combinator), list):
            return joiner.join(choice_label(part) for part in rule[combinator])
    if isinstance(rule.get("Not"), dict):
        return "not " + choice_label(rule["Not"])
    comparisons = [(operator, operand) for operator, operand in rule.items() if operator not in _CHOICE_META]
    return _comparison_label(*comparisons[0]) if comparisons else "?"


def _comparison_label(operator: str, operand: Any) -> str:
    if operator.startswith("Is"):  # IsNull, IsPresent, IsString, ...
        what = operator.removeprefix("Is").lower()
        return f"is {what}" if operand is True else f"is not {what}"
    base = operator.removesuffix("Path")
    relation = next((relation for suffix, relation in _RELATIONS if base.endswith(suffix)), f"{operator} ")
    return relation + _value(operand)


def _catch_label(errors: list[str]) -> str:
    if errors and set(errors) <= set(BUSINESS_ERROR_NAMES):
        return BUSINESS_ERROR_LABEL
    return ", ".join(errors)


def _edges(states: dict[str, Any], ids: dict[str, str]) -> list[str]:
    lines: list[str] = []
    seen: set[str] = set()

    def add(line: str) -> None:
        if line not in seen:
            seen.add(line)
            lines.append(line)

    def target(name: str) -> str:
        if name not in ids:
            raise ValueError(f"a transition names {name!r}, which is not a state of the definition")
        return ids[name]

    for name, state in states.items():
        source = ids[name]
        for rule in state.get("Choices", []):
            add(f'    {source} -->|"{_label(choice_label(rule))}"| {target(rule["Next"])}')
        if "Default" in state:
            add(f'    {source} -->|"default"| {target(state["Default"])}')
        if "Next" in state:
            add(f"    {source} --> {target(state['Next'])}")
        for catcher in state.get("Catch", []):
            label = _label(_catch_label(list(catcher.get("ErrorEquals", []))))
            add(f'    {source} -.->|"{label}"| {target(catcher["Next"])}')
        if state.get("End") is True:
            add(f"    {source} --> {END_ID}")
    return lines


def mermaid(definition: dict[str, Any], statuses: dict[str, str] | None = None) -> str:
    """The definition as a Mermaid ``flowchart TD``.

    ``statuses`` (state name -> SUCCEEDED, FAILED, CAUGHT, RUNNING or NOTRUN, any case) colours
    the nodes; a state it does not name is drawn as not run, and a name the definition does not
    have is ignored (a run of an older version of the definition may have visited it).
    ``ValueError`` for an unknown status or a transition to a state that does not exist.
    """
    states: dict[str, Any] = definition["States"]
    ids = _node_ids(list(states))
    lines = ["flowchart TD", f'    {START_ID}(("start"))']
    for name, state in states.items():
        opening, closing = _SHAPES.get(state.get("Type", ""), ("[", "]"))
        lines.append(f'    {ids[name]}{opening}"{_label(name)}"{closing}')
    lines.append(f'    {END_ID}(("end"))')
    start_at = definition["StartAt"]
    if start_at not in ids:
        raise ValueError(f"StartAt names {start_at!r}, which is not a state of the definition")
    lines.append(f"    {START_ID} --> {ids[start_at]}")
    lines.extend(_edges(states, ids))
    if statuses is not None:
        lines.extend(_classes(statuses, ids))
    return "\n".join(lines) + "\n"


def _classes(statuses: dict[str, str], ids: dict[str, str]) -> list[str]:
    members: dict[str, list[str]] = {css: [] for css in CLASS_STYLES}
    for name, node in ids.items():
        status = statuses.get(name, "NOTRUN").upper()
        if status not in STATUS_CLASSES:
            raise ValueError(f"unknown status {statuses[name]!r} for {name}: use one of {', '.join(STATUS_CLASSES)}")
        members[STATUS_CLASSES[status]].append(node)
    lines = [f"    classDef {css} {style}" for css, style in CLASS_STYLES.items()]
    lines.extend(f"    class {','.join(nodes)} {css}" for css, nodes in members.items() if nodes)
    return lines


def _dummy_arn(placeholder: str) -> str:
    if placeholder.endswith("FunctionArn"):
        return f"arn:aws:lambda:{REGION}:{LOCAL_ACCOUNT}:function:{placeholder.removesuffix('FunctionArn')}"
    return f"arn:aws:sns:{REGION}:{LOCAL_ACCOUNT}:{placeholder}"


def readme_graph() -> str:
    """The README's fenced Mermaid block of the workflow (placeholders filled with dummy ARNs)."""
    text = definition_text()
    definition = substitute(text, {name: _dummy_arn(name) for name in sorted(placeholders(text))})
    return f"```mermaid\n{mermaid(definition)}```\n"

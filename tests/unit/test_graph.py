"""The workflow as a Mermaid flowchart: every state and transition of the real definition, coloured by status."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tasks.common.errors import BUSINESS_ERROR_NAMES
from workflow.definition import definition_text, placeholders, substitute
from workflow.ops.graph import END_ID, START_ID, choice_label, mermaid, readme_graph

NODE = re.compile(r"^    (\w+)(\(\(|\(\[|\[\[|\[/|\[|\{|\()\"(.*?)\"(\)\)|\]\)|\]\]|/\]|\]|\}|\))$")
EDGE = re.compile(r"^    (\w+) (-->|-\.->)(?:\|\"(.*?)\"\|)? (\w+)$")


def real_definition() -> dict[str, Any]:
    text = definition_text()
    return substitute(
        text, {name: f"arn:aws:lambda:us-east-1:123456789012:function:{name}" for name in placeholders(text)}
    )


def nodes(graph: str) -> dict[str, tuple[str, str]]:
    """id -> (opening bracket, label)."""
    return {match[1]: (match[2], match[3]) for line in graph.splitlines() if (match := NODE.match(line))}


def edges(graph: str) -> set[tuple[str, str, str | None, str]]:
    """(source, arrow, label, target)."""
    return {(m[1], m[2], m[3], m[4]) for line in graph.splitlines() if (m := EDGE.match(line))}


def classes(graph: str) -> dict[str, str]:
    """node id -> class, from ``class a,b name`` lines."""
    assigned: dict[str, str] = {}
    for line in graph.splitlines():
        if line.startswith("    class "):
            _, members, css = line.split()
            assigned.update(dict.fromkeys(members.split(","), css))
    return assigned


def test_every_state_of_the_real_definition_is_a_node_shaped_by_its_type() -> None:
    # Given the real definition
    definition = real_definition()

    # When it is drawn
    graph = mermaid(definition)

    # Then it is a top-down flowchart with one node per state (plus start and end), labelled by name
    assert graph.startswith("flowchart TD\n")
    drawn = nodes(graph)
    assert set(drawn) == set(definition["States"]) | {START_ID, END_ID}
    shapes = {"Task": "[", "Choice": "{", "Pass": "(", "Fail": "([", "Succeed": "([", "Map": "[["}
    for name, state in definition["States"].items():
        assert drawn[name] == (shapes[state["Type"]], name)
    # And every line is either the header, a node or an edge: nothing else slipped in
    assert all(line == "flowchart TD" or NODE.match(line) or EDGE.match(line) for line in graph.splitlines()), graph


def test_every_transition_of_the_real_definition_is_an_edge() -> None:
    # Given the real definition and the transitions it declares
    definition = real_definition()
    expected: set[tuple[str, str, str | None, str]] = {(START_ID, "-->", None, definition["StartAt"])}
    for name, state in definition["States"].items():
        if "Next" in state:
            expected.add((name, "-->", None, state["Next"]))
        if state.get("End"):
            expected.add((name, "-->", None, END_ID))
        for rule in state.get("Choices", []):
            expected.add((name, "-->", choice_label(rule), rule["Next"]))
        if "Default" in state:
            expected.add((name, "-->", "default", state["Default"]))
        for catcher in state.get("Catch", []):
            errors = catcher["ErrorEquals"]
            label = "business error" if set(errors) <= set(BUSINESS_ERROR_NAMES) else ", ".join(errors)
            expected.add((name, "-.->", label, catcher["Next"]))

    # When it is drawn
    drawn = edges(mermaid(definition))

    # Then the edges are exactly those transitions: Next, each Choice (labelled with what it tests),
    # Default, each Catch (dotted; business errors under one label) and End
    assert drawn == expected
    assert ("RouteByFormat", "-->", "csv", "TransformCsv") in drawn
    assert ("TransformCsv", "-.->", "business error", "DescribeRejection") in drawn
    assert ("RecordStart", "-.->", "DynamoDB.ConditionalCheckFailedException", "RecordDuplicate") in drawn
    assert ("Notify", "-->", None, END_ID) in drawn
    # And the Fail state is a dead end
    assert not any(source == "Rejected" for source, *_ in drawn)


def test_statuses_colour_the_nodes_and_unvisited_states_are_grey() -> None:
    # Given the statuses of a run that failed at TransformCsv after a caught error elsewhere
    statuses = {"Validate": "SUCCEEDED", "Fetch": "CAUGHT", "RouteByFormat": "succeeded", "TransformCsv": "FAILED"}
    statuses["WriteOutput"] = "RUNNING"

    # When the graph is drawn with them
    graph = mermaid(real_definition(), statuses)

    # Then every class is defined with its colour and each state gets the class of its status
    for css, colour in [
        ("succeeded", "#2e7d32"),
        ("failed", "#c62828"),
        ("caught", "#ef6c00"),
        ("running", "#1565c0"),
        ("notrun", "#9e9e9e"),
    ]:
        assert re.search(rf"^    classDef {css} .*stroke:{colour}", graph, re.MULTILINE), css
    assigned = classes(graph)
    assert assigned["Validate"] == assigned["RouteByFormat"] == "succeeded"
    assert (assigned["Fetch"], assigned["TransformCsv"], assigned["WriteOutput"]) == ("caught", "failed", "running")
    assert {assigned[name] for name in ("Notify", "Rejected", "TransformJson")} == {"notrun"}
    assert set(assigned) == set(real_definition()["States"])
    # And without statuses nothing is coloured
    assert "classDef" not in mermaid(real_definition())


def test_unknown_statuses_are_refused_and_unknown_states_ignored() -> None:
    # A status outside the vocabulary is a mistake
    with pytest.raises(ValueError, match="unknown status 'DONE' for Validate"):
        mermaid(real_definition(), {"Validate": "DONE"})
    # A state the definition no longer has (a run of an older version) is left out of the picture
    graph = mermaid(real_definition(), {"Validate": "SUCCEEDED", "Renamed": "FAILED"})
    assert graph == mermaid(real_definition(), {"Validate": "SUCCEEDED"})


def test_output_is_stable() -> None:
    # Given the same definition drawn twice, once from a copy with its states in another order
    definition = real_definition()
    shuffled = {**definition, "States": dict(reversed(list(definition["States"].items())))}

    # Then the text is identical run to run, and the same nodes and edges come out of the reordered copy
    assert mermaid(definition) == mermaid(real_definition())
    assert mermaid(definition, {"Validate": "FAILED"}) == mermaid(real_definition(), {"Validate": "FAILED"})
    assert edges(mermaid(shuffled)) == edges(mermaid(definition))
    assert nodes(mermaid(shuffled)) == nodes(mermaid(definition))


def test_unsafe_names_and_other_rules_still_make_a_valid_graph() -> None:
    # Given a definition whose names are Mermaid keywords or not identifiers, and richer Choice rules
    definition = {
        "StartAt": "check size",
        "States": {
            "check size": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.size", "NumericGreaterThan": 10, "Next": "end"},
                    {
                        "And": [
                            {"Variable": "$.key", "StringMatches": '*"x"|<y>'},
                            {"Not": {"Variable": "$.z", "IsPresent": True}},
                        ],
                        "Next": "9lives",
                    },
                ],
                "Default": "end",
            },
            "end": {"Type": "Succeed"},
            "9lives": {
                "Type": "Task",
                "Resource": "arn",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "end"}],
                "End": True,
            },
        },
    }

    # When it is drawn
    graph = mermaid(definition)

    # Then ids are safe (no keyword, no leading digit, no space) and labels keep the names
    drawn = nodes(graph)
    assert drawn["end_state"] == ("([", "end")
    assert drawn["s_9lives"] == ("[", "9lives")
    assert drawn["check_size"] == ("{", "check size")
    # And labels escape what Mermaid would read as syntax; a non-business Catch names its errors
    assert edges(graph) >= {
        ("check_size", "-->", "#gt; 10", "end_state"),
        ("check_size", "-->", "matches *#quot;x#quot;#124;#lt;y#gt; and not is present", "s_9lives"),
        ("s_9lives", "-.->", "States.ALL", "end_state"),
    }


def test_choice_labels() -> None:
    assert choice_label({"Variable": "$.f", "StringEquals": "csv", "Next": "A"}) == "csv"
    assert choice_label({"Variable": "$.n", "NumericLessThanEqualsPath": "$.max", "Next": "A"}) == "<= $.max"
    assert choice_label({"Variable": "$.b", "BooleanEquals": False, "Next": "A"}) == "false"
    assert choice_label({"Variable": "$.x", "IsNull": False, "Next": "A"}) == "is not null"
    assert (
        choice_label(
            {"Or": [{"Variable": "$.a", "StringEquals": "a"}, {"Variable": "$.a", "StringEquals": "b"}], "Next": "A"}
        )
        == "a or b"
    )
    assert choice_label({"Condition": "{% $states.input.n > 1 %}", "Next": "A"}) == "{% $states.input.n > 1 %}"


def test_transitions_to_missing_states_are_refused() -> None:
    with pytest.raises(ValueError, match="'Nowhere', which is not a state"):
        mermaid({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}})
    with pytest.raises(ValueError, match="StartAt names 'B'"):
        mermaid({"StartAt": "B", "States": {"A": {"Type": "Pass", "End": True}}})


def test_readme_graph_is_the_fenced_graph_of_the_real_definition() -> None:
    # When the README block is made
    block = readme_graph()

    # Then it is one fenced mermaid block holding the graph of the definition, with no placeholder left
    assert block.startswith("```mermaid\nflowchart TD\n")
    assert block.endswith("\n```\n")
    assert block.removeprefix("```mermaid\n").removesuffix("```\n") == mermaid(real_definition())
    assert "${" not in block

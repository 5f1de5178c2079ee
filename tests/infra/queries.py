"""Small queries over a synthesized CloudFormation template, shared by the infra tests."""

from __future__ import annotations

from typing import Any


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in template["Resources"].items() if body["Type"] == kind}


def only(template: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    found = of_type(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.items()))


def output_ref(template: dict[str, Any], output: str) -> str:
    logical_id: str = template["Outputs"][output]["Value"]["Ref"]
    return logical_id


def statements_of_role(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """Every statement of every policy (inline or managed) attached to the role ``role``."""
    statements: list[dict[str, Any]] = []
    for body in template["Resources"].values():
        if body["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} and {"Ref": role} in body["Properties"].get(
            "Roles", []
        ):
            statements.extend(body["Properties"]["PolicyDocument"]["Statement"])
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]

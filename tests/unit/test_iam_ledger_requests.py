"""The ledger's DynamoDB calls as the authorization requests AWS makes for them, checked against the
statements the stack grants."""

from __future__ import annotations

from typing import Any

import pytest

from workflow.local.iam.evaluation import Policy, evaluate
from workflow.local.iam.requests import Caller, KnownResources, UnmappedCall, checks_for_call

ACCOUNT = "123456789012"
REGION = "us-east-1"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Ledger"
RESOURCES = KnownResources(ACCOUNT, REGION)
WORKFLOW = Caller.role_session(f"arn:aws:iam::{ACCOUNT}:role/WorkflowRole", "workflow")


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        ("UpdateItem", {"TableName": "Ledger", "Key": {}}, [("dynamodb:UpdateItem", TABLE_ARN)]),
        ("GetItem", {"TableName": "Ledger", "Key": {}}, [("dynamodb:GetItem", TABLE_ARN)]),
        ("Query", {"TableName": "Ledger", "IndexName": "byRun"}, [("dynamodb:Query", f"{TABLE_ARN}/index/byRun")]),
        ("Query", {"TableName": "Ledger"}, [("dynamodb:Query", TABLE_ARN)]),
        ("Scan", {"TableName": "Ledger"}, [("dynamodb:Scan", TABLE_ARN)]),
        ("BatchGetItem", {"RequestItems": {"Ledger": {"Keys": []}}}, [("dynamodb:BatchGetItem", TABLE_ARN)]),
    ],
)
def test_each_ledger_call_asks_for_its_action_on_the_table_or_its_index(
    operation: str, params: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    found = checks_for_call(WORKFLOW, "dynamodb", operation, params, RESOURCES)
    assert [(check.request.action, check.request.resource) for check in found] == expected


def test_a_query_on_an_index_is_allowed_by_the_index_s_statement_only() -> None:
    # Given the workflow's statement: Query on the succeeded-versions index, nothing else
    policy = Policy(
        "Workflow",
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": f"{TABLE_ARN}/index/bySucceededAt"}
            ],
        },
    )

    # Then its query is allowed, and the same query on the table or another index is not
    def allowed(index: str | None) -> bool:
        params = {"TableName": "Ledger", **({"IndexName": index} if index else {})}
        (check,) = checks_for_call(WORKFLOW, "dynamodb", "Query", params, RESOURCES)
        return evaluate(check.request, identity=[policy]).allowed

    assert (allowed("bySucceededAt"), allowed(None), allowed("byStatus")) == (True, False, False)


def test_a_call_without_its_table_is_refused() -> None:
    with pytest.raises(UnmappedCall):
        checks_for_call(WORKFLOW, "dynamodb", "UpdateItem", {}, RESOURCES)
    with pytest.raises(UnmappedCall):
        checks_for_call(WORKFLOW, "dynamodb", "BatchGetItem", {"RequestItems": {}}, RESOURCES)

"""The template's side of the deploy review's size and readability findings.

Finding 8: the bucket policy refuses uploads of sources the functions could not read. Finding 7:
the decompression limits are context parameters that reach the transforms. Finding 6: Fetch and
the transforms may stage and read their per-column documents under ``staging/``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tasks.common.layout import SOURCE_PREFIXES
from workflow.local.iam.evaluation import Decision, Request, Verdict
from workflow.local.iam.requests import Check, checks_for_call
from workflow.local.iam.template_policies import TemplatePolicies, load_policies
from workflow.local.template import StackModel

ENCRYPTION = "s3:x-amz-server-side-encryption"
CUSTOMER_KEY = "s3:x-amz-server-side-encryption-customer-algorithm"
STORAGE_CLASS = "s3:x-amz-storage-class"


@pytest.fixture(scope="module")
def policies(template: dict[str, Any]) -> TemplatePolicies:
    return load_policies(template)


def upload(policies: TemplatePolicies, stack_model: StackModel, key: str, headers: dict[str, str]) -> Verdict:
    """The verdict on a PutObject of ``key`` sending ``headers`` (as condition keys), by any role."""
    caller = policies.function_caller(next(iter(stack_model.functions)))
    (check,) = checks_for_call(
        caller, "s3", "PutObject", {"Bucket": stack_model.bucket_name, "Key": key}, policies.resources
    )
    request = check.request
    return policies.verdict(
        Check(Request(request.principal, request.action, request.resource, {**request.context, **headers}))
    )


@pytest.mark.parametrize("prefix", SOURCE_PREFIXES)
@pytest.mark.parametrize(
    "headers",
    [
        {ENCRYPTION: "aws:kms"},
        {ENCRYPTION: "aws:kms:dsse"},
        {CUSTOMER_KEY: "AES256"},
        {STORAGE_CLASS: "GLACIER"},
        {STORAGE_CLASS: "DEEP_ARCHIVE"},
        {STORAGE_CLASS: "STANDARD_IA"},
    ],
)
def test_the_bucket_refuses_sources_the_functions_could_not_read(
    policies: TemplatePolicies, stack_model: StackModel, prefix: str, headers: dict[str, str]
) -> None:
    # When a source is uploaded with a KMS or customer key, or to another storage class
    verdict = upload(policies, stack_model, prefix + "data.csv", headers)

    # Then the bucket policy denies it explicitly, whoever uploads it
    assert verdict.decision is Decision.EXPLICIT_DENY
    assert verdict.statement is not None
    assert verdict.statement.policy.startswith("StorageBucketPolicy")
    assert verdict.statement.sid is not None
    assert verdict.statement.sid.startswith("RefuseSources")


@pytest.mark.parametrize(
    ("key", "headers"),
    [
        ("incoming/data.csv", {}),
        ("incoming/data.csv", {ENCRYPTION: "AES256"}),
        ("uploads/data.csv", {ENCRYPTION: "AES256", STORAGE_CLASS: "STANDARD"}),
        ("processed/data.csv/v/data.jsonl", {STORAGE_CLASS: "GLACIER"}),
    ],
)
def test_the_bucket_leaves_readable_sources_and_other_prefixes_to_the_roles(
    policies: TemplatePolicies, stack_model: StackModel, key: str, headers: dict[str, str]
) -> None:
    verdict = upload(policies, stack_model, key, headers)
    assert verdict.decision is not Decision.EXPLICIT_DENY, verdict.message()


def test_the_transforms_get_the_decompression_limits_from_context(template: dict[str, Any]) -> None:
    functions = [
        body["Properties"]
        for body in template["Resources"].values()
        if body["Type"] == "AWS::Lambda::Function" and body["Properties"]["Handler"].startswith("tasks.transform.")
    ]
    assert len(functions) == 3
    for props in functions:
        variables = props["Environment"]["Variables"]
        assert variables["MAX_DECOMPRESSED_BYTES"] == str(8 * 1024**3)
        assert float(variables["MAX_COMPRESSION_RATIO"]) == 100


@pytest.mark.parametrize(
    ("handler", "operation", "allowed"),
    [
        ("tasks.fetch.", "PutObject", True),
        ("tasks.fetch.", "GetObject", False),
        ("tasks.transform.handler.csv_handler", "GetObject", True),
        ("tasks.transform.handler.csv_handler", "PutObject", True),
    ],
)
def test_fetch_and_the_transforms_share_the_runs_staged_documents(
    policies: TemplatePolicies, stack_model: StackModel, handler: str, operation: str, allowed: bool
) -> None:
    (name,) = [
        name
        for name, function in stack_model.functions.items()
        if (function.handler.startswith(handler) if handler.endswith(".") else function.handler == handler)
    ]
    caller = policies.function_caller(name)
    params = {"Bucket": stack_model.bucket_name, "Key": "staging/run/csv-dialect.json"}
    (check,) = checks_for_call(caller, "s3", operation, params, policies.resources)
    assert policies.verdict(check).allowed is allowed

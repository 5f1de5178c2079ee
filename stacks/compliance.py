"""Recorded exceptions to the scanners' rules, each on the resource it concerns, with its reason.

cdk-nag acknowledgements land in the template's ``cdk_nag`` metadata and checkov skips in its
``checkov`` metadata, so an independent scan of the template sees the same reasons.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnResource, Stack
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule: str, reason: str, *, applies_to: list[Any] | None = None) -> None:
    """Suppress one cdk-nag rule on one construct (and its own CloudFormation resource)."""
    NagSuppressions.add_resource_suppressions(
        construct,
        [NagPackSuppression(id=rule, reason=reason, applies_to=applies_to)],
        apply_to_children=True,
    )


def set_depends_on(resource_owner: IConstruct, dependencies: list[IConstruct]) -> None:
    """Replace the DependsOn that CDK renders for a resource.

    CDK makes functions and state machines depend on their role although they reference it
    (``Fn::GetAtt``), which already orders creation; cfn-lint warns about that (W3005). The
    caller passes what the resource must really wait for (its role's policy, its subnets' routes).
    """
    resource = _cfn(resource_owner)
    stack = Stack.of(resource)
    resource.add_override("DependsOn", sorted(stack.get_logical_id(_cfn(dependency)) for dependency in dependencies))


def _cfn(construct: IConstruct) -> CfnResource:
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource")
    return resource


def skip_checkov(construct: IConstruct, check: str, reason: str) -> None:
    """Record a checkov skip on the construct's CloudFormation resource."""
    resource = _cfn(construct)
    metadata = resource.get_metadata("checkov") or {"skip": []}
    metadata["skip"].append({"id": check, "comment": reason})
    resource.add_metadata("checkov", metadata)

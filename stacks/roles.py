"""IAM roles whose permissions all live in one customer-managed policy.

CDK's grants add inline ``DefaultPolicy`` resources; NIST 800-53 (IAMNoInlinePolicy) asks for
managed policies instead. A ``ServiceRole`` hands its users the role *without policy updates*, so
a construct that tries to grant it something more changes nothing: every statement is written
here, explicitly, where a reviewer reads it.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_iam as iam
from constructs import Construct


class ServiceRole(Construct):
    """A role for ``service`` (a service principal such as ``lambda.amazonaws.com``) or, given
    ``principal`` instead, for that principal (the operators of this account)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        description: str,
        service: str | None = None,
        principal: iam.IPrincipal | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if (service is None) == (principal is None):
            raise ValueError("a ServiceRole is for a service or for a principal, exactly one")
        assumed_by = principal if principal is not None else iam.ServicePrincipal(str(service))
        self.mutable_role = iam.Role(self, "Role", assumed_by=assumed_by, description=description)
        self.policy = iam.ManagedPolicy(self, "Policy", roles=[self.mutable_role], description=description)
        self.role = self.mutable_role.without_policy_updates()

    def allow(
        self,
        *,
        actions: list[str],
        resources: list[str],
        sid: str | None = None,
        conditions: dict[str, Any] | None = None,
    ) -> None:
        self.policy.add_statements(
            iam.PolicyStatement(sid=sid, actions=actions, resources=resources, conditions=conditions)
        )

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
    def __init__(self, scope: Construct, construct_id: str, *, service: str, description: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.mutable_role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal(service), description=description)
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

"""Who may do what, read from the synthesized template: roles, their policies, and resource policies.

``load_policies(template)`` reads, with intrinsic functions resolved to the local physical ids:

- every ``AWS::IAM::Role``: its trust policy, inline ``Policies``, the ``AWS::IAM::ManagedPolicy``
  and ``AWS::IAM::Policy`` resources attached to it, and its ``ManagedPolicyArns``;
- who runs as which role: each Lambda function, the state machine, each EventBridge rule target
  that names a role, the API's integration (per Step Functions action);
- the resource policies: ``AWS::S3::BucketPolicy``, ``AWS::SNS::TopicPolicy``,
  ``AWS::SQS::QueuePolicy``, each ``AWS::KMS::Key``'s ``KeyPolicy``, each role's trust policy,
  and the ``PolicyDocument`` of VPC endpoints (which a function's calls go through);
- which KMS key encrypts each topic and queue, which topics each alarm acts on.

``TemplatePolicies.verdict(check)`` then decides one check of ``requests.checks_for_call``.

AWS-managed policies are not in the template. The three a Lambda role commonly carries are
modelled as granting only their logs, X-Ray and EC2 network-interface actions
(``AWSLambdaBasicExecutionRole``, ``AWSLambdaVPCAccessExecutionRole``,
``AWSXRayDaemonWriteAccess``); any other AWS-managed ARN raises ``TemplateError``, since
guessing its grants could hide or invent a denial. ``AWS::Lambda::Permission`` (function
resource policies) and the REST API's own resource policy are not read: the pipeline's calls
never need them (the engine's own plumbing and the API's callers are outside this model).

template.py's ``_Resolver`` resolves only what the running environment needs (buckets, topics,
the state machine, functions, aliases). ``_PolicyResolver`` below extends it, by subclassing,
with the resources policies refer to: roles, managed policies, keys, queues, rules, alarms, log
groups, VPC parts and the ``AWS::StackId``/``AWS::StackName`` pseudo parameters. To drop the
subclass, template.py would expose a public resolver whose ``physical``/``get_att`` cover them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from workflow.deployment import LOCAL_ACCOUNT, REGION, STACK_NAME
from workflow.local.iam.evaluation import Policy, Principal, Verdict, evaluate
from workflow.local.iam.requests import Caller, Check, KnownResources
from workflow.local.template import TemplateError, _Resolver

_T = TypeVar("_T")

# The session names AWS gives: a function's name for Lambda; the others are random ids on AWS,
# fixed here so that messages are stable.
STATE_MACHINE_SESSION = "local-execution"
EVENTS_SESSION = "local-events"
API_SESSION = "local-api"

_LAMBDA_LOGS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
_VPC_NETWORK = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]
_XRAY = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
_AWS_MANAGED_ACTIONS = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": _LAMBDA_LOGS,
    "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole": _LAMBDA_LOGS + _VPC_NETWORK,
    "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess": _XRAY,
}


@dataclass(frozen=True, slots=True)
class RolePolicies:
    """A role: its trust policy (who may assume it) and the policies that grant it permissions."""

    arn: str
    trust: Policy
    policies: tuple[Policy, ...]


@dataclass(frozen=True, slots=True)
class RuleTarget:
    arn: str
    role_arn: str | None  # None: EventBridge delivers as events.amazonaws.com
    dead_letter_arn: str | None


@dataclass(frozen=True, slots=True)
class TemplatePolicies:
    """The template's principals and policies, and the decision on one check against them."""

    resources: KnownResources
    roles: Mapping[str, RolePolicies]  # role ARN -> its policies
    function_roles: Mapping[str, str]  # function name -> role ARN
    state_machine_roles: Mapping[str, str]  # state machine ARN -> role ARN
    api_integration_roles: Mapping[str, str]  # Step Functions action ("StartExecution") -> role ARN
    rule_targets: Mapping[str, tuple[RuleTarget, ...]]  # rule ARN -> its targets
    alarm_actions: Mapping[str, tuple[str, ...]]  # alarm ARN -> the ARNs its actions publish to
    resource_policies: Mapping[str, Policy]  # bucket, topic, queue, key or role ARN -> its policy
    endpoint_policies: Mapping[tuple[str, str], Policy]  # (VPC, service such as "s3") -> endpoint policy
    role_vpcs: Mapping[str, str]  # role ARN -> the VPC its function runs in

    # -- who calls ------------------------------------------------------------------------------

    def function_caller(self, function_name: str) -> Caller:
        """A handler's calls: the function's role, in a session named after the function."""
        return Caller.role_session(_known(self.function_roles, function_name, "function"), function_name)

    def state_machine_caller(self, state_machine_arn: str) -> Caller:
        """The state machine's own integrations (Lambda invokes, ``sns:publish``)."""
        return Caller.role_session(
            _known(self.state_machine_roles, state_machine_arn, "state machine"), STATE_MACHINE_SESSION
        )

    def api_integration_caller(self, action: str) -> Caller:
        """The REST API's AWS integration calling Step Functions ``action``."""
        return Caller.role_session(_known(self.api_integration_roles, action, "API integration"), API_SESSION)

    def rule_target_caller(self, rule_arn: str, target_arn: str) -> Caller:
        """EventBridge delivering to one target of one rule: as the target's role, or as itself."""
        for target in _known(self.rule_targets, rule_arn, "rule"):
            if target.arn == target_arn:
                return (
                    self._events(rule_arn)
                    if target.role_arn is None
                    else Caller.role_session(target.role_arn, EVENTS_SESSION)
                )
        raise TemplateError(f"rule {rule_arn} has no target {target_arn}")

    def dead_letter_caller(self, rule_arn: str) -> Caller:
        """EventBridge sending an undeliverable event of ``rule_arn`` to its dead-letter queue."""
        _known(self.rule_targets, rule_arn, "rule")
        return self._events(rule_arn)

    def alarm_caller(self, alarm_arn: str) -> Caller:
        """CloudWatch carrying out an alarm's actions."""
        _known(self.alarm_actions, alarm_arn, "alarm")
        return Caller.service("cloudwatch.amazonaws.com", source_arn=alarm_arn, source_account=self.resources.account)

    def _events(self, rule_arn: str) -> Caller:
        return Caller.service("events.amazonaws.com", source_arn=rule_arn, source_account=self.resources.account)

    # -- the decision ---------------------------------------------------------------------------

    def verdict(self, check: Check) -> Verdict:
        """Decide one check with the policies that apply to it."""
        request = check.request
        principal = request.principal
        identity = () if principal.role_arn is None else _known(self.roles, principal.role_arn, "role").policies
        # A check that a service makes for the caller (SNS asking KMS) does not leave through
        # the caller's VPC endpoint; the caller's own request does.
        endpoint = None if check.via is not None else self._endpoint_policy(principal, request.action)
        return evaluate(request, identity=identity, resource=self.resource_policy(request.resource), endpoint=endpoint)

    def first_denial(self, checks: Sequence[Check]) -> tuple[Check, Verdict] | None:
        """The first of a call's checks that is denied, with its verdict; ``None`` when all are allowed."""
        for check in checks:
            verdict = self.verdict(check)
            if not verdict.allowed:
                return check, verdict
        return None

    def resource_policy(self, resource_arn: str) -> Policy | None:
        """The resource-based policy that governs ``resource_arn`` (an object's is its bucket's)."""
        if resource_arn.startswith("arn:aws:s3:::"):
            bucket = resource_arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
            return self.resource_policies.get(f"arn:aws:s3:::{bucket}")
        return self.resource_policies.get(resource_arn)

    def _endpoint_policy(self, principal: Principal, action: str) -> Policy | None:
        vpc = None if principal.role_arn is None else self.role_vpcs.get(principal.role_arn)
        if vpc is None:
            return None
        return self.endpoint_policies.get((vpc, action.split(":", 1)[0].lower()))


def _known(mapping: Mapping[str, _T], name: str, what: str) -> _T:
    try:
        return mapping[name]
    except KeyError:
        raise TemplateError(f"the template has no {what} {name}") from None


# -- reading the template ------------------------------------------------------------------------


def load_policies(template: Mapping[str, Any], stack_name: str = STACK_NAME) -> TemplatePolicies:
    """The principals and policies of a synthesized template (its JSON, as a dict)."""
    resources: dict[str, Any] = template["Resources"]
    resolver = _PolicyResolver(resources, stack_name)
    by_type = _by_type(resources)

    roles = _roles(resolver, by_type)
    function_roles: dict[str, str] = {}
    role_vpcs: dict[str, str] = {}
    for logical_id, body in by_type.get("AWS::Lambda::Function", {}).items():
        props = body["Properties"]
        role = resolver.resolve(props["Role"])
        function_roles[logical_id] = role
        vpc = _function_vpc(resolver, resources, props.get("VpcConfig"))
        if vpc is not None and role_vpcs.setdefault(role, vpc) != vpc:
            raise TemplateError(f"role {role} runs functions in two VPCs; the local model needs one")

    resource_policies: dict[str, Policy] = {arn: role.trust for arn, role in roles.items()}
    resource_policies.update(_resource_policies(resolver, by_type))

    return TemplatePolicies(
        resources=KnownResources(
            LOCAL_ACCOUNT,
            REGION,
            topic_keys=_keys_of(resolver, by_type.get("AWS::SNS::Topic", {}), resolver.physical),
            queue_keys=_keys_of(resolver, by_type.get("AWS::SQS::Queue", {}), resolver.queue_arn),
        ),
        roles=roles,
        function_roles=function_roles,
        state_machine_roles={
            resolver.physical(logical_id): resolver.resolve(body["Properties"]["RoleArn"])
            for logical_id, body in by_type.get("AWS::StepFunctions::StateMachine", {}).items()
        },
        api_integration_roles=_api_integration_roles(resolver, by_type.get("AWS::ApiGateway::Method", {})),
        rule_targets={
            resolver.get_att(logical_id, "Arn"): tuple(
                RuleTarget(
                    arn=resolver.resolve(target["Arn"]),
                    role_arn=resolver.resolve(target["RoleArn"]) if "RoleArn" in target else None,
                    dead_letter_arn=resolver.resolve(target.get("DeadLetterConfig", {}).get("Arn")),
                )
                for target in body["Properties"].get("Targets", [])
            )
            for logical_id, body in by_type.get("AWS::Events::Rule", {}).items()
        },
        alarm_actions={
            resolver.get_att(logical_id, "Arn"): tuple(
                resolver.resolve(action)
                for name in ("AlarmActions", "OKActions", "InsufficientDataActions")
                for action in body["Properties"].get(name, [])
            )
            for logical_id, body in by_type.get("AWS::CloudWatch::Alarm", {}).items()
        },
        resource_policies=resource_policies,
        endpoint_policies=_endpoint_policies(resolver, by_type.get("AWS::EC2::VPCEndpoint", {})),
        role_vpcs=role_vpcs,
    )


def _by_type(resources: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    grouped: dict[str, dict[str, Any]] = {}
    for logical_id, body in resources.items():
        grouped.setdefault(body["Type"], {})[logical_id] = body
    return grouped


def _roles(resolver: _PolicyResolver, by_type: Mapping[str, dict[str, Any]]) -> dict[str, RolePolicies]:
    customer_managed = {
        resolver.physical(logical_id): Policy(logical_id, resolver.resolve(body["Properties"]["PolicyDocument"]))
        for logical_id, body in by_type.get("AWS::IAM::ManagedPolicy", {}).items()
    }
    attached: dict[str, list[Policy]] = {}  # role name -> policies attached from the policy's side
    for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
        for logical_id, body in by_type.get(kind, {}).items():
            document = resolver.resolve(body["Properties"]["PolicyDocument"])
            for role in body["Properties"].get("Roles", []):
                attached.setdefault(resolver.resolve(role), []).append(Policy(logical_id, document))

    roles = {}
    for logical_id, body in by_type.get("AWS::IAM::Role", {}).items():
        props = body["Properties"]
        policies = [
            Policy(f"{logical_id}/{inline['PolicyName']}", resolver.resolve(inline["PolicyDocument"]))
            for inline in props.get("Policies", [])
        ]
        policies += attached.get(logical_id, [])
        for arn in (resolver.resolve(item) for item in props.get("ManagedPolicyArns", [])):
            policies.append(_managed_policy(arn, customer_managed))
        unique = {policy.name: policy for policy in policies}  # attached from both sides: once
        arn = resolver.get_att(logical_id, "Arn")
        trust = Policy(f"{logical_id} trust policy", resolver.resolve(props["AssumeRolePolicyDocument"]))
        roles[arn] = RolePolicies(arn, trust, tuple(unique.values()))
    return roles


def _managed_policy(arn: str, customer_managed: Mapping[str, Policy]) -> Policy:
    if arn in customer_managed:
        return customer_managed[arn]
    actions = _AWS_MANAGED_ACTIONS.get(arn)
    if actions is None:
        raise TemplateError(
            f"the AWS-managed policy {arn} is not modelled: add what it grants to "
            "workflow/local/iam/template_policies.py, or write the role's policy in the stack"
        )
    return Policy(arn, {"Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})


def _resource_policies(resolver: _PolicyResolver, by_type: Mapping[str, dict[str, Any]]) -> dict[str, Policy]:
    policies: dict[str, Policy] = {}
    for logical_id, body in by_type.get("AWS::S3::BucketPolicy", {}).items():
        props = body["Properties"]
        bucket = resolver.resolve(props["Bucket"])
        policies[f"arn:aws:s3:::{bucket}"] = Policy(logical_id, resolver.resolve(props["PolicyDocument"]))
    for kind, targets, as_arn in (
        ("AWS::SNS::TopicPolicy", "Topics", str),
        ("AWS::SQS::QueuePolicy", "Queues", resolver.queue_url_arn),
    ):
        for logical_id, body in by_type.get(kind, {}).items():
            props = body["Properties"]
            policy = Policy(logical_id, resolver.resolve(props["PolicyDocument"]))
            for target in props[targets]:
                policies[as_arn(resolver.resolve(target))] = policy
    for logical_id, body in by_type.get("AWS::KMS::Key", {}).items():
        policy = Policy(f"{logical_id} key policy", resolver.resolve(body["Properties"]["KeyPolicy"]))
        policies[resolver.get_att(logical_id, "Arn")] = policy
    return policies


def _keys_of(resolver: _PolicyResolver, bodies: Mapping[str, Any], arn: Callable[[str], str]) -> dict[str, str]:
    """The KMS key ARN of each encrypted topic or queue, by the ``arn`` of the topic or queue."""
    keys = {}
    for logical_id, body in bodies.items():
        key = body["Properties"].get("KmsMasterKeyId")
        if key is None:
            continue
        resolved = resolver.resolve(key)
        if not resolved.startswith("arn:aws:kms:"):
            raise TemplateError(f"{logical_id} is encrypted with {resolved}: only the template's own keys are modelled")
        keys[arn(logical_id)] = resolved
    return keys


def _function_vpc(resolver: _PolicyResolver, resources: Mapping[str, Any], config: Any) -> str | None:
    if not config:
        return None
    vpcs: set[str] = {
        resolver.resolve(resources[resolver.resolve(subnet)]["Properties"]["VpcId"]) for subnet in config["SubnetIds"]
    }
    if len(vpcs) != 1:
        raise TemplateError(f"a function's subnets are in {len(vpcs)} VPCs")
    return vpcs.pop()


def _endpoint_policies(resolver: _PolicyResolver, bodies: Mapping[str, Any]) -> dict[tuple[str, str], Policy]:
    """Endpoint policies by (VPC, service); an endpoint without one allows everything, so it is left out."""
    policies = {}
    for logical_id, body in bodies.items():
        props = body["Properties"]
        if "PolicyDocument" in props:
            service = resolver.resolve(props["ServiceName"]).rsplit(".", 1)[1]
            policy = Policy(f"{logical_id} endpoint policy", resolver.resolve(props["PolicyDocument"]))
            policies[(resolver.resolve(props["VpcId"]), service)] = policy
    return policies


def _api_integration_roles(resolver: _PolicyResolver, methods: Mapping[str, Any]) -> dict[str, str]:
    """The role of each AWS integration calling Step Functions, by action (``.../states:action/StartExecution``)."""
    roles = {}
    for body in methods.values():
        integration = body["Properties"].get("Integration", {})
        uri = resolver.resolve(integration.get("Uri", ""))
        if "Credentials" in integration and ":states:action/" in uri:
            roles[uri.rsplit("/", 1)[1]] = resolver.resolve(integration["Credentials"])
    return roles


class _PolicyResolver(_Resolver):
    """template.py's resolver, taught the physical ids of what policies refer to.

    Names follow template.py's convention: a resource's local name is its logical id, a state
    machine's the name the template gives it.
    """

    def __init__(self, resources: dict[str, Any], stack_name: str) -> None:
        super().__init__(resources, stack_name)
        self._types = {logical_id: body["Type"] for logical_id, body in resources.items()}
        self._stack_name = stack_name

    def physical(self, logical_id: str) -> str:
        if logical_id == "AWS::StackName":
            return self._stack_name
        if logical_id == "AWS::StackId":
            return f"arn:aws:cloudformation:{REGION}:{LOCAL_ACCOUNT}:stack/{self._stack_name}/local"
        kind = self._types.get(logical_id, "")
        if kind == "AWS::IAM::ManagedPolicy":
            return f"arn:aws:iam::{LOCAL_ACCOUNT}:policy/{logical_id}"
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{LOCAL_ACCOUNT}/{logical_id}"
        if kind in _NAMED_BY_LOGICAL_ID or kind.startswith("AWS::EC2::"):
            return logical_id
        return super().physical(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind = self._types.get(logical_id, "")
        arn = _ARNS.get(kind)
        if arn is not None and attribute == "Arn":
            return arn.format(region=REGION, account=LOCAL_ACCOUNT, name=logical_id)
        if kind == "AWS::SNS::Topic" and attribute == "TopicArn":
            return self.physical(logical_id)
        if kind.startswith("AWS::EC2::"):
            return logical_id
        return super().get_att(logical_id, attribute)

    def queue_arn(self, logical_id: str) -> str:
        return self.get_att(logical_id, "Arn")

    def queue_url_arn(self, url: str) -> str:
        """``https://sqs.<region>.amazonaws.com/<account>/<name>`` -> the queue's ARN."""
        account, name = url.rstrip("/").rsplit("/", 2)[1:]
        return f"arn:aws:sqs:{REGION}:{account}:{name}"


# Resources whose Ref is their name, here their logical id.
_NAMED_BY_LOGICAL_ID = frozenset(
    {
        "AWS::IAM::Role",
        "AWS::KMS::Key",
        "AWS::Events::Rule",
        "AWS::CloudWatch::Alarm",
        "AWS::Logs::LogGroup",
        # The REST API's id, in the execute-api ARNs the operator role may invoke.
        "AWS::ApiGateway::RestApi",
    }
)
_ARNS = {
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{name}",
    "AWS::CloudWatch::Alarm": "arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}:*",
}

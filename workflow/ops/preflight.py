"""``pipeline preflight``: read-only checks that an account is ready for this stack's deploy.

Each check reads the account (or this machine) and ends ``ok``, ``warn`` or ``fail`` with, when it
is not ok, the fix in one line. What the deploy needs is read from the synthesized template, not
restated here: the subnets' availability zones, the interface endpoints' services, the SSM
parameters CloudFormation resolves, whether the stack sets API Gateway's account role, the state
machine's log group, the API's burst limit and the bootstrap version the template's rule asks for.
So a change to the stack (an endpoint removed, a log group renamed) changes what is checked.

The calls go wherever the caller's AWS configuration points (AWS, or ``pipeline serve``); nothing is
written. The checks and the AWS actions they call (the operator role grants them,
``stacks/operators.py``):

==========================  ===============================================================
credentials                 sts:GetCallerIdentity (needs no permission)
stack                       cloudformation:DescribeStacks (the pipeline stack)
bootstrap                   cloudformation:DescribeStacks (CDKToolkit)
availability zones          ec2:DescribeAvailabilityZones, ec2:DescribeSubnets, ec2:DescribeVpcEndpointServices
SSM parameters              ssm:GetParameter (AWS's public parameters)
API Gateway logging role    apigateway:GET /account
logs resource policy        logs:DescribeResourcePolicies
Lambda concurrency          lambda:GetAccountSettings
Step Functions quotas       servicequotas:ListServiceQuotas, servicequotas:ListAWSDefaultServiceQuotas
==========================  ===============================================================
"""

from __future__ import annotations

import enum
import fnmatch
import json
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from workflow.deployment import REGION
from workflow.ops.template_needs import TemplateNeeds

# The CDK bootstrap stack and its version output (the default qualifier's).
BOOTSTRAP_STACK = "CDKToolkit"
BOOTSTRAP_VERSION_OUTPUT = "BootstrapVersion"
# Lambda publishes no list of the zones its VPC functions support; the zones of its PrivateLink
# service are the nearest published answer, and the zone that fails ("The provided subnets contain
# availability zone Lambda doesn't support", keboola/developer-portal#81) is also missing from that
# service ("com.amazonaws.us-east-1.lambda does not support the availability zone of the subnet",
# awslabs/aws-orbit-workbench#320).
LAMBDA_ZONES_SERVICE = f"com.amazonaws.{REGION}.lambda"
# A policy document holds at most 5,120 characters
# (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutResourcePolicy.html), and a
# region at most 10 policies (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html).
LOGS_POLICY_LIMIT = 5120
LOGS_POLICIES_PER_REGION = 10
# Services write vended logs through delivery.logs.amazonaws.com's statement in the account's logs
# resource policy; Step Functions adds its log group there unless the group is under
# /aws/vendedlogs/, which one wildcard entry covers (https://docs.aws.amazon.com/step-functions/latest/dg/bp-cwl.html).
LOG_DELIVERY_SERVICE = "delivery.logs.amazonaws.com"
VENDED_LOGS_PREFIX = "/aws/vendedlogs/"
# Service Quotas' code of "Concurrent executions" (Lambda), for the increase request the fix names.
LAMBDA_QUOTA_CODE = "L-B99A9384"
STATES_SERVICE_CODE = "states"
# Node.js: the pinned CDK CLI declares engines ">= 18.0.0" (npm view aws-cdk@2.1148.1 engines),
# warns that Node 20 "is end-of-life and not supported anymore by this software since 2026-10-30"
# (seen by the deploy review's `make synth`), and so does jsii for the CDK's Python library.
NODE_SUPPORTED_MAJOR = 22
NODE_MINIMUM_MAJOR = 18


REASON_LIMIT = 200
T = TypeVar("T")


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict: what was checked, what was found, and (when not ok) the fix in one line."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True, slots=True)
class PreflightReport:
    checks: tuple[Check, ...]

    @property
    def failed(self) -> bool:
        return any(check.status is Status.FAIL for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {"ok": not self.failed, "checks": [check.as_json() for check in self.checks]}


# -- the account -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountClients:
    """The clients the checks use; tests may stub any of them."""

    sts: Any
    ec2: Any
    ssm: Any
    apigateway: Any
    logs: Any
    lambda_: Any
    service_quotas: Any
    cloudformation: Any

    @classmethod
    def of(cls, session: boto3.Session) -> AccountClients:
        return cls(
            sts=session.client("sts"),
            ec2=session.client("ec2"),
            ssm=session.client("ssm"),
            apigateway=session.client("apigateway"),
            logs=session.client("logs"),
            lambda_=session.client("lambda"),
            service_quotas=session.client("service-quotas"),
            cloudformation=session.client("cloudformation"),
        )


@dataclass(frozen=True, slots=True)
class NodeRuntime:
    """One Node.js the deploy would run: ``node`` on the PATH (the CDK CLI), or JSII_NODE (the
    CDK's Python library runs on it when set)."""

    source: str
    version: str | None  # "v22.12.0"; None when it could not be run
    error: str | None = None

    @property
    def major(self) -> int | None:
        match = re.fullmatch(r"v?(\d+)\..*", self.version or "")
        return int(match.group(1)) if match else None


def node_runtimes(environ: Mapping[str, str], run: Callable[..., Any] = subprocess.run) -> list[NodeRuntime]:
    """``node --version`` of the Node.js on the PATH and, when JSII_NODE is set, of that one."""
    found = []
    jsii_node = environ.get("JSII_NODE")
    for source, binary in (("node on the PATH", "node"), (f"JSII_NODE={jsii_node}", jsii_node)):
        if binary is None:
            continue
        try:
            completed = run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            found.append(NodeRuntime(source=source, version=None, error=str(exc)))
            continue
        version = completed.stdout.strip() if completed.returncode == 0 else None
        error = None if version else (completed.stderr.strip() or f"exit status {completed.returncode}")
        found.append(NodeRuntime(source=source, version=version, error=error))
    return found


@dataclass(frozen=True, slots=True)
class Preflight:
    """Everything the checks look at. ``configured_region`` is the region the caller's tools use
    by default (``boto3.Session().region_name``); ``cdk_cli`` the pinned CDK CLI version."""

    clients: AccountClients
    needs: TemplateNeeds
    stack_name: str
    configured_region: str | None
    node: Sequence[NodeRuntime]
    cdk_cli: str

    def run(self) -> PreflightReport:
        identity = _call(self.clients.sts.get_caller_identity)
        if isinstance(identity, str):
            credentials = Check(
                "credentials",
                Status.FAIL,
                f"no usable AWS credentials: {identity}; the account checks were not run",
                "configure credentials for the target account (aws configure, aws sso login, or AWS_PROFILE)",
            )
            return PreflightReport(
                (credentials, check_region(self.configured_region), check_node(self.node, self.cdk_cli))
            )
        account = str(identity["Account"])
        cdk = f"npx aws-cdk@{self.cdk_cli}"
        clients, needs = self.clients, self.needs
        checks = [
            Check("credentials", Status.OK, f"{identity['Arn']} in account {account}, {REGION}"),
            check_region(self.configured_region),
            check_stack(clients.cloudformation, self.stack_name),
            check_bootstrap(clients.cloudformation, needs, account, cdk),
            check_node(self.node, self.cdk_cli),
            check_availability_zones(clients.ec2, needs, cdk),
            check_ssm_parameters(clients.ssm, needs),
            check_api_logging_role(clients.apigateway, needs, self.stack_name),
            check_logs_policy(clients.logs, needs, account, self.stack_name),
            check_lambda_concurrency(clients.lambda_, needs),
            check_step_functions_quotas(clients.service_quotas, needs),
        ]
        return PreflightReport(tuple(checks))


def _call(call: Callable[[], T]) -> T | str:
    """The call's answer, or the reason it failed as one line (a check turns it into a verdict)."""
    try:
        return call()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        reason = f"{error.get('Code', 'Error')}: {error.get('Message', exc)}"
    except BotoCoreError as exc:
        reason = str(exc)
    # A check's verdict is one line, whatever the endpoint answered (an HTML error page, say).
    flat = " ".join(reason.split())
    return flat if len(flat) <= REASON_LIMIT else flat[: REASON_LIMIT - 1] + "…"


def _unreadable(name: str, what: str, reason: str, status: Status = Status.FAIL) -> Check:
    return Check(
        name,
        status,
        f"cannot read {what}: {reason}",
        "run with credentials that may read it (the stack's operator role may, once deployed)",
    )


# -- the checks ---------------------------------------------------------------------------------


def check_region(configured: str | None) -> Check:
    """The stack deploys to REGION whatever the caller's default is (app.py names it), but the
    AWS CLI commands of the README and ``cdk bootstrap`` without a target follow the default."""
    if configured == REGION:
        return Check("region", Status.OK, f"your default region is {REGION}, the stack's")
    found = f"your default region is {configured}" if configured else "no default region is configured"
    return Check(
        "region",
        Status.WARN,
        f"{found}; the stack deploys to {REGION} regardless, but AWS CLI commands without --region go elsewhere",
        f"export AWS_REGION={REGION} (or set region = {REGION} in your AWS profile)",
    )


def check_node(runtimes: Sequence[NodeRuntime], cdk_cli: str) -> Check:
    if not runtimes:
        return Check("node", Status.FAIL, "no Node.js found", f"install Node.js {NODE_SUPPORTED_MAJOR} or newer")
    worst = Status.OK
    found = []
    for runtime in runtimes:
        major = runtime.major
        if major is None:
            found.append(f"{runtime.source}: cannot run it ({runtime.error})")
            worst = Status.FAIL
        elif major < NODE_MINIMUM_MAJOR:
            found.append(f"{runtime.source} {runtime.version}: too old for aws-cdk@{cdk_cli}")
            worst = Status.FAIL
        elif major < NODE_SUPPORTED_MAJOR:
            found.append(f"{runtime.source} {runtime.version}: end-of-life, the CDK CLI and jsii warn on every run")
            worst = Status.WARN if worst is Status.OK else worst
        else:
            found.append(f"{runtime.source} {runtime.version}")
    fix = None
    if worst is not Status.OK:
        fix = (
            f"install Node.js {NODE_SUPPORTED_MAJOR} (npm install node@{NODE_SUPPORTED_MAJOR}) and put it first"
            " on the PATH, or point JSII_NODE at its binary"
        )
    return Check("node", worst, "; ".join(found), fix)


def check_stack(cloudformation: Any, stack_name: str) -> Check:
    answer = _call(partial(cloudformation.describe_stacks, StackName=stack_name))
    if isinstance(answer, str):
        if "does not exist" in answer:
            return Check("stack", Status.OK, f"{stack_name} is not deployed yet: the deploy creates it")
        return _unreadable("stack", f"stack {stack_name}", answer)
    status = str(answer["Stacks"][0]["StackStatus"])
    if status == "ROLLBACK_COMPLETE":
        return Check(
            "stack",
            Status.FAIL,
            f"{stack_name} is ROLLBACK_COMPLETE (its first deploy failed): CloudFormation cannot update it",
            f"delete it first: aws cloudformation delete-stack --stack-name {stack_name} --region {REGION}",
        )
    if status.endswith("_IN_PROGRESS"):
        return Check(
            "stack", Status.FAIL, f"{stack_name} is {status}", "wait until the operation in progress has ended"
        )
    if status.endswith("_FAILED"):
        return Check(
            "stack",
            Status.WARN,
            f"{stack_name} is {status}",
            "read its events (aws cloudformation describe-stack-events) before deploying again",
        )
    return Check("stack", Status.OK, f"{stack_name} exists ({status}): the deploy updates it")


def check_bootstrap(cloudformation: Any, needs: TemplateNeeds, account: str, cdk: str) -> Check:
    bootstrap = f"{cdk} bootstrap aws://{account}/{REGION}"
    answer = _call(partial(cloudformation.describe_stacks, StackName=BOOTSTRAP_STACK))
    if isinstance(answer, str):
        if "does not exist" in answer:
            return Check("bootstrap", Status.FAIL, f"no {BOOTSTRAP_STACK} stack in {REGION}", bootstrap)
        return _unreadable("bootstrap", f"the {BOOTSTRAP_STACK} stack", answer)
    stack = answer["Stacks"][0]
    status = str(stack["StackStatus"])
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    version_text = outputs.get(BOOTSTRAP_VERSION_OUTPUT, "")
    if not status.endswith("_COMPLETE") or "ROLLBACK" in status or not version_text.isdigit():
        return Check(
            "bootstrap",
            Status.FAIL,
            f"{BOOTSTRAP_STACK} is {status} with {BOOTSTRAP_VERSION_OUTPUT} {version_text or 'missing'}",
            bootstrap,
        )
    version = int(version_text)
    required = needs.minimum_bootstrap_version
    if required is not None and version < required:
        return Check(
            "bootstrap",
            Status.FAIL,
            f"{BOOTSTRAP_STACK} is version {version}; the template requires {required} or newer",
            bootstrap,
        )
    wanted = f" (the template requires {required} or newer)" if required is not None else ""
    return Check("bootstrap", Status.OK, f"{BOOTSTRAP_STACK} version {version}{wanted}")


@dataclass(frozen=True, slots=True)
class _Zone:
    name: str
    zone_id: str


def _account_zones(ec2: Any) -> list[_Zone]:
    answer = ec2.describe_availability_zones(
        Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}, {"Name": "state", "Values": ["available"]}]
    )
    return sorted((_Zone(zone["ZoneName"], zone["ZoneId"]) for zone in answer["AvailabilityZones"]), key=str)


class UnusableZones(Exception):
    """The template's zones cannot be placed in this account; the message says why."""


def _chosen_zones(ec2: Any, wanted: Sequence[str | int | None], zones: Sequence[_Zone]) -> list[_Zone]:
    """The zones a deploy would put the subnets in."""
    if not wanted or None in wanted:
        raise UnusableZones("the template's subnets name their zones in a way this check cannot read")
    by_name = {zone.name: zone for zone in zones}
    listed = list(zones)
    if any(isinstance(zone, int) for zone in wanted):
        # Fn::GetAZs: the zones that have a default subnet, else all, in alphabetical order
        # (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-getavailabilityzones.html).
        pages = ec2.get_paginator("describe_subnets").paginate(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
        defaults = {subnet["AvailabilityZone"] for page in pages for subnet in page["Subnets"]}
        listed = [zone for zone in zones if zone.name in defaults] or listed
    chosen = []
    for zone in wanted:
        if isinstance(zone, int):
            if zone >= len(listed):
                raise UnusableZones(f"Fn::GetAZs lists {len(listed)} zones; the stack needs {zone + 1}")
            chosen.append(listed[zone])
        elif str(zone) in by_name:
            chosen.append(by_name[str(zone)])
        else:
            available = ", ".join(known.name for known in zones)
            raise UnusableZones(f"{zone} is not an available zone of this account in {REGION} (those are: {available})")
    return chosen


def _zone_ids_offering(ec2: Any, services: Mapping[str, str], zones: Sequence[_Zone]) -> dict[str, set[str]]:
    """Per service label, the IDs of the zones where its endpoint service is offered (AWS answers
    with zone IDs, or names in this account's mapping)."""
    ids_of = {zone.name: zone.zone_id for zone in zones}
    offered = {}
    for label, service in services.items():
        answer = ec2.describe_vpc_endpoint_services(ServiceNames=[service])
        details = [detail for detail in answer.get("ServiceDetails", []) if detail.get("ServiceName") == service]
        detail = details[0] if details else {}
        names = detail.get("AvailabilityZones") or ()
        offered[label] = set(detail.get("AvailabilityZoneIds") or ()) | {ids_of[n] for n in names if n in ids_of}
    return offered


def _zone_facts(
    ec2: Any, wanted: Sequence[str | int | None], services: Mapping[str, str]
) -> tuple[list[_Zone], list[_Zone], dict[str, set[str]]]:
    """The account's zones, the stack's, and the IDs of the zones offering each service."""
    zones = _account_zones(ec2)
    return zones, _chosen_zones(ec2, wanted, zones), _zone_ids_offering(ec2, services, zones)


def check_availability_zones(ec2: Any, needs: TemplateNeeds, cdk: str) -> Check:
    """The subnets' zones, by ID (a name maps to a different zone in each account), against the
    zones where Lambda and every interface endpoint of the template are offered."""
    name = "availability zones"
    services = {"Lambda": LAMBDA_ZONES_SERVICE}
    services.update({service.rsplit(".", 1)[-1]: service for service in needs.endpoint_services})
    try:
        facts = _call(partial(_zone_facts, ec2, needs.zones, services))
    except UnusableZones as exc:
        return Check(name, Status.FAIL, str(exc), f"{cdk} deploy -c availabilityZones=NAME,NAME of available zones")
    if isinstance(facts, str):
        return _unreadable(name, "the zones and where each service is offered", facts)
    zones, chosen, offered = facts

    def lacks(zone: _Zone) -> list[str]:
        return [label for label, ids in offered.items() if zone.zone_id not in ids]

    how = "named by the template" if all(isinstance(zone, str) for zone in needs.zones) else "from Fn::GetAZs"
    unsupported = [f"{zone.name} ({zone.zone_id}) lacks {', '.join(lacks(zone))}" for zone in chosen if lacks(zone)]
    if not unsupported:
        where = ", ".join(f"{zone.name} ({zone.zone_id})" for zone in chosen)
        return Check(name, Status.OK, f"{where} ({how}) offer {', '.join(offered)}")
    # Keep the zones that work, complete with others that do, in name order.
    working = [zone for zone in chosen if not lacks(zone)]
    working += [zone for zone in zones if zone not in working and not lacks(zone)]
    if len(working) < len(chosen):
        return Check(
            name,
            Status.FAIL,
            f"{'; '.join(unsupported)}, and fewer than {len(chosen)} zones offer all of {', '.join(offered)}",
            "drop an interface endpoint the functions do not need, or deploy to another region",
        )
    return Check(
        name,
        Status.FAIL,
        f"{'; '.join(unsupported)} ({how})",
        f"{cdk} deploy -c availabilityZones={','.join(zone.name for zone in working[: len(chosen)])}",
    )


def check_ssm_parameters(ssm: Any, needs: TemplateNeeds) -> Check:
    """The public parameters CloudFormation resolves when it creates the change set: a missing one
    fails the deploy before anything is created (Powertools once published a release without its
    parameters: aws-powertools/powertools-lambda-python#7689)."""
    name = "SSM parameters"
    if not needs.ssm_parameters:
        return Check(name, Status.OK, "the template resolves no SSM parameter")
    found = []
    for parameter in needs.ssm_parameters:
        answer = _call(partial(ssm.get_parameter, Name=parameter))
        if isinstance(answer, str):
            if answer.startswith("ParameterNotFound"):
                parent = parameter.rsplit("/", 1)[0]
                return Check(
                    name,
                    Status.FAIL,
                    f"{parameter} does not exist in {REGION}: CloudFormation cannot resolve it",
                    f"pin a version AWS publishes: aws ssm get-parameters-by-path --path {parent} --region {REGION}",
                )
            return _unreadable(name, parameter, answer)
        found.append(f"{parameter} = {answer['Parameter']['Value']}")
    return Check(name, Status.OK, "; ".join(found))


def check_api_logging_role(apigateway: Any, needs: TemplateNeeds, stack_name: str) -> Check:
    """API Gateway logs through ONE role per account and region (``AWS::ApiGateway::Account``)."""
    name = "API Gateway logging role"
    answer = _call(apigateway.get_account)
    if isinstance(answer, str):
        return _unreadable(name, "API Gateway's account settings", answer)
    current = answer.get("cloudwatchRoleArn")
    own = current is not None and current.split("/")[-1].startswith(f"{stack_name}-")
    if needs.sets_api_account_role:
        if current is None:
            return Check(name, Status.OK, "none set: the deploy sets it to the stack's role")
        if own:
            return Check(name, Status.OK, f"{current} is the stack's own: the deploy keeps it")
        return Check(
            name,
            Status.WARN,
            f"{current} is set: the deploy replaces it with the stack's role, for every REST API of the account"
            f" in {REGION}, and keeps that role after the stack is deleted",
            "to keep the current role, deploy with -c apiGatewayCloudWatchRole=existing",
        )
    if current is None:
        return Check(
            name,
            Status.FAIL,
            "none set, and the template sets none: the stage's logging needs one, so the deploy fails",
            "deploy with -c apiGatewayCloudWatchRole=create (the default: the stack sets a role of its own)",
        )
    return Check(name, Status.OK, f"{current} is set: the stage logs through it (the deploy leaves it)")


def _delivery_policies(policies: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(name, document) of the resource policies that let vended logs be delivered."""
    found = []
    for policy in policies:
        document = str(policy.get("policyDocument", ""))
        if LOG_DELIVERY_SERVICE in document:
            found.append((str(policy.get("policyName")), document))
    return found


def _covers(document: str, arn: str) -> bool:
    try:
        statements = json.loads(document).get("Statement", [])
    except ValueError:
        return False
    for statement in statements if isinstance(statements, list) else [statements]:
        resources = statement.get("Resource", [])
        for pattern in resources if isinstance(resources, list) else [resources]:
            if fnmatch.fnmatchcase(arn, str(pattern)):
                return True
    return False


def check_logs_policy(logs: Any, needs: TemplateNeeds, account: str, stack_name: str) -> Check:
    name = "logs resource policy"
    if not needs.workflow_log_groups:
        return Check(name, Status.OK, "the state machine delivers no logs to CloudWatch Logs")
    answer = _call(partial(_all_resource_policies, logs))
    if isinstance(answer, str):
        return _unreadable(name, "the account's logs resource policies", answer)
    delivery = _delivery_policies(answer)
    # Each group Step Functions adds is one ARN (and quotes, a comma) in the policy's Resource list.
    prefix = f"arn:aws:logs:{REGION}:{account}:log-group:"
    entries = []
    outside = {}
    for group in needs.workflow_log_groups:
        known = group.name or group.name_begins
        if known is not None and known.startswith(VENDED_LOGS_PREFIX):
            arn = f"{prefix}{known}"
            entry = f'"{prefix}{VENDED_LOGS_PREFIX}*",'
        else:
            # CloudFormation names an unnamed group <stack>-<logical id>-<12 characters>; a name
            # completed at deploy time is taken to end in a stack id (36 characters).
            if group.name_begins is not None:
                generated = group.name_begins + "X" * 36
            else:
                generated = group.name or f"{stack_name}-{group.logical_id}-" + "X" * 12
            arn = f"{prefix}{generated}:*"
            entry = f'"{arn}",'
            outside[generated] = len(entry)
        if not any(_covers(document, arn) for _, document in delivery):
            entries.append(entry)
    largest = max(delivery, key=lambda policy: len(policy[1]), default=None)
    size = len(largest[1]) if largest else 0
    needed = len("".join(dict.fromkeys(entries)))
    what = (
        f"{largest[0]} holds {size:,} of {LOGS_POLICY_LIMIT:,} characters" if largest else "no log-delivery policy yet"
    )
    fix = (
        f"name the state machines' log groups under {VENDED_LOGS_PREFIX} (one wildcard entry covers all such groups),"
        " or remove stale log-group ARNs from the policy (aws logs put-resource-policy)"
    )
    if largest is None and needed and len(answer) >= LOGS_POLICIES_PER_REGION:
        return Check(
            name, Status.FAIL, f"{len(answer)} resource policies exist, the most a region allows", "delete one"
        )
    if size + needed > LOGS_POLICY_LIMIT:
        return Check(
            name,
            Status.FAIL,
            f"{what}; the state machines' log groups need about {needed} more: creating a state machine fails"
            " ('not authorized to access the Log Destination')",
            fix,
        )
    if outside:
        return Check(
            name,
            Status.WARN,
            f"{what}; log groups of the state machines outside {VENDED_LOGS_PREFIX} ({', '.join(outside)}): their"
            f" ARNs take about {sum(outside.values())} of the characters every log delivery of the account shares",
            fix,
        )
    return Check(name, Status.OK, f"{what}; the state machines log under {VENDED_LOGS_PREFIX}, which one entry covers")


def _all_resource_policies(logs: Any) -> list[Mapping[str, Any]]:
    policies: list[Mapping[str, Any]] = []
    request: dict[str, Any] = {}
    while True:
        page = logs.describe_resource_policies(**request)
        policies.extend(page.get("resourcePolicies", []))
        if not page.get("nextToken"):
            return policies
        request["nextToken"] = page["nextToken"]


def check_lambda_concurrency(lambda_: Any, needs: TemplateNeeds) -> Check:
    """Every running step holds one concurrent execution: a burst of N runs needs about N."""
    name = "Lambda concurrency"
    answer = _call(lambda_.get_account_settings)
    if isinstance(answer, str):
        return _unreadable(name, "the account's Lambda settings", answer, Status.WARN)
    limit = int(answer["AccountLimit"]["ConcurrentExecutions"])
    unreserved = int(answer["AccountLimit"].get("UnreservedConcurrentExecutions", limit))
    burst = needs.api_burst_limit
    found = f"{limit:,} concurrent executions ({unreserved:,} unreserved)"
    if burst is None or unreserved >= burst:
        against = f", at least the API's burst of {burst:,}" if burst is not None else ""
        return Check(name, Status.OK, found + against)
    return Check(
        name,
        Status.WARN,
        f"{found}, below the API's burst of {burst:,}: a burst of runs is throttled and retried, and takes longer",
        f"aws service-quotas request-service-quota-increase --service-code lambda --quota-code {LAMBDA_QUOTA_CODE}"
        f" --desired-value {burst} --region {REGION}",
    )


def _quotas(service_quotas: Any) -> dict[str, float]:
    """Step Functions' quotas by name: the account's applied values over AWS's defaults."""
    found: dict[str, float] = {}
    for operation in ("list_aws_default_service_quotas", "list_service_quotas"):
        for page in service_quotas.get_paginator(operation).paginate(ServiceCode=STATES_SERVICE_CODE):
            for quota in page.get("Quotas", []):
                found[str(quota["QuotaName"])] = float(quota["Value"])
    return found


def _quota(quotas: Mapping[str, float], action: str) -> tuple[str, float] | None:
    for quota_name, value in quotas.items():
        if quota_name.lower().startswith(action.lower()) and "bucket size" in quota_name.lower():
            return quota_name, value
    return None


def check_step_functions_quotas(service_quotas: Any, needs: TemplateNeeds) -> Check:
    """A burst of runs spends StartExecution tokens (one per run) and state-transition tokens (one
    per state entered) from per-account buckets; new accounts start with reduced transition quotas
    (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html)."""
    name = "Step Functions quotas"
    answer = _call(partial(_quotas, service_quotas))
    if isinstance(answer, str):
        return _unreadable(name, "Step Functions' service quotas", answer, Status.WARN)
    burst = needs.api_burst_limit
    if burst is None:
        return Check(name, Status.OK, "the template sets no API burst to compare the quotas with")
    wanted = {"StartExecution": burst, "StateTransition": burst * max(needs.states_per_run, 1)}
    found = []
    short = []
    for action, needed in wanted.items():
        quota = _quota(answer, action)
        if quota is None:
            found.append(f"{action}: not listed by Service Quotas")
            continue
        quota_name, value = quota
        found.append(f"{quota_name} {value:,.0f} (a burst needs {needed:,})")
        if value < needed:
            short.append(quota_name)
    if short:
        return Check(
            name,
            Status.WARN,
            "; ".join(found) + f" ({burst} runs of up to {needs.states_per_run} states)",
            f"request an increase of {', '.join(short)} in the Service Quotas console ({STATES_SERVICE_CODE}),"
            " or lower apiThrottleBurstLimit",
        )
    status = Status.OK if all("not listed" not in line for line in found) else Status.WARN
    return Check(name, status, "; ".join(found))

"""The operator role: what ``pipeline executions``, ``show``, ``redrive``, ``preflight`` and ``smoke`` need.

Least privilege per command:

- executions, show, redrive: list, describe and redrive this state machine's executions, list and
  describe their Map Runs;
- preflight (``workflow/ops/preflight.py``): read-only account settings, most of which AWS offers no
  resource-level permission for (zones, endpoint services, Lambda's account settings, the logs
  resource policies, Service Quotas), AWS's public Powertools parameters, API Gateway's account
  settings and the CDK bootstrap stack;
- smoke (``workflow/ops/smoke.py``): objects under ``incoming/smoke/`` (and the outputs the runs
  commit for them under ``processed/smoke/``), SQS queues whose names start with the smoke's prefix,
  subscriptions of those queues only to the two topics, the API's two routes, and the state of
  this stack's alarms.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.compliance import acknowledge, skip_checkov
from stacks.roles import ServiceRole
from tasks.common.layout import INCOMING_PREFIX, PROCESSED_PREFIX
from workflow.api_contract import EXECUTIONS_PATH, STAGE
from workflow.deployment import SMOKE_FOLDER, smoke_queue_prefix

# The CDK bootstrap stack preflight checks (the default qualifier's).
BOOTSTRAP_STACK = "CDKToolkit"
# Reads that AWS authorizes on "*" only (Service Authorization Reference: no resource types for
# ec2:DescribeAvailabilityZones/DescribeSubnets/DescribeVpcEndpointServices,
# logs:DescribeResourcePolicies, lambda:GetAccountSettings, servicequotas:List*), plus
# cloudwatch:DescribeAlarms, which lists an alarm only to a caller scoped to "*" or to that alarm
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html) while
# the smoke cannot know the alarms' names before it lists them.
ACCOUNT_READS = [
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcEndpointServices",
    "logs:DescribeResourcePolicies",
    "lambda:GetAccountSettings",
    "servicequotas:ListServiceQuotas",
    "servicequotas:ListAWSDefaultServiceQuotas",
    "cloudwatch:DescribeAlarms",
]
# The smoke's own queues: it creates them with their policy among CreateQueue's attributes, reads
# them and deletes them; SetQueueAttributes goes with a CreateQueue that sets attributes.
QUEUE_ACTIONS = [
    "sqs:CreateQueue",
    "sqs:SetQueueAttributes",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:DeleteQueue",
]


class OperatorRole(Construct):
    """Assumable by this account's principals (an administrator grants sts:AssumeRole to people)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        bucket: s3.IBucket,
        topics: list[sns.ITopic],
        alarms: list[cloudwatch.Alarm],
        api: apigateway.RestApi,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        stack = Stack.of(self)
        self.role = ServiceRole(
            self,
            "Operators",
            principal=iam.AccountRootPrincipal(),
            description="Inspects and redrives pipeline runs; checks the account before a deploy and the stack after",
        )
        role = self.role
        executions = (
            f"arn:{stack.partition}:states:{stack.region}:{stack.account}:execution:"
            f"{state_machine.state_machine_name}:*"
        )
        role.allow(
            sid="ListAndDescribeTheStateMachine",
            actions=["states:ListExecutions", "states:DescribeStateMachine"],
            resources=[state_machine.state_machine_arn],
        )
        role.allow(
            sid="InspectAndRedriveItsExecutions",
            actions=[
                "states:DescribeExecution",
                "states:GetExecutionHistory",
                "states:ListMapRuns",
                "states:RedriveExecution",
            ],
            resources=[executions],
        )
        # A Map Run's ARN is mapRun:<state machine>/<Map state's label>:<id> (Service Authorization
        # Reference, https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html).
        role.allow(
            sid="DescribeItsMapRuns",
            actions=["states:DescribeMapRun"],
            resources=[
                f"arn:{stack.partition}:states:{stack.region}:{stack.account}:mapRun:"
                f"{state_machine.state_machine_name}/*"
            ],
        )
        bootstrap = f"arn:{stack.partition}:cloudformation:{stack.region}:{stack.account}:stack/{BOOTSTRAP_STACK}/*"
        role.allow(
            sid="FindTheStackAndTheBootstrapStack",
            actions=["cloudformation:DescribeStacks"],
            resources=[stack.stack_id, bootstrap],
        )

        # preflight
        role.allow(
            sid="ReadAccountSettingsInTheStacksRegion",
            actions=ACCOUNT_READS,
            resources=["*"],
            conditions={"StringEquals": {"aws:RequestedRegion": stack.region}},
        )
        role.allow(
            sid="ReadThePowertoolsLayerParameters",
            actions=["ssm:GetParameter"],
            # AWS's public parameters have no account in their ARN.
            resources=[f"arn:{stack.partition}:ssm:{stack.region}::parameter/aws/service/powertools/*"],
        )
        role.allow(
            sid="ReadApiGatewayAccountSettings",
            actions=["apigateway:GET"],
            resources=[f"arn:{stack.partition}:apigateway:{stack.region}::/account"],
        )

        # smoke
        sources = bucket.arn_for_objects(f"{INCOMING_PREFIX}{SMOKE_FOLDER}/*")
        outputs = bucket.arn_for_objects(f"{PROCESSED_PREFIX}{SMOKE_FOLDER}/*")
        role.allow(sid="PutSmokeSamples", actions=["s3:PutObject"], resources=[sources])
        role.allow(
            sid="ReadAndRemoveSmokeObjects",
            actions=["s3:GetObject", "s3:DeleteObjectVersion"],
            resources=[sources, outputs],
        )
        role.allow(
            sid="ListSmokePrefixes",
            actions=["s3:ListBucket", "s3:ListBucketVersions"],
            resources=[bucket.bucket_arn],
            conditions={
                "StringLike": {
                    "s3:prefix": [f"{INCOMING_PREFIX}{SMOKE_FOLDER}/*", f"{PROCESSED_PREFIX}{SMOKE_FOLDER}/*"]
                }
            },
        )
        queues = f"arn:{stack.partition}:sqs:{stack.region}:{stack.account}:{smoke_queue_prefix(stack.stack_name)}*"
        role.allow(sid="UseSmokeQueues", actions=QUEUE_ACTIONS, resources=[queues])
        role.allow(
            sid="SubscribeSmokeQueuesToTheTopics",
            actions=["sns:Subscribe"],
            resources=[topic.topic_arn for topic in topics],
            conditions={"StringEquals": {"sns:Protocol": "sqs"}, "StringLike": {"sns:Endpoint": queues}},
        )
        # sns:Unsubscribe names no resource type (Service Authorization Reference), and SNS lets only
        # a subscription's owner or the topic's owner remove an SQS subscription.
        role.allow(sid="UnsubscribeSmokeQueues", actions=["sns:Unsubscribe"], resources=["*"])
        role.allow(
            sid="CallTheApi",
            actions=["execute-api:Invoke"],
            resources=[
                api.arn_for_execute_api("POST", f"/{EXECUTIONS_PATH}", STAGE),
                api.arn_for_execute_api("GET", f"/{EXECUTIONS_PATH}/*", STAGE),
            ],
        )
        role.allow(
            sid="SetTheStateOfTheStacksAlarms",
            actions=["cloudwatch:SetAlarmState"],
            resources=[alarm.alarm_arn for alarm in alarms],
        )
        self._acknowledge()

    def _acknowledge(self) -> None:
        acknowledge(
            self.role.policy,
            "AwsSolutions-IAM5",
            "Each wildcard is the narrowest AWS allows: this state machine's executions and Map Runs (named "
            "per run); "
            "the smoke's own prefixes of the pipeline bucket, its own queue-name prefix and GET on the API's "
            "executions/{name}; AWS's public Powertools parameters; the bootstrap stack (its ARN ends in an id); "
            "and, on '*', read-only account settings that have no resource-level permissions (limited to the "
            "stack's region) and sns:Unsubscribe, which has none either.",
            applies_to=[
                "Resource::*",
                {"regex": "/^Resource::arn:<AWS::Partition>:states:[^:]*:<AWS::AccountId>:execution:.*:\\*$/g"},
                {"regex": "/^Resource::arn:<AWS::Partition>:states:[^:]*:<AWS::AccountId>:mapRun:.*\\/\\*$/g"},
                {"regex": "/^Resource::arn:<AWS::Partition>:cloudformation:.*:stack\\/CDKToolkit\\/\\*$/g"},
                {"regex": "/^Resource::arn:<AWS::Partition>:ssm:.*::parameter\\/aws\\/service\\/powertools\\/\\*$/g"},
                {"regex": "/^Resource::arn:<AWS::Partition>:sqs:.*:<AWS::AccountId>:.*-smoke-\\*$/g"},
                {"regex": f"/^Resource::<.*Bucket.*\\.Arn>\\/(incoming|processed)\\/{SMOKE_FOLDER}\\/\\*$/g"},
                {"regex": "/^Resource::arn:<AWS::Partition>:execute-api:.*\\/executions\\/\\*$/g"},
            ],
        )
        skip_checkov(
            self.role.policy,
            "CKV_AWS_111",
            "The unconstrained write is sns:Unsubscribe, which has no resource-level permission; SNS lets "
            "only a subscription's owner or its topic's owner remove an SQS subscription.",
        )

"""The HTTP API: API Gateway (REST), IAM-authenticated, integrated with Step Functions directly.

- ``POST /executions`` checks the body against ``START_REQUEST_SCHEMA`` and calls
  ``states:StartExecution``: 202 with the execution; 409 when the Idempotency-Key names an execution
  that has ended or was started with another request; 400 for a bad body or Idempotency-Key.
- ``GET /executions/{name}`` calls ``states:DescribeExecution``: 200 with its status, 404 if none.

No Lambda in between: mapping templates (VTL, ``stacks/api_templates.py``) shape the requests and the
responses, and the integration's role may only start and describe executions of the pipeline's state
machine.
"""

from __future__ import annotations

import json
from typing import Any, cast

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.api_templates import (
    NAME_PARAMETER,
    describe_error_template,
    describe_request_template,
    describe_response_template,
    service_error_template,
    start_error_template,
    start_request_template,
    start_response_template,
)
from stacks.compliance import acknowledge, skip_checkov
from stacks.config import ApiThrottling, CloudWatchRole
from stacks.log_groups import LogGroups
from stacks.roles import ServiceRole
from workflow.api_contract import (
    EXECUTIONS_PATH,
    IDEMPOTENCY_HEADER,
    INVALID_BODY_MESSAGE,
    STAGE,
    START_REQUEST_SCHEMA,
)

JSON = "application/json"
# What API Gateway's account-level role does for every REST API of the account and region
# (the actions of AWS's AmazonAPIGatewayPushToCloudWatchLogs policy).
LOG_WRITER_ACTIONS = [
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
]
ACCESS_LOG_FIELDS = {
    "requestId": apigateway.AccessLogField.context_request_id(),
    "ip": apigateway.AccessLogField.context_identity_source_ip(),
    "caller": apigateway.AccessLogField.context_identity_caller(),
    "user": apigateway.AccessLogField.context_identity_user(),
    "userArn": apigateway.AccessLogField.context_identity_user_arn(),
    "requestTime": apigateway.AccessLogField.context_request_time(),
    "httpMethod": apigateway.AccessLogField.context_http_method(),
    "resourcePath": apigateway.AccessLogField.context_resource_path(),
    "status": apigateway.AccessLogField.context_status(),
    "protocol": apigateway.AccessLogField.context_protocol(),
    "responseLength": apigateway.AccessLogField.context_response_length(),
    "responseLatency": apigateway.AccessLogField.context_response_latency(),
    "errorMessage": apigateway.AccessLogField.context_error_message(),
    "integrationStatus": apigateway.AccessLogField.context_integration_status(),
    "integrationErrorMessage": apigateway.AccessLogField.context_integration_error_message(),
    "xrayTraceId": apigateway.AccessLogField.context_xray_trace_id(),
}


class PipelineApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        bucket: s3.IBucket,
        log_groups: LogGroups,
        throttling: ApiThrottling,
        cloud_watch_role: CloudWatchRole = CloudWatchRole.CREATE,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        stack = Stack.of(self)
        execution_arn_prefix = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine.state_machine_name}:",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

        self.integration_role = ServiceRole(
            self,
            "IntegrationRole",
            service="apigateway.amazonaws.com",
            description="Starts and describes pipeline runs",
        )
        self.integration_role.allow(
            sid="StartRuns", actions=["states:StartExecution"], resources=[state_machine.state_machine_arn]
        )
        self.integration_role.allow(
            sid="DescribeRuns", actions=["states:DescribeExecution"], resources=[f"{execution_arn_prefix}*"]
        )
        acknowledge(
            self.integration_role.policy,
            "AwsSolutions-IAM5",
            "DescribeExecution is allowed on the executions of the pipeline's state machine only "
            "(execution:<state machine name>:*): an execution's name is chosen per request.",
            applies_to=[{"regex": "/^Resource::arn:<AWS::Partition>:states:.*:execution:<.*StateMachine.*>:\\*$/g"}],
        )

        account_setting = self._account_logging(stack) if cloud_watch_role is CloudWatchRole.CREATE else None
        access_logs = log_groups.create(self, "AccessLogs")
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{stack.stack_name}-api",
            description="Starts and describes data pipeline runs (IAM-authenticated)",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            # The account setting is _account_logging's, or the account's own (apiGatewayCloudWatchRole).
            cloud_watch_role=False,
            policy=iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(
                        sid="CallersOfThisAccountOnly",
                        principals=[iam.AccountRootPrincipal()],
                        actions=["execute-api:Invoke"],
                        # The API's own ARN would make the API depend on itself: API Gateway reads
                        # "execute-api:/" as "this API".
                        resources=["execute-api:/*"],
                    )
                ]
            ),
            default_method_options=apigateway.MethodOptions(authorization_type=apigateway.AuthorizationType.IAM),
            deploy_options=apigateway.StageOptions(
                stage_name=STAGE,
                access_log_destination=apigateway.LogGroupLogDestination(access_logs),
                access_log_format=apigateway.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
                tracing_enabled=True,
                # Execution logging of errors: it needs API Gateway's account-level CloudWatch role,
                # which the access logs need anyway, so skipping it would spare no role and only
                # lose the integration's error details (and take an APIG6 exception).
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                throttling_rate_limit=throttling.rate_limit,
                throttling_burst_limit=throttling.burst_limit,
            ),
        )
        # The stage URL is the stack's ApiUrl output; RestApi's own Endpoint output would repeat it.
        self.rest_api.node.try_remove_child("Endpoint")
        stage = self.rest_api.deployment_stage
        # API Gateway creates its execution log group on deployment, unencrypted and kept forever
        # unless it exists already: create it first, like every other log group.
        execution_logs = log_groups.create(self, "ExecutionLogs")
        execution_logs_resource = cast(logs.CfnLogGroup, execution_logs.node.default_child)
        execution_logs_resource.log_group_name = f"API-Gateway-Execution-Logs_{self.rest_api.rest_api_id}/{STAGE}"
        stage.node.add_dependency(execution_logs)
        if account_setting is not None:
            stage.node.add_dependency(account_setting)
        self._record_stage_exceptions(stage)

        gateway_responses = self._gateway_responses()
        validator = self.rest_api.add_request_validator(
            "BodyAndParameters", validate_request_body=True, validate_request_parameters=True
        )
        start_model = apigateway.CfnModel(
            self,
            "StartRequestModel",
            rest_api_id=self.rest_api.rest_api_id,
            content_type=JSON,
            name="StartExecutionRequest",
            description="POST /executions body (workflow/api_contract.py START_REQUEST_SCHEMA)",
            schema=START_REQUEST_SCHEMA,
        )
        # CDK redeploys the stage when a method changes; the model and the gateway responses
        # take effect through a deployment too.
        deployment = self.rest_api.latest_deployment
        if deployment is not None:
            deployment.add_to_logical_id({"model": START_REQUEST_SCHEMA, "gatewayResponses": gateway_responses})
        executions = self.rest_api.root.add_resource(EXECUTIONS_PATH)
        executions.add_method(
            "POST",
            self._integration(
                "StartExecution",
                request_template=start_request_template(
                    state_machine_arn=state_machine.state_machine_arn, default_bucket=bucket.bucket_name
                ),
                success=("202", start_response_template()),
                client_error=start_error_template(execution_arn_prefix=execution_arn_prefix),
                server_error=service_error_template("start the run"),
            ),
            request_validator=validator,
            request_models={JSON: apigateway.Model.from_model_name(self, "StartRequest", start_model.ref)},
            request_parameters={f"method.request.header.{IDEMPOTENCY_HEADER}": False},
            method_responses=_method_responses("202", "400", "409", "429", "502"),
        )
        execution = executions.add_resource(f"{{{NAME_PARAMETER}}}")
        execution.add_method(
            "GET",
            self._integration(
                "DescribeExecution",
                request_template=describe_request_template(execution_arn_prefix=execution_arn_prefix),
                success=("200", describe_response_template()),
                client_error=describe_error_template(),
                server_error=service_error_template("describe the run"),
            ),
            request_validator=validator,
            request_parameters={f"method.request.path.{NAME_PARAMETER}": True},
            method_responses=_method_responses("200", "400", "404", "429", "502"),
        )
        for method in self.rest_api.methods:
            acknowledge(
                method,
                "AwsSolutions-COG4",
                "Callers are AWS principals of this account, authenticated by IAM (SigV4) and allowed by the "
                "resource policy; there is no user pool of end users.",
            )

    def _integration(
        self,
        action: str,
        *,
        request_template: str,
        success: tuple[str, str],
        client_error: str,
        server_error: str,
    ) -> apigateway.AwsIntegration:
        status, template = success
        return apigateway.AwsIntegration(
            service="states",
            action=action,
            integration_http_method="POST",
            options=apigateway.IntegrationOptions(
                credentials_role=self.integration_role.role,
                # A body of any other content type is refused (415), never passed through unchecked.
                passthrough_behavior=apigateway.PassthroughBehavior.NEVER,
                request_templates={JSON: request_template},
                integration_responses=[
                    apigateway.IntegrationResponse(status_code=status, response_templates={JSON: template}),
                    apigateway.IntegrationResponse(
                        status_code="400", selection_pattern=r"4\d{2}", response_templates={JSON: client_error}
                    ),
                    apigateway.IntegrationResponse(
                        status_code="502", selection_pattern=r"5\d{2}", response_templates={JSON: server_error}
                    ),
                ],
            ),
        )

    def _account_logging(self, stack: Stack) -> apigateway.CfnAccount:
        """API Gateway's account-level CloudWatch role, without which no stage may log.

        Access logs need it as much as execution logs, so it is set here unless the deployment says
        the account has one (``apiGatewayCloudWatchRole=existing``). The setting is one per account
        and region and serves every REST API there, so the role may write any log group of this
        account and region (what AWS's managed policy allows, minus other accounts), in a
        customer-managed policy like every role of the stack. It is kept when the stack is deleted,
        so the other APIs' logging does not lose its role.

        Two things this cannot do. The setting can fail right after the role is created, while IAM
        propagates it ("The role ARN does not have required permissions set to API Gateway"; the
        dependency on the policy narrows that race, nothing closes it): deploy again. And applying
        the setting makes API Gateway create ``/aws/apigateway/welcome``, unencrypted and kept
        forever; creating that group here would fail the deployment wherever it exists already (any
        account where the setting was ever applied), so it is left to the operator (README, Deploy).
        """
        role = ServiceRole(
            self,
            "CloudWatchRole",
            service="apigateway.amazonaws.com",
            description="API Gateway account setting: writes the REST APIs' execution and access logs",
        )
        role.allow(
            sid="WriteApiLogs",
            actions=LOG_WRITER_ACTIONS,
            resources=[
                stack.format_arn(
                    service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
                )
            ],
        )
        acknowledge(
            role.policy,
            "AwsSolutions-IAM5",
            "API Gateway's account-level CloudWatch role writes the execution and access logs of every REST API "
            "of this account and region, in log groups API Gateway names per API: it is limited to this "
            "account's log groups in this region.",
            applies_to=[{"regex": "/^Resource::arn:<AWS::Partition>:logs:.*:<AWS::AccountId>:log-group:\\*$/g"}],
        )
        role.mutable_role.apply_removal_policy(RemovalPolicy.RETAIN)
        role.policy.apply_removal_policy(RemovalPolicy.RETAIN)
        account = apigateway.CfnAccount(self, "Account", cloud_watch_role_arn=role.role.role_arn)
        account.node.add_dependency(role.policy)
        return account

    def _gateway_responses(self) -> dict[str, str]:
        """API Gateway's own refusals, as JSON like the integration's answers; returns their templates."""
        responses = {
            # Static: the validator's message quotes names and values, and would break the JSON.
            "BadRequestBody": (
                apigateway.ResponseType.BAD_REQUEST_BODY,
                "400",
                json.dumps({"message": INVALID_BODY_MESSAGE}),
            ),
            "AccessDenied": (
                apigateway.ResponseType.ACCESS_DENIED,
                "403",
                '{"message": $context.error.messageString}',
            ),
            "MissingAuthenticationToken": (
                apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN,
                "403",
                '{"message": $context.error.messageString, "hint": "Sign requests with SigV4 (IAM); the API has '
                f'POST /{EXECUTIONS_PATH} and GET /{EXECUTIONS_PATH}/{{name}}"}}',
            ),
        }
        for name, (response_type, status, template) in responses.items():
            self.rest_api.add_gateway_response(name, type=response_type, status_code=status, templates={JSON: template})
        return {name: template for name, (_, _, template) in responses.items()}

    @staticmethod
    def _record_stage_exceptions(stage: apigateway.Stage) -> None:
        no_waf = (
            "Only IAM-authenticated (SigV4) principals of this account may call the API (resource policy), every "
            "method is throttled, and the integration only starts or describes runs; a web ACL would add cost "
            "without a threat it filters."
        )
        acknowledge(stage, "AwsSolutions-APIG3", no_waf)
        acknowledge(stage, "NIST.800.53.R5-APIGWAssociatedWithWAF", no_waf)
        no_cache = (
            "Nothing may be cached: POST starts a run, and GET returns a run's current status, which a cache "
            "would serve stale."
        )
        acknowledge(stage, "NIST.800.53.R5-APIGWCacheEnabledAndEncrypted", no_cache)
        skip_checkov(stage, "CKV_AWS_120", no_cache)
        acknowledge(
            stage,
            "NIST.800.53.R5-APIGWSSLEnabled",
            "A client certificate authenticates API Gateway to an HTTP back end; the only back end here is "
            "Step Functions, called over HTTPS and signed with the integration role.",
        )


def _method_responses(*statuses: str) -> list[apigateway.MethodResponse]:
    return [apigateway.MethodResponse(status_code=status) for status in statuses]

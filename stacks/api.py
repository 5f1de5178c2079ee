"""The HTTP API: API Gateway (REST), IAM-authenticated, integrated with Step Functions directly.

- ``POST /executions`` checks the body against ``START_REQUEST_SCHEMA`` and calls
  ``states:StartExecution``: 202 with the execution; 409 when the Idempotency-Key names an execution
  that has ended or was started with another request; 400 for a bad body or Idempotency-Key.
- ``GET /executions/{name}`` calls ``states:DescribeExecution``: 200 with its status, 404 if none.

No Lambda in between: mapping templates (VTL) shape the requests and the responses, and the
integration's role may only start and describe executions of the pipeline's state machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.compliance import acknowledge, skip_checkov
from stacks.config import ConfigError
from stacks.log_groups import LogGroups
from stacks.roles import ServiceRole
from workflow.api_contract import (
    EXECUTIONS_PATH,
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_PATTERN,
    STAGE,
    START_REQUEST_SCHEMA,
)
from workflow.executions import API_NAME_PREFIX

JSON = "application/json"
NAME_PARAMETER = "name"
# A name StartExecution refuses (it contains white space) with InvalidName, before starting anything.
REFUSED_NAME = "invalid Idempotency-Key"
IDEMPOTENCY_KEY_RULE = f"{IDEMPOTENCY_HEADER} must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'"
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


@dataclass(frozen=True, slots=True)
class ApiThrottling:
    """Steady-state requests per second and burst of every method, from CDK context."""

    rate_limit: float = 50
    burst_limit: int = 100

    @classmethod
    def from_context(cls, node: Any) -> ApiThrottling:
        defaults = cls()

        def value(key: str, default: Any) -> Any:
            found = node.try_get_context(key)
            return default if found in (None, "") else found

        try:
            throttling = cls(
                rate_limit=float(value("apiThrottleRateLimit", defaults.rate_limit)),
                burst_limit=int(value("apiThrottleBurstLimit", defaults.burst_limit)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid context value: {exc}") from None
        if throttling.rate_limit <= 0 or throttling.burst_limit < 1:
            raise ConfigError("apiThrottleRateLimit must be positive and apiThrottleBurstLimit at least 1")
        return throttling


def json_text(reference: str) -> str:
    """VTL that renders ``reference`` escaped for the inside of a JSON string literal.

    ``$util.escapeJavaScript`` also turns ' into \\', which JSON does not accept: AWS's documented
    remedy turns it back.
    """
    return f'$util.escapeJavaScript({reference}).replaceAll("\\\\\'", "\'")'


def optional_string(field: str, variable: str) -> list[str]:
    """VTL setting ``$<variable>Json`` to the body's optional string ``field`` as a JSON string
    (escaped for the execution input, which is itself a JSON string), or to ``null`` when absent."""
    return [
        f'#if("$!body.{field}" == "")',
        f"#set(${variable}Json = 'null')",
        "#else",
        f"#set(${variable}Text = {json_text(json_text(f'$body.{field}'))})",
        f'#set(${variable}Json = "$quote${variable}Text$quote")',
        "#end",
    ]


def start_request_template(*, state_machine_arn: str, default_bucket: str) -> str:
    """POST /executions -> StartExecution: name from the Idempotency-Key, input from the body.

    A request validator cannot check a header's format, and a request template cannot answer by
    itself (``$context.responseOverride`` applies to responses only), so an Idempotency-Key of the
    wrong form makes the name one that StartExecution refuses before starting anything
    (``InvalidName``, 400); the error template answers 400 about the header. (``$input.params``
    also finds a query-string parameter of that name, under the same rule.)
    """
    # The input is a JSON document inside a JSON string: its values are escaped twice.
    return "\n".join(
        [
            "#set($body = $input.path('$'))",
            f"#set($idempotencyKey = \"$!input.params('{IDEMPOTENCY_HEADER}')\")",
            '#if($idempotencyKey == "")',
            f'#set($name = "{API_NAME_PREFIX}$context.requestId")',
            f"#elseif($idempotencyKey.matches('{IDEMPOTENCY_KEY_PATTERN}'))",
            f'#set($name = "{API_NAME_PREFIX}$idempotencyKey")',
            "#else",
            f"#set($name = '{REFUSED_NAME}')",
            "#end",
            '#if("$!body.bucket" == "")',
            f"#set($bucket = '{default_bucket}')",
            "#else",
            "#set($bucket = $body.bucket)",
            "#end",
            f"#set($bucketText = {json_text(json_text('$bucket'))})",
            f"#set($keyText = {json_text(json_text('$body.key'))})",
            # Velocity string literals have no escapes: the quotes of the inner string come from a
            # single-quoted (verbatim) literal.
            "#set($quote = '\\\"')",
            *optional_string("versionId", "version"),
            *optional_string("processingType", "type"),
            *optional_string("outputFormat", "outputFormat"),
            "{",
            f'  "stateMachineArn": "{state_machine_arn}",',
            f'  "name": "{json_text("$name")}",',
            '  "input": "{\\"bucket\\": \\"$bucketText\\", \\"key\\": \\"$keyText\\", \\"versionId\\": $versionJson, '
            '\\"processingType\\": $typeJson, \\"outputFormat\\": $outputFormatJson, \\"trigger\\": \\"api\\"}"',
            "}",
        ]
    )


def start_response_template() -> str:
    """StartExecution's 200 -> 202 {executionArn, name, startDate (epoch seconds)}."""
    return "\n".join(
        [
            "#set($arn = $input.path('$.executionArn'))",
            "#set($nameStart = $arn.lastIndexOf(':') + 1)",
            "{",
            '  "executionArn": "$arn",',
            '  "name": "$arn.substring($nameStart)",',
            "  \"startDate\": $input.json('$.startDate')",
            "}",
        ]
    )


def _error_fields() -> list[str]:
    return [
        "#set($type = \"$!input.path('$.__type')\")",
        "#set($message = \"$!input.path('$.message')\")",
    ]


def start_error_template(*, execution_arn_prefix: str) -> str:
    """StartExecution's 4XX -> 409 (ExecutionAlreadyExists), 429 (throttled) or 400.

    For AWS integrations a selection pattern matches the HTTP status only, never the body, so the
    400 response tells the errors apart by their ``__type`` and overrides the status.
    StartExecution is idempotent for a running execution with the same name and input (it answers
    200); ExecutionAlreadyExists means the execution has ended or was started with another input.
    Its message names it: ``Execution Already Exists: '<execution ARN>'``.
    """
    return "\n".join(
        [
            *_error_fields(),
            "#if($type.contains('ExecutionAlreadyExists'))",
            "#set($context.responseOverride.status = 409)",
            '#set($arnStart = $message.indexOf("\'") + 1)',
            '#set($arnEnd = $message.lastIndexOf("\'"))',
            "#if($arnStart > 0 && $arnEnd > $arnStart)",
            "#set($arn = $message.substring($arnStart, $arnEnd))",
            "#else",
            f"#set($arn = \"{execution_arn_prefix}{API_NAME_PREFIX}$input.params('{IDEMPOTENCY_HEADER}')\")",
            "#end",
            "#set($nameStart = $arn.lastIndexOf(':') + 1)",
            "#set($name = $arn.substring($nameStart))",
            "{",
            f'  "message": "An execution named {json_text("$name")} already exists: it has ended, or it was '
            f'started with a different request. Send another {IDEMPOTENCY_HEADER} to start a new run.",',
            f'  "name": "{json_text("$name")}",',
            f'  "executionArn": "{json_text("$arn")}"',
            "}",
            "#elseif($type.contains('InvalidName'))",
            f'{{"message": "{IDEMPOTENCY_KEY_RULE}"}}',
            "#elseif($type.contains('Throttling'))",
            "#set($context.responseOverride.status = 429)",
            f'{{"message": "{json_text("$message")}"}}',
            "#else",
            f'{{"message": "{json_text("$message")}"}}',
            "#end",
        ]
    )


def describe_request_template(*, execution_arn_prefix: str) -> str:
    """GET /executions/{name} -> DescribeExecution of that execution of the pipeline's state machine."""
    name = json_text(f"$input.params().path.get('{NAME_PARAMETER}')")
    return f'{{"executionArn": "{execution_arn_prefix}{name}"}}'


def describe_response_template() -> str:
    """DescribeExecution's 200 -> 200 with the status; ``output`` is the parsed JSON, or null."""

    def field(name: str, *, raw: bool = False) -> str:
        """The field as JSON, or null when the execution has none (stopDate while running, ...)."""
        rendered = f"$execution.{name}" if raw else f"$input.json('$.{name}')"
        return f'  "{name}": #if("$!execution.{name}" == "")null#{{else}}{rendered}#end'

    return "\n".join(
        [
            "#set($execution = $input.path('$'))",
            "{",
            ",\n".join(
                [
                    *(
                        f"  \"{name}\": $input.json('$.{name}')"
                        for name in ("name", "executionArn", "status", "startDate")
                    ),
                    *(field(name) for name in ("stopDate", "error", "cause")),
                    # The output is a JSON document in a string: rendered raw, it is that document.
                    field("output", raw=True),
                ]
            ),
            "}",
        ]
    )


def describe_error_template() -> str:
    """DescribeExecution's 4XX -> 404 (no such execution), 429 (throttled) or 400."""
    return "\n".join(
        [
            *_error_fields(),
            "#if($type.contains('ExecutionDoesNotExist') || $type.contains('InvalidArn'))",
            "#set($context.responseOverride.status = 404)",
            "#elseif($type.contains('Throttling'))",
            "#set($context.responseOverride.status = 429)",
            "#end",
            f'{{"message": "{json_text("$message")}"}}',
        ]
    )


def service_error_template(action: str) -> str:
    """A 5XX of Step Functions -> 502."""
    return f'{{"message": "Step Functions could not {action}; retry later (request $context.requestId)"}}'


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

        account = self._account_logging(stack)
        access_logs = log_groups.create(self, "AccessLogs")
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{stack.stack_name}-api",
            description="Starts and describes data pipeline runs (IAM-authenticated)",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            # Set by this construct, with a role of its own (see _account_logging).
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
        stage.node.add_dependency(account, execution_logs)
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

        Access logs need it as much as execution logs, so it is set here rather than assumed. The
        setting is one per account and region and serves every REST API there, so the role may
        write any log group of this account and region (what AWS's managed policy allows, minus
        other accounts), in a customer-managed policy like every role of the stack. It is kept when
        the stack is deleted, so the other APIs' logging does not lose its role.
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
            "BadRequestBody": (
                apigateway.ResponseType.BAD_REQUEST_BODY,
                "400",
                '{"message": "$context.error.validationErrorString"}',
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

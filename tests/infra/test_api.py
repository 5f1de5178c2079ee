"""The HTTP API: IAM-authenticated API Gateway REST API integrated directly with Step Functions."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from stacks.api_templates import NO_SUCH_RUN, NOT_THE_CALLERS, caller
from stacks.config import ApiThrottling, ConfigError
from tests.infra.queries import as_list, of_type, only, output_ref, statements_of_role
from workflow.api_contract import (
    CALLER_LENGTH,
    EXECUTIONS_PATH,
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_PATTERN,
    INVALID_BODY_MESSAGE,
    LAMBDA_ERROR_MESSAGE,
    START_REQUEST_SCHEMA,
)
from workflow.deployment import OUTPUT_API_ID, OUTPUT_API_URL, OUTPUT_STATE_MACHINE
from workflow.executions import API_NAME_PREFIX

PROJECT_ROOT = Path(__file__).resolve().parents[2]
JSON = "application/json"


def text(value: Any) -> str:
    """A template string with its intrinsics shown as ``${Ref}`` / ``${Resource.Attribute}``."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(text(part) for part in parts)
    if "Ref" in value:
        return f"${{{value['Ref']}}}"
    if "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    if "Fn::Select" in value:  # e.g. the stack's UUID in a log group's name
        return "${" + json.dumps(value) + "}"
    raise AssertionError(f"unexpected intrinsic {value}")


def resource_path(template: dict[str, Any], resource: dict[str, Any]) -> str:
    """The method's resource path, e.g. ``/executions/{name}``."""
    parts: list[str] = []
    while "Ref" in resource:
        body = template["Resources"][resource["Ref"]]["Properties"]
        parts.insert(0, body["PathPart"])
        resource = body["ParentId"]
    return "/" + "/".join(parts)


def methods(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (body["Properties"]["HttpMethod"], resource_path(template, body["Properties"]["ResourceId"])): body[
            "Properties"
        ]
        for body in of_type(template, "AWS::ApiGateway::Method").values()
    }


def start(template: dict[str, Any]) -> dict[str, Any]:
    return methods(template)[("POST", f"/{EXECUTIONS_PATH}")]


def describe(template: dict[str, Any]) -> dict[str, Any]:
    return methods(template)[("GET", f"/{EXECUTIONS_PATH}/{{name}}")]


def stage(template: dict[str, Any]) -> dict[str, Any]:
    return only(template, "AWS::ApiGateway::Stage")[1]


def integration_responses(method: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    """Integration responses by selection pattern (None: the default response)."""
    return {response.get("SelectionPattern"): response for response in method["Integration"]["IntegrationResponses"]}


def test_the_api_has_the_two_contract_routes_and_each_requires_iam_authorization(template: dict[str, Any]) -> None:
    found = methods(template)
    assert set(found) == {("POST", f"/{EXECUTIONS_PATH}"), ("GET", f"/{EXECUTIONS_PATH}/{{name}}")}
    for route, method in found.items():
        assert method["AuthorizationType"] == "AWS_IAM", route


def test_the_resource_policy_admits_only_principals_of_this_account(template: dict[str, Any]) -> None:
    _, api = only(template, "AWS::ApiGateway::RestApi")
    (statement,) = api["Properties"]["Policy"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    assert text(statement["Principal"]["AWS"]) == "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"
    # "execute-api:/*" is this API; its own ARN would make the API depend on itself.
    assert statement["Resource"] == "execute-api:/*"
    assert api["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}


def test_starting_a_run_validates_the_body_against_the_contract_schema(template: dict[str, Any]) -> None:
    method = start(template)
    validator = template["Resources"][method["RequestValidatorId"]["Ref"]]["Properties"]
    assert validator["ValidateRequestBody"] is True
    assert validator["ValidateRequestParameters"] is True
    model = template["Resources"][method["RequestModels"][JSON]["Ref"]]["Properties"]
    assert model["ContentType"] == JSON
    assert model["Schema"] == START_REQUEST_SCHEMA
    # The header is optional; its format is checked by the request template.
    assert method["RequestParameters"] == {f"method.request.header.{IDEMPOTENCY_HEADER}": False}
    # A body of another content type is refused instead of reaching Step Functions unchecked.
    assert method["Integration"]["PassthroughBehavior"] == "NEVER"
    assert set(method["Integration"]["RequestTemplates"]) == {JSON}


def test_post_starts_an_execution_of_the_pipeline_state_machine(template: dict[str, Any]) -> None:
    integration = start(template)["Integration"]
    assert integration["Type"] == "AWS"
    assert text(integration["Uri"]).endswith(":states:action/StartExecution")
    request = text(integration["RequestTemplates"][JSON])
    machine = output_ref(template, OUTPUT_STATE_MACHINE)
    assert f'"stateMachineArn": "${{{machine}}}"' in request
    assert '\\"trigger\\": \\"api\\"' in request


def test_the_execution_is_named_in_the_callers_namespace_from_the_idempotency_key_else_the_request_id(
    template: dict[str, Any],
) -> None:
    request = text(start(template)["Integration"]["RequestTemplates"][JSON])
    # The caller is its principal id (the session of a role dropped), as workflow.api_contract.caller_of
    assert "\n".join(caller()) in request
    assert '#set($caller = "$!context.identity.caller")' in request
    assert f"#set($callerStart = $caller.length() - {CALLER_LENGTH})" in request
    assert f"#set($idempotencyKey = \"$!input.params('{IDEMPOTENCY_HEADER}')\")" in request
    assert f".matches('{IDEMPOTENCY_KEY_PATTERN}')" in request
    # Velocity names may hold '-': the caller is written ${caller} so that the '-' after it stays text
    assert f'#set($name = "{API_NAME_PREFIX}${{caller}}-$idempotencyKey")' in request
    assert f'#set($name = "{API_NAME_PREFIX}${{caller}}-$context.requestId")' in request
    # A key of the wrong form gets a name StartExecution refuses (white space) before starting anything.
    (refused,) = [line for line in request.splitlines() if line.startswith("#set($name = '")]
    assert " " in refused
    assert '"name": "$util.escapeJavaScript($name)' in request


def test_start_responses_map_to_202_409_400_and_502(template: dict[str, Any]) -> None:
    method = start(template)
    assert {response["StatusCode"] for response in method["MethodResponses"]} >= {"202", "400", "409", "502"}
    responses = integration_responses(method)
    assert set(responses) == {None, r"4\d{2}", r"5\d{2}"}
    success = responses[None]
    assert success["StatusCode"] == "202"
    for field in ('"executionArn"', '"name"', '"startDate"'):
        assert field in success["ResponseTemplates"][JSON], field
    client_error = responses[r"4\d{2}"]
    assert client_error["StatusCode"] == "400"
    errors = text(client_error["ResponseTemplates"][JSON])
    # A selection pattern sees only the status of an AWS integration: the template reads the error type.
    already_exists = errors.index("ExecutionAlreadyExists")
    assert errors.index("$context.responseOverride.status = 409") > already_exists
    for field in ('"message"', '"name"', '"executionArn"'):
        assert field in errors[already_exists:], field
    assert "InvalidName" in errors  # the refused name of a malformed Idempotency-Key
    assert responses[r"5\d{2}"]["StatusCode"] == "502"


def test_get_describes_an_execution_of_the_pipeline_state_machine(template: dict[str, Any]) -> None:
    method = describe(template)
    assert method["RequestParameters"] == {"method.request.path.name": True}
    integration = method["Integration"]
    assert integration["Type"] == "AWS"
    assert text(integration["Uri"]).endswith(":states:action/DescribeExecution")
    machine = output_ref(template, OUTPUT_STATE_MACHINE)
    request = text(integration["RequestTemplates"][JSON])
    assert (
        f'"executionArn": "arn:${{AWS::Partition}}:states:us-east-1:${{AWS::AccountId}}:execution:${{{machine}.Name}}:'
        "$util.escapeJavaScript($name)"
    ) in request
    responses = integration_responses(method)
    assert responses[None]["StatusCode"] == "200"
    for field in ("name", "executionArn", "status", "startDate", "stopDate", "error", "cause", "output"):
        assert f'"{field}":' in responses[None]["ResponseTemplates"][JSON], field
    errors = text(responses[r"4\d{2}"]["ResponseTemplates"][JSON])
    assert errors.index("$context.responseOverride.status = 404") > errors.index("ExecutionDoesNotExist")
    assert responses[r"5\d{2}"]["StatusCode"] == "502"
    assert {response["StatusCode"] for response in method["MethodResponses"]} >= {"200", "404", "502"}


def test_get_describes_only_the_callers_own_api_runs(template: dict[str, Any]) -> None:
    # Given the GET method's request template
    request = text(describe(template)["Integration"]["RequestTemplates"][JSON])
    # Then a name outside the caller's namespace (another caller's run, an upload's run) is replaced by
    # one DescribeExecution refuses, before the call
    assert "\n".join(caller()) in request
    guard = f'#if(!$name.startsWith("{API_NAME_PREFIX}${{caller}}-"))'
    refused = f"#set($name = '{NOT_THE_CALLERS}')"
    assert request.index(guard) < request.index(refused) < request.index('"executionArn"')
    assert " " in NOT_THE_CALLERS
    # And the 404 says the same for a run that is not the caller's as for one that does not exist
    errors = text(integration_responses(describe(template))[r"4\d{2}"]["ResponseTemplates"][JSON])
    not_found = errors[errors.index("#if") : errors.index("#elseif")]
    assert "InvalidArn" in not_found
    assert f'{{"message": "{NO_SUCH_RUN}"}}' in not_found
    assert "$message" not in not_found


def test_get_answers_a_lambda_failures_message_never_its_stack_trace(template: dict[str, Any]) -> None:
    response = text(integration_responses(describe(template))[None]["ResponseTemplates"][JSON])
    # The cause is answered from $cause, which holds only the errorMessage of a Lambda error document
    assert "$input.json('$.cause')" not in response
    assert '#set($cause = "$!execution.cause")' in response
    assert f'#set($cause = "$!util.parseJson($cause).{LAMBDA_ERROR_MESSAGE}")' in response
    assert '"cause": #if($cause == "")null#{else}"$util.escapeJavaScript($cause)' in response


def test_the_integration_role_may_only_start_and_describe_runs_of_this_state_machine(
    template: dict[str, Any],
) -> None:
    (role,) = {method["Integration"]["Credentials"]["Fn::GetAtt"][0] for method in methods(template).values()}
    machine = output_ref(template, OUTPUT_STATE_MACHINE)
    allowed = {
        action: [text(resource) for resource in as_list(statement["Resource"])]
        for statement in statements_of_role(template, role)
        for action in as_list(statement["Action"])
    }
    assert allowed == {
        "states:StartExecution": [f"${{{machine}}}"],
        "states:DescribeExecution": [
            f"arn:${{AWS::Partition}}:states:us-east-1:${{AWS::AccountId}}:execution:${{{machine}.Name}}:*"
        ],
    }
    trust = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [statement["Principal"] for statement in trust] == [{"Service": "apigateway.amazonaws.com"}]


def test_access_logs_are_json_in_an_encrypted_retained_log_group(template: dict[str, Any]) -> None:
    settings = stage(template)["Properties"]["AccessLogSetting"]
    group = template["Resources"][settings["DestinationArn"]["Fn::GetAtt"][0]]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert "KmsKeyId" in group["Properties"]
    assert group["Properties"]["RetentionInDays"] > 0
    fields = json.loads(settings["Format"])
    for field in ("requestId", "ip", "caller", "user", "requestTime", "httpMethod", "resourcePath", "status"):
        assert field in fields, field
    assert fields["integrationErrorMessage"] == "$context.integrationErrorMessage"


def test_execution_logs_errors_into_a_log_group_made_beforehand(template: dict[str, Any]) -> None:
    body = stage(template)
    (settings,) = body["Properties"]["MethodSettings"]
    assert (settings["LoggingLevel"], settings["DataTraceEnabled"]) == ("ERROR", False)
    # API Gateway would create this group itself, unencrypted and kept forever.
    (group,) = [
        name
        for name, group in of_type(template, "AWS::Logs::LogGroup").items()
        if text(group["Properties"].get("LogGroupName", "")).startswith("API-Gateway-Execution-Logs_")
    ]
    api, _ = only(template, "AWS::ApiGateway::RestApi")
    props = template["Resources"][group]["Properties"]
    assert text(props["LogGroupName"]) == f"API-Gateway-Execution-Logs_${{{api}}}/prod"
    assert "KmsKeyId" in props
    # No stage may log before the account has API Gateway's CloudWatch role.
    account, account_body = only(template, "AWS::ApiGateway::Account")
    assert set(body["DependsOn"]) >= {group, account}
    role = account_body["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    for statement in statements_of_role(template, role):
        assert all(action.startswith("logs:") for action in as_list(statement["Action"]))
        assert text(statement["Resource"]) == "arn:${AWS::Partition}:logs:us-east-1:${AWS::AccountId}:log-group:*"


def test_every_method_is_throttled_and_traced(template: dict[str, Any]) -> None:
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    props = stage(template)["Properties"]
    assert props["StageName"] == "prod"
    assert props["TracingEnabled"] is True
    (settings,) = props["MethodSettings"]
    assert (settings["HttpMethod"], settings["ResourcePath"]) == ("*", "/*")
    assert settings["ThrottlingRateLimit"] == context["apiThrottleRateLimit"]
    assert settings["ThrottlingBurstLimit"] == context["apiThrottleBurstLimit"]


# Gateway-response templates only substitute variables. ``...String`` variables are documented as the
# quoted value (a JSON string); the others are raw text, which may hold quotes (the validator's message
# quotes property names).
CONTEXT_VARIABLE = re.compile(r"\$context\.[A-Za-z.]+")
NASTY_TEXT = 'object has missing required properties (["key"]) \\ "quoted"'


def substituted(template: str) -> str:
    """The template as API Gateway could render it, every variable holding text with quotes."""
    return CONTEXT_VARIABLE.sub(
        lambda found: json.dumps(NASTY_TEXT) if found.group().endswith("String") else NASTY_TEXT, template
    )


def is_json(rendered: str) -> bool:
    try:
        json.loads(rendered)
    except ValueError:
        return False
    return True


def test_gateway_responses_answer_json_whatever_the_error_says(template: dict[str, Any]) -> None:
    responses = {
        body["Properties"]["ResponseType"]: body["Properties"]
        for body in of_type(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    # Every body is valid JSON even when the error's text holds quotes and backslashes
    for kind, response in responses.items():
        rendered = substituted(response["ResponseTemplates"][JSON])
        assert is_json(rendered), (kind, rendered)
    # A refused body gets a fixed message that says what a body must be
    bad_body = responses["BAD_REQUEST_BODY"]
    assert bad_body["StatusCode"] == "400"
    assert json.loads(bad_body["ResponseTemplates"][JSON]) == {"message": INVALID_BODY_MESSAGE}
    for field in START_REQUEST_SCHEMA["properties"]:
        assert field in INVALID_BODY_MESSAGE, field
    for kind in ("ACCESS_DENIED", "MISSING_AUTHENTICATION_TOKEN"):
        assert responses[kind]["StatusCode"] == "403", kind
        assert responses[kind]["ResponseTemplates"][JSON].startswith('{"message": $context.error.messageString'), kind


def test_outputs_name_the_api_and_its_stage_url(template: dict[str, Any]) -> None:
    api, _ = only(template, "AWS::ApiGateway::RestApi")
    stage_name, _ = only(template, "AWS::ApiGateway::Stage")
    assert output_ref(template, OUTPUT_API_ID) == api
    url = text(template["Outputs"][OUTPUT_API_URL]["Value"])
    assert url == f"https://${{{api}}}.execute-api.us-east-1.${{AWS::URLSuffix}}/${{{stage_name}}}/"


class Context:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def try_get_context(self, key: str) -> Any:
        return self.values.get(key)


def test_throttling_comes_from_context_with_defaults() -> None:
    assert ApiThrottling.from_context(Context({})) == ApiThrottling(rate_limit=50, burst_limit=100)
    given = Context({"apiThrottleRateLimit": "10", "apiThrottleBurstLimit": 20})
    assert ApiThrottling.from_context(given) == ApiThrottling(rate_limit=10, burst_limit=20)


@pytest.mark.parametrize(
    "values", [{"apiThrottleRateLimit": 0}, {"apiThrottleBurstLimit": 0}, {"apiThrottleRateLimit": "fast"}]
)
def test_throttling_refuses_values_out_of_range(values: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ApiThrottling.from_context(Context(values))

"""The HTTP API's mapping templates (VTL): what API Gateway sends to Step Functions and answers back.

Pure string builders, apart from the construct that installs them (``stacks/api.py``), so that a
template can be read and tested as the text it is.
"""

from __future__ import annotations

from workflow.api_contract import (
    CALLER_LENGTH,
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_PATTERN,
    LAMBDA_ERROR_MESSAGE,
    caller_prefix,
)

NAME_PARAMETER = "name"
# A name StartExecution refuses (it contains white space) with InvalidName, before starting anything.
REFUSED_NAME = "invalid Idempotency-Key"
# A name DescribeExecution refuses (InvalidArn, answered 404): what GET asks for another caller's run.
NOT_THE_CALLERS = "not a run of this caller"
NO_SUCH_RUN = "You have no execution of that name"
# The caller in a string: Velocity identifiers may contain '-', so "$caller-..." would name "$caller-".
CALLER = "${caller}"
IDEMPOTENCY_KEY_RULE = f"{IDEMPOTENCY_HEADER} must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'"


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


def caller() -> list[str]:
    """VTL setting ``$caller`` to ``workflow.api_contract.caller_of`` of the request's principal id.

    Velocity evaluates no arithmetic inside a method's arguments: the start index gets its own #set.
    """
    return [
        '#set($caller = "$!context.identity.caller")',
        "#set($colon = $caller.indexOf(':'))",
        "#if($colon >= 0)#set($caller = $caller.substring(0, $colon))#end",
        "#set($caller = $caller.replaceAll('[^A-Za-z0-9]', ''))",
        f"#set($callerStart = $caller.length() - {CALLER_LENGTH})",
        "#if($callerStart > 0)#set($caller = $caller.substring($callerStart))#end",
    ]


def start_request_template(*, state_machine_arn: str, default_bucket: str) -> str:
    """POST /executions -> StartExecution: name from the caller and the Idempotency-Key, input from the body.

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
            *caller(),
            f"#set($idempotencyKey = \"$!input.params('{IDEMPOTENCY_HEADER}')\")",
            '#if($idempotencyKey == "")',
            f'#set($name = "{caller_prefix(CALLER)}$context.requestId")',
            f"#elseif($idempotencyKey.matches('{IDEMPOTENCY_KEY_PATTERN}'))",
            f'#set($name = "{caller_prefix(CALLER)}$idempotencyKey")',
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
            *caller(),
            f"#set($arn = \"{execution_arn_prefix}{caller_prefix(CALLER)}$input.params('{IDEMPOTENCY_HEADER}')\")",
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
    """GET /executions/{name} -> DescribeExecution of that execution of the pipeline's state machine,
    if the caller started it through the API; another's run, or one an upload started, is asked for
    under a name DescribeExecution refuses, and so answered like a run that does not exist."""
    return "\n".join(
        [
            *caller(),
            f"#set($name = $input.params().path.get('{NAME_PARAMETER}'))",
            f'#if(!$name.startsWith("{caller_prefix(CALLER)}"))',
            f"#set($name = '{NOT_THE_CALLERS}')",
            "#end",
            f'{{"executionArn": "{execution_arn_prefix}{json_text("$name")}"}}',
        ]
    )


def describe_response_template() -> str:
    """DescribeExecution's 200 -> 200 with the status; ``output`` is the parsed JSON, or null.

    The cause of a failed Lambda step is the runtime's error document, stack trace included: only
    its ``errorMessage`` is answered (``workflow.api_contract.public_cause`` says the same in Python).
    """

    def field(name: str, *, raw: bool = False) -> str:
        """The field as JSON, or null when the execution has none (stopDate while running, ...)."""
        rendered = f"$execution.{name}" if raw else f"$input.json('$.{name}')"
        return f'  "{name}": #if("$!execution.{name}" == "")null#{{else}}{rendered}#end'

    return "\n".join(
        [
            "#set($execution = $input.path('$'))",
            '#set($cause = "$!execution.cause")',
            f"#if($cause.startsWith('{{') && $cause.contains('\"{LAMBDA_ERROR_MESSAGE}\"'))",
            f'#set($cause = "$!util.parseJson($cause).{LAMBDA_ERROR_MESSAGE}")',
            "#end",
            "{",
            ",\n".join(
                [
                    *(
                        f"  \"{name}\": $input.json('$.{name}')"
                        for name in ("name", "executionArn", "status", "startDate")
                    ),
                    *(field(name) for name in ("stopDate", "error")),
                    f'  "cause": #if($cause == "")null#{{else}}"{json_text("$cause")}"#end',
                    # The output is a JSON document in a string: rendered raw, it is that document.
                    field("output", raw=True),
                ]
            ),
            "}",
        ]
    )


def describe_error_template() -> str:
    """DescribeExecution's 4XX -> 404 (no such execution of the caller's), 429 (throttled) or 400.

    The 404 says the same whether the run does not exist or is not the caller's.
    """
    return "\n".join(
        [
            *_error_fields(),
            "#if($type.contains('ExecutionDoesNotExist') || $type.contains('InvalidArn'))",
            "#set($context.responseOverride.status = 404)",
            f'{{"message": "{NO_SUCH_RUN}"}}',
            "#elseif($type.contains('Throttling'))",
            "#set($context.responseOverride.status = 429)",
            f'{{"message": "{json_text("$message")}"}}',
            "#else",
            f'{{"message": "{json_text("$message")}"}}',
            "#end",
        ]
    )


def service_error_template(action: str) -> str:
    """A 5XX of Step Functions -> 502."""
    return f'{{"message": "Step Functions could not {action}; retry later (request $context.requestId)"}}'

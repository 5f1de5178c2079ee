"""The HTTP API's contract: one definition for the deployed API Gateway and for ``pipeline serve``.

``POST /executions`` starts a run; ``GET /executions/{name}`` describes one. The request model
below is the API Gateway model of the deployed API (JSON Schema draft 4) and the schema the local
API validates with, so both refuse the same bodies.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tasks.common.layout import SOURCE_PREFIXES
from tasks.common.models import OutputFormat, ProcessingType
from workflow.executions import API_NAME_PREFIX

# The deployed API's one stage: its URL ends in /prod/, and pipeline serve answers under it too.
STAGE = "prod"
EXECUTIONS_PATH = "executions"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Execution names are at most 80 characters of [A-Za-z0-9_-]: "api-", the caller (at most 11), "-" and
# the key (at most 64).
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
CALLER_LENGTH = 11
MAX_KEY_BYTES = 1024

START_REQUEST_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "StartExecutionRequest",
    "type": "object",
    "additionalProperties": False,
    "required": ["key"],
    "properties": {
        "bucket": {"type": "string", "minLength": 3, "maxLength": 63, "pattern": "^[a-z0-9][a-z0-9.-]*[a-z0-9]$"},
        "key": {
            "type": "string",
            "minLength": min(len(prefix) for prefix in SOURCE_PREFIXES) + 1,
            "maxLength": MAX_KEY_BYTES,
            # Under incoming/ or uploads/, no control characters, no empty, '.' or '..' segment, not a
            # folder (Validate checks again).
            "pattern": r"^(?!.*//)(?!.*/$)(incoming|uploads)/(?!(.*/)?\.{1,2}(/|$))[^\u0000-\u001f\u007f]+$",
        },
        # Pins the run to one version of the object (pipeline submit sends the one it uploaded).
        "versionId": {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": "^[A-Za-z0-9._+/=-]+$"},
        "processingType": {"type": "string", "enum": [member.value for member in ProcessingType]},
        # Absent: the dataset's format (tasks/datasets), else JSON Lines.
        "outputFormat": {"type": "string", "enum": [member.value for member in OutputFormat]},
    },
}


# What each field must be, in words: the API's messages quote these rather than regular expressions.
FIELD_RULES = {
    "key": "a file under incoming/ or uploads/, with no empty, '.' or '..' segment and no control characters",
    "bucket": "an S3 bucket name",
    "versionId": "an S3 version id",
    "processingType": "one of " + ", ".join(member.value for member in ProcessingType),
    "outputFormat": "one of " + ", ".join(member.value for member in OutputFormat),
}


# What the deployed API answers for a body its validator refuses. The validator's own message quotes
# property names, and a gateway response cannot escape it into JSON (it substitutes variables, no VTL):
# https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-gateway-responses.responseTemplates.html
INVALID_BODY_MESSAGE = (
    "Invalid request body: send a JSON object with "
    + "; ".join(f"{field}{' (required)' if field == 'key' else ''}: {rule}" for field, rule in FIELD_RULES.items())
    + "; and no other field"
)


def caller_of(principal: str) -> str:
    """The caller's part of its executions' names: the last 11 letters and digits of its principal id.

    The deployed API reads the principal id of a SigV4-signed request as ``$context.identity.caller``:
    ``AIDA...`` (an IAM user's unique id) or ``AROA...:<session name>`` (a role's unique id and the
    session). The session is dropped, so every session of a role is one caller and a retry with fresh
    credentials finds its run. Unique ids are assigned by IAM, not chosen, so another principal cannot
    take a caller's namespace; 11 characters of them are 55 random bits. ``pipeline serve`` knows one
    identity, its access key, and namespaces by that.
    """
    return re.sub(r"[^A-Za-z0-9]", "", principal.split(":", 1)[0])[-CALLER_LENGTH:]


def execution_name(caller: str, idempotency_key: str | None, request_id: str) -> str:
    """The execution name of an API request: in the caller's namespace, from the Idempotency-Key when
    given, so a retried request maps to the same execution, else from the request id. Two callers
    sending the same key start two runs, and neither can claim the other's name."""
    return f"{caller_prefix(caller)}{idempotency_key if idempotency_key is not None else request_id}"


def caller_prefix(caller: str) -> str:
    """How the names of a caller's executions begin: ``GET`` answers only for these."""
    return f"{API_NAME_PREFIX}{caller}-"


def valid_idempotency_key(value: str) -> bool:
    return re.fullmatch(IDEMPOTENCY_KEY_PATTERN, value) is not None


# The field of a Lambda error document (``{"errorType", "errorMessage", "stackTrace", ...}``) that a
# caller may read; the stack trace names modules and lines and can quote the failing record.
LAMBDA_ERROR_MESSAGE = "errorMessage"


def public_cause(cause: str | None) -> str | None:
    """What ``GET /executions/{name}`` answers of a failure's cause: a Lambda error's message, never
    its stack trace; any other cause (a rejection's message, a Step Functions error) as it is."""
    if cause is None or not cause.startswith("{") or f'"{LAMBDA_ERROR_MESSAGE}"' not in cause:
        return cause
    try:
        document = json.loads(cause)
    except ValueError:
        return cause
    message = document.get(LAMBDA_ERROR_MESSAGE) if isinstance(document, dict) else None
    return message if isinstance(message, str) and message else None

"""The HTTP API's contract: one definition for the deployed API Gateway and for ``pipeline serve``.

``POST /executions`` starts a run; ``GET /executions/{name}`` describes one. The request model
below is the API Gateway model of the deployed API (JSON Schema draft 4) and the schema the local
API validates with, so both refuse the same bodies.
"""

from __future__ import annotations

import re
from typing import Any

from tasks.common.layout import SOURCE_PREFIXES
from tasks.common.models import OutputFormat, ProcessingType
from workflow.executions import API_NAME_PREFIX

# The deployed API's one stage: its URL ends in /prod/, and pipeline serve answers under it too.
STAGE = "prod"
EXECUTIONS_PATH = "executions"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Execution names are at most 80 characters of [A-Za-z0-9_-]; the prefix takes 4 of them.
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
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


def execution_name(idempotency_key: str | None, request_id: str) -> str:
    """The execution name of an API request: from the Idempotency-Key when given, so a retried
    request maps to the same execution, else from the request id."""
    return API_NAME_PREFIX + (idempotency_key if idempotency_key is not None else request_id)


def valid_idempotency_key(value: str) -> bool:
    return re.fullmatch(IDEMPOTENCY_KEY_PATTERN, value) is not None

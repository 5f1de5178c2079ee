"""``pipeline submit``: start a run through the HTTP API, deployed or served locally.

The stack is found by name through its CloudFormation outputs (the bucket, the API URL), with the
caller's credentials; when ``AWS_ENDPOINT_URL`` points at ``pipeline serve``, the same calls reach
the local environment. Requests are SigV4-signed for ``execute-api`` (the API uses IAM
authorization).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError, ClientError

from tasks.common.layout import UPLOADS_PREFIX
from workflow.api_contract import EXECUTIONS_PATH, IDEMPOTENCY_HEADER
from workflow.deployment import OUTPUT_API_URL, OUTPUT_BUCKET, REGION
from workflow.ops.stack import OperationError, session, stack_outputs

API_SERVICE = "execute-api"


class RequestRejected(OperationError):
    """The API answered 400: the request itself is wrong."""


@dataclass(frozen=True, slots=True)
class Submission:
    status: int
    execution_arn: str
    name: str
    message: str | None


@dataclass(frozen=True, slots=True)
class ApiAnswer:
    status: int
    body: dict[str, Any]  # the JSON object answered, or {"message": text} for any other body
    raw: bytes


def upload(aws: boto3.Session, bucket: str, path: Path) -> tuple[str, str]:
    """Upload under ``uploads/``, which starts no run by itself (the API call does); returns the
    key and the version id, which pins the run to exactly these bytes."""
    key = UPLOADS_PREFIX + path.name
    s3 = aws.client("s3")
    try:
        with path.open("rb") as body:
            version: str = s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
    except (ClientError, BotoCoreError, OSError) as exc:
        raise OperationError(f"cannot upload {path} to s3://{bucket}/{key}: {exc}") from None
    return key, version


def call_api(
    aws: boto3.Session | None,
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> ApiAnswer:
    """One request to the API, SigV4-signed with ``aws``'s credentials (``None``: unsigned).

    Any HTTP status is an answer; only an API that cannot be reached is an ``OperationError``.
    """
    headers = dict(headers or {})
    if aws is not None:
        credentials = aws.get_credentials()
        if credentials is None:
            raise OperationError("no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID)")
        signed = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), API_SERVICE, aws.region_name or REGION).add_auth(signed)
        headers = dict(signed.headers)
    prepared = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310 - the stack's own API URL
    try:
        with urllib.request.urlopen(prepared, timeout=30) as response:  # noqa: S310 - the stack's own API URL
            raw = response.read()
            return ApiAnswer(response.status, _json_or_text(raw), raw)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return ApiAnswer(exc.code, _json_or_text(raw), raw)
    except urllib.error.URLError as exc:
        raise OperationError(f"cannot reach the API at {url}: {exc.reason}") from None


def start_run(aws: boto3.Session, api_url: str, body: dict[str, Any], idempotency_key: str | None) -> Submission:
    """POST the run to the API, signed with the caller's credentials (IAM authorization)."""
    headers = {"Content-Type": "application/json"}
    if idempotency_key is not None:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    url = api_url.rstrip("/") + f"/{EXECUTIONS_PATH}"
    answer = call_api(aws, "POST", url, body=json.dumps(body).encode(), headers=headers)
    if answer.status == 400:
        raise RequestRejected(answer.body.get("message", "the API rejected the request"))
    if answer.status not in (202, 409):
        raise OperationError(f"the API answered {answer.status}: {answer.body.get('message', answer.body)}")
    return Submission(
        status=answer.status,
        execution_arn=answer.body["executionArn"],
        name=answer.body["name"],
        message=answer.body.get("message"),
    )


def submit(
    target: str,
    *,
    processing_type: str | None,
    output_format: str | None,
    idempotency_key: str | None,
    stack_name: str,
) -> Submission:
    """Upload ``target`` if it is a local file (else treat it as a key), then start its run."""
    aws = session()
    outputs = stack_outputs(aws, stack_name)
    missing = {OUTPUT_BUCKET, OUTPUT_API_URL} - outputs.keys()
    if missing:
        raise OperationError(f"stack {stack_name!r} has no output {', '.join(sorted(missing))}")
    path = Path(target)
    body: dict[str, Any] = {"key": target}
    if path.is_file():
        body["key"], body["versionId"] = upload(aws, outputs[OUTPUT_BUCKET], path)
    if processing_type is not None:
        body["processingType"] = processing_type
    if output_format is not None:
        body["outputFormat"] = output_format
    return start_run(aws, outputs[OUTPUT_API_URL], body, idempotency_key)


def _json_or_text(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"message": raw.decode(errors="replace")}
    return parsed if isinstance(parsed, dict) else {"message": str(parsed)}

"""``pipeline submit``: start a run through the HTTP API, deployed or served locally.

The stack is found by name through its CloudFormation outputs (the bucket, the API URL), with the
caller's credentials and region from the standard AWS configuration; when ``AWS_ENDPOINT_URL``
points at ``pipeline serve``, the same calls reach the local environment.
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

from stacks.constants import OUTPUT_API_URL, OUTPUT_BUCKET
from tasks.common.layout import UPLOADS_PREFIX
from workflow.api_contract import EXECUTIONS_PATH, IDEMPOTENCY_HEADER

DEFAULT_REGION = "us-east-1"


class SubmitError(Exception):
    """The stack, the credentials or the API refused; the message says which and why."""


class RequestRejected(SubmitError):
    """The API answered 400: the request itself is wrong."""


@dataclass(frozen=True, slots=True)
class Submission:
    status: int
    execution_arn: str
    name: str
    message: str | None


def stack_outputs(session: boto3.Session, stack_name: str) -> dict[str, str]:
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        raise SubmitError(f"stack {stack_name!r} not found: {exc.response['Error'].get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise SubmitError(f"cannot reach CloudFormation: {exc}") from None
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def upload(session: boto3.Session, bucket: str, path: Path) -> tuple[str, str]:
    """Upload under ``uploads/``, which starts no run by itself (the API call does); returns the
    key and the version id, which pins the run to exactly these bytes."""
    key = UPLOADS_PREFIX + path.name
    s3 = session.client("s3")
    try:
        with path.open("rb") as body:
            version: str = s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
    except (ClientError, BotoCoreError, OSError) as exc:
        raise SubmitError(f"cannot upload {path} to s3://{bucket}/{key}: {exc}") from None
    return key, version


def start_run(session: boto3.Session, api_url: str, body: dict[str, Any], idempotency_key: str | None) -> Submission:
    """POST the run to the API, signed with the caller's credentials (IAM authorization)."""
    credentials = session.get_credentials()
    if credentials is None:
        raise SubmitError("no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID)")
    url = api_url.rstrip("/") + f"/{EXECUTIONS_PATH}"
    headers = {"Content-Type": "application/json"}
    if idempotency_key is not None:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    request = AWSRequest(method="POST", url=url, data=json.dumps(body).encode(), headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", session.region_name or DEFAULT_REGION).add_auth(
        request
    )
    prepared = urllib.request.Request(url, data=request.body, headers=dict(request.headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(prepared, timeout=30) as response:  # noqa: S310 - the stack's own API URL
            status, answer = response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        status, answer = exc.code, _json_or_text(exc.read())
    except urllib.error.URLError as exc:
        raise SubmitError(f"cannot reach the API at {url}: {exc.reason}") from None
    if status == 400:
        raise RequestRejected(answer.get("message", "the API rejected the request"))
    if status not in (202, 409):
        raise SubmitError(f"the API answered {status}: {answer.get('message', answer)}")
    return Submission(
        status=status, execution_arn=answer["executionArn"], name=answer["name"], message=answer.get("message")
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
    session = boto3.Session()
    outputs = stack_outputs(session, stack_name)
    missing = {OUTPUT_BUCKET, OUTPUT_API_URL} - outputs.keys()
    if missing:
        raise SubmitError(f"stack {stack_name!r} has no output {', '.join(sorted(missing))}")
    path = Path(target)
    body: dict[str, Any] = {"key": target}
    if path.is_file():
        body["key"], body["versionId"] = upload(session, outputs[OUTPUT_BUCKET], path)
    if processing_type is not None:
        body["processingType"] = processing_type
    if output_format is not None:
        body["outputFormat"] = output_format
    return start_run(session, outputs[OUTPUT_API_URL], body, idempotency_key)


def _json_or_text(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"message": raw.decode(errors="replace")}
    return parsed if isinstance(parsed, dict) else {"message": str(parsed)}

"""Notify: publish one success notification per source object version.

A duplicated trigger runs the workflow twice for the same version. Both runs commit the same
output keys, but only the first may announce it: a marker object written with ``If-None-Match``
(an S3 conditional write) records which execution owns the notification. A retry of that same
execution publishes again (the earlier attempt may have failed before publishing); any other
execution finds the marker and stays silent.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from botocore.exceptions import ClientError

from tasks.common.aws import error_code, s3_errors, sns_errors
from tasks.common.layout import output_keys
from tasks.common.models import NotificationReceipt, NotifyEvent

SUCCEEDED = "SUCCEEDED"
SUBJECT_LIMIT = 100


class NotifySettings(msgspec.Struct, frozen=True):
    notification_topic_arn: str


def subject(event: NotifyEvent) -> str:
    name = event.source.key.rsplit("/", 1)[-1]
    return sns_subject(f"Pipeline run succeeded: {name}")


def sns_subject(text: str) -> str:
    """``text`` as SNS takes a subject: at most 100 characters, none a line break or a control
    character (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html); printable ASCII
    here, as mail clients show it best."""
    ascii_text = text.encode("ascii", "replace").decode()  # (another character becomes "?")
    return "".join(character if " " <= character <= "~" else " " for character in ascii_text)[:SUBJECT_LIMIT]


def message(event: NotifyEvent) -> dict[str, Any]:
    source, output = event.source, event.output
    return {
        "status": SUCCEEDED,
        "executionArn": event.execution_arn,
        "source": {"bucket": source.bucket, "key": source.key, "versionId": source.version_id},
        "format": source.format.value,
        "processingType": source.processing_type.value,
        "output": {
            "bucket": output.bucket,
            "key": output.key,
            "rejectsKey": output.rejects_key,
            "manifestKey": output.manifest_key,
            "records": output.records,
            "rejected": output.rejected,
        },
    }


def message_attributes(event: NotifyEvent) -> dict[str, dict[str, str]]:
    """Attributes subscribers can filter on."""
    return {
        "status": {"DataType": "String", "StringValue": SUCCEEDED},
        "format": {"DataType": "String", "StringValue": event.source.format.value},
        "processingType": {"DataType": "String", "StringValue": event.source.processing_type.value},
    }


def claim_notification(s3: Any, event: NotifyEvent) -> bool:
    """True when this execution owns the notification of its source version."""
    marker = output_keys(event.source.key, event.source.version_id).notified
    bucket = event.source.bucket
    with s3_errors(f"notification marker s3://{bucket}/{marker}"):
        try:
            s3.put_object(
                Bucket=bucket,
                Key=marker,
                Body=json.dumps({"executionArn": event.execution_arn}).encode(),
                ContentType="application/json",
                IfNoneMatch="*",
                ServerSideEncryption="AES256",
            )
            return True
        except ClientError as exc:
            if error_code(exc) not in {"PreconditionFailed", "412"}:
                raise
        owner = json.loads(s3.get_object(Bucket=bucket, Key=marker)["Body"].read())
    return bool(owner.get("executionArn") == event.execution_arn)


def notify(s3: Any, sns: Any, event: NotifyEvent, settings: NotifySettings) -> NotificationReceipt:
    if not claim_notification(s3, event):
        return NotificationReceipt(message_id=None, published=False)
    with sns_errors(settings.notification_topic_arn):
        response = sns.publish(
            TopicArn=settings.notification_topic_arn,
            Subject=subject(event),
            Message=json.dumps(message(event)),
            MessageAttributes=message_attributes(event),
        )
    return NotificationReceipt(message_id=response["MessageId"], published=True)

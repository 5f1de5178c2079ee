"""The pieces of ``pipeline smoke`` that need no AWS: reading a notification off a queue, naming a run."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from workflow.api_contract import valid_idempotency_key
from workflow.deployment import STACK_NAME
from workflow.ops.smoke import Notification, idempotency_key, new_run_id, queue_name

MESSAGE = {"status": "SUCCEEDED", "executionArn": "arn:aws:states:us-east-1:1:execution:m:run"}


def test_an_sns_envelope_gives_the_subject_and_the_message_it_carries() -> None:
    envelope = {"Type": "Notification", "Subject": "Pipeline run succeeded: x.csv", "Message": json.dumps(MESSAGE)}
    notification = Notification.of_sqs_body(json.dumps(envelope))
    assert (notification.subject, notification.body) == ("Pipeline run succeeded: x.csv", MESSAGE)


def test_a_raw_delivery_is_the_message_itself() -> None:
    notification = Notification.of_sqs_body(json.dumps(MESSAGE))
    assert (notification.subject, notification.body) == (None, MESSAGE)


def test_a_message_that_is_not_a_json_object_has_an_empty_body_and_keeps_its_text() -> None:
    notification = Notification.of_sqs_body(json.dumps({"Type": "Notification", "Message": "plain words"}))
    assert (notification.text, notification.body) == ("plain words", {})


def test_a_runs_names_fit_sqs_queue_names_and_idempotency_keys() -> None:
    # Given a run id, as each smoke makes one
    run_id = new_run_id(datetime(2026, 11, 30, 9, 37, 48, tzinfo=UTC))
    assert run_id.startswith("20261130T093748Z-")
    # Then its queues' names are valid SQS names (1-80 of A-Z a-z 0-9 - _) and its Idempotency-Key valid
    for topic in ("runs", "alarms"):
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", queue_name(STACK_NAME, run_id, topic))
    assert valid_idempotency_key(idempotency_key(run_id))

"""Reconciliation on the local engine: every upload ends with a result in the ledger, or is found."""

from __future__ import annotations

import json
from typing import Any

from tests.scenarios import SOURCES, before_the_stack, ledger_item, run_upload
from workflow.ledger import FAILED, RUNNING, SUCCEEDED
from workflow.local.delivery import apply_input_transformer
from workflow.local.environment import LocalPipeline
from workflow.ops.reconcile import Report, reconcile, trigger_input


def queue_url(pipeline: LocalPipeline) -> str:
    (queue,) = pipeline.stack.queues
    url: str = pipeline.client("sqs").get_queue_url(QueueName=queue)["QueueUrl"]
    return url


def look(pipeline: LocalPipeline, *, fix: bool = False) -> Report:
    return reconcile(
        s3=pipeline.client("s3"),
        dynamodb=pipeline.client("dynamodb"),
        sfn=pipeline.client("stepfunctions"),
        sqs=pipeline.client("sqs"),
        bucket=pipeline.stack.bucket_name,
        table=pipeline.stack.tables[0].name,
        state_machine_arn=pipeline.stack.state_machine_arn,
        queue_url=queue_url(pipeline),
        fix=fix,
    )


def wait_all(pipeline: LocalPipeline, report: Report) -> None:
    for fix in report.fixed:
        assert fix.execution_arn is not None, fix
        pipeline.wait(fix.execution_arn, timeout=30)


def dead_letter(pipeline: LocalPipeline, event: dict[str, Any], rule: str) -> None:
    """Park ``event`` in the dead-letter queue as EventBridge does after its retries: the event as
    the body, and why in the message attributes
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html)."""
    attributes = {
        "RULE_ARN": f"arn:aws:events:us-east-1:123456789012:rule/{rule}",
        "TARGET_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:target",
        "ERROR_CODE": "SDK_CLIENT_ERROR",
        "ERROR_MESSAGE": "Failed to start the execution after 185 attempts",
    }
    pipeline.client("sqs").send_message(
        QueueUrl=queue_url(pipeline),
        MessageBody=json.dumps(event),
        MessageAttributes={name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()},
    )


def object_created(pipeline: LocalPipeline, key: str, version: str) -> dict[str, Any]:
    return {
        "version": "0",
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": pipeline.stack.bucket_name}, "object": {"key": key, "version-id": version}},
    }


def test_objects_uploaded_before_the_stack_are_found_and_fixed_once(pipeline: LocalPipeline) -> None:
    # Given two objects seeded before the stack existed, and one processed live
    with before_the_stack(pipeline):
        versions = {
            key: pipeline.upload(key, SOURCES["people.csv"]) for key in ("incoming/old/a.csv", "incoming/old/b.csv")
        }
    run_upload(pipeline, "live.csv", SOURCES["people.csv"])

    # When reconcile looks
    report = look(pipeline)

    # Then exactly the seeded versions are unrecorded
    assert sorted((found.key, found.version_id) for found in report.unrecorded) == sorted(versions.items())
    assert (report.stuck, report.undelivered, report.clean) == ([], [], False)

    # When it fixes them, and their runs end
    fixed = look(pipeline, fix=True)
    wait_all(pipeline, fixed)

    # Then each version has a run that succeeded under the reconcile trigger, and nothing is left
    assert sorted(fix.key for fix in fixed.fixed) == sorted(versions)
    for key, version in versions.items():
        item = ledger_item(pipeline, key, version)
        assert item is not None
        assert (item.status, [entry.trigger for entry in item.runs]) == (SUCCEEDED, ["reconcile"])
    assert look(pipeline).clean
    # And a second fix starts nothing (the runs are named after the versions)
    executions = pipeline.client("stepfunctions").list_executions(stateMachineArn=pipeline.stack.state_machine_arn)
    assert look(pipeline, fix=True).fixed == []
    again = pipeline.client("stepfunctions").list_executions(stateMachineArn=pipeline.stack.state_machine_arn)
    assert len(again["executions"]) == len(executions["executions"])


def test_a_rejection_recorded_under_the_key_s3_sent_is_accounted_for(pipeline: LocalPipeline) -> None:
    # Given a file whose name S3 encodes, rejected by Validate (recorded under the encoded key)
    execution = run_upload(pipeline, "a note +1.txt", b"plain text")
    assert execution.error == "UnsupportedFormat"

    # Then reconcile finds nothing missing
    assert look(pipeline).clean


def test_a_rejection_recorded_under_the_digest_of_its_key_is_accounted_for(pipeline: LocalPipeline) -> None:
    # Given a file whose key S3 encodes past DynamoDB's partition key, rejected by Validate
    # (recorded under the digest of the encoded key)
    execution = run_upload(pipeline, "\u00e9" * 340 + ".txt", b"plain text")
    assert execution.error == "UnsupportedFormat"

    # Then reconcile finds nothing missing
    assert look(pipeline).clean


def test_an_undelivered_trigger_event_is_rerun_and_deleted_only_then(pipeline: LocalPipeline) -> None:
    # Given an upload whose event EventBridge could not deliver, and an undelivered failure announcement
    with before_the_stack(pipeline):
        version = pipeline.upload("incoming/lost.csv", SOURCES["people.csv"])
    dead_letter(pipeline, object_created(pipeline, "incoming/lost.csv", version), "S3TriggerObjectCreated")
    announcement = {"source": "aws.states", "detail-type": "Step Functions Execution Status Change", "detail": {}}
    dead_letter(pipeline, announcement, "AlertsSystemFailure")

    # When reconcile looks, then fixes
    report = look(pipeline)
    assert len(report.undelivered) == 2
    assert [message.run_input for message in report.undelivered if message.run_input] == [
        trigger_input(object_created(pipeline, "incoming/lost.csv", version))
    ]
    fixed = look(pipeline, fix=True)
    wait_all(pipeline, fixed)

    # Then the lost upload ran once (the event's run and the unrecorded version's are one, by name)
    assert len({fix.execution_arn for fix in fixed.fixed}) == 1
    item = ledger_item(pipeline, "incoming/lost.csv", version)
    assert item is not None
    assert item.status == SUCCEEDED
    # And only the trigger's message was deleted; the announcement stays for a person to read
    assert [message.run_input for message in look(pipeline).undelivered] == [None]


def test_a_run_whose_failure_was_never_recorded_is_found_stuck_and_rerun(pipeline: LocalPipeline) -> None:
    # Given a run that failed on a system error while the failure recorder's rule was off (its event lost)
    events = pipeline.client("events")
    recorder_rule = next(
        rule.logical_id
        for rule in pipeline.stack.rules
        if rule.pattern.get("source") == ["aws.states"] and "LedgerFailures" in rule.logical_id
    )
    events.disable_rule(Name=recorder_rule)
    pipeline.lambdas.inject_fault(pipeline.function_for_state("TransformCsv"), error="InjectedFault")
    failed = run_upload(pipeline, "stuck.csv", SOURCES["people.csv"])
    events.enable_rule(Name=recorder_rule)
    key, version = failed.input["key"], failed.input["versionId"]
    item = ledger_item(pipeline, key, version)
    assert item is not None
    assert (failed.status, item.status) == ("FAILED", RUNNING)

    # When reconcile looks
    (stuck,) = look(pipeline).stuck

    # Then it says why, and its fix runs the version again, taking it from the stuck run
    assert (stuck.item.key, stuck.why) == (key, "its run ended FAILED without recording its end")
    fixed = look(pipeline, fix=True)
    wait_all(pipeline, fixed)
    settled = ledger_item(pipeline, key, version)
    assert settled is not None
    assert settled.status == SUCCEEDED
    assert {entry.execution_arn: entry.status for entry in settled.runs}[failed.arn] == RUNNING
    assert FAILED not in {entry.status for entry in settled.runs}
    assert look(pipeline).clean


def test_the_run_an_undelivered_event_gets_is_the_one_the_s3_rule_would_have_started(pipeline: LocalPipeline) -> None:
    # Given the S3 rule's target, as the template defines its input transformer
    (rule,) = [rule for rule in pipeline.stack.rules if rule.pattern.get("source") == ["aws.s3"]]
    (target,) = rule.targets
    event = object_created(pipeline, "incoming/a b+c.csv", "v1")

    # Then reconcile builds the same input from the event as EventBridge does
    assert trigger_input(event) == json.loads(apply_input_transformer(event, target.input_paths, target.input_template))

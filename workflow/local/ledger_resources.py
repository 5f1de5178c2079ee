"""The ledger's resources in the embedded environment, from the template: its DynamoDB table, the
stack's other state machines (the failure recorder, the backfill), with their definitions'
substitutions resolved to local names as the pipeline's own state machine is, and the SQS queues
(the trigger's dead-letter queue, which ``pipeline reconcile`` reads)."""

from __future__ import annotations

import json
import time
from typing import Any

from workflow.definition import substitute
from workflow.deployment import (
    LOCAL_ACCOUNT,
    OUTPUT_BACKFILL_STATE_MACHINE,
    OUTPUT_LEDGER_TABLE,
    OUTPUT_UNDELIVERED_QUEUE,
)
from workflow.executions import RUNNING
from workflow.local.template import StackModel

DRAIN_TIMEOUT = 10.0
BACKFILL_NAME_SUFFIX = "-Backfill"


def create(dynamodb: Any, sfn: Any, sqs: Any, stack: StackModel) -> None:
    """Create every table, queue and state machine besides the pipeline's on moto."""
    for queue in stack.queues:
        sqs.create_queue(QueueName=queue)
    for table in stack.tables:
        indexes: dict[str, Any] = {}
        if table.global_indexes:
            indexes["GlobalSecondaryIndexes"] = table.global_indexes
        if table.local_indexes:
            indexes["LocalSecondaryIndexes"] = table.local_indexes
        dynamodb.create_table(
            TableName=table.name,
            KeySchema=table.key_schema,
            AttributeDefinitions=table.attribute_definitions,
            BillingMode="PAY_PER_REQUEST",
            **indexes,
        )
    for machine in stack.state_machines:
        sfn.create_state_machine(
            name=machine.name,
            definition=json.dumps(substitute(machine.definition, machine.substitutions)),
            roleArn=f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{machine.name}",
            type=machine.type,
        )


def outputs(sqs: Any, stack: StackModel) -> dict[str, str]:
    """The stack outputs that name these resources, as ``pipeline serve`` registers them."""
    found: dict[str, str] = {}
    if stack.tables:
        found[OUTPUT_LEDGER_TABLE] = stack.tables[0].name
    for machine in stack.state_machines:
        if machine.name.endswith(BACKFILL_NAME_SUFFIX):
            found[OUTPUT_BACKFILL_STATE_MACHINE] = machine.arn
    for queue in stack.queues:
        found[OUTPUT_UNDELIVERED_QUEUE] = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    return found


def drain(sfn: Any, stack: StackModel, *, timeout: float = DRAIN_TIMEOUT) -> None:
    """Wait, up to ``timeout`` seconds, for the executions of those state machines to end.

    The failure recorder starts when a run's end is announced, often just before the environment
    closes. An execution left running would go on in its thread after the environment is gone,
    its boto3 calls racing the next environment's setup of the default session (and so taking
    that environment's Lambda hooks away).
    """
    deadline = time.monotonic() + timeout
    for machine in stack.state_machines:
        while time.monotonic() < deadline:
            running = sfn.list_executions(stateMachineArn=machine.arn, statusFilter=RUNNING)["executions"]
            if not running:
                break
            time.sleep(0.01)

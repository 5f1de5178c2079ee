"""The ledger's resources in the embedded environment, from the template: its DynamoDB table and the
stack's other state machines (the failure recorder, the backfill), with their definitions'
substitutions resolved to local names, as the pipeline's own state machine is."""

from __future__ import annotations

import json
import time
from typing import Any

from workflow.definition import substitute
from workflow.deployment import LOCAL_ACCOUNT
from workflow.executions import RUNNING
from workflow.local.template import StackModel

DRAIN_TIMEOUT = 10.0


def create(dynamodb: Any, sfn: Any, stack: StackModel) -> None:
    """Create every table and every state machine besides the pipeline's on moto."""
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

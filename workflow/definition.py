"""The workflow definition: one ASL file, read by the CDK stack, the local runtime and the tests.

``pipeline.asl.json`` names its Lambda functions and topic by ``${Placeholder}``; the stack fills
them in with ``DefinitionSubstitutions`` (so the synthesized template carries both), and the
local runtime resolves the same substitutions to the functions it emulates.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFINITION_PATH = Path(__file__).with_name("pipeline.asl.json")
# The ledger's failure recorder (an Express workflow started by the status-change rule) and the
# backfill workflow: definitions of their own, read the same way.
FAILURE_RECORDER_PATH = DEFINITION_PATH.with_name("ledger_failures.asl.json")
BACKFILL_PATH = DEFINITION_PATH.with_name("backfill.asl.json")
# The backfill's placeholders besides the ledger table's (workflow/ledger.py).
BUCKET_PLACEHOLDER = "BucketName"
PIPELINE_PLACEHOLDER = "PipelineStateMachineArn"
TOPIC_PLACEHOLDER = "NotificationTopicArn"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")
# The Choice state that sends a source to the transform of its format.
ROUTE_BY_FORMAT = "RouteByFormat"
_FORMAT_VARIABLE = "$.source.format"


@dataclass(frozen=True, slots=True)
class TaskFunction:
    """One Lambda step: the construct id, the ASL placeholder of its ARN, its handler, what it does.

    What the function is given to run (memory, /tmp, SnapStart) is the stack's: ``stacks/tasks.py::RESOURCES``.
    """

    name: str
    handler: str
    description: str

    @property
    def placeholder(self) -> str:
        return f"{self.name}FunctionArn"


TASK_FUNCTIONS: tuple[TaskFunction, ...] = (
    TaskFunction("Validate", "tasks.validate.handler.lambda_handler", "Check the request and the object"),
    TaskFunction("Fetch", "tasks.fetch.handler.lambda_handler", "Pin the version and sniff the content"),
    TaskFunction(
        "Checksum", "tasks.checksum.handler.lambda_handler", "SHA-256 of the version, to skip unchanged content"
    ),
    TaskFunction("TransformCsv", "tasks.transform.handler.csv_handler", "CSV to JSON Lines"),
    TaskFunction("TransformJson", "tasks.transform.handler.json_handler", "JSON array to JSON Lines"),
    TaskFunction("TransformJsonl", "tasks.transform.handler.jsonl_handler", "JSON Lines to JSON Lines"),
    TaskFunction(
        "InflateSource", "tasks.inflate_source.handler.lambda_handler", "Decompress a large gzip source for the split"
    ),
    TaskFunction("PlanRanges", "tasks.plan_ranges.handler.lambda_handler", "Plan a large source's byte ranges"),
    TaskFunction("ScanRange", "tasks.scan_range.handler.lambda_handler", "Find where records start in one range"),
    TaskFunction("CutRanges", "tasks.cut_ranges.handler.lambda_handler", "Cut the ranges on record boundaries"),
    TaskFunction("TransformRange", "tasks.transform_range.handler.lambda_handler", "One part to JSON Lines"),
    TaskFunction("CommitRanges", "tasks.commit_ranges.handler.lambda_handler", "Join the parts' staged output"),
    TaskFunction("WriteParquet", "tasks.write_parquet.handler.lambda_handler", "Staged JSON Lines to Parquet"),
    TaskFunction("WriteOutput", "tasks.write_output.handler.lambda_handler", "Commit output and manifest"),
    TaskFunction("Notify", "tasks.notify.handler.lambda_handler", "Publish the success notification"),
)


def definition_text(path: Path = DEFINITION_PATH) -> str:
    return path.read_text(encoding="utf-8")


def placeholders(text: str) -> set[str]:
    """The ``${Name}`` placeholders a definition text uses."""
    return set(_PLACEHOLDER.findall(text))


def substitute(text: str, values: dict[str, str]) -> dict[str, Any]:
    """The definition with every placeholder replaced; a missing value is an error."""
    missing = placeholders(text) - values.keys()
    if missing:
        raise KeyError(f"no value for placeholders: {sorted(missing)}")
    definition: dict[str, Any] = json.loads(_PLACEHOLDER.sub(lambda match: values[match.group(1)], text))
    return definition


def transform_states(definition: dict[str, Any]) -> dict[str, str]:
    """The transform state of each source format (``csv`` -> ``TransformCsv``), as the definition's
    format route sends a source that is not split."""
    choices = definition["States"][ROUTE_BY_FORMAT]["Choices"]
    return {choice["StringEquals"]: choice["Next"] for choice in choices if choice.get("Variable") == _FORMAT_VARIABLE}

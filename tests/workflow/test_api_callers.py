"""The HTTP API per caller on the local engine: names in the caller's namespace, GET of its own runs
only, and no stack trace in what GET answers (deploy review, findings 11 and 22)."""

from __future__ import annotations

import json

from tests.scenarios import SOURCES, local_api, run_upload
from workflow.api_contract import caller_of, caller_prefix
from workflow.local.environment import LocalPipeline
from workflow.local.server import ACCESS_KEY_ID


def test_an_api_run_is_named_in_the_callers_namespace_and_only_its_runs_are_described(
    pipeline: LocalPipeline,
) -> None:
    # Given a run started through the API and one started by an upload
    api = local_api(pipeline)
    pipeline.upload("uploads/mine.jsonl", SOURCES["people.jsonl"])
    started = api.start(json.dumps({"key": "uploads/mine.jsonl"}).encode(), "nightly")
    uploaded = run_upload(pipeline, "theirs.jsonl", SOURCES["people.jsonl"])
    mine = pipeline.wait(started.body["executionArn"], timeout=30)

    # Then the API's run is named in the caller's namespace
    assert started.status == 202, started.body
    assert started.body["name"] == caller_prefix(caller_of(ACCESS_KEY_ID)) + "nightly"
    # And GET describes it, but answers 404 for the upload's run as for a name that does not exist
    assert api.describe(mine.name).status == 200
    for other in (uploaded.name, caller_prefix("someoneelse") + "nightly"):
        answer = api.describe(other)
        assert answer.status == 404, other
        assert "status" not in answer.body


def test_get_answers_a_failed_steps_message_and_never_its_stack_trace(pipeline: LocalPipeline) -> None:
    # Given an API run whose WriteOutput fails on a system error (its cause is a Lambda error document)
    api = local_api(pipeline)
    pipeline.lambdas.inject_fault(pipeline.function_for_state("WriteOutput"), error="InjectedFault")
    pipeline.upload("uploads/failing.jsonl", SOURCES["people.jsonl"])
    started = api.start(json.dumps({"key": "uploads/failing.jsonl"}).encode(), "failing")
    execution = pipeline.wait(started.body["executionArn"], timeout=30)
    assert execution.status == "FAILED"
    assert execution.cause is not None
    assert "stackTrace" in execution.cause

    # When it is described through the API
    answer = api.describe(execution.name)

    # Then the cause is the error's message alone
    assert (answer.status, answer.body["error"]) == (200, "InjectedFault")
    assert answer.body["cause"] == json.loads(execution.cause)["errorMessage"]
    assert "stackTrace" not in json.dumps(answer.body)

"""The HTTP API per caller on the local engine: names in the caller's namespace, GET of its own runs
only, and no stack trace in what GET answers (deploy review, findings 11 and 22)."""

from __future__ import annotations

import json

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from stacks.config import ApiThrottling
from tests.scenarios import SOURCES, local_api, run_upload
from workflow.api_contract import EXECUTIONS_PATH, STAGE, caller_of, caller_prefix
from workflow.local.api import SERVICE, LocalApi, stage_throttle
from workflow.local.environment import LocalPipeline
from workflow.local.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY

# The stage's throttle the template sets by default
API_BURST = ApiThrottling().burst_limit
API_RATE = int(ApiThrottling().rate_limit)


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


class FrozenClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def signed_request(method: str, path: str, body: bytes = b"") -> Request:
    """A request to the local API signed with the environment's credentials, as a client sends it."""
    url = f"http://localhost{path}"
    aws_request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), SERVICE, "us-east-1").add_auth(aws_request)
    return Request(EnvironBuilder(method=method, path=path, data=body, headers=dict(aws_request.headers)).get_environ())


def test_the_stage_s_throttle_answers_429_past_its_burst_and_refills_at_its_rate(pipeline: LocalPipeline) -> None:
    # Given the local API with the throttle of the template's stage, on a clock that stands still
    clock = FrozenClock()
    throttle = stage_throttle(pipeline.stack.template, clock)
    assert throttle is not None
    api = LocalApi(
        sfn=pipeline.client("stepfunctions"),
        bucket_name=pipeline.stack.bucket_name,
        state_machine_arn=pipeline.stack.state_machine_arn,
        credentials=Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY),
        access=pipeline.access,
        throttle=throttle,
    )
    path = f"/{STAGE}/{EXECUTIONS_PATH}/{caller_prefix(caller_of(ACCESS_KEY_ID))}none"

    # When the burst the template sets (100) is used at once by one method, then one request more
    answers = [api.handle(signed_request("GET", path)).status for _ in range(API_BURST)]
    over = api.handle(signed_request("GET", path))
    # And once a second has passed at the template's rate (50 a second)
    clock.now += 1.0
    refilled = [api.handle(signed_request("GET", path)).status for _ in range(API_RATE + 1)]

    # And the other method, and a route that does not exist, are asked at once
    other_method = api.handle(signed_request("POST", f"/{STAGE}/{EXECUTIONS_PATH}", b"{}"))
    no_route = api.handle(signed_request("GET", f"/{STAGE}/elsewhere"))

    # Then the burst is answered, the one more gets API Gateway's 429, and the refill lets 50 more in
    assert set(answers) == {404}
    assert (over.status, over.body) == (429, {"message": "Too Many Requests"})
    assert refilled == [404] * API_RATE + [429]
    # And the throttle is per method: POST has a bucket of its own (its answer is about the body),
    # and a request no method takes uses none
    assert other_method.status == 400
    assert no_route.status == 404

"""Properties of the synthesized template that would break if intent changed."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from tasks.common.errors import BUSINESS_ERRORS, OutputSuperseded
from tasks.common.layout import INCOMING_PREFIX
from tests.capacity import BURST_FILES, CONCURRENCY, LAMBDA_SECONDS_PER_RUN
from tests.infra.queries import as_list, of_type, output_ref, statements_of_role
from workflow.definition import TASK_FUNCTIONS, TOPIC_PLACEHOLDER, definition_text, placeholders
from workflow.deployment import OUTPUT_BUCKET, OUTPUT_STATE_MACHINE, OUTPUT_TOPIC

# Lambda's transient service errors (AWS's list: https://docs.aws.amazon.com/step-functions/latest/dg/
# bp-lambda-serviceexception.html), SnapStart's restore errors, and the steps' own TransientError.
TRANSIENT_ERRORS = {
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.SnapStartException",
    "Lambda.SnapStartTimeoutException",
    "TransientError",
}
# Lambda cannot run the function yet: out of concurrency, or the version (SnapStart) or its VPC
# connection is being made ready; each of these Invoke errors says "wait and try again"
# (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
CAPACITY_ERRORS = {
    "Lambda.TooManyRequestsException",
    "Lambda.EC2ThrottledException",
    "Lambda.ENINotReadyException",
    "Lambda.ResourceNotReadyException",
    "Lambda.SnapStartNotReadyException",
}

# The burst (tests/capacity.py) then drains in BURST_FILES * LAMBDA_SECONDS_PER_RUN / CONCURRENCY =
# 1,000 s. A throttled invocation is not queued: whichever retry comes when a slot frees takes it, so an
# unlucky run can wait at one step for about the whole drain. The retrier's expected window is asked to
# be twice the drain.
DRAIN_SECONDS = BURST_FILES * LAMBDA_SECONDS_PER_RUN / CONCURRENCY


def delay_caps(retrier: dict[str, Any]) -> list[float]:
    """The cap of each retry's wait: IntervalSeconds x BackoffRate^n, at most MaxDelaySeconds."""
    return [
        min(retrier["IntervalSeconds"] * retrier["BackoffRate"] ** attempt, retrier["MaxDelaySeconds"])
        for attempt in range(retrier["MaxAttempts"])
    ]


def expected_window(retrier: dict[str, Any]) -> float:
    """How long a run keeps retrying on average: with full jitter each wait is uniform below its cap.

    For the capacity retrier: 2, 4, ..., 64 s (6 waits, 126 s of caps) then 34 waits capped at 120 s,
    halved by the jitter: 63 + 34 x 60 = 2,103 s, about 35 minutes. The 34 capped waits have a standard
    deviation of 120 / sqrt(12) x sqrt(34) = 202 s, so the window falls below the 1,000 s drain with a
    probability under 1e-7. Those waits also keep 1,000 waiting runs at about 17 retries a second, far
    under the Step Functions state-transition quota, and each retry is a billed transition: even 10 per
    invocation for the 5,000 invocations of the burst cost 50,000 x 0.000025 = 1.25 USD.
    """
    return sum(cap / 2 for cap in delay_caps(retrier))


def state_machine(template: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"][output_ref(template, OUTPUT_STATE_MACHINE)]["Properties"]
    return props


def test_state_machine_is_standard_and_built_from_the_one_definition_file(template: dict[str, Any]) -> None:
    props = state_machine(template)
    assert props["StateMachineType"] == "STANDARD"
    assert props["DefinitionString"] == definition_text()
    assert set(props["DefinitionSubstitutions"]) == placeholders(definition_text())


def test_every_lambda_state_invokes_an_alias_of_a_stack_function_with_an_importable_handler(
    template: dict[str, Any],
) -> None:
    substitutions = state_machine(template)["DefinitionSubstitutions"]
    aliases = of_type(template, "AWS::Lambda::Alias")
    functions = of_type(template, "AWS::Lambda::Function")
    for task in TASK_FUNCTIONS:
        # The definition names the alias (a published, SnapStart-enabled version), never $LATEST.
        alias_ref = substitutions[task.placeholder]["Ref"]
        alias = aliases[alias_ref]["Properties"]
        function = functions[alias["FunctionName"]["Ref"]]["Properties"]
        assert function["Handler"] == task.handler
        # The handler resolves in the code asset (the tasks package) without running it.
        module_name, _, attribute = task.handler.rpartition(".")
        spec = importlib.util.find_spec(module_name)
        assert spec is not None, task.handler
        assert spec.origin is not None, task.handler
        module = ast.parse(Path(spec.origin).read_text())
        defined = {node.name for node in module.body if isinstance(node, ast.FunctionDef)} | {
            target.id
            for node in module.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        assert attribute in defined, task.handler
    assert substitutions[TOPIC_PLACEHOLDER] == {"Ref": output_ref(template, OUTPUT_TOPIC)}


def map_children(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The states inside the definition's Map states (a Distributed Map's child workflow), by name."""
    return {
        name: child
        for state in definition["States"].values()
        if state["Type"] == "Map"
        for name, child in state["ItemProcessor"]["States"].items()
    }


def lambda_states_of(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in states.items() if state.get("Resource", "").startswith("${")}


def test_definition_routes_errors_by_kind() -> None:
    definition = json.loads(definition_text())
    lambda_states = lambda_states_of(definition["States"])
    children = lambda_states_of(map_children(definition))
    assert set(lambda_states) | set(children) == {task.name for task in TASK_FUNCTIONS}
    business = {error.__name__ for error in BUSINESS_ERRORS}
    for name, state in {**lambda_states, **children}.items():
        # Transient faults are retried briefly, a lack of capacity for long; both back off with jitter.
        transient, capacity = state["Retry"]
        assert set(transient["ErrorEquals"]) == TRANSIENT_ERRORS, name
        assert set(capacity["ErrorEquals"]) == CAPACITY_ERRORS, name
    # A range's child catches nothing: it stages a business error as data (the next step raises the
    # first, in file order), so whatever it raises is a system error that fails its Map Run.
    assert all("Catch" not in state for state in children.values())
    for name, state in lambda_states.items():
        # Only business errors are caught; a system error fails the execution at this Task. The
        # commit also catches a later run's ownership of the output (neither kind: nothing to do).
        catch, *superseded = state["Catch"]
        assert set(catch["ErrorEquals"]) == business, name
        assert "States.ALL" not in catch["ErrorEquals"]
        expected = [[OutputSuperseded.__name__]] if name == "WriteOutput" else []
        assert [catcher["ErrorEquals"] for catcher in superseded] == expected, name
    assert definition["States"]["Rejected"]["Type"] == "Fail"


def test_every_lambda_state_retries_alike_with_backoff_jitter_and_one_retrier_per_error() -> None:
    # Given the Lambda states of the definition, a Distributed Map's children's too
    definition = json.loads(definition_text())
    lambda_states = [
        *lambda_states_of(definition["States"]).values(),
        *lambda_states_of(map_children(definition)).values(),
    ]
    # When their retriers are compared
    retries = [state["Retry"] for state in lambda_states]
    # Then every one has the same retriers, each backing off with full jitter up to a cap
    assert all(retry == retries[0] for retry in retries)
    for retrier in retries[0]:
        assert retrier["BackoffRate"] > 1
        assert retrier["JitterStrategy"] == "FULL"
        assert retrier["MaxDelaySeconds"] >= retrier["IntervalSeconds"]
    # And no error is named by two retriers (only the first would ever apply)
    names = [error for retrier in retries[0] for error in retrier["ErrorEquals"]]
    assert len(names) == len(set(names))
    assert set(names) == TRANSIENT_ERRORS | CAPACITY_ERRORS


def test_a_lack_of_lambda_capacity_is_waited_out_longer_than_a_burst_of_1000_files_drains() -> None:
    # Given the retrier each Lambda state applies when Lambda has no capacity (the same on every state)
    definition = json.loads(definition_text())
    capacity = next(
        retrier
        for retrier in definition["States"]["Validate"]["Retry"]
        if "Lambda.TooManyRequestsException" in retrier["ErrorEquals"]
    )
    # When its waits are summed
    window = expected_window(capacity)
    # Then a run keeps retrying for twice the time 1,000 runs take at a concurrency of 10
    assert window >= 2 * DRAIN_SECONDS, (window, DRAIN_SECONDS)
    # And no single wait exceeds two minutes, so a freed slot is taken up soon
    assert max(delay_caps(capacity)) <= 120


def test_a_transient_fault_fails_the_run_within_a_minute_so_it_can_be_redriven() -> None:
    # Given the retrier for transient faults
    definition = json.loads(definition_text())
    transient = next(
        retrier for retrier in definition["States"]["Validate"]["Retry"] if "TransientError" in retrier["ErrorEquals"]
    )
    # When every wait takes its full cap
    longest = sum(delay_caps(transient))
    # Then a fault that persists fails the run within a minute instead of holding it
    assert longest <= 60


def test_functions_run_python_3_12_or_newer_with_a_five_minute_timeout_and_snapstart(
    template: dict[str, Any],
) -> None:
    functions = of_type(template, "AWS::Lambda::Function")
    assert len(functions) == len(TASK_FUNCTIONS)
    for name, body in functions.items():
        props = body["Properties"]
        major, minor = (int(part) for part in props["Runtime"].removeprefix("python").split("."))
        assert (major, minor) >= (3, 12), name
        assert props["Timeout"] == 300, name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert "LoggingConfig" in props, name
        if props["Handler"] == handler_of("WriteParquet"):
            continue
        assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}, name
        assert props["EphemeralStorage"] == {"Size": 512}, name


def test_every_function_logs_its_python_stacks_when_native_code_crashes(template: dict[str, Any]) -> None:
    # Lambda's runtime does not enable faulthandler: a SIGSEGV in a C extension would log the signal alone.
    for name, body in of_type(template, "AWS::Lambda::Function").items():
        assert body["Properties"]["Environment"]["Variables"]["PYTHONFAULTHANDLER"] == "1", name


def test_write_parquet_has_10_gb_of_tmp_and_so_no_snapstart_and_its_own_asset(template: dict[str, Any]) -> None:
    functions = {
        body["Properties"]["Handler"]: body["Properties"]
        for body in of_type(template, "AWS::Lambda::Function").values()
    }
    parquet = functions.pop(handler_of("WriteParquet"))
    # The staged JSON Lines and the Parquet file sit in /tmp together; SnapStart allows 512 MB at most.
    assert parquet["EphemeralStorage"] == {"Size": 10240}
    assert "SnapStart" not in parquet
    assert parquet["MemorySize"] == 3008
    assert parquet["Environment"]["Variables"]["DUCKDB_MEMORY_MB"] == "2048"
    # DuckDB ships in this function's asset only; the other functions share one asset without it.
    (shared,) = {props["Code"]["S3Key"] for props in functions.values()}
    assert parquet["Code"]["S3Key"] != shared


def test_bucket_is_versioned_encrypted_private_and_sends_events_to_eventbridge(template: dict[str, Any]) -> None:
    bucket = template["Resources"][output_ref(template, OUTPUT_BUCKET)]
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
    )
    assert props["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    assert bucket["DeletionPolicy"] == "Retain"
    assert of_type(template, "Custom::S3BucketNotifications") == {}, "no custom resource for notifications"


def test_s3_rule_starts_the_state_machine_for_objects_created_under_incoming(template: dict[str, Any]) -> None:
    bucket_name = output_ref(template, OUTPUT_BUCKET)
    machine_name = output_ref(template, OUTPUT_STATE_MACHINE)
    (rule,) = [
        body
        for body in of_type(template, "AWS::Events::Rule").values()
        if body["Properties"]["EventPattern"]["source"] == ["aws.s3"]
    ]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": bucket_name}]
    assert pattern["detail"]["object"]["key"] == [{"prefix": INCOMING_PREFIX}]
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": machine_name}
    transformer = target["InputTransformer"]
    assert set(transformer["InputPathsMap"].values()) == {
        "$.detail.bucket.name",
        "$.detail.object.key",
        "$.detail.object.version-id",
    }
    assert '"trigger":"s3"' in transformer["InputTemplate"]


@pytest.mark.parametrize(
    ("function", "allowed_prefixes"),
    [
        ("Validate", {"incoming/*", "uploads/*"}),
        ("Fetch", {"incoming/*", "uploads/*", "staging/*"}),
        ("TransformCsv", {"incoming/*", "uploads/*", "staging/*"}),
        ("InflateSource", {"incoming/*", "uploads/*", "staging/*"}),
        ("PlanRanges", {"incoming/*", "uploads/*", "staging/*"}),
        ("ScanRange", {"incoming/*", "uploads/*", "staging/*"}),
        ("CutRanges", {"staging/*"}),
        ("TransformRange", {"incoming/*", "uploads/*", "staging/*"}),
        ("CommitRanges", {"staging/*"}),
        ("WriteParquet", {"staging/*"}),
        ("WriteOutput", {"staging/*", "processed/*"}),
        ("Notify", {"processed/*"}),
    ],
)
def test_functions_reach_only_their_own_prefixes_of_the_bucket(
    template: dict[str, Any], function: str, allowed_prefixes: set[str]
) -> None:
    functions = of_type(template, "AWS::Lambda::Function")
    (props,) = [
        body["Properties"] for body in functions.values() if body["Properties"]["Handler"] == handler_of(function)
    ]
    role = props["Role"]["Fn::GetAtt"][0]
    object_resources = set()
    for statement in statements_of_role(template, role):
        for resource in as_list(statement["Resource"]):
            if isinstance(resource, dict) and "Fn::Join" in resource:
                suffix = resource["Fn::Join"][1][-1]
                if isinstance(suffix, str) and suffix.startswith("/"):
                    object_resources.add(suffix.removeprefix("/"))
    assert object_resources == allowed_prefixes


def handler_of(name: str) -> str:
    return next(task.handler for task in TASK_FUNCTIONS if task.name == name)


def test_the_split_s_maps_are_distributed_over_s3_items_with_standard_children_and_no_tolerance() -> None:
    # Given the definition's Map states
    states = json.loads(definition_text())["States"]
    maps = {name: state for name, state in states.items() if state["Type"] == "Map"}
    assert set(maps) == {"ScanRanges", "TransformRanges"}
    for name, state in maps.items():
        # Then each reads its items from a JSON array in S3 and runs STANDARD children
        assert state["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject", name
        assert state["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}, name
        assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
        # And a failed range fails the Map Run, uncaught and not retried (a retry is a new Map Run)
        assert state["ToleratedFailureCount"] == 0, name
        assert "Retry" not in state, name
        assert "Catch" not in state, name
        assert state["MaxConcurrencyPath"] == "$.plan.maxConcurrency", name
        # And each labels its Map Runs with its own name, which `pipeline show` reads from their ARNs
        assert state["Label"] == name
        # And children get the parent's ARN from ItemSelector (their own $$.Execution is theirs)
        assert state["ItemSelector"]["executionArn.$"] == "$$.Execution.Id", name
        assert "$$.Execution" not in json.dumps(state["ItemProcessor"]), name


def test_the_split_s_map_children_pass_nothing_back_so_10000_ranges_fit_the_map_s_256_kb_result() -> None:
    # A Distributed Map that exports nothing (no ResultWriter) returns its children's results as one
    # array, which AWS holds to 256 KiB even when ResultPath discards it (the engine too:
    # workflow/local/distributed_map.py); a range's reply of about 140 bytes would pass it near
    # 1,800 ranges, and rangeBytes may make 10,000 (stacks/config.py).
    states = json.loads(definition_text())["States"]
    for name in ("ScanRanges", "TransformRanges"):
        assert "ResultWriter" not in states[name], name
        children = states[name]["ItemProcessor"]["States"]
        # Then the state that ends a child passes nothing on: each child returns {}
        ends = [child for child in children.values() if child.get("End")]
        assert ends, name
        assert all("OutputPath" in child and child["OutputPath"] is None for child in ends), name


def test_small_files_route_to_today_s_transforms_without_a_new_state() -> None:
    # Given RouteByFormat, which follows Fetch's route
    route = json.loads(definition_text())["States"]["RouteByFormat"]
    # Then the split's rules come first and a single-pass source reaches its transform directly
    targets = [choice["Next"] for choice in route["Choices"]]
    assert targets == ["SplitAsStored", "InflateSource", "TransformCsv", "TransformJson", "TransformJsonl"]


def joined(resource: dict[str, Any]) -> str:
    """The literal parts of an ``Fn::Join`` resource, references left out."""
    return "".join(part for part in resource["Fn::Join"][1] if isinstance(part, str))


def test_the_state_machine_role_may_run_and_redrive_its_own_map_children_and_read_only_their_items(
    template: dict[str, Any],
) -> None:
    # Given the state machine's role
    role = state_machine(template)["RoleArn"]["Fn::GetAtt"][0]
    statements = {statement.get("Sid"): statement for statement in statements_of_role(template, role)}
    name = state_machine(template)["StateMachineName"]
    # Then it starts executions of this state machine only, and follows its children only
    start = statements["RunMapChildren"]
    assert start["Action"] == "states:StartExecution"
    assert joined(start["Resource"]).endswith(f":stateMachine:{name}")
    follow = statements["FollowMapChildren"]
    assert sorted(follow["Action"]) == ["states:DescribeExecution", "states:StopExecution"]
    assert joined(follow["Resource"]).endswith(f":execution:{name}/*")
    # And it redrives them, as a redrive of a run that failed at a Map does
    redrive = statements["RedriveMapChildren"]
    assert redrive["Action"] == "states:RedriveExecution"
    assert joined(redrive["Resource"]).endswith(f":execution:{name}/*")
    # And it reads the two item files of the split, nothing else of the bucket
    read = statements["ReadMapItems"]
    assert read["Action"] == "s3:GetObject"
    suffixes = sorted(resource["Fn::Join"][1][-1] for resource in as_list(read["Resource"]))
    assert suffixes == ["/staging/*/split/parts.json", "/staging/*/split/scan-ranges.json"]

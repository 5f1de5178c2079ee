"""The ``pipeline`` command.

``pipeline run PATH`` runs one file through the pipeline in the embedded local environment: it
uploads the file under ``incoming/`` so that the S3 rule starts the run, waits for it, and
reports each state, the output and the notifications. Exit status: 0 when the run succeeded,
1 when it failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import io
import json
import math
import os
import socket
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from tasks.common.layout import INCOMING_PREFIX, OUTPUT_FORMAT_METADATA, PROCESSING_TYPE_METADATA, SOURCE_PREFIXES
from tasks.common.models import Format, OutputFormat, ProcessingType
from workflow.definition import definition_text, transform_states
from workflow.deployment import STACK_NAME
from workflow.executions import STATUSES, SUCCEEDED
from workflow.ledger import REPLAYABLE_STATUSES
from workflow.ledger import STATUSES as LEDGER_STATUSES
from workflow.local.faults import FAULT_HELP, FAULT_METAVAR, FaultSpec, parse_fault
from workflow.ops.backfill import DEFAULT_CONCURRENCY as DEFAULT_BACKFILL_CONCURRENCY
from workflow.ops.backfill import DEFAULT_TOLERATED_PERCENT

if TYPE_CHECKING:
    from workflow.local.environment import LocalPipeline

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command ended by Ctrl-C
DEFAULT_PORT = 5050
# A cold run on AWS (SnapStart restores, network interfaces) takes well under a minute; the
# deadline leaves room for retries with backoff.
DEFAULT_SMOKE_TIMEOUT = 180.0
# AWS's default Lambda concurrency quota per account and region (lambdas.DEFAULT_ACCOUNT_CONCURRENCY,
# not imported: a usage error answers before the engine loads).
ACCOUNT_CONCURRENCY = 1000
DEFAULT_SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "orders.csv"
# A backfill can run for days; the command follows it until it ends (Ctrl-C leaves it running).
BACKFILL_WATCH_LIMIT_SECONDS = 14 * 24 * 3600


class UsageError(Exception):
    """A mistake in the command line: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def inject_faults(pipeline: LocalPipeline, faults: Sequence[FaultSpec]) -> None:
    for fault in faults:
        try:
            function = pipeline.function_for_state(fault.state)
        except KeyError as exc:
            raise UsageError(f"--fail {fault.state}: {exc.args[0]}") from None
        pipeline.lambdas.inject_fault(function, error=fault.error, times=fault.times)


def add_stack_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default=STACK_NAME, help=f"stack name (default {STACK_NAME})")


def add_run_choice_arguments(parser: argparse.ArgumentParser) -> None:
    """--type and --output-format: what a run is asked to do, the same for run and submit."""
    parser.add_argument(
        "--type",
        dest="processing_type",
        choices=[member.value for member in ProcessingType],
        help="processing type recorded with the run (default: standard)",
    )
    parser.add_argument(
        "--output-format",
        choices=[member.value for member in OutputFormat],
        help="write the records as JSON Lines or Parquet (default: the dataset's format, else jsonl)",
    )


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_concurrency_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=ACCOUNT_CONCURRENCY,
        metavar="N",
        help=f"the account's Lambda concurrency (default {ACCOUNT_CONCURRENCY}, AWS's default quota); functions "
        "with reserved concurrency in the template keep theirs; over it an invoke is throttled",
    )


def add_since_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--since", type=duration_argument, metavar="DURATION", help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pipeline", description="Run and inspect the serverless data pipeline.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser(
        "run",
        help="run one file through the pipeline locally",
        description="Upload PATH to incoming/ in the embedded environment; the S3 rule starts the run.",
    )
    run.add_argument("path", type=Path, metavar="PATH", help="a .csv, .json, .jsonl or .ndjson file, optionally .gz")
    add_run_choice_arguments(run)
    run.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
    run.add_argument("--out", type=Path, metavar="DIR", help="copy the output, rejects and manifest into DIR")
    run.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS", help="give up after this long")
    run.add_argument("--fail", action="append", type=parse_fault, default=[], metavar=FAULT_METAVAR, help=FAULT_HELP)
    add_concurrency_argument(run)
    serve = commands.add_parser(
        "serve",
        help="serve the local environment on an AWS-compatible endpoint with the HTTP API",
        description="Run the embedded environment until Ctrl-C: AWS endpoint, HTTP API, notifications.",
    )
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT}; 0: any)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--fail", action="append", type=parse_fault, default=[], metavar=FAULT_METAVAR, help=FAULT_HELP)
    add_concurrency_argument(serve)
    submit = commands.add_parser(
        "submit",
        help="start a run through the HTTP API (deployed, or served locally)",
        description="Upload PATH to uploads/ (or take an existing KEY) and start its run through the API.",
    )
    submit.add_argument("target", metavar="PATH|KEY", help="a local file to upload, or a key in the bucket")
    add_run_choice_arguments(submit)
    submit.add_argument("--idempotency-key", metavar="K", help="a retry with the same K never starts a second run")
    add_stack_argument(submit)
    executions = commands.add_parser(
        "executions",
        help="list recent runs: trigger, source key, status, start, duration, redrivable",
        description="List the stack's recent runs (deployed, or 'pipeline serve' through AWS_ENDPOINT_URL).",
    )
    executions.add_argument("--status", type=str.upper, choices=STATUSES, help="only runs with this status")
    add_since_argument(executions, "only runs started in the last DURATION (30m, 2h, 7d)")
    executions.add_argument("--json", action="store_true", help="print JSON")
    add_stack_argument(executions)
    show = commands.add_parser(
        "show",
        help="show one run state by state, as the Step Functions console does",
        description="Each state's status, attempts, duration, error and cause, input and output sizes.",
    )
    show.add_argument("execution", metavar="EXECUTION", help="execution name or ARN")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument(
        "--graph", action="store_true", help="print the workflow as a Mermaid flowchart coloured by this run"
    )
    add_stack_argument(show)
    redrive = commands.add_parser(
        "redrive",
        help="redrive failed runs from the state that failed them",
        description="Redrive EXECUTION, or every redrivable failed run; say for each other run why not.",
    )
    redrive.add_argument("execution", nargs="?", metavar="EXECUTION", help="execution name or ARN")
    redrive.add_argument("--all-failed", action="store_true", help="redrive every redrivable failed run")
    add_since_argument(redrive, "with --all-failed: only runs started in the last DURATION")
    add_stack_argument(redrive)
    preflight = commands.add_parser(
        "preflight",
        help="check, read-only, that the AWS account is ready for this stack's deploy",
        description="Each check prints ok, warn or fail with the fix in one line; exit status 1 if any fails.",
    )
    preflight.add_argument("--json", action="store_true", help="print JSON")
    add_stack_argument(preflight)
    smoke = commands.add_parser(
        "smoke",
        help="prove a deployed stack works: S3 runs, rejections, the API, alarms; then clean up",
        description="Real AWS calls only (or 'pipeline serve' through AWS_ENDPOINT_URL); exit status 0 if all held.",
    )
    smoke.add_argument("--keep", action="store_true", help="keep the objects, queues and subscriptions it created")
    smoke.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_SMOKE_TIMEOUT,
        metavar="SECONDS",
        help=f"longest wait of each step (default {DEFAULT_SMOKE_TIMEOUT:.0f})",
    )
    smoke.add_argument("--json", action="store_true", help="print JSON")
    add_stack_argument(smoke)
    cost = commands.add_parser(
        "cost",
        help="estimate the monthly AWS cost from the synthesized template and a measured run",
        description="Price the template's resources with what one local run of SAMPLE used.",
    )
    cost.add_argument("--runs", type=int, default=100_000, metavar="N", help="runs per month (default 100000)")
    cost.add_argument("--json", action="store_true", help="print JSON instead of the table")
    cost.add_argument("--sample", type=Path, default=DEFAULT_SAMPLE, metavar="PATH", help="the file to measure")
    add_size_arguments(cost)
    add_ledger_commands(commands)
    return parser


def add_size_arguments(cost: argparse.ArgumentParser) -> None:
    """``pipeline cost --file-size``: one run of a source of that size instead of the monthly table."""
    size = cost.add_argument_group(
        "files of any size",
        "With --file-size, model one run of a source that large instead: its path (one pass, or split "
        "into ranges over two Distributed Maps), each step's time, the wall time on AWS and what the size "
        "costs (docs/cost.md, 'Files of any size'). Nothing is measured; --runs and --sample are the monthly "
        "table's.",
    )
    size.add_argument(
        "--file-size", type=file_size_argument, metavar="SIZE", help="the source's size as stored, e.g. 10GB"
    )
    size.add_argument("--format", choices=["csv", "jsonl", "json"], default="csv", help="(default csv)")
    size.add_argument("--compression", choices=["none", "gzip"], default="none", help="(default none)")
    size.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help="children each Map runs at once (default: the stack's rangeConcurrency default)",
    )
    size.add_argument(
        "--child-type",
        choices=["standard", "express"],
        default="standard",
        help="the Maps' child executions (default standard)",
    )


def add_ledger_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    """The ledger's commands: what happened to each file, and processing sources again."""
    sources = commands.add_parser(
        "sources",
        help="what happened to each source file, from the ledger",
        description="List the ledger's source versions: status, dataset, runs, output or error.",
    )
    sources.add_argument("--dataset", help="only sources of this dataset (the folder under incoming/)")
    sources.add_argument("--status", type=str.upper, choices=LEDGER_STATUSES, help="only sources with this status")
    sources.add_argument("--prefix", help="only keys starting so (e.g. incoming/orders/2026-11)")
    add_since_argument(sources, "only sources updated in the last DURATION (30m, 2h, 7d)")
    sources.add_argument("--json", action="store_true", help="print JSON")
    add_stack_argument(sources)
    replay = commands.add_parser(
        "replay",
        help="process sources again with the code and contract deployed now, each as a new run",
        description="Start a new run for each selected source version; its output replaces the current "
        "one only if it succeeds. The ledger records the reason.",
    )
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--dataset", help="the sources of this dataset")
    which.add_argument("--prefix", help="the sources whose key starts so")
    which.add_argument("--status", type=str.upper, choices=REPLAYABLE_STATUSES, help="the sources with this status")
    add_since_argument(replay, "only sources updated in the last DURATION")
    replay.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded in the ledger)")
    replay.add_argument("--dry-run", action="store_true", help="list what would run, start nothing")
    replay.add_argument("--json", action="store_true", help="print JSON")
    add_stack_argument(replay)
    reconcile = commands.add_parser(
        "reconcile",
        help="find uploads without a result (no ledger item, stuck, or undelivered) and start their runs",
        description="List the object versions under the prefix that have no ledger item, the ledger's RUNNING "
        "items no run will end, and the events in the dead-letter queue; with --fix, start their runs (a "
        "dead-letter message is deleted only once its run has started).",
    )
    reconcile.add_argument("--prefix", default=INCOMING_PREFIX, help=f"where to look (default {INCOMING_PREFIX})")
    reconcile.add_argument("--fix", action="store_true", help="start the missing runs")
    reconcile.add_argument("--json", action="store_true", help="print JSON")
    add_stack_argument(reconcile)
    backfill = commands.add_parser(
        "backfill",
        help="run the pipeline for the objects of a prefix the ledger has no result for",
        description="Start the backfill state machine over a prefix of incoming/ (one pipeline run per object "
        "version without a result, named after it, so a repeated backfill starts nothing twice) and show its "
        "progress; or, with --show, the progress of one started before.",
    )
    what = backfill.add_mutually_exclusive_group(required=True)
    what.add_argument("--prefix", help="the prefix to backfill (under incoming/)")
    what.add_argument("--show", metavar="EXECUTION", help="show a backfill's progress (name or ARN)")
    add_since_argument(backfill, "only objects modified in the last DURATION")
    backfill.add_argument("--dry-run", action="store_true", help="count what would run, start no run")
    backfill.add_argument(
        "--concurrency", type=int, default=DEFAULT_BACKFILL_CONCURRENCY, metavar="N", help="runs in flight at most"
    )
    backfill.add_argument(
        "--tolerate",
        type=float,
        default=DEFAULT_TOLERATED_PERCENT,
        metavar="PERCENT",
        help=f"failed runs tolerated, in percent, before the backfill fails (default {DEFAULT_TOLERATED_PERCENT:g})",
    )
    backfill.add_argument("--no-wait", action="store_true", help="start it and print its ARN")
    backfill.add_argument("--json", action="store_true", help="print the final progress as JSON")
    add_stack_argument(backfill)


def check_readable_file(path: Path) -> None:
    if not path.exists():
        raise UsageError(f"no such file: {path}")
    if not path.is_file():
        raise UsageError(f"not a regular file: {path}")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def check_run_arguments(args: argparse.Namespace) -> None:
    check_readable_file(args.path)
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out must be a directory: {args.out}")
    if not math.isfinite(args.timeout) or args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")


def first_run_states(path: Path, output_format: str | None) -> tuple[str, ...]:
    """The Lambda steps the run of ``path`` takes if it is accepted and processed in one pass: the
    engine initializes their SnapStart functions while it starts (``LocalPipeline(prewarm=...)``).
    A run that takes others (a rejection, a file split into ranges) starts those cold, as it
    would anyway."""
    # Imported here, with the engine: Validate's logic imports botocore, which a usage error need not wait for.
    from tasks.common.errors import UnsupportedFormat
    from tasks.validate.logic import format_of

    try:
        source_format, _ = format_of(path.name)
    except UnsupportedFormat:
        return ("Validate",)
    transform = transform_states(json.loads(definition_text()))[source_format]
    commit = ("WriteParquet", "WriteOutput") if output_format == OutputFormat.PARQUET else ("WriteOutput",)
    return ("Validate", "Fetch", transform, *commit, "Notify")


def run_command(args: argparse.Namespace) -> int:
    check_run_arguments(args)
    # The sandboxes' zygote starts first: it imports its libraries while this process imports
    # the engine's. The rest is imported here so that usage errors answer at once.
    from workflow.local import collection
    from workflow.local.sandboxes import start_early

    start_early()
    # run_file's modules, imported with the garbage collector paused, then frozen out of it (collection.py).
    with collection.paused():
        for module in (
            "workflow.cli.run_report",
            "workflow.local.environment",
            "workflow.local.synth",
            "workflow.ops.runs",
        ):
            importlib.import_module(module)
    try:
        return run_file(args)
    finally:
        collection.thawed()


def run_file(args: argparse.Namespace) -> int:
    """``pipeline run``'s run of one file, the engine imported."""
    from workflow.cli.run_report import RunReport, copy_output, output_of
    from workflow.local.environment import LocalPipeline, RunTimeout
    from workflow.local.synth import PROJECT_ROOT, SynthError, cached_template
    from workflow.ops.runs import map_runs

    if not cached_template().is_file():
        print("Synthesizing the CDK stack (once per change to the sources)…", file=sys.stderr)
    log_dir = PROJECT_ROOT / ".pipeline" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"run-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.log"
    with log_file.open("w", encoding="utf-8") as log_stream:
        try:
            pipeline = LocalPipeline.from_project(
                log_stream=log_stream,
                concurrency=args.concurrency,
                prewarm=first_run_states(args.path, args.output_format),
            )
        except SynthError as exc:
            print(f"pipeline: {exc}", file=sys.stderr)
            return EXIT_FAILED
        with pipeline:
            inject_faults(pipeline, args.fail)
            # Chosen as an S3 uploader chooses on AWS: the object's metadata, read by Validate.
            metadata = {
                name: value
                for name, value in (
                    (PROCESSING_TYPE_METADATA, args.processing_type),
                    (OUTPUT_FORMAT_METADATA, args.output_format),
                )
                if value
            }
            started = time.monotonic()
            pipeline.upload_file(INCOMING_PREFIX + args.path.name, args.path, metadata=metadata)
            if not pipeline.started:
                print("pipeline: the upload started no execution (no rule matched)", file=sys.stderr)
                return EXIT_FAILED
            try:
                execution = pipeline.wait(pipeline.started[0], timeout=args.timeout)
            except RunTimeout as exc:
                print(f"pipeline: {exc}; it is stopped with the local engine", file=sys.stderr)
                return EXIT_FAILED
            # What the alarms make of the run, now rather than at their next evaluation.
            pipeline.alarms.evaluate()
            report = RunReport(
                execution=execution,
                states=pipeline.visits(execution.arn),
                map_runs=tuple(map_runs(pipeline.client("stepfunctions"), execution.arn)),
                output=output_of(execution.output),
                notifications=pipeline.notifications(),
                alarms=pipeline.alarm_notifications(),
                retry_delays=list(pipeline.clock.retry_delays),
                duration_ms=round((time.monotonic() - started) * 1000),
                log_file=str(log_file),
            )
            if args.out is not None and report.output is not None:
                copy_output(pipeline, report.output, args.out)
    print(report.to_json_text() if args.json else report.as_text())
    return EXIT_SUCCEEDED if execution.status == SUCCEEDED else EXIT_FAILED


def file_size_argument(text: str) -> int:
    from workflow.cost.scale import InvalidFileSize, parse_size

    try:
        return parse_size(text)
    except InvalidFileSize as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def sized_cost_command(args: argparse.Namespace) -> int:
    """Model one run of a ``--file-size`` source: its path, times and the cost of its size."""
    from tasks.common.errors import ObjectTooLarge
    from tasks.common.models import Compression
    from workflow.cost.scale import ChildType, ScaleAssumptions, Source, price_run, render_run, run_json, size_run

    assumptions = ScaleAssumptions(child_type=ChildType(args.child_type.upper()))
    if args.concurrency is not None:
        if args.concurrency < 1:
            raise UsageError("--concurrency must be at least 1")
        assumptions = dataclasses.replace(assumptions, concurrency=args.concurrency)
    source = Source(args.file_size, Format(args.format), Compression(args.compression))
    try:
        run = size_run(source, assumptions)
    except ObjectTooLarge as exc:
        raise UsageError(
            f"--file-size {args.file_size} --format {args.format}: the pipeline refuses it: {exc}"
        ) from None
    lines = price_run(run, assumptions)
    print(json.dumps(run_json(run, lines, assumptions), indent=2) if args.json else render_run(run, lines, assumptions))
    return EXIT_SUCCEEDED


def cost_command(args: argparse.Namespace) -> int:
    """Measure the sample on this checkout's stack and price ``--runs`` runs a month."""
    if args.file_size is not None:
        return sized_cost_command(args)
    from workflow.cost.estimate import estimate
    from workflow.cost.measure import measure_run
    from workflow.local.environment import LocalPipeline
    from workflow.local.synth import template_path

    if args.runs < 1:
        raise UsageError("--runs must be at least 1")
    if not args.sample.is_file():
        raise UsageError(f"no such file: {args.sample}")
    template = json.loads(template_path().read_text())
    log_stream = io.StringIO()
    with LocalPipeline.from_project(log_stream=log_stream) as pipeline:
        measurement = measure_run(pipeline, args.sample, log_stream=log_stream, warmup_runs=1)
    report = estimate(template, measurement, runs_per_month=args.runs)
    print(json.dumps(report.as_json(), indent=2) + "\n" if args.json else report.render())
    return EXIT_SUCCEEDED


def serve_command(args: argparse.Namespace) -> int:
    from workflow.cli.serve import serve
    from workflow.local.synth import PROJECT_ROOT

    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    try:
        with socket.create_server((args.host, args.port)):
            pass
    except OSError as exc:
        print(f"pipeline: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    log_dir = PROJECT_ROOT / ".pipeline" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    serve(
        host=args.host,
        port=args.port,
        log_file=log_dir / f"serve-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log",
        concurrency=args.concurrency,
        prepare=lambda pipeline: inject_faults(pipeline, args.fail),
    )
    return EXIT_SUCCEEDED


def submit_command(args: argparse.Namespace) -> int:
    from workflow.api_contract import valid_idempotency_key
    from workflow.ops.stack import OperationError
    from workflow.ops.submit import RequestRejected, submit

    if args.idempotency_key is not None and not valid_idempotency_key(args.idempotency_key):
        raise UsageError("--idempotency-key takes 1 to 64 characters of A-Z a-z 0-9 _ -")
    if not args.target.startswith(SOURCE_PREFIXES):
        # Not a key in the bucket: a local file to upload, which must exist and be readable.
        check_readable_file(Path(args.target))
    try:
        submission = submit(
            args.target,
            processing_type=args.processing_type,
            output_format=args.output_format,
            idempotency_key=args.idempotency_key,
            stack_name=args.stack,
        )
    except RequestRejected as exc:
        raise UsageError(str(exc)) from None
    except OperationError as exc:
        print(f"pipeline: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(submission.execution_arn)
    if submission.status == 409:
        # The run exists but is not this request's: it has ended, or its input differs.
        print(f"pipeline: {submission.message}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_SUCCEEDED


def executions_command(args: argparse.Namespace) -> int:
    from workflow.cli.text import render_runs
    from workflow.ops.runs import list_runs
    from workflow.ops.stack import OperationError, aws_call, connect

    try:
        target = connect(args.stack)
        runs = aws_call(lambda: list_runs(target.sfn, target.state_machine_arn, status=args.status, since=args.since))
    except OperationError as exc:
        print(f"pipeline: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps([run.as_json() for run in runs], indent=2) if args.json else render_runs(runs))
    return EXIT_SUCCEEDED


def show_command(args: argparse.Namespace) -> int:
    from workflow.cli.text import render_run
    from workflow.ops.graph import mermaid
    from workflow.ops.runs import show_run
    from workflow.ops.stack import OperationError, aws_call, connect

    try:
        target = connect(args.stack)
        view = aws_call(lambda: show_run(target.sfn, target.execution_arn(args.execution)))
        if args.graph:
            described = aws_call(lambda: target.sfn.describe_state_machine(stateMachineArn=target.state_machine_arn))
    except OperationError as exc:
        print(f"pipeline: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.graph:
        print(mermaid(json.loads(described["definition"]), view.state_statuses()))
    elif args.json:
        print(json.dumps(view.as_json(deployed=target.deployed), indent=2))
    else:
        print(render_run(view, deployed=target.deployed))
    return EXIT_SUCCEEDED


def redrive_command(args: argparse.Namespace) -> int:
    from workflow.ops.redrive import redrive_failed, redrive_one
    from workflow.ops.stack import OperationError, connect

    if (args.execution is None) == (not args.all_failed):
        raise UsageError("redrive takes EXECUTION or --all-failed (one of them)")
    if args.since is not None and not args.all_failed:
        raise UsageError("--since goes with --all-failed")
    try:
        target = connect(args.stack)
        outcomes = redrive_failed(target, args.since) if args.all_failed else [redrive_one(target, args.execution)]
    except OperationError as exc:
        print(f"pipeline: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for outcome in outcomes:
        print(outcome.line())
    if not outcomes:
        print("no failed runs")
    # One named run not redriven is a failure; with --all-failed, only AWS errors are.
    refused = args.execution is not None and not outcomes[0].redriven
    return EXIT_FAILED if refused or any(outcome.error for outcome in outcomes) else EXIT_SUCCEEDED


def preflight_command(args: argparse.Namespace) -> int:
    import boto3

    from workflow.cli.deploy_report import pinned_cdk_cli, render_preflight
    from workflow.local.synth import PROJECT_ROOT, SynthError, cached_template, template_path
    from workflow.ops.preflight import AccountClients, Preflight, node_runtimes
    from workflow.ops.stack import session
    from workflow.ops.template_needs import TemplateNeeds

    if not cached_template().is_file():
        print("Synthesizing the CDK stack (once per change to the sources)…", file=sys.stderr)
    try:
        template = json.loads(template_path().read_text())
    except SynthError as exc:
        print(f"pipeline: {exc}", file=sys.stderr)
        return EXIT_FAILED
    report = Preflight(
        clients=AccountClients.of(session()),
        needs=TemplateNeeds.of(template),
        stack_name=args.stack,
        # The caller's own default, before ``session()`` pins the stack's region.
        configured_region=boto3.Session().region_name,
        node=node_runtimes(os.environ),
        cdk_cli=pinned_cdk_cli(PROJECT_ROOT / "Makefile"),
    ).run()
    print(json.dumps(report.as_json(), indent=2) if args.json else render_preflight(report))
    return EXIT_FAILED if report.failed else EXIT_SUCCEEDED


def smoke_command(args: argparse.Namespace) -> int:
    from workflow.cli.deploy_report import render_smoke
    from workflow.ops.smoke import Smoke
    from workflow.ops.stack import OperationError, session

    if not math.isfinite(args.timeout) or args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    try:
        smoke = Smoke(session(), args.stack, timeout=args.timeout, progress=lambda line: print(line, file=sys.stderr))
    except OperationError as exc:
        print(f"pipeline: {exc}", file=sys.stderr)
        return EXIT_FAILED
    report = smoke.run(keep=args.keep)
    print(json.dumps(report.as_json(), indent=2) if args.json else render_smoke(report))
    return EXIT_SUCCEEDED if report.held else EXIT_FAILED


def duration_argument(text: str) -> timedelta:
    from workflow.cli.text import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def sources_command(args: argparse.Namespace) -> int:
    from workflow.cli.ledger_text import render_sources
    from workflow.deployment import OUTPUT_BUCKET, OUTPUT_LEDGER_TABLE
    from workflow.ops.sources import SourceFilter, find_sources
    from workflow.ops.stack import OperationError, aws_call, connect

    try:
        target = connect(args.stack)
        wanted = SourceFilter(
            bucket=target.output(OUTPUT_BUCKET),
            dataset=args.dataset,
            status=args.status,
            prefix=args.prefix,
            since=args.since,
        )
        table = target.output(OUTPUT_LEDGER_TABLE)
        items = aws_call(lambda: find_sources(target.session.client("dynamodb"), table, wanted))
    except OperationError as exc:
        print(f"pipeline: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps([item.as_json() for item in items], indent=2) if args.json else render_sources(items))
    return EXIT_SUCCEEDED


def replay_command(args: argparse.Namespace) -> int:
    from workflow.cli.ledger_text import render_replays
    from workflow.deployment import OUTPUT_BUCKET, OUTPUT_LEDGER_TABLE
    from workflow.ops.replay import ReplayError, ReplayStart, check_reason, replay, source_key
    from workflow.ops.sources import SourceFilter, find_sources
    from workflow.ops.stack import OperationError, aws_call, connect

    try:
        reason = check_reason(args.reason)
    except ReplayError as exc:
        raise UsageError(str(exc)) from None
    try:
        target = connect(args.stack)
        wanted = SourceFilter(
            bucket=target.output(OUTPUT_BUCKET),
            dataset=args.dataset,
            status=args.status,
            prefix=args.prefix,
            since=args.since,
        )
        table = target.output(OUTPUT_LEDGER_TABLE)
        items = aws_call(lambda: find_sources(target.session.client("dynamodb"), table, wanted))
        if args.dry_run:
            starts = [ReplayStart(item.bucket, source_key(item), item.version_id, None) for item in items]
        else:
            starts = aws_call(lambda: replay(target.sfn, target.state_machine_arn, items, reason=reason))
    except OperationError as exc:
        print(f"pipeline: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(
        json.dumps([start.as_json() for start in starts], indent=2)
        if args.json
        else render_replays(starts, dry_run=args.dry_run)
    )
    return EXIT_FAILED if any(start.error for start in starts) else EXIT_SUCCEEDED


def reconcile_command(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from workflow.cli.ledger_text import render_reconcile
    from workflow.deployment import OUTPUT_BUCKET, OUTPUT_LEDGER_TABLE, OUTPUT_UNDELIVERED_QUEUE
    from workflow.ops.reconcile import DEFAULT_TIMEOUT, reconcile
    from workflow.ops.stack import OperationError, aws_call, connect

    if not args.prefix.startswith(INCOMING_PREFIX):
        raise UsageError(f"--prefix must start with {INCOMING_PREFIX!r}")
    try:
        target = connect(args.stack)
        described = aws_call(lambda: target.sfn.describe_state_machine(stateMachineArn=target.state_machine_arn))
        seconds = json.loads(described["definition"]).get("TimeoutSeconds")
        report = aws_call(
            lambda: reconcile(
                s3=target.session.client("s3"),
                dynamodb=target.session.client("dynamodb"),
                sfn=target.sfn,
                sqs=target.session.client("sqs"),
                bucket=target.output(OUTPUT_BUCKET),
                table=target.output(OUTPUT_LEDGER_TABLE),
                state_machine_arn=target.state_machine_arn,
                queue_url=target.output(OUTPUT_UNDELIVERED_QUEUE),
                prefix=args.prefix,
                timeout=timedelta(seconds=seconds) if seconds else DEFAULT_TIMEOUT,
                fix=args.fix,
            )
        )
    except OperationError as exc:
        print(f"pipeline: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(report.as_json(), indent=2) if args.json else render_reconcile(report))
    if args.fix:
        return EXIT_FAILED if any(fix.error for fix in report.fixed) else EXIT_SUCCEEDED
    return EXIT_SUCCEEDED if report.clean else EXIT_FAILED


def backfill_command(args: argparse.Namespace) -> int:
    from workflow.cli.ledger_text import render_progress
    from workflow.deployment import OUTPUT_BACKFILL_STATE_MACHINE, OUTPUT_LEDGER_TABLE
    from workflow.executions import SUCCEEDED as ENDED_WELL
    from workflow.executions import execution_arn
    from workflow.ops.backfill import BackfillError, BackfillProgress, BackfillRequest, follow, progress, start_backfill
    from workflow.ops.stack import OperationError, aws_call, connect

    request = None
    if args.prefix is not None:
        request = BackfillRequest(
            prefix=args.prefix,
            since=args.since,
            concurrency=args.concurrency,
            tolerated_percent=args.tolerate,
            dry_run=args.dry_run,
        )
        try:
            request.check()
        except BackfillError as exc:
            raise UsageError(str(exc)) from None
    shown: list[str] = []

    def show(current: BackfillProgress) -> None:
        line = render_progress(current)
        if not args.json and (not shown or shown[-1] != line):
            print(line, flush=True)
        shown.append(line)

    try:
        target = connect(args.stack)
        machine = target.output(OUTPUT_BACKFILL_STATE_MACHINE)
        table = target.output(OUTPUT_LEDGER_TABLE)
        dynamodb = target.session.client("dynamodb")
        if request is None:
            arn = args.show if args.show.startswith("arn:") else execution_arn(machine, args.show)
        else:
            arn = aws_call(lambda: start_backfill(target.sfn, machine, request))
            print(arn, flush=True)
        if args.no_wait:
            return EXIT_SUCCEEDED
        final = aws_call(
            lambda: follow(
                lambda: progress(target.sfn, dynamodb, table, arn),
                on_progress=show,
                interval=2.0,
                timeout=BACKFILL_WATCH_LIMIT_SECONDS,
            )
        )
    except OperationError as exc:
        print(f"pipeline: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(final.as_json(), indent=2))
    return EXIT_SUCCEEDED if final.status == ENDED_WELL else EXIT_FAILED


COMMANDS = {
    "run": run_command,
    "serve": serve_command,
    "submit": submit_command,
    "executions": executions_command,
    "show": show_command,
    "redrive": redrive_command,
    "cost": cost_command,
    "preflight": preflight_command,
    "smoke": smoke_command,
    "sources": sources_command,
    "replay": replay_command,
    "backfill": backfill_command,
    "reconcile": reconcile_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"pipeline: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        # Leaving the engine already stopped the runs, the sandboxes and the endpoints.
        print("pipeline: interrupted; the local engine stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``pipeline executions | head``): not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_SUCCEEDED


def console() -> NoReturn:
    """The ``pipeline`` command: ``main``, then the process ends at once.

    Everything a command starts (the engine's threads, its sandboxes and endpoints) is stopped
    before ``main`` returns; what is left is the interpreter's teardown of the libraries the
    engine loaded (a third of a second), which nothing needs: the streams are flushed and the
    process exits with ``main``'s status.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    console()

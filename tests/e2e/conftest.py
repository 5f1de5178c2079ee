"""Start ``pipeline serve`` as a process for the e2e tests, and talk to it like a user."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from workflow.api_contract import caller_of, execution_name

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SAMPLE = PROJECT_ROOT / "samples" / "orders.csv"
DEADLINE_SECONDS = 60


@dataclass(frozen=True)
class Served:
    env: dict[str, str]
    api_url: str
    bucket: str
    state_machine_arn: str
    output: list[str]
    process: subprocess.Popen[str]

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )

    def executions(self) -> dict[str, str]:
        listed = self.client("stepfunctions").list_executions(stateMachineArn=self.state_machine_arn)
        return {item["name"]: item["status"] for item in listed["executions"]}

    def run_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, env={**os.environ, **self.env}, capture_output=True, text=True, timeout=120, check=False
        )


def wait_until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {DEADLINE_SECONDS} s waiting for {what}")


@contextmanager
def serving(*extra: str) -> Iterator[Served]:
    """``pipeline serve --port 0 EXTRA``, until the block ends (then Ctrl-C)."""
    process = subprocess.Popen(
        [str(BIN / "pipeline"), "serve", "--port", "0", *extra],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120  # a cold synth can take a while
        while not any(line.startswith("Notifications appear here") for line in lines):
            assert time.monotonic() < deadline, "serve did not start:\n" + "".join(lines)
            line = process.stdout.readline()
            assert line, "serve exited:\n" + "".join(lines)
            lines.append(line)
        banner = "".join(lines)
        # Keep reading what serve prints (the notifications) for the tests to look at.
        threading.Thread(target=_keep_reading, args=(process.stdout, lines), daemon=True).start()
        exports = re.search(r"export (.+)", banner)
        assert exports is not None
        env = dict(pair.split("=", 1) for pair in exports.group(1).split())
        yield Served(
            env=env,
            api_url=re.search(r"HTTP API\s+(\S+)", banner).group(1),  # type: ignore[union-attr]
            bucket=re.search(r"bucket\s+s3://(\S+)", banner).group(1),  # type: ignore[union-attr]
            state_machine_arn=re.search(r"state machine\s+(\S+)", banner).group(1),  # type: ignore[union-attr]
            output=lines,
            process=process,
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def _keep_reading(stream: Any, lines: list[str]) -> None:
    for line in iter(stream.readline, ""):
        lines.append(line)


def signed(
    served: Served,
    method: str,
    path: str,
    body: dict[str, Any] | str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    url = served.api_url + path
    data = body if isinstance(body, str) else (json.dumps(body) if body is not None else None)
    request = AWSRequest(
        method=method, url=url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    SigV4Auth(
        Credentials(served.env["AWS_ACCESS_KEY_ID"], served.env["AWS_SECRET_ACCESS_KEY"]), "execute-api", "us-east-1"
    ).add_auth(request)
    prepared = urllib.request.Request(url, data=request.body, headers=dict(request.headers), method=method)
    try:
        with urllib.request.urlopen(prepared, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def api_name(served: Served, idempotency_key: str) -> str:
    """The execution name the API gives a request of the served identity with this Idempotency-Key."""
    return execution_name(caller_of(served.env["AWS_ACCESS_KEY_ID"]), idempotency_key, request_id="")


def finished(served: Served, name: str) -> str | None:
    status = served.executions().get(name)
    return status if status not in (None, "RUNNING") else None


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving() as server:
        yield server

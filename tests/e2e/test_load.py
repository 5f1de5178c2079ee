"""Load: N files uploaded at once to ``pipeline serve``, N runs, N outputs, N notifications, none lost.

The suite runs N = ``PIPELINE_LOAD_FILES`` (default 40). The issue's figure, 200, is a benchmark:

    .venv/bin/python -m tests.e2e.test_load 200
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tests.e2e.conftest import Served, serving

DEFAULT_FILES = 40
UPLOAD_THREADS = 16
DEADLINE_SECONDS = 600
SUCCEEDED_NOTICE = "Pipeline run succeeded: load-"


@dataclass(frozen=True)
class LoadResult:
    files: int
    upload_seconds: float
    total_seconds: float
    statuses: dict[str, int]
    outputs: int
    notifications: int

    @property
    def throughput(self) -> float:
        return self.files / self.total_seconds

    def summary(self) -> str:
        return (
            f"{self.files} files: uploaded in {self.upload_seconds:.1f} s, "
            f"all runs ended in {self.total_seconds:.1f} s "
            f"({self.throughput:.1f} executions/s); statuses {self.statuses}, "
            f"{self.outputs} outputs, {self.notifications} success notifications"
        )


def body(index: int) -> bytes:
    return ("id,name,amount\n" + "".join(f"{index}-{row},name {row},{row}.5\n" for row in range(20))).encode()


def upload_clients(served: Served) -> list[Any]:
    """The uploaders' S3 clients (as many as uploading threads; botocore's clients are
    thread-safe, and an upload takes the one its index names), made before the clock starts:
    making them is the client's work, not the pipeline's (16 made at once by the uploading
    threads took 1.5 s in a fresh process)."""
    return [served.client("s3") for _ in range(UPLOAD_THREADS)]


def upload_all(served: Served, clients: list[Any], files: int) -> None:
    def upload(index: int) -> None:
        clients[index % len(clients)].put_object(
            Bucket=served.bucket, Key=f"incoming/load-{index:04d}.csv", Body=body(index)
        )

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        list(pool.map(upload, range(files)))


def all_executions(served: Served) -> dict[str, str]:
    sfn = served.client("stepfunctions")
    found: dict[str, str] = {}
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=served.state_machine_arn):
        found.update({item["name"]: item["status"] for item in page["executions"]})
    return found


def any_running(served: Served) -> bool:
    listed = served.client("stepfunctions").list_executions(
        stateMachineArn=served.state_machine_arn, statusFilter="RUNNING", maxResults=1
    )
    return bool(listed["executions"])


def count_outputs(served: Served) -> int:
    s3 = served.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=served.bucket, Prefix="processed/load-")
    return sum(1 for page in pages for item in page.get("Contents", []) if item["Key"].endswith("/data.jsonl"))


def count_notifications(served: Served) -> int:
    return sum(1 for line in list(served.output) if SUCCEEDED_NOTICE in line)


def run_load(served: Served, files: int) -> LoadResult:
    """Upload ``files`` files at once, then wait for every run, output and notification."""
    clients = upload_clients(served)
    started = time.monotonic()
    try:
        upload_all(served, clients, files)
    except Exception as failure:
        # What serve printed says whether it was still up, and why not.
        failure.add_note("serve's last lines:\n" + "".join(served.output[-60:]))
        raise
    uploaded = time.monotonic() - started
    deadline = started + DEADLINE_SECONDS
    executions: dict[str, str] = {}
    while time.monotonic() < deadline:
        # One running execution is enough to know it is not over: listing them all each time
        # would cost the server more than the runs it is measuring.
        if not any_running(served):
            executions = all_executions(served)
            if len(executions) >= files and "RUNNING" not in executions.values():
                break
        time.sleep(0.2)
    ended = time.monotonic() - started
    # Notifications are passed on by serve's watcher: give the last ones their moment.
    while time.monotonic() < deadline and count_notifications(served) < files:
        time.sleep(0.1)
    statuses: dict[str, int] = {}
    for status in executions.values():
        statuses[status] = statuses.get(status, 0) + 1
    return LoadResult(
        files=files,
        upload_seconds=uploaded,
        total_seconds=ended,
        statuses=statuses,
        outputs=count_outputs(served),
        notifications=count_notifications(served),
    )


def load_files() -> int:
    return int(os.environ.get("PIPELINE_LOAD_FILES", DEFAULT_FILES))


def test_concurrent_uploads_each_run_once_and_nothing_is_lost(capsys: Any) -> None:
    files = load_files()
    # Given a fresh 'pipeline serve'
    with serving() as served:
        # When N files are uploaded under incoming/ at once, by 16 clients
        result = run_load(served, files)

    # Then N executions ran, all succeeded, with N outputs and N success notifications
    with capsys.disabled():
        print(f"\nload: {result.summary()}")
    assert result.statuses == {"SUCCEEDED": files}, result.summary()
    assert result.outputs == files, result.summary()
    assert result.notifications == files, result.summary()


def main(argv: list[str]) -> int:
    files = int(argv[0]) if argv else 200
    with serving() as served:
        result = run_load(served, files)
    print(result.summary())
    lost = result.statuses != {"SUCCEEDED": files} or result.outputs != files or result.notifications != files
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

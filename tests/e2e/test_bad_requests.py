"""Bad requests to the signed API and to the commands: refused with a clear message, nothing started.

``test_serve.py`` covers a body that is not JSON, a missing key, ``incoming/../``, an unknown
processing type, an extra field and a malformed Idempotency-Key; these are the other ways in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import BIN, SAMPLE, Served, api_name, finished, signed, wait_until
from workflow.local.api import MAX_BODY_BYTES


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"key": 42}, "key: 42 is not of type 'string'"),
        ({"key": ["incoming/a.csv"]}, "is not of type 'string'"),
        ({"key": "incoming/a.csv", "processingType": 1}, "processingType"),
        ({"key": "incoming/a.csv", "versionId": {"id": "v1"}}, "versionId"),
        ({"key": "incoming/a.csv", "bucket": 7}, "bucket"),
        ({"key": None}, "key: None is not of type 'string'"),
        ([{"key": "incoming/a.csv"}], "is not of type 'object'"),
        ({"key": "/etc/passwd"}, "key must be a file under incoming/ or uploads/"),
        ({"key": "incoming//etc/passwd"}, "key must be a file under incoming/ or uploads/"),
        ({"key": "incoming/./a.csv"}, "key must be a file under incoming/ or uploads/"),
        ({"key": "uploads/a/../../etc/passwd"}, "key must be a file under incoming/ or uploads/"),
        ({"key": "incoming/a\u0000.csv"}, "key must be a file under incoming/ or uploads/"),
        ({"key": "incoming/a\n.csv"}, "key must be a file under incoming/ or uploads/"),
        ({"key": "incoming/a\u007f.csv"}, "key must be a file under incoming/ or uploads/"),
        ({"key": "incoming/"}, "key"),
        ({"key": "incoming/folder/"}, "key must be a file under incoming/ or uploads/"),
        ({"key": "processed/a.csv"}, "key must be a file under incoming/ or uploads/"),
    ],
    ids=lambda value: repr(value)[:40] if not isinstance(value, str) else None,
)
def test_a_malformed_body_gets_400_with_a_message_and_starts_nothing(served: Served, body: Any, fragment: str) -> None:
    # Given the executions that exist
    before = served.executions()

    # When a signed request carries a wrong type, a path trick or a control character
    status, answer = signed(served, "POST", "executions", body)

    # Then it is refused with 400 and a message naming the problem, and nothing started
    assert status == 400, answer
    assert fragment in answer["message"]
    assert served.executions().keys() == before.keys()


@pytest.mark.parametrize("key", ["x" * 65, "has space", "semi;colon", "ünïcode", "../up"])
def test_an_invalid_idempotency_key_gets_400_and_starts_nothing(served: Served, key: str) -> None:
    before = served.executions()
    status, answer = signed(served, "POST", "executions", {"key": "uploads/a.csv"}, {"Idempotency-Key": key})
    assert status == 400, answer
    assert "Idempotency-Key must match" in answer["message"]
    assert served.executions().keys() == before.keys()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_body_of_another_content_type_gets_415_and_starts_nothing(served: Served, content_type: str) -> None:
    # Given the executions that exist
    before = served.executions()

    # When a valid body is posted as another content type (the integration maps application/json only)
    status, answer = signed(served, "POST", "executions", {"key": "uploads/a.csv"}, {"Content-Type": content_type})

    # Then API Gateway's 415 answers it, and nothing started
    assert (status, answer) == (415, {"message": "Unsupported Media Type"})
    assert served.executions().keys() == before.keys()


def test_a_body_over_the_execution_input_limit_is_refused_and_starts_nothing(served: Served) -> None:
    # Given a body larger than Step Functions' 256 KB execution input
    before = served.executions()
    body = {"key": "uploads/" + "a" * MAX_BODY_BYTES + ".csv"}

    # When it is posted
    status, answer = signed(served, "POST", "executions", body)

    # Then it is refused as too large, saying the limit, and nothing started
    assert status == 413, answer
    assert f"larger than {MAX_BODY_BYTES} bytes" in answer["message"]
    assert served.executions().keys() == before.keys()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["submit", "incoming/../etc/passwd.csv"], "key must be a file under incoming/ or uploads/"),
        (["submit", "uploads/a\u0001.csv"], "key must be a file under incoming/ or uploads/"),
        (["submit", str(SAMPLE), "--idempotency-key", "bad key!"], "--idempotency-key takes"),
        (["submit", str(SAMPLE), "--type", "urgent"], "invalid choice: 'urgent'"),
        (["submit", "/etc/no-such-file.csv"], "no such file"),
        (["run", "/etc/no-such-file.csv"], "no such file"),
        (["run", str(SAMPLE), "--fail", ":TransientError"], "--fail needs a state name"),
        (["run", str(SAMPLE), "--fail", "Fetch:TransientError:0"], "TIMES must be a positive whole number"),
    ],
)
def test_a_bad_command_exits_2_with_one_line_and_starts_nothing(served: Served, args: list[str], fragment: str) -> None:
    # Given the executions that exist
    before = served.executions()

    # When the command is given a bad key, option or file
    result = served.run_cli(str(BIN / "pipeline"), *args)

    # Then it exits 2 with a single line saying why, no traceback, and nothing started
    assert result.returncode == 2, (result.stdout, result.stderr)
    (line,) = result.stderr.splitlines()
    assert line.startswith("pipeline: error: ")
    assert fragment in line
    assert "Traceback" not in result.stdout + result.stderr
    assert served.executions().keys() == before.keys()


def test_submitting_an_empty_file_is_a_rejected_run_not_a_crash(served: Served, tmp_path: Path) -> None:
    # Given an empty CSV file
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")

    # When it is submitted
    result = served.run_cli(str(BIN / "pipeline"), "submit", str(empty), "--idempotency-key", "bad-empty")

    # Then the run starts (the API cannot see the content) and ends rejected as EmptyObject
    assert result.returncode == 0, result.stderr
    name = api_name(served, "bad-empty")
    assert result.stdout.strip().endswith(":" + name)
    assert wait_until(lambda: finished(served, name), "the empty run") == "FAILED"
    status, described = signed(served, "GET", "executions/" + name)
    assert (status, described["error"]) == (200, "EmptyObject")

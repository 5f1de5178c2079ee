"""The synthesized template passes cdk-nag, cfn-lint and checkov, and every exception says why."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHECKOV = Path(os.environ.get("PIPELINE_CHECKOV", PROJECT_ROOT / ".tools" / "checkov" / "bin" / "checkov"))
MIN_REASON = 40  # characters: a reason a reviewer can weigh, not "ok" or "n/a"


@pytest.mark.parametrize("pack", ["AwsSolutions", "Serverless", "NIST.800.53.R5"])
def test_cdk_nag_pack_has_no_unsuppressed_findings(template_file: Path, pack: str) -> None:
    (report,) = template_file.parent.glob(f"{pack}-*-NagReport.csv")
    rows = list(csv.DictReader(report.open()))
    assert len(rows) > 20, "the pack checked the stack"
    findings = [(row["Rule ID"], row["Resource ID"], row["Compliance"]) for row in rows]
    assert [f for f in findings if f[2] not in {"Compliant", "Suppressed"}] == []


def test_every_cdk_nag_suppression_names_its_resource_and_a_specific_reason(template: dict[str, Any]) -> None:
    suppressions = [
        (name, rule)
        for name, body in template["Resources"].items()
        for rule in body.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert suppressions, "the stack records its exceptions"
    for name, rule in suppressions:
        assert len(rule["reason"]) >= MIN_REASON, (name, rule)


def test_cfn_lint_reports_no_error_and_no_warning(template_file: Path) -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(template_file)], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_checkov_fails_no_check_and_every_skip_has_a_reason(template_file: Path) -> None:
    assert CHECKOV.exists(), f"checkov is not installed at {CHECKOV}: run 'make test', which installs it"
    result = subprocess.run(
        [str(CHECKOV), "-f", str(template_file), "--framework", "cloudformation", "-o", "json", "--compact"],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    assert summary["passed"] > 100, "checkov checked the template"
    failed = [(check["check_id"], check["resource"]) for check in report["results"]["failed_checks"]]
    assert failed == []
    assert summary["failed"] == 0
    for skipped in report["results"]["skipped_checks"]:
        assert len(skipped["check_result"].get("suppress_comment", "")) >= MIN_REASON, skipped["check_id"]

"""checkov on terraform/, offline (--skip-download): zero failed checks, and every skip justified inline."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.terraform.tfconfig import REPO_DIR, TERRAFORM_DIR, comments_of

SKIP = re.compile(r"checkov:skip=(?P<check>[A-Z0-9_]+)(?::(?P<reason>.*))?")
# The checks that prove the issue's storage, key and alerting requirements ran and passed.
REQUIRED_PASSES = {
    "CKV_AWS_145": "S3 bucket encrypted with KMS",
    "CKV_AWS_21": "S3 bucket versioned",
    "CKV2_AWS_6": "S3 bucket has a public access block",
    "CKV2_AWS_61": "S3 bucket has a lifecycle configuration",
    "CKV_AWS_7": "KMS key rotation",
    "CKV_AWS_26": "SNS topic encrypted",
    "CKV_AWS_158": "CloudWatch log group encrypted with KMS",
    "CKV_AWS_66": "CloudWatch log group retention",
    "CKV_AWS_82": "Athena workgroup enforces its configuration",
    "CKV_AWS_159": "Athena workgroup encrypted",
    "CKV_AWS_99": "Glue security configuration encrypts everything",
    "CKV_AWS_195": "Glue jobs and crawlers use the security configuration",
    "CKV_AWS_149": "Secrets encrypted with a customer-managed key",
}


def _checkov() -> str:
    binary = os.environ.get("CHECKOV_BIN") or str(REPO_DIR / ".venv" / "checkov" / "bin" / "checkov")
    if not Path(binary).is_file():
        pytest.fail(f"checkov is not installed at {binary}: run `make checkov-venv` (make test does)")
    return binary


@pytest.fixture(scope="module")
def checkov_report():
    result = subprocess.run(
        [
            _checkov(),
            "--directory",
            str(TERRAFORM_DIR),
            "--framework",
            "terraform",
            "--skip-download",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_DIR,
    )
    assert result.returncode in (0, 1), f"checkov did not run: {result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    (terraform,) = [r for r in reports if r.get("check_type") == "terraform"]
    return terraform


def test_checkov_finds_no_failed_check(checkov_report):
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in checkov_report["results"]["failed_checks"]
    ]
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0
    assert not failed, f"checkov: {summary['failed']} failed checks:\n" + "\n".join(failed)


def test_checkov_ran_the_checks_the_issue_relies_on(checkov_report):
    passed = {c["check_id"] for c in checkov_report["results"]["passed_checks"]}
    missing = {check: what for check, what in REQUIRED_PASSES.items() if check not in passed}
    assert not missing, f"checks that did not pass (or did not run): {missing}"


def test_every_bucket_instance_passed_the_bucket_checks(checkov_report):
    passed = {(c["check_id"], c["resource"]) for c in checkov_report["results"]["passed_checks"]}
    buckets = {
        c["resource"]
        for c in checkov_report["results"]["passed_checks"]
        if c["resource"].startswith("aws_s3_bucket.this[")
    }
    assert len(buckets) == 7, buckets
    for bucket in buckets:
        for check in ("CKV_AWS_145", "CKV_AWS_21", "CKV2_AWS_6", "CKV2_AWS_61", "CKV_AWS_18"):
            assert (check, bucket) in passed, f"{check} did not pass for {bucket}"


def test_every_skip_is_justified_inline(checkov_report, tf):
    skips = []
    for name, parsed in tf.files.items():
        for comment in comments_of(parsed):
            match = SKIP.search(comment)
            if match:
                skips.append((name, match["check"], (match["reason"] or "").strip()))
    unjustified = [f"{name}: {check}" for name, check, reason in skips if len(reason) < 30]
    assert not unjustified, f"skips without a justification: {unjustified}"
    skipped = {c["check_id"] for c in checkov_report["results"]["skipped_checks"]}
    assert skipped == {check for _, check, _ in skips}, "every inline skip is one checkov applied"
    for check in checkov_report["results"]["skipped_checks"]:
        assert check["check_result"].get("suppress_comment"), f"{check['check_id']} skipped without a comment"


def test_no_skip_is_configured_outside_the_resources():
    for config in (".checkov.yaml", ".checkov.yml"):
        assert not (TERRAFORM_DIR / config).exists() and not (REPO_DIR / config).exists()

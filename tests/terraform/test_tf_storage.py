"""Every bucket is encrypted with KMS, versioned, closed to the public, TLS-only, owner-enforced, logged and
has a lifecycle; the transient ones expire their objects."""

from __future__ import annotations

import re

import pytest

from tests.terraform.tfconfig import code_of, references

BUCKET_SETTINGS = [
    "aws_s3_bucket_server_side_encryption_configuration",
    "aws_s3_bucket_versioning",
    "aws_s3_bucket_public_access_block",
    "aws_s3_bucket_policy",
    "aws_s3_bucket_lifecycle_configuration",
    "aws_s3_bucket_ownership_controls",
]
EXPECTED_BUCKETS = {
    "ingestion",
    "processed",
    "artifacts",
    "temp",
    "athena-results",
    "spark-logs",
    "access-logs",
}
TRANSIENT_BUCKETS = {"temp", "athena-results", "spark-logs", "access-logs"}


def _settings_for(tf, bucket, setting_type):
    """The settings resources of `setting_type` that cover every instance of `bucket`."""
    covering = []
    for setting in tf.resources(setting_type):
        target = setting.body.get("bucket", "")
        if f"{bucket.type}.{bucket.name}" not in references(target):
            continue
        # for_each over the same collection and indexed by each.key: every bucket instance is covered.
        if bucket.body.get("for_each"):
            if setting.body.get("for_each") != bucket.body["for_each"] or "[each.key]" not in target:
                continue
        covering.append(setting)
    return covering


def _bucket_definitions(tf) -> dict:
    """Bucket key -> its definition: local.logged_buckets plus what local.buckets merges in."""
    definitions = dict(tf.locals["logged_buckets"])
    merged = code_of(tf.locals["buckets"])
    assert merged.startswith("merge(local.logged_buckets,"), merged
    for key, expiration in re.findall(r"([\w-]+) = \{purpose = \"\", expiration_days = ([^}]+)\}", merged):
        definitions[key] = {"expiration_days": "${" + expiration.strip() + "}"}
    return definitions


def test_the_issue_s_buckets_are_all_there(tf):
    assert set(_bucket_definitions(tf)) == EXPECTED_BUCKETS


@pytest.mark.parametrize("setting_type", BUCKET_SETTINGS)
def test_every_bucket_has_the_setting(tf, setting_type):
    buckets = tf.resources("aws_s3_bucket")
    assert buckets
    for bucket in buckets:
        assert _settings_for(tf, bucket, setting_type), (
            f"{bucket.address} has no {setting_type} for every instance"
        )


def test_encryption_is_sse_kms_with_the_customer_managed_data_key(tf):
    for setting in tf.resources("aws_s3_bucket_server_side_encryption_configuration"):
        default = setting.body["rule"][0]["apply_server_side_encryption_by_default"][0]
        assert default["sse_algorithm"] == '"aws:kms"'
        assert references(default["kms_master_key_id"]) == {"aws_kms_key.this"}


def test_versioning_is_enabled(tf):
    for setting in tf.resources("aws_s3_bucket_versioning"):
        assert setting.body["versioning_configuration"][0]["status"] == '"Enabled"'


def test_public_access_is_blocked_four_ways(tf):
    for setting in tf.resources("aws_s3_bucket_public_access_block"):
        for flag in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        ):
            assert setting.body[flag] is True, f"{setting.address}.{flag}"


def test_bucket_policy_denies_requests_without_tls(tf):
    policy = tf.get("resource", "aws_s3_bucket_policy", "this").body
    assert references(policy["policy"]) == {"data.aws_iam_policy_document.bucket"}
    document = tf.get("data", "aws_iam_policy_document", "bucket").body
    assert document["for_each"] == tf.get("resource", "aws_s3_bucket", "this").body["for_each"]
    deny = [s for s in document["statement"] if s["effect"] == '"Deny"']
    assert any(
        c["variable"] == '"aws:SecureTransport"' and c["values"] == ['"false"']
        for s in deny
        for c in s["condition"]
    )


def test_lifecycle_expires_old_versions_and_transient_objects(tf):
    lifecycle = tf.get("resource", "aws_s3_bucket_lifecycle_configuration", "this").body
    rule = lifecycle["rule"][0]
    assert (
        rule["noncurrent_version_expiration"][0]["noncurrent_days"]
        == "${var.noncurrent_version_retention_days}"
    )
    assert rule["abort_incomplete_multipart_upload"][0]["days_after_initiation"] == 1
    assert "each.value.expiration_days" in rule["expiration"][0]["days"]
    for key, definition in _bucket_definitions(tf).items():
        expiration = definition["expiration_days"]
        if key in TRANSIENT_BUCKETS:
            assert "var.transient_retention_days." in str(expiration), key
        else:
            assert expiration is None, f"the {key} bucket keeps its objects"


def test_every_bucket_but_the_log_bucket_logs_to_it(tf):
    logging = tf.get("resource", "aws_s3_bucket_logging", "this").body
    assert logging["for_each"] == "${local.logged_buckets}"
    assert logging["target_bucket"] == '${aws_s3_bucket.this["access-logs"].id}'
    assert "access-logs" not in tf.locals["logged_buckets"]


def test_buckets_are_not_force_destroyed(tf):
    for bucket in tf.resources("aws_s3_bucket"):
        assert bucket.body.get("force_destroy", False) is False

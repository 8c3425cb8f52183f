"""What would break the first deployed runs (issue 16), checked on the configuration itself: the encrypted Glue
bookmark the roles must be able to write, the log groups Glue 5.x writes to, the private subnets without a
package index, the schedule that must not start before the deploy is complete, and the lifecycle filter."""

from __future__ import annotations

import ast

import pytest

from tests.terraform.tfconfig import REPO_DIR, code_of, references, unquote, values_of


def _statements(tf, document: str) -> list[dict]:
    body = tf.get("data", "aws_iam_policy_document", document).body
    statements = list(body.get("statement", []))
    for dynamic in body.get("dynamic", []):
        for label, block in dynamic.items():
            if label.strip('"') == "statement":
                statements.extend(block["content"])
    return statements


def _actions(statement: dict) -> set[str]:
    return {unquote(action) for action in statement["actions"]} if isinstance(statement["actions"], list) else set()


# --- 1. the encrypted job bookmark --------------------------------------------------------------------------


def test_job_roles_may_encrypt_and_decrypt_with_the_key_that_encrypts_glue_s_bookmarks(tf):
    security = tf.get("resource", "aws_glue_security_configuration", "this").body
    bookmarks = security["encryption_configuration"][0]["job_bookmarks_encryption"][0]
    assert unquote(bookmarks["job_bookmarks_encryption_mode"]) == "CSE-KMS"
    bookmark_key = bookmarks["kms_key_arn"]
    grants = [s for s in _statements(tf, "glue_job") if bookmark_key in s["resources"]]
    granted = set().union(*(_actions(s) for s in grants))
    assert {"kms:Encrypt", "kms:Decrypt"} <= granted, "job.commit() cannot write the encrypted bookmark"


@pytest.mark.parametrize("script", sorted((REPO_DIR / "glue_jobs").glob("*.py")), ids=lambda p: p.name)
def test_each_job_saves_its_own_bookmark_before_glue_s_commit(script):
    """The project's state first, then job.commit(): a failed Glue commit then fails a run whose outputs are
    complete, and the retry re-reads at most one increment, de-duplicated downstream. Every job's main() is
    the one skeleton's (totes/glue_job.py), whose main() commits in that order."""
    tree = ast.parse(script.read_text())
    job = next(node for node in tree.body if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "JOB")
    assert ast.unparse(job.value.func) == "GlueJob", f"{script.name}: its JOB is not the shared GlueJob"
    skeleton = ast.parse((REPO_DIR / "totes" / "glue_job.py").read_text())
    main = next(node for node in ast.walk(skeleton) if isinstance(node, ast.FunctionDef) and node.name == "main")
    calls = [node for node in ast.walk(main)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit"]
    owners = [(call.lineno, ast.unparse(call.func.value)) for call in calls]
    project = [line for line, owner in owners if owner.endswith("bookmark")]
    glue = [line for line, owner in owners if owner == "job"]
    assert project and glue, owners
    assert max(project) < min(glue), f"GlueJob.main: job.commit() before the project's bookmark ({owners})"


# --- 2. the log groups Glue 5.x writes to -------------------------------------------------------------------


def test_every_job_names_its_log_group_prefix_and_its_groups_follow_it(tf):
    job = tf.get("resource", "aws_glue_job", "this").body
    assert job["default_arguments"].count('"--custom-logGroup-prefix" = local.job_log_group_prefixes[each.key]') == 1
    groups = code_of(tf.locals["job_log_groups"])
    assert "local.job_log_group_prefixes" in references(tf.locals["job_log_groups"])
    assert '"/output"' not in groups  # the suffixes are appended to the prefix, not written out as groups
    assert references(tf.locals["job_log_group_prefixes"]) == {"local.jobs"}


def test_metrics_alarm_and_dashboard_read_the_output_group_where_the_json_lines_go(tf):
    metric_filter = tf.get("resource", "aws_cloudwatch_log_metric_filter", "job").body
    assert '-output"' in metric_filter["log_group_name"]
    alarm = tf.get("resource", "aws_cloudwatch_metric_alarm", "job_error_logs").body
    assert ".output" in alarm["alarm_description"]
    dashboard = tf.get("resource", "aws_cloudwatch_dashboard", "pipeline").body["dashboard_body"]
    assert '-output"' in dashboard and '-error"' not in dashboard


def test_no_glue_4_continuous_logging_group_is_used(tf):
    for block in tf.blocks:
        assert not any("logs-v2" in value for value in values_of(block.body)), block.address
    for name, value in tf.locals.items():
        assert "logs-v2" not in code_of(value) and "continuous" not in name, f"local.{name}"


def test_job_roles_write_exactly_their_own_log_groups(tf):
    logs = next(s for s in _statements(tf, "glue_job") if unquote(s["sid"]) == "WriteOwnLogGroups")
    assert "local.job_log_groups" in references(logs["resources"])


def test_log_groups_get_retention_and_the_logs_key_from_one_definition(tf):
    group = tf.get("resource", "aws_cloudwatch_log_group", "glue").body
    assert group["for_each"] == "${local.log_groups}"
    assert references(group["retention_in_days"]) == {"var.log_retention_days"}
    assert '"logs"' in group["kms_key_id"]


# --- 3. no package index in the VPC -------------------------------------------------------------------------


def test_jobs_install_their_wheels_from_the_artifacts_bucket_without_an_index(tf):
    arguments = tf.get("resource", "aws_glue_job", "this").body["default_arguments"]
    assert '"--python-modules-installer-option" = "--no-index"' in arguments
    assert "aws_s3_object.wheel[wheel]" in arguments and "local.job_wheels[each.key]" in arguments
    wheel = tf.get("resource", "aws_s3_object", "wheel").body
    assert wheel["for_each"] == "${local.python_wheels}"
    reads = next(s for s in _statements(tf, "glue_job") if "Wheels" in unquote(s["sid"]))
    assert "local.job_wheels" in references(reads["resources"])


def test_every_api_a_vpc_job_calls_has_an_endpoint_or_the_nat_route(tf):
    endpoints = tf.get("resource", "aws_vpc_endpoint", "interface").body
    assert endpoints["for_each"] == "${toset(local.interface_endpoints_to_create)}"
    to_create = code_of(tf.locals["interface_endpoints_to_create"])
    assert "local.vpc_api_services" in to_create and "var.existing_interface_endpoints" in to_create
    nat = tf.get("resource", "aws_vpc_security_group_egress_rule", "glue_https").body
    condition = nat["lifecycle"][0]["precondition"][0]["condition"]
    assert "data.aws_route_table.glue" in references(condition) and "nat_gateway_id" in condition


def test_the_s3_gateway_endpoint_is_optional(tf):
    gateway = tf.get("resource", "aws_vpc_endpoint", "s3").body
    assert references(gateway["count"]) == {"var.create_s3_gateway_endpoint"}


# --- 5. the schedule starts only when asked -----------------------------------------------------------------


def test_the_schedule_and_the_crawls_are_off_until_enabled(tf):
    assert tf.variables["schedule_enabled"].body["default"] is False
    trigger = tf.get("resource", "aws_glue_trigger", "this").body
    for attribute in ("enabled", "start_on_creation"):
        assert "var.schedule_enabled" in references(trigger[attribute]), attribute
        assert '"SCHEDULED"' in trigger[attribute], attribute
    crawls = tf.get("resource", "aws_glue_trigger", "crawler").body
    for attribute in ("enabled", "start_on_creation"):
        assert references(crawls[attribute]) == {"var.schedule_enabled"}, attribute


def test_triggers_come_after_everything_a_job_run_needs(tf):
    waited_for = set().union(*(references(item) for item in tf.get("resource", "aws_glue_trigger", "this")
                               .body["depends_on"]))
    needed = {"aws_iam_role_policy.glue_job", "aws_cloudwatch_log_group.glue", "aws_vpc_endpoint.interface",
              "aws_vpc_endpoint.s3", "aws_secretsmanager_secret_policy.this"}
    needed |= {block.address for block in tf.resources() if block.type.startswith("aws_vpc_security_group_")
               and block.file == "network.tf"}
    assert needed <= waited_for, f"not waited for: {sorted(needed - waited_for)}"


# --- 9. the lifecycle filter --------------------------------------------------------------------------------


def test_lifecycle_rules_have_no_empty_filter(tf):
    rules = tf.get("resource", "aws_s3_bucket_lifecycle_configuration", "this").body["rule"]
    for rule in rules:
        for filter_block in rule["filter"]:
            assert {key for key in filter_block if not key.startswith("__")}, "an empty filter {} block"

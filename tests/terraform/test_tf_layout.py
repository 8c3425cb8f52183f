"""The layout of terraform/: provider pins, typed and described and validated variables, described outputs,
resources split by concern, one naming prefix and one tag set, and an example tfvars that matches."""

from __future__ import annotations

import re

import hcl2
import pytest

from tests.terraform.tfconfig import TERRAFORM_DIR, code_of, references, unquote

CONCERNS = {
    "versions.tf": {"terraform", "provider"},
    "variables.tf": {"variable"},
    "outputs.tf": {"output"},
    "locals.tf": {"locals", "data"},
    "kms.tf": {"kms"},
    "storage.tf": {"s3_bucket"},
    "artifacts.tf": {"s3_object"},
    "secrets.tf": {"secretsmanager"},
    "network.tf": {"security_group", "vpc_endpoint"},
    "iam.tf": {"iam_role"},
    "glue_jobs.tf": {"glue_job", "glue_connection", "glue_security_configuration"},
    "workflow.tf": {"glue_workflow", "glue_trigger"},
    "catalog.tf": {"glue_catalog_database", "glue_crawler"},
    "athena.tf": {"athena"},
    "alerts.tf": {"sns", "cloudwatch_event"},
    "monitoring.tf": {"cloudwatch_log", "cloudwatch_metric_alarm", "cloudwatch_dashboard"},
}

# Booleans and a free-form tag map have no set of values to validate against.
UNVALIDATED_VARIABLES = {"tags", "create_s3_gateway_endpoint", "schedule_enabled", "table_optimizers_enabled"}

# Attributes that name a resource in AWS.
NAME_ATTRIBUTES = ("name", "bucket", "alarm_name", "dashboard_name", "name_prefix")


def test_files_split_by_concern(tf):
    present = set(tf.files)
    assert set(CONCERNS) <= present, f"missing: {sorted(set(CONCERNS) - present)}"
    for file_name, markers in CONCERNS.items():
        parsed = tf.files[file_name]
        types = {unquote(t) for entry in parsed.get("resource", []) for t in entry}
        kinds = set(parsed) | {t.removeprefix("aws_") for t in types}
        assert any(marker in kind for marker in markers for kind in kinds), (
            f"{file_name} holds none of {sorted(markers)}"
        )


def test_provider_and_terraform_versions_are_pinned(tf):
    terraform = tf.files["versions.tf"]["terraform"][0]
    assert re.fullmatch(r">= ?1\.\d+\.\d+", unquote(terraform["required_version"]))
    aws = terraform["required_providers"][0]["aws"]
    assert unquote(aws["source"]) == "hashicorp/aws"
    assert re.fullmatch(r"~> ?\d+\.\d+", unquote(aws["version"])), (
        "the AWS provider is pinned to a major version"
    )


def test_one_tag_set_applies_to_every_resource(tf):
    provider = tf.files["versions.tf"]["provider"][0]['"aws"']
    assert references(provider["default_tags"][0]["tags"]) == {"local.tags"}
    tags = code_of(tf.locals["tags"])
    for key in ("Project", "Environment", "ManagedBy"):
        assert key in tags


def test_every_variable_is_typed_and_described(tf):
    for name, variable in tf.variables.items():
        assert variable.body.get("type"), f"var.{name} has no type"
        assert len(unquote(variable.body.get("description", ""))) > 20, f"var.{name} has no real description"


def test_every_variable_with_a_range_of_values_is_validated(tf):
    for name, variable in tf.variables.items():
        if name in UNVALIDATED_VARIABLES:
            continue
        assert variable.body.get("validation"), f"var.{name} has no validation block"


def test_enumerated_variables_are_validated_against_their_values(tf):
    for name in (
        "environment",
        "glue_version",
        "glue_worker_type",
        "log_retention_days",
        "aws_api_route",
        "existing_interface_endpoints",
    ):
        conditions = [v["condition"] for v in tf.variables[name].body["validation"]]
        assert any("contains(" in condition for condition in conditions), f"var.{name} lists its values"


def test_secret_inputs_are_sensitive(tf):
    assert tf.variables["database_credentials"].body.get("sensitive") is True
    for name, variable in tf.variables.items():
        if "password" in str(variable.body.get("type", "")):
            assert variable.body.get("sensitive") is True, f"var.{name} holds a password"


def test_every_output_is_described(tf):
    outputs = tf.of_kind("output")
    assert outputs
    for output in outputs:
        assert len(unquote(output.body.get("description", ""))) > 20, (
            f"output {output.name} has no description"
        )


def test_the_outputs_a_deployer_needs_exist(tf):
    names = {output.name for output in tf.of_kind("output")}
    assert {
        "bucket_names",
        "workflow_name",
        "athena_workgroup",
        "alerts_topic_arn",
        "deployer_pass_role_policy_json",
    } <= names


def test_no_resource_name_is_hard_coded(tf):
    """Names come from the one prefix (local.name_prefix and names derived from it) or the workflow file."""
    for block in tf.resources():
        for attribute in NAME_ATTRIBUTES:
            value = block.body.get(attribute)
            if not isinstance(value, str):
                continue
            refs = references(value) | ({"each"} if "each." in code_of(value) else set())
            assert refs, f"{block.address}.{attribute} = {value} is a literal name"


def test_name_prefix_is_project_and_environment(tf):
    assert tf.locals["name_prefix"] == '"${var.project}-${var.environment}"'


@pytest.fixture(scope="module")
def example_tfvars():
    with (TERRAFORM_DIR / "terraform.tfvars.example").open() as handle:
        return hcl2.load(handle)


def test_example_tfvars_sets_only_declared_variables(tf, example_tfvars):
    unknown = set(example_tfvars) - set(tf.variables) - {"__comments__", "__inline_comments__"}
    assert not unknown, f"terraform.tfvars.example sets undeclared variables: {sorted(unknown)}"


def test_example_tfvars_sets_every_required_variable(tf, example_tfvars):
    required = {name for name, variable in tf.variables.items() if "default" not in variable.body}
    assert required <= set(example_tfvars), (
        f"required but not in the example: {sorted(required - set(example_tfvars))}"
    )


def test_example_tfvars_holds_no_password(example_tfvars):
    assert "database_credentials" not in example_tfvars

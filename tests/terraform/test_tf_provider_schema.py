"""Every resource, data source and `provider "aws"` block of terraform/ against the AWS provider's published
schema (the jsii manifest of the cdktf package pinned in terraform/provider-schema.lock): the type exists,
every argument and nested block exists, every required one is set, and a block allowed once is given once.

``terraform validate`` would do this, but no 6.x provider can be had here (the Go module proxy refuses its
source). The schema is fetched by the same script as `make provider-schema`; a failed fetch fails the test.
"""

from __future__ import annotations

import re
import textwrap

import pytest

from tests.terraform import tfconfig
from tests.terraform.provider_schema import (
    SchemaFetchError,
    check_config,
    fetch,
    load,
    read_lock,
)


@pytest.fixture(scope="session")
def provider_schema():
    lock = read_lock()
    try:
        folder = fetch()
    except SchemaFetchError as error:
        pytest.fail(f"the provider schema could not be fetched: {error}", pytrace=False)
    return load(folder, lock)


def _parse(tmp_path, monkeypatch, text: str) -> tfconfig.Config:
    """A snippet parsed by the very loader the real checks use, pointed at a scratch folder."""
    (tmp_path / "main.tf").write_text(textwrap.dedent(text))
    monkeypatch.setattr(tfconfig, "TERRAFORM_DIR", tmp_path)
    return tfconfig.load.__wrapped__()


def test_the_pinned_schema_is_of_the_provider_versions_tf_requires(tf, provider_schema):
    required = tf.files["versions.tf"]["terraform"][0]["required_providers"][0]["aws"]
    assert tfconfig.unquote(required["source"]) == provider_schema.lock.provider_source
    constraint = re.fullmatch(r"~> ?(\d+)\.(\d+)", tfconfig.unquote(required["version"]))
    assert constraint, (
        f"versions.tf pins the AWS provider as {required['version']}; teach this test that form"
    )
    major, minor = (int(part) for part in constraint.groups())
    have = tuple(int(part) for part in provider_schema.lock.provider_version.split("."))
    assert have[0] == major and have[1] >= minor, (
        f"terraform/provider-schema.lock checks against {provider_schema.label}, "
        f"versions.tf asks for {required['version']}: pin a package generated from a matching provider"
    )


def test_the_schema_holds_what_the_checks_rely_on(provider_schema):
    """Guards the reading of the .jsii: a lost `required` or block flag would let every check pass."""
    glue_job = provider_schema.resource["aws_glue_job"]
    assert glue_job.arguments["name"] is True and glue_job.arguments["description"] is False
    assert glue_job.blocks["command"].required and glue_job.blocks["command"].single
    assert glue_job.blocks["command"].schema.arguments["script_location"] is True
    statement = provider_schema.data["aws_iam_policy_document"].blocks["statement"]
    assert not statement.single and "principals" in statement.schema.blocks
    assert "default_tags" in provider_schema.provider.blocks
    # Renamed in cdktf (`equalTo`), its Terraform name read from the docs link.
    selector = provider_schema.resource["aws_cloudtrail"].blocks["advanced_event_selector"].schema
    assert "equals" in selector.blocks["field_selector"].schema.arguments


def test_every_block_of_terraform_matches_the_provider_schema(tf, provider_schema):
    errors = check_config(tf, provider_schema)
    assert not errors, f"against {provider_schema.label}:\n" + "\n".join(errors)


def test_an_unknown_argument_a_missing_required_one_and_an_unknown_type_are_named(
    tmp_path, monkeypatch, provider_schema
):
    config = _parse(
        tmp_path,
        monkeypatch,
        """
        resource "aws_glue_job" "broken" {
          role_arn   = "arn:aws:iam::123456789012:role/job"
          worker_typ = "G.1X"

          command {
            script_location = "s3://bucket/job.py"
          }
        }

        resource "aws_glue_jobs" "typo" {
          name = "job"
        }
        """,
    )

    assert check_config(config, provider_schema) == [
        "main.tf: aws_glue_job.broken: unknown argument or block 'worker_typ' (did you mean 'worker_type'?)",
        "main.tf: aws_glue_job.broken: missing required argument 'name'",
        (
            "main.tf: aws_glue_jobs.typo: unknown resource type 'aws_glue_jobs' "
            f"(did you mean 'aws_glue_job'?) in {provider_schema.label}"
        ),
    ]


def test_blocks_arguments_and_dynamic_blocks_are_used_as_the_schema_says(
    tmp_path, monkeypatch, provider_schema
):
    config = _parse(
        tmp_path,
        monkeypatch,
        """
        provider "aws" {
          region  = "eu-west-2"
          regoin  = "eu-west-2"
        }

        resource "aws_glue_job" "twice" {
          for_each = toset(["a"])
          name     = each.key
          role_arn = "arn"
          tags {
            Team = "data"
          }
          command {
            script_location = "s3://bucket/a.py"
          }
          command {
            script_location = "s3://bucket/b.py"
          }
          lifecycle {
            ignore_changes = [tag]
          }
        }

        resource "aws_glue_job" "as_argument" {
          name     = "job"
          role_arn = "arn"
          command  = { script_location = "s3://bucket/a.py" }
        }

        data "aws_iam_policy_document" "dynamic" {
          dynamic "statements" {
            for_each = [1]
            content {}
          }
          dynamic "statement" {
            for_each = [1]
            content {
              action = ["s3:GetObject"]
            }
          }
        }
        """,
    )

    assert check_config(config, provider_schema) == [
        "main.tf: aws_glue_job.twice: 'tags' is an argument, not a block: write `tags = ...`",
        "main.tf: aws_glue_job.twice: block 'command' is allowed at most once, given 2 times",
        "main.tf: aws_glue_job.twice.lifecycle.ignore_changes: unknown argument 'tag' (did you mean 'tags'?)",
        "main.tf: aws_glue_job.as_argument: 'command' is a block, not an argument: write `command { ... }`",
        "main.tf: aws_glue_job.as_argument: missing required block 'command'",
        (
            "main.tf: data.aws_iam_policy_document.dynamic: unknown dynamic block 'statements' "
            "(did you mean 'statement'?)"
        ),
        (
            "main.tf: data.aws_iam_policy_document.dynamic.dynamic['statement'].content: "
            "unknown argument or block 'action' (did you mean 'actions'?)"
        ),
        "main.tf: provider \"aws\": unknown argument or block 'regoin' (did you mean 'region'?)",
    ]

"""Least privilege: every policy is a structured aws_iam_policy_document (so it can be checked here); no Allow
statement holds a wildcard action; identity policies use Resource "*" only for actions that have no resource
to scope to; the roles get their permissions from the workflow definition; no managed policy is attached."""

from __future__ import annotations

import re

from tests.terraform.tfconfig import code_of, references, unquote

# Actions that accept no resource but "*" (narrowed by conditions where the service offers one).
UNSCOPABLE_ACTIONS = {
    "cloudwatch:PutMetricData",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeVpcs",
}
POLICY_ATTRIBUTES = {
    "aws_iam_role": "assume_role_policy",
    "aws_iam_role_policy": "policy",
    "aws_iam_policy": "policy",
    "aws_kms_key": "policy",
    "aws_s3_bucket_policy": "policy",
    "aws_sns_topic_policy": "policy",
    "aws_secretsmanager_secret_policy": "policy",
}


def _documents(tf):
    return tf.data("aws_iam_policy_document")


def _statements(document):
    statements = list(document.body.get("statement", []))
    for entry in document.body.get("dynamic", []):
        for label, block in entry.items():
            if label.strip('"') == "statement":
                statements.extend(block["content"])
    return statements


def _local_list(tf, name: str) -> list[str]:
    value = tf.locals[name]
    if isinstance(value, list):
        return [unquote(item) for item in value]
    return re.findall(r'"([^"]+)"', value)


def _actions(tf, statement) -> list[str]:
    """The statement's actions, local lists expanded (concat(local.x, [...]) included)."""
    actions = statement.get("actions", [])
    if isinstance(actions, str):
        names = [ref.removeprefix("local.") for ref in references(actions)]
        assert names and all(name in tf.locals for name in names), f"actions = {actions}"
        literal = re.findall(r'"([^"]+)"', actions.split(")", 1)[-1]) if "concat(" in actions else []
        return [a for name in names for a in _local_list(tf, name)] + literal
    expanded = []
    for action in actions:
        if action.startswith("${local."):
            expanded.extend(_local_list(tf, action[8:-1]))
        else:
            expanded.append(unquote(action))
    return expanded


def _identity_documents(tf):
    names = set()
    for policy in tf.resources("aws_iam_role_policy") + tf.resources("aws_iam_policy"):
        names |= {ref.split(".")[-1] for ref in references(policy.body["policy"]) if ref.startswith("data.")}
    return [document for document in _documents(tf) if document.name in names]


def test_every_policy_is_a_policy_document(tf):
    for type_, attribute in POLICY_ATTRIBUTES.items():
        for resource in tf.resources(type_):
            value = resource.body.get(attribute)
            if value is None:
                continue
            refs = references(value)
            assert refs and all(ref.startswith("data.aws_iam_policy_document.") for ref in refs), (
                f"{resource.address}.{attribute} is not an aws_iam_policy_document"
            )


def test_no_statement_uses_not_action_or_not_resource(tf):
    for document in _documents(tf):
        for statement in _statements(document):
            assert "not_actions" not in statement and "not_resources" not in statement, document.address


def test_no_allow_statement_has_a_wildcard_action(tf):
    offenders = []
    for document in _documents(tf):
        for statement in _statements(document):
            if statement.get("effect", '"Allow"') != '"Allow"':
                continue  # a Deny with a wildcard (e.g. s3:* without TLS) narrows, it grants nothing
            for action in _actions(tf, statement):
                if "*" in action:
                    offenders.append(f"{document.address} {unquote(statement.get('sid', ''))}: {action}")
    assert not offenders, f"wildcard actions: {offenders}"


def test_deny_statements_are_the_tls_and_secret_guards_only(tf):
    for document in _documents(tf):
        for statement in _statements(document):
            if statement.get("effect") == '"Deny"':
                assert document.name in ("bucket", "secret"), document.address


def test_identity_policies_use_resource_star_only_where_no_scope_exists(tf):
    documents = _identity_documents(tf)
    assert {d.name for d in documents} >= {"glue_job", "glue_crawler"}
    for document in documents:
        for statement in _statements(document):
            resources = statement.get("resources", [])
            if '"*"' in resources:
                actions = set(_actions(tf, statement))
                assert actions <= UNSCOPABLE_ACTIONS, (
                    f"{document.address} {statement.get('sid')}: Resource * for "
                    f"{sorted(actions - UNSCOPABLE_ACTIONS)}"
                )
                if "cloudwatch:PutMetricData" in actions:
                    assert statement["condition"][0]["variable"] == '"cloudwatch:namespace"'


def test_no_managed_policy_is_attached(tf):
    assert not tf.resources("aws_iam_role_policy_attachment")
    assert not tf.resources("aws_iam_policy_attachment")
    for role in tf.resources("aws_iam_role"):
        assert "managed_policy_arns" not in role.body


def test_job_permissions_derive_from_the_job_arguments(tf):
    """Buckets, secrets, catalog database and connection of each job role come from workflow.json."""
    policy = tf.get("data", "aws_iam_policy_document", "glue_job")
    assert policy.body["for_each"] == "${local.jobs}"
    text = code_of(str(policy.body))
    for derived in (
        "local.job_zones",
        "local.job_output_zone",
        "local.job_secrets",
        "local.job_databases",
        "local.job_connections",
        "local.job_log_groups",
    ):
        assert derived in text, f"the job policy does not use {derived}"
    for name in ("job_zones", "job_secrets", "job_databases"):
        assert "job.arguments" in tf.locals[name], f"local.{name} is not derived from the job arguments"


def test_each_job_has_its_own_role(tf):
    role = tf.get("resource", "aws_iam_role", "glue_job").body
    assert role["for_each"] == "${local.jobs}"
    job = tf.get("resource", "aws_glue_job", "this").body
    assert job["role_arn"] == "${aws_iam_role.glue_job[each.key].arn}"
    crawler = tf.get("resource", "aws_glue_crawler", "this").body
    assert crawler["role"] == "${aws_iam_role.glue_crawler.arn}"


def test_roles_are_assumed_by_glue_only(tf):
    document = tf.get("data", "aws_iam_policy_document", "glue_assume")
    (statement,) = _statements(document)
    assert _actions(tf, statement) == ["sts:AssumeRole"]
    assert statement["principals"][0]["identifiers"] == ['"glue.amazonaws.com"']


def test_secrets_are_readable_only_by_named_principals(tf):
    document = tf.get("data", "aws_iam_policy_document", "secret")
    (statement,) = _statements(document)
    assert statement["effect"] == '"Deny"' and _actions(tf, statement) == ["secretsmanager:GetSecretValue"]
    assert statement["condition"][0]["test"] == '"ArnNotEquals"'
    assert statement["condition"][0]["variable"] == '"aws:PrincipalArn"'
    assert "aws_iam_role.glue_job" in tf.locals["secret_job_readers"]
    assert "local.job_secrets" in tf.locals["secret_job_readers"]


def test_deployer_pass_role_is_limited_to_glue(tf):
    document = tf.get("data", "aws_iam_policy_document", "deployer_pass_role")
    (statement,) = _statements(document)
    assert _actions(tf, statement) == ["iam:PassRole"]
    assert statement["condition"][0]["variable"] == '"iam:PassedToService"'
    assert statement["condition"][0]["values"] == ['"glue.amazonaws.com"']


def test_key_policies_let_the_publishing_services_use_the_alerts_key(tf):
    document = tf.get("data", "aws_iam_policy_document", "kms")
    services = set()
    for statement in _statements(document):
        for principal in statement.get("principals", []):
            if principal["type"] == '"Service"':
                services |= {unquote(i) for i in principal["identifiers"]}
    assert {"events.amazonaws.com", "cloudwatch.amazonaws.com", "logging.s3.amazonaws.com"} <= services

"""The jobs, triggers, crawlers and catalog are generated from workflow/workflow.json, and every job and
crawler of that definition exists in Terraform with a trigger; the failure alerts use the shared event
pattern."""

from __future__ import annotations

import re

import pytest

from tests.terraform.tfconfig import WORKFLOW_FILE, code_of, event_pattern, references, unquote

PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")
GLUE_JOB_STATES = {"SUCCEEDED", "STOPPED", "FAILED", "TIMEOUT"}
ZONE_ARGUMENTS = {"--ingestion-zone", "--processed-zone"}
SECRET_ARGUMENTS = {"--source-secret-id", "--warehouse-secret-id"}
CONNECTIONS = {"source", "warehouse"}

AWS_SPECIFIC_ARGUMENTS = [
    "--extra-py-files",
    "--TempDir",
    "--enable-metrics",
    "--enable-observability-metrics",
    "--enable-spark-ui",
    "--spark-event-logs-path",
    "--enable-job-insights",
    "--additional-python-modules",
]


def _template_variables(tf) -> set[str]:
    """The names templatefile() receives in local.workflow."""
    expression = code_of(tf.locals["workflow"])
    assert "templatefile(" in expression and "jsondecode(" in expression
    return set(re.findall(r"(\w+)\s*=", expression))


def _dynamic(body: dict, name: str) -> dict:
    for entry in body.get("dynamic", []):
        for label, block in entry.items():
            if label.strip('"') == name:
                return block
    raise KeyError(f"no dynamic {name} block")


# --- the definition is read, not duplicated -----------------------------------------------------------------


def test_workflow_is_read_with_templatefile_from_the_shared_file(tf):
    assert "workflow/workflow.json" in tf.locals["workflow"]
    assert tf.locals["jobs"] == "${local.workflow.jobs}"
    assert tf.locals["crawlers"] == "${local.workflow.catalog.crawlers}"
    assert "local.workflow.triggers" in tf.locals["triggers"]


def test_templatefile_fills_exactly_the_placeholders_of_the_definition(tf):
    used = set(PLACEHOLDER.findall(WORKFLOW_FILE.read_text()))
    assert used == _template_variables(tf)
    assert used == {
        "name_prefix",
        "ingestion_zone_uri",
        "processed_zone_uri",
        "source_secret_id",
        "warehouse_secret_id",
        "ingestion_database",
        "processed_database",
        "processed_catalog",
    }


def test_workflow_definition_is_a_valid_terraform_template(tf):
    """templatefile() parses the whole file as a template: a "${" that is not one of the placeholders (or
    escaped as "$${") makes `terraform plan` fail."""
    text = WORKFLOW_FILE.read_text()
    known = _template_variables(tf)
    bad = []
    for match in re.finditer(r"(?<!\$)\$\{|(?<!%)%\{", text):
        placeholder = PLACEHOLDER.match(text, match.start())
        if not placeholder or placeholder.group(1) not in known:
            line = text.count("\n", 0, match.start()) + 1
            bad.append(f"line {line}: {text[match.start() : match.start() + 24]!r}")
    assert not bad, (
        "workflow/workflow.json is not a valid Terraform template (escape a literal ${ as $${): "
        + "; ".join(bad)
    )


# --- jobs ---------------------------------------------------------------------------------------------------


def test_jobs_are_generated_from_the_definition(tf):
    job = tf.get("resource", "aws_glue_job", "this").body
    assert job["for_each"] == "${local.jobs}"
    assert job["name"] == "${each.value.name}"
    assert job["description"] == "${each.value.description}"
    assert job["max_retries"] == "${each.value.max_retries}"
    assert job["timeout"] == "${each.value.timeout_minutes}"
    assert "each.value.script" in code_of(tf.get("resource", "aws_s3_object", "script").body["source"])


def test_jobs_add_only_aws_specific_settings(tf):
    job = tf.get("resource", "aws_glue_job", "this").body
    assert job["glue_version"] == "${var.glue_version}"
    assert references(job["worker_type"]) == {"local.job_capacity"}
    assert references(job["number_of_workers"]) == {"local.job_capacity"}
    assert job["execution_property"][0]["max_concurrent_runs"] == 1
    assert "aws_glue_connection.this" in references(job["connections"])
    assert "local.job_connections" in references(job["connections"])
    assert references(job["security_configuration"]) == {"aws_glue_security_configuration.this"}
    arguments = job["default_arguments"]
    assert arguments.startswith("${merge(each.value.arguments,"), "the workflow's arguments come first"
    for argument in AWS_SPECIFIC_ARGUMENTS:
        assert f'"{argument}"' in arguments, f"{argument} missing from default_arguments"
    assert "aws_s3_object.library" in references(arguments), "--extra-py-files points at the uploaded zip"


def test_glue_version_is_5x(tf):
    validation = tf.variables["glue_version"].body["validation"][0]["condition"]
    assert '"5.0"' in validation and '"5.1"' in validation
    assert unquote(tf.variables["glue_version"].body["default"]) in ("5.0", "5.1")


def test_every_job_of_the_definition_has_a_trigger(workflow):
    triggered = {action["job"] for trigger in workflow["triggers"] for action in trigger["actions"]}
    assert set(workflow["jobs"]) <= triggered, f"jobs without a trigger: {set(workflow['jobs']) - triggered}"


def test_the_chain_starts_on_the_15_minute_schedule(workflow):
    starts = [t for t in workflow["triggers"] if t["type"] == "SCHEDULED"]
    assert len(starts) == 1 and starts[0]["schedule"] == "cron(0/15 * * * ? *)"
    for trigger in workflow["triggers"]:
        if trigger["type"] == "CONDITIONAL":
            assert trigger["predicate"]["logical"] in ("AND", "ANY")
            for condition in trigger["predicate"]["conditions"]:
                assert condition["job"] in workflow["jobs"] and condition["state"] in GLUE_JOB_STATES


def test_every_job_names_what_its_permissions_derive_from(workflow):
    for key, job in workflow["jobs"].items():
        arguments = set(job["arguments"])
        assert arguments & ZONE_ARGUMENTS, f"job {key} names no zone"
        assert job["arguments"].get("--job-bookmark-option") == "job-bookmark-enable"
        if "connection" in job:
            assert job["connection"] in CONNECTIONS
        secrets = arguments & SECRET_ARGUMENTS
        assert all(a in SECRET_ARGUMENTS for a in arguments if a.endswith("-secret-id"))
        if secrets:
            assert "connection" in job, (
                f"job {key} reads a database secret but has no connection into the VPC"
            )


def test_job_scripts_are_the_repository_files(workflow):
    for job in workflow["jobs"].values():
        assert re.fullmatch(r"glue_jobs/\w+\.py", job["script"])


# --- triggers -----------------------------------------------------------------------------------------------


def test_triggers_are_generated_from_the_definition(tf):
    trigger = tf.get("resource", "aws_glue_trigger", "this").body
    assert trigger["for_each"] == "${local.triggers}"
    assert references(trigger["workflow_name"]) == {"aws_glue_workflow.this"}
    assert trigger["type"] == "${each.value.type}"
    assert "each.value.schedule" in code_of(trigger["schedule"])
    actions = _dynamic(trigger, "actions")
    assert actions["for_each"] == "${each.value.actions}"
    assert actions["content"][0]["job_name"] == "${aws_glue_job.this[actions.value.job].name}"
    predicate = _dynamic(trigger, "predicate")
    assert "each.value.predicate" in code_of(predicate["for_each"])
    conditions = _dynamic(predicate["content"][0], "conditions")
    assert conditions["content"][0]["job_name"] == "${aws_glue_job.this[conditions.value.job].name}"
    assert conditions["content"][0]["state"] == "${conditions.value.state}"


def test_workflow_is_generated_from_the_definition(tf):
    workflow = tf.get("resource", "aws_glue_workflow", "this").body
    assert workflow["name"] == "${local.workflow.name}"
    assert workflow["max_concurrent_runs"] == "${local.workflow.max_concurrent_runs}"


# --- catalog and crawlers -----------------------------------------------------------------------------------


def test_catalog_databases_for_both_zones(tf, workflow):
    assert set(workflow["catalog"]["databases"]) == {"ingestion", "processed"}
    database = tf.get("resource", "aws_glue_catalog_database", "this").body
    assert database["for_each"] == "${local.workflow.catalog.databases}"
    assert database["name"] == "${each.value.name}"
    assert database["location_uri"] == "${each.value.zone}"


def test_every_crawler_of_the_definition_has_a_trigger_on_its_schedule(tf, workflow):
    crawler = tf.get("resource", "aws_glue_crawler", "this").body
    assert crawler["for_each"] == "${local.crawlers}"
    assert crawler["name"] == "${each.value.name}"
    assert "schedule" not in crawler, "the crawler's trigger holds its schedule (no second schedule)"
    trigger = tf.get("resource", "aws_glue_trigger", "crawler").body
    assert trigger["for_each"] == "${local.crawlers}"
    assert trigger["type"] == '"SCHEDULED"' and trigger["schedule"] == "${each.value.schedule}"
    assert trigger["actions"][0]["crawler_name"] == "${aws_glue_crawler.this[each.key].name}"
    for key, definition in workflow["catalog"]["crawlers"].items():
        assert definition["database"] in workflow["catalog"]["databases"], f"crawler {key}"
        assert re.fullmatch(r"cron\(\S+ \S+ \S+ \S+ \S+ \S+\)", definition["schedule"])


def test_crawlers_keep_the_jobs_tables_and_skip_bookkeeping(tf):
    crawler = tf.get("resource", "aws_glue_crawler", "this").body
    policy = crawler["schema_change_policy"][0]
    assert policy["update_behavior"] == '"LOG"' and policy["delete_behavior"] == '"LOG"'
    assert crawler["recrawl_policy"][0]["recrawl_behavior"] == '"CRAWL_NEW_FOLDERS_ONLY"'
    assert crawler["s3_target"][0]["exclusions"] == "${each.value.exclusions}"
    assert "local.workflow.catalog.databases" in code_of(crawler["s3_target"][0]["path"])


def _excluded(key: str, exclusions: list[str]) -> bool:
    """Glue's exclusion globs: ``**`` crosses folders, ``*`` stays within one."""
    patterns = [re.escape(glob).replace(r"\*\*", ".*").replace(r"\*", "[^/]*") for glob in exclusions]
    return any(re.fullmatch(pattern, key) for pattern in patterns)


def test_no_crawler_runs_over_the_processed_zones_iceberg_tables(workflow):
    """The jobs' Iceberg catalog registers those tables and every commit; a crawl of their folders would
    re-infer Iceberg's data and metadata files as plain tables."""
    assert [c["database"] for c in workflow["catalog"]["crawlers"].values()] == ["ingestion"]


def test_the_ingestion_crawler_leaves_out_the_bookkeeping_only(workflow):
    from totes.ingest.reconcile import deletions_prefix, state_prefix
    from totes.tables import SOURCE_TABLES

    exclusions = workflow["catalog"]["crawlers"]["ingestion"]["exclusions"]
    run = "20261203T120000000Z-0a1b2c3d"
    for key in (f"{deletions_prefix('payment', run)}/part-0.parquet", f"{state_prefix('payment', run)}/x",
                "_manifests/totesys-dev-ingest/x.json", "_state/bookmarks/totesys-dev-ingest.json"):
        assert _excluded(key, exclusions), key
    for table in SOURCE_TABLES:
        assert not _excluded(f"{table.name}/ingest_date=2024-11-01/run_id={run}/part-0.parquet", exclusions)


def test_named_queries_are_the_shared_sql_files(tf):
    query = tf.get("resource", "aws_athena_named_query", "this").body
    assert query["for_each"] == "${local.athena_query_files}"
    assert "fileset(" in tf.locals["athena_query_files"] and "sql/athena" in tf.locals["athena_query_files"]
    assert "file(" in query["query"] and "each.value" in query["query"]
    assert references(query["database"]) == {"aws_glue_catalog_database.this"}


# --- names and alerts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["jobs", "crawlers"])
def test_glue_names_carry_the_environment(tf, workflow, kind):
    """A second environment in the same account gets names of its own (the precondition says so at plan)."""
    project = unquote(tf.variables["project"].body["default"])
    environment = unquote(tf.variables["environment"].body["default"])
    items = workflow["jobs"] if kind == "jobs" else workflow["catalog"]["crawlers"]
    for item in items.values():
        assert item["name"].startswith(f"{project}-{environment}-")
    assert workflow["name"].startswith(f"{project}-{environment}-")
    for resource in ("aws_glue_job", "aws_glue_crawler"):
        conditions = [p["condition"] for p in tf.get("resource", resource, "this").body["lifecycle"][0]["precondition"]]
        assert any("local.name_prefix" in references(c) and "startswith(" in c for c in conditions), resource


def test_downstream_jobs_read_the_manifests_of_this_environment_s_jobs(workflow):
    arguments = {key: job["arguments"] for key, job in workflow["jobs"].items()}
    assert arguments["transform"]["--ingest-job-name"] == workflow["jobs"]["ingest"]["name"]
    assert arguments["load"]["--transform-job-name"] == workflow["jobs"]["transform"]["name"]


def test_failure_rule_uses_the_shared_pattern_with_the_environment_s_job_names(tf):
    rule = tf.get("resource", "aws_cloudwatch_event_rule", "job_failure").body
    assert rule["event_pattern"] == "${jsonencode(local.job_failure_event_pattern)}"
    pattern_local = tf.locals["job_failure_event_pattern"]
    assert pattern_local.startswith("${jsondecode(templatefile(")
    assert "workflow/job_failure_event_pattern.json" in pattern_local and "local.jobs" in references(pattern_local)


def test_failure_pattern_names_exactly_this_environment_s_jobs(workflow):
    names = [job["name"] for job in workflow["jobs"].values()]
    pattern = event_pattern(names)
    assert pattern["source"] == ["aws.glue"]
    assert pattern["detail-type"] == ["Glue Job State Change"]
    assert {"FAILED", "TIMEOUT", "STOPPED"} <= set(pattern["detail"]["state"])
    # Exact names, no prefix: "totesys-dev-" would also match a project "totesys-dev"'s prod jobs.
    assert pattern["detail"]["jobName"] == sorted(names)


def test_failure_events_reach_the_email_topic(tf):
    target = tf.get("resource", "aws_cloudwatch_event_target", "job_failure_email").body
    assert references(target["rule"]) == {"aws_cloudwatch_event_rule.job_failure"}
    assert references(target["arn"]) == {"aws_sns_topic.alerts"}
    subscription = tf.get("resource", "aws_sns_topic_subscription", "email").body
    assert subscription["protocol"] == '"email"'
    assert "var.alert_email_addresses" in references(subscription["for_each"])
    topic = tf.get("resource", "aws_sns_topic", "alerts").body
    assert references(topic["kms_master_key_id"]) == {"aws_kms_key.this"}
    assert '"alerts"' in topic["kms_master_key_id"]

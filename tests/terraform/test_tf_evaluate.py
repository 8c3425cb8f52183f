"""terraform/locals.tf evaluated by OpenTofu (built here from its Go module: totes/local/tofu.py).

`tofu console` needs no provider for locals: the data sources are replaced by fixed values, the example
tfvars supply the variables, and the derived values (the decoded workflow, what each job may touch, names,
pins) are checked as Terraform computes them. This is where a workflow.json that templatefile() cannot parse,
or a for-expression that fails on the real definition, shows up without an AWS account.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.terraform.tfconfig import REPO_DIR, TERRAFORM_DIR
from totes.local.deployed_shape import Deployment, ShapeError, console, stubbed_locals_tf
from totes.local.tofu import tofu_binary

# OpenTofu, built from its Go module once per machine (scripts/build_tofu.sh); `make test` builds it first.
TERRAFORM = tofu_binary()

DEPLOYMENT = Deployment()  # the example tfvars' project and environment, account 123456789012, eu-west-2
ACCOUNT_ID, REGION = DEPLOYMENT.account_id, DEPLOYMENT.region


def evaluate(tmp_dir: Path, expression: str) -> object:
    """The value of `expression` over variables.tf and locals.tf (data sources stubbed), with the example tfvars;
    the same evaluation the deploy rehearsal takes its names from."""
    module = tmp_dir / "module"
    module.mkdir(exist_ok=True)
    (module / "locals.tf").write_text(stubbed_locals_tf(DEPLOYMENT))
    shutil.copy(TERRAFORM_DIR / "variables.tf", module / "variables.tf")
    shutil.copy(TERRAFORM_DIR / "terraform.tfvars.example", module / "example.tfvars")
    try:
        return console(module, expression, DEPLOYMENT, TERRAFORM)
    except ShapeError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    return evaluate(
        tmp_path_factory.mktemp("tf"),
        """{
      jobs = local.jobs, triggers = local.triggers, crawlers = local.crawlers,
      databases = local.workflow.catalog.databases, job_zones = local.job_zones,
      job_output_zone = local.job_output_zone, job_secrets = local.job_secrets,
      job_databases = local.job_databases, job_connections = local.job_connections,
      connections = local.connections, job_capacity = local.job_capacity,
      bucket_names = local.bucket_names, buckets = local.buckets, log_groups = local.log_groups,
      job_python_modules = local.job_python_modules, log_group_prefixes = local.job_log_group_prefixes,
      vpc_api_services = local.vpc_job_api_services, failure_pattern = local.job_failure_event_pattern,
      athena_query_files = local.athena_query_files, name_prefix = local.name_prefix,
      secrets = { for k, s in local.secrets : k => s.name }
    }""",
    )


def test_job_arguments_are_filled_with_the_deployment_s_names(derived):
    ingest = derived["jobs"]["ingest"]["arguments"]
    assert ingest["--ingestion-zone"] == f"s3://totesys-dev-ingestion-{ACCOUNT_ID}-{REGION}"
    assert ingest["--source-secret-id"] == "totesys-dev/source-db"
    assert ingest["--catalog-database"] == "totesys_dev_ingestion"
    assert derived["jobs"]["load"]["arguments"]["--warehouse-secret-id"] == "totesys-dev/warehouse-db"
    assert derived["databases"]["processed"]["name"] == "totesys_dev_processed"
    assert derived["databases"]["processed"]["zone"] == f"s3://totesys-dev-processed-{ACCOUNT_ID}-{REGION}"


def test_each_job_gets_exactly_its_zones_secrets_databases_and_connection(derived):
    assert derived["job_zones"] == {
        "ingest": ["ingestion"],
        "transform": ["ingestion", "processed"],
        "load": ["ingestion", "processed"],  # the load reads the ingestion manifests for its freshness lag
    }
    assert derived["job_output_zone"] == {
        "ingest": "ingestion",
        "transform": "processed",
        "load": "processed",
    }
    assert derived["job_secrets"] == {"ingest": ["source"], "transform": [], "load": ["warehouse"]}
    # The load reads the processed zone's Iceberg tables through the Glue catalog of its --catalog-database.
    assert derived["job_databases"] == {"ingest": ["ingestion"], "transform": ["processed"], "load": ["processed"]}
    assert derived["job_connections"] == {"ingest": "source", "transform": None, "load": "warehouse"}
    assert set(derived["connections"]) == {"source", "warehouse"}
    assert derived["connections"]["source"]["database"]["host"].startswith("totesys.")


def test_triggers_and_crawlers_come_out_of_the_definition(derived):
    assert set(derived["triggers"]) == {"every-15-minutes", "transform-after-ingest", "load-after-transform"}
    assert derived["triggers"]["every-15-minutes"]["schedule"] == "cron(0/15 * * * ? *)"
    assert {c["database"] for c in derived["crawlers"].values()} == {"ingestion"}


def test_capacity_defaults_and_python_module_pins(derived):
    assert all(c == {"worker_type": "G.1X", "number_of_workers": 2} for c in derived["job_capacity"].values())
    requirements = (REPO_DIR / "requirements.txt").read_text()
    # psycopg: the transformation's pre-flight may check a local JDBC catalog's database (totes/preflight).
    assert derived["job_python_modules"]["transform"] == [re.search(rf"^{re.escape(name)}==\S+$", requirements, re.M)[0]
                                                          for name in ("pycountry", "psycopg[binary]")]
    for pins in derived["job_python_modules"].values():
        for pin in pins:
            assert re.search(rf"^{re.escape(pin)}$", requirements, re.M), pin


def test_names_carry_the_environment(derived):
    assert {job["name"] for job in derived["jobs"].values()} == {
        "totesys-dev-ingest", "totesys-dev-transform", "totesys-dev-load"}
    assert derived["failure_pattern"]["detail"]["jobName"] == [
        "totesys-dev-ingest", "totesys-dev-load", "totesys-dev-transform"]
    assert derived["jobs"]["transform"]["arguments"]["--ingest-job-name"] == "totesys-dev-ingest"
    assert derived["jobs"]["load"]["arguments"]["--transform-job-name"] == "totesys-dev-transform"


def test_each_job_logs_to_the_glue_5_groups_of_its_own_prefix(derived):
    assert derived["log_group_prefixes"]["ingest"] == "/aws-glue/jobs/totesys-dev-ingest"
    for key, prefix in derived["log_group_prefixes"].items():
        assert derived["log_groups"][f"{key}-output"] == f"{prefix}/output"
        assert derived["log_groups"][f"{key}-error"] == f"{prefix}/error"
    assert not any("logs-v2" in group for group in derived["log_groups"].values())


def test_the_jobs_in_the_vpc_need_endpoints_for_every_api_they_call(derived):
    assert derived["vpc_api_services"] == {
        "ingest": ["glue", "kms", "logs", "monitoring", "secretsmanager"],
        "load": ["glue", "kms", "logs", "monitoring", "secretsmanager"],
    }


def test_names_fit_aws_limits(derived):
    for name in derived["bucket_names"].values():
        assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name), name
    # The longest project (12 characters, var.project's limit), environment and Region fit 63 characters.
    longest_key = max(derived["buckets"], key=len)
    assert len(f"{'p' * 12}-staging-{longest_key}-{ACCOUNT_ID}-ap-southeast-2") <= 63
    for group in derived["log_groups"].values():
        assert len(group) <= 512 and group.startswith("/aws-glue/")


def test_the_failure_pattern_and_the_queries_are_read(derived):
    assert derived["failure_pattern"]["detail-type"] == ["Glue Job State Change"]
    assert sorted(derived["athena_query_files"]) == sorted(
        p.name for p in (REPO_DIR / "sql" / "athena").glob("*.sql")
    )


def test_terraform_fmt_is_clean():
    result = subprocess.run(
        [TERRAFORM, "fmt", "-check", "-recursive", "-list=true", str(TERRAFORM_DIR)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "CHECKPOINT_DISABLE": "1"},
    )
    assert result.returncode == 0, f"terraform fmt would change: {result.stdout} {result.stderr[-500:]}"

"""Pre-flight: every check green on a working stack, and each missing thing exactly one line naming it and its fix.

Real PostgreSQL (throwaway databases, real roles), real local zones and catalog; the AWS code paths (s3:// zones,
Secrets Manager, the Glue catalog) against moto's server on a loopback port, reached through AWS_ENDPOINT_URL
as any endpoint is, with the jobs' own provider selection (no local secrets or catalog folder set).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time

import boto3
import pytest
import requests

from tests.conftest import PROCESSED_CATALOG_ARGS
from tests.warehouse.conftest import _database_name, empty_warehouse_db, warehouse_db  # noqa: F401
from tests.warehouse.conftest import warehouse_owner_credentials  # noqa: F401
from totes.catalog import LocalGlueCatalog, ensure_database
from totes.ingest.window import blind_bound_message
from totes.local.workflow import load_workflow
from totes.preflight import PreflightError, catalog_check, check_before_reading, problems_of
from totes.preflight.__main__ import check_workflow
from totes.preflight import transform_checks
from totes.preflight.databases import ingest_checks, load_checks
from totes.secrets import LocalSecretProvider
from totes.settings import LOAD_JOB_NAME, LOCAL_SECRETS_DIR, PROCESSED_CATALOG_SECRET_ID, REPO_DIR, TRANSFORM_JOB_NAME
from totes.tables import SOURCE_TABLES
from totes.warehouse.migrations import discover

EVERY_TABLE = [table.name for table in SOURCE_TABLES]
FIELDS = "engine, host, port, dbname, username, password"
LOCAL_SECRET_FIX = f"a local secret is a JSON file with {FIELDS} (make db-up writes the local stack's)"


def _write_secret(secrets_dir, secret_id, value: dict) -> None:
    path = secrets_dir / f"{secret_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


@dataclasses.dataclass
class Stack:
    """A throwaway stack the local way: secrets in a folder, zones in folders, the local catalog."""

    root: object
    source: object  # the reader's credentials
    warehouse: object  # the loader's credentials

    @property
    def secrets_dir(self):
        return self.root / "secrets"

    def zone(self, name: str) -> str:
        return (self.root / "zones" / name).as_uri()

    def secret(self, secret_id: str, credentials, **changes) -> str:
        value = {**dataclasses.asdict(credentials), **changes}
        _write_secret(self.secrets_dir, secret_id, {k: v for k, v in value.items() if v is not None})
        return secret_id

    def ingest_args(self, **overrides) -> dict:
        return {"JOB_NAME": "totesys-ingest", "ingestion_zone": self.zone("ingestion"),
                "source_secret_id": "totesys/source-db", "catalog_database": "t_ingestion", **overrides}

    def transform_args(self, **overrides) -> dict:
        return {"JOB_NAME": TRANSFORM_JOB_NAME, "ingestion_zone": self.zone("ingestion"),
                "processed_zone": self.zone("processed"), "catalog_database": "t_processed",
                "processed_catalog": f"jdbc:{PROCESSED_CATALOG_SECRET_ID}", "ingest_job_name": "totesys-ingest",
                **overrides}

    def load_args(self, **overrides) -> dict:
        return {"JOB_NAME": LOAD_JOB_NAME, "processed_zone": self.zone("processed"),
                "warehouse_secret_id": "totesys/warehouse-db", "transform_job_name": TRANSFORM_JOB_NAME,
                "catalog_database": "t_processed", "processed_catalog": f"jdbc:{PROCESSED_CATALOG_SECRET_ID}",
                **overrides}


@pytest.fixture
def stack(empty_source_db, warehouse_db, tmp_path, monkeypatch) -> Stack:
    _, reader = empty_source_db
    stack = Stack(tmp_path, reader, warehouse_db)
    stack.secret("totesys/source-db", reader)
    stack.secret("totesys/warehouse-db", warehouse_db)
    stack.secret(PROCESSED_CATALOG_SECRET_ID,
                 LocalSecretProvider(LOCAL_SECRETS_DIR).get_database_credentials(PROCESSED_CATALOG_SECRET_ID))
    monkeypatch.setenv("TOTES_LOCAL_SECRETS_DIR", str(stack.secrets_dir))
    monkeypatch.setenv("TOTES_LOCAL_CATALOG_DIR", str(tmp_path / "catalog"))
    catalog = LocalGlueCatalog(tmp_path / "catalog")
    for database in ("t_ingestion", "t_processed"):
        ensure_database(catalog, database)
    return stack


@pytest.fixture
def unmigrated_warehouse(request, warehouse_owner_credentials):  # noqa: F811
    """A second, empty warehouse database beside the stack's migrated one."""
    from totes.source.database import create_database, drop_database

    name = _database_name(request)[:-3] + "new"
    yield create_database(warehouse_owner_credentials, name)
    drop_database(warehouse_owner_credentials, name)


def _only_problem(results) -> str:
    problems = problems_of(results)
    assert len(problems) == 1, problems
    return problems[0]


# -- the local stack -------------------------------------------------------------------------------------------

def test_every_check_of_every_job_passes_on_a_working_stack(stack):
    for checks, args in ((ingest_checks, stack.ingest_args()), (transform_checks, stack.transform_args()),
                         (load_checks, stack.load_args())):
        results = checks(args)
        assert problems_of(results) == [], checks.__name__
        assert all(line.startswith("ok ") for result in results for line in result.lines())
    # The probes leave nothing behind: no object, and locally no empty _preflight folder either.
    assert not (stack.root / "zones" / "ingestion" / "_preflight").exists()
    assert not (stack.root / "zones" / "processed" / "_preflight").exists()


def test_make_preflight_prints_a_line_per_check_of_the_workflow_and_exits_0(stack, tmp_path):
    # The local workflow's arguments point at TOTES_LOCAL_DIR's zones and the catalog's real database names.
    ensure_database(LocalGlueCatalog(tmp_path / "catalog"), "totesys_ingestion")
    ensure_database(LocalGlueCatalog(tmp_path / "catalog"), "totesys_processed")
    env = {**os.environ, "TOTES_LOCAL_DIR": str(tmp_path), "TOTES_LOCAL_SECRETS_DIR": str(stack.secrets_dir),
           "TOTES_LOCAL_CATALOG_DIR": str(tmp_path / "catalog"), "TOTES_LOG_FILE": ""}

    done = subprocess.run([sys.executable, "-m", "totes.preflight"], env=env, cwd=REPO_DIR, capture_output=True,
                          text=True, timeout=120)

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "pre-flight: all ok"
    checks = [line.split()[1] for line in lines if line.startswith("  ")]
    assert checks == ["secret", "source", "ingestion", "catalog",  # ingest
                      "ingestion", "processed", "secret", "processed",  # transform: zones, the Iceberg catalog
                      "secret", "warehouse", "processed", "secret", "processed"]  # load
    assert all(line.startswith("  ok ") for line in lines if line.startswith("  "))


def test_the_cli_checks_the_jobs_with_the_arguments_of_the_workflow_definition(stack):
    variables = {"ingestion_zone_uri": stack.zone("ingestion"), "processed_zone_uri": stack.zone("processed"),
                 "source_secret_id": "totesys/source-db", "warehouse_secret_id": "totesys/warehouse-db",
                 "ingestion_database": "t_ingestion", "processed_database": "t_processed", "name_prefix": "totesys",
                 "processed_catalog": f"jdbc:{PROCESSED_CATALOG_SECRET_ID}"}
    checked = list(check_workflow(load_workflow(variables)))

    assert [len(results) for _, results, _ in checked] == [4, 4, 5]
    assert [problems_of(results) for _, results, _ in checked] == [[], [], []]


def test_a_missing_secret_file_is_one_line(stack):
    (stack.secrets_dir / "totesys" / "source-db.json").unlink()
    path = stack.secrets_dir / "totesys" / "source-db.json"

    line = _only_problem(ingest_checks(stack.ingest_args()))

    assert line == f"secret 'totesys/source-db' not found: no file {path}; {LOCAL_SECRET_FIX}"


def test_a_secret_missing_a_field_is_one_line_naming_the_field_and_never_the_password(stack):
    stack.secret("totesys/warehouse-db", stack.warehouse, engine=None)

    line = _only_problem(load_checks(stack.load_args()))

    assert line == f"secret 'totesys/warehouse-db' lacks the keys engine; {LOCAL_SECRET_FIX}"
    assert stack.warehouse.password not in line


def test_a_reader_without_select_on_one_table_is_one_line_with_the_grant(stack, make_source_role):
    reader = make_source_role([name for name in EVERY_TABLE if name != "payment"], read_all_stats=True)
    stack.secret("totesys/source-db", reader)

    line = _only_problem(ingest_checks(stack.ingest_args()))

    role = f'"{reader.username}"'
    assert line == (f"source database {reader.describe()}: {role} may not SELECT from payment: "
                    f'GRANT SELECT ON "payment" TO {role}')


def test_a_reader_without_pg_read_all_stats_is_one_line_with_the_grant(stack, make_source_role):
    reader = make_source_role(EVERY_TABLE)
    stack.secret("totesys/source-db", reader)

    line = _only_problem(ingest_checks(stack.ingest_args()))

    assert line == f"source database {reader.describe()}: {blind_bound_message(reader.username)}"
    assert f'GRANT pg_read_all_stats TO "{reader.username}"' in line
    assert reader.password not in line


def test_an_unreachable_source_is_one_line_naming_host_and_port(stack):
    stack.secret("totesys/source-db", stack.source, port=1)

    line = _only_problem(ingest_checks(stack.ingest_args()))

    assert line.startswith(f"cannot read the source database {stack.source.username}@127.0.0.1:1/")
    assert line.endswith("check the secret's host, port and password, and that the job's network reaches the "
                         "database (the Glue connection's subnet and security groups)")


def test_an_unmigrated_warehouse_is_one_line_with_the_command(stack, unmigrated_warehouse):
    stack.secret("totesys/warehouse-db", unmigrated_warehouse)
    scripts = [migration.script for migration in discover()]

    line = _only_problem(load_checks(stack.load_args()))

    assert line == (f"warehouse {unmigrated_warehouse.describe()} is not migrated to {scripts[-1]}: "
                    f"{', '.join(scripts)} pending; run python -m totes.warehouse migrate --secret-id "
                    f"totesys/warehouse-db (locally: make warehouse)")


def test_a_role_that_may_only_read_the_warehouse_is_one_line_with_the_grants(stack, warehouse_db):
    from totes.secrets import LocalSecretProvider
    from totes.settings import LOCAL_SECRETS_DIR, WAREHOUSE_READONLY_SECRET_ID

    reader = dataclasses.replace(LocalSecretProvider(LOCAL_SECRETS_DIR).get_database_credentials(
        WAREHOUSE_READONLY_SECRET_ID), dbname=warehouse_db.dbname)
    stack.secret("totesys/warehouse-db", reader)

    line = _only_problem(load_checks(stack.load_args()))

    assert line.startswith(f'warehouse {reader.describe()}: "{reader.username}" lacks privileges the load needs: '
                           f"GRANT INSERT ON ")
    assert "; GRANT UPDATE ON " in line and "fact_payment" in line and "source_deletion" in line
    assert "GRANT USAGE ON SEQUENCE public.fact_sales_order_sales_record_id_seq, " in line
    assert "GRANT SELECT" not in line  # V001 grants it to the reader


def test_a_zone_under_a_file_is_one_line_per_job_writing_it(stack):
    (stack.root / "not-a-folder").write_text("a file where the zone's parent folder should be")
    zone = (stack.root / "not-a-folder" / "processed").as_uri()

    transform_line = _only_problem(transform_checks(stack.transform_args(processed_zone=zone)))
    load_line = _only_problem(load_checks(stack.load_args(processed_zone=zone)))

    assert transform_line == load_line == (
        f"processed zone {zone}: cannot write, read back and delete a probe object under _preflight/ "
        f"(Not a directory): make it a folder this job may write")


def test_a_catalog_database_the_job_cannot_create_is_one_line(stack, tmp_path, monkeypatch):
    (tmp_path / "catalog-file").write_text("a file where the local catalog's folder should be")
    monkeypatch.setenv("TOTES_LOCAL_CATALOG_DIR", str(tmp_path / "catalog-file"))

    line = _only_problem(ingest_checks(stack.ingest_args()))

    assert line.startswith("catalog database t_ingestion does not exist and the job may not create it (")
    assert line.endswith("): terraform apply creates it (terraform/catalog.tf)")


def test_a_missing_local_catalog_database_is_created_as_the_job_would(stack):
    result = catalog_check("t_new", stack.zone("ingestion"))

    assert result.problems == ()
    assert result.detail == "created, as the job's first registration would"
    assert LocalGlueCatalog(stack.root / "catalog").get_database(Name="t_new")["Database"]["Name"] == "t_new"


def test_a_job_s_preflight_lists_every_problem_once_and_logs_the_job_failed_line(stack, capfd):
    import logging

    from totes import logs

    logs.configure(job="totesys-ingest")
    stack.secret("totesys/source-db", stack.source, port=1)
    (stack.root / "zones").write_text("a file")

    with pytest.raises(PreflightError) as raised:
        check_before_reading(ingest_checks, stack.ingest_args(), logging.getLogger("totes.ingest"))

    assert len(str(raised.value).splitlines()) == 2 == len(raised.value.problems)
    logged = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    failed = [record for record in logged if record["message"].startswith("job failed")]
    assert len(failed) == 1 and failed[0]["level"] == "ERROR" and failed[0]["error_type"] == "PreflightError"
    assert failed[0]["problems"] == raised.value.problems
    assert stack.source.password not in json.dumps(logged)


# -- a job refuses before it reads anything ----------------------------------------------------------------------

def test_the_load_job_refuses_an_unmigrated_warehouse_before_any_read(spark, stack, unmigrated_warehouse):
    from tests.warehouse.conftest import load_load_job

    stack.secret("totesys/warehouse-db", unmigrated_warehouse)
    zone = stack.root / "zones" / "processed"
    spark.sparkContext.setJobGroup("preflight-refusal", "the load job's Spark jobs, if it starts any")
    argv = ["load", "--JOB_NAME", LOAD_JOB_NAME, "--processed-zone", zone.as_uri(),
            "--warehouse-secret-id", "totesys/warehouse-db", *PROCESSED_CATALOG_ARGS,
            "--job-bookmark-option", "job-bookmark-enable"]

    with pytest.raises(PreflightError, match="is not migrated to") as raised:
        load_load_job().main(argv)

    spark.sparkContext.setJobGroup("other", "")
    assert spark.sparkContext.statusTracker().getJobIdsForGroup("preflight-refusal") == []
    assert len(raised.value.problems) == 1
    assert not zone.exists() or list(zone.rglob("*")) == []  # no manifest, no bookmark, no probe left
    with _connect(unmigrated_warehouse) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)


def _connect(credentials):
    from totes.warehouse.database import connect

    return connect(credentials)


# -- the AWS code paths, against moto's server -------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def aws(monkeypatch):
    """moto's server on a loopback port; the environment a Glue job has, with the endpoint pointing there."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "eu-west-2",
                        "AWS_DEFAULT_REGION": "eu-west-2"}.items():
        monkeypatch.setenv(name, value)
    for name in ("TOTES_LOCAL_SECRETS_DIR", "TOTES_LOCAL_CATALOG_DIR", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    yield endpoint
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10)
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)  # moto's state is the process's: leave none
    server.stop()


def _aws_stack(stack) -> dict:
    """Buckets, secrets and catalog databases as Terraform creates them, holding the test stack's logins."""
    s3 = boto3.client("s3")
    for bucket in ("t-ingestion", "t-processed"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    secrets = boto3.client("secretsmanager")
    for secret_id, credentials in (("t/source-db", stack.source), ("t/warehouse-db", stack.warehouse)):
        secrets.create_secret(Name=secret_id, SecretString=json.dumps(dataclasses.asdict(credentials)))
    glue = boto3.client("glue")
    for database in ("t_ingestion", "t_processed"):
        glue.create_database(DatabaseInput={"Name": database})
    return {"ingestion_zone": "s3://t-ingestion/zone", "processed_zone": "s3://t-processed/zone"}


def test_every_check_passes_on_aws_services(stack, aws):
    zones = _aws_stack(stack)

    for checks, args in ((ingest_checks, stack.ingest_args(source_secret_id="t/source-db", **zones)),
                         (transform_checks, stack.transform_args(processed_catalog="glue", **zones)),
                         (load_checks, stack.load_args(warehouse_secret_id="t/warehouse-db", processed_catalog="glue",
                                                       processed_zone=zones["processed_zone"]))):
        assert problems_of(checks(args)) == [], checks.__name__
    assert boto3.client("s3").list_objects_v2(Bucket="t-processed").get("KeyCount") == 0  # probes deleted


def test_a_missing_secret_in_secrets_manager_is_one_line_with_the_command(stack, aws):
    zones = _aws_stack(stack)

    line = _only_problem(ingest_checks(stack.ingest_args(source_secret_id="t/nothing", **zones)))

    assert line == (f"cannot read secret 't/nothing' from Secrets Manager: ResourceNotFoundException; put its value, "
                    f"JSON with {FIELDS}: aws secretsmanager put-secret-value --secret-id t/nothing "
                    f"--secret-string file://secret.json (the job's role needs secretsmanager:GetSecretValue on it)")


def test_a_missing_bucket_is_one_line(stack, aws):
    _aws_stack(stack)

    line = _only_problem(transform_checks(stack.transform_args(ingestion_zone="s3://t-ingestion/zone",
                                                               processed_zone="s3://t-nothing/zone",
                                                               processed_catalog="glue")))

    assert line.startswith("processed zone s3://t-nothing/zone: cannot write, read back and delete a probe object "
                           "under _preflight/ (NoSuchBucket")
    assert line.endswith("): the bucket does not exist: terraform apply creates it")


def test_a_missing_glue_database_the_role_may_not_create_is_one_line(stack, aws, monkeypatch):
    iam = boto3.client("iam")
    iam.create_user(UserName="totesys-ingest")
    # As terraform/iam.tf: the job may read its catalog database, never create one.
    iam.put_user_policy(UserName="totesys-ingest", PolicyName="catalog", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["glue:GetDatabase"], "Resource": "*"}]}))
    key = iam.create_access_key(UserName="totesys-ingest")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a job's process starts with its own credentials
    requests.post(f"{aws}/moto-api/reset-auth", data=b"0", timeout=10)  # IAM is enforced from here on

    result = catalog_check("t_ingestion", "s3://t-ingestion/zone")

    (line,) = result.problems
    assert line.startswith("catalog database t_ingestion does not exist and the job may not create it (")
    assert "not authorized to perform: glue:CreateDatabase" in line
    assert line.endswith("): terraform apply creates it (terraform/catalog.tf)")


def test_unreachable_aws_endpoints_are_one_line_each_within_seconds(stack, monkeypatch):
    closed = f"http://127.0.0.1:{_free_port()}"  # nothing listens there: every connection is refused
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "eu-west-2"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TOTES_LOCAL_SECRETS_DIR")
    monkeypatch.delenv("TOTES_LOCAL_CATALOG_DIR")
    host = closed.removeprefix("http://")
    started = time.monotonic()

    problems = problems_of(ingest_checks(stack.ingest_args(ingestion_zone="s3://t-ingestion/zone")))

    assert time.monotonic() - started < 15
    assert problems == [
        f"cannot reach Secrets Manager ({host}) from the job's network: add an interface VPC endpoint for "
        f"secretsmanager, or a NAT route",
        f"cannot reach S3 ({host}) from the job's network: add the S3 gateway VPC endpoint to the route table of "
        f"the job's subnet, or a NAT route",
        f"cannot reach the Glue Data Catalog ({host}) from the job's network: add an interface VPC endpoint for "
        f"glue, or a NAT route",
    ]

"""The workflow on throwaway databases and zones, run by the real local runner, and the bad inputs fed to it.

:class:`WorkflowUnderTest` runs ``workflow/workflow.json`` (the three real Glue scripts, its retries and
triggers) with :class:`~totes.local.runner.LocalWorkflowRunner`, and publishes every job run that ends on a
:class:`~totes.local.alerts.LocalEventBus` whose rule is ``workflow/job_failure_event_pattern.json``: alerts
land as ``.eml`` files in its own mail folder. Two knobs inject what no source table can: job argument
overrides, and a hook that runs in the workflow right before a job starts (something touching a zone between
two jobs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import email
import email.policy
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import copy_processed_catalog_secret
from tests.e2e.conftest import VERSIONS_IN_SOURCE, check_warehouse_against_source
from totes.local.alerts import EventPattern, LocalEventBus
from totes.local.query import connect as processed_tables
from totes.local.runner import LocalWorkflowRunner, WorkflowRunResult, run_job_script
from totes.local.workflow import Workflow, load_workflow
from totes.manifests import RunManifest, list_manifests
from totes.secrets import DatabaseCredentials, LocalSecretProvider
from totes.settings import (
    LOCAL_NAME_PREFIX,
    LOCAL_SECRETS_DIR,
    PROCESSED_CATALOG_SECRET_ID,
    SOURCE_SECRET_ID,
    TRANSFORM_JOB_NAME,
    WAREHOUSE_SECRET_ID,
)
from totes.source.database import connect as source_connect
from totes.source.database import create_database, create_schema, drop_database
from totes.source.generator import generate
from totes.star import STAR_TABLES, star_table
from totes.warehouse.database import connect as warehouse_connect
from totes.warehouse.migrations import migrate
from totes.zones import ZoneStore

PROCESSED_DATABASE_UNDER_TEST = "bad_input_processed"

# What the source application stamps on a row: the transaction start in UTC, to the millisecond.
NOW = "date_trunc('milliseconds', now() AT TIME ZONE 'UTC')"
WRONG_PASSWORD = "not-the-Password-42"


@dataclass
class DamagedFiles:
    """Zone files damaged in place, with their original bytes to put back.

    Hadoop's local file system keeps a ``.<name>.crc`` checksum beside every file Spark writes and verifies it
    on read; S3 has no such file. The damage removes it, so that the jobs meet the file as they would on S3.
    """

    originals: dict[Path, bytes] = field(default_factory=dict)

    def truncate(self, path: Path, cut: int = 100) -> None:
        """Cut the end off, as an interrupted upload or copy leaves it (footer and magic bytes gone)."""
        original = self._keep(path)
        path.write_bytes(original[:-cut])

    def scramble_pages(self, path: Path) -> None:
        """Overwrite the data pages with garbage, keeping the header magic and the footer intact.

        The footer still describes the file: what reads only footers finds nothing wrong; reading rows fails.
        """
        original = self._keep(path)
        footer_length = int.from_bytes(original[-8:-4], "little") + 8
        body = len(original) - 4 - footer_length
        path.write_bytes(original[:4] + bytes((index * 37 + 11) % 251 for index in range(body))
                         + original[-footer_length:])

    def _keep(self, path: Path) -> bytes:
        checksum = path.with_name(f".{path.name}.crc")
        if checksum.exists():
            self.originals.setdefault(checksum, checksum.read_bytes())
            checksum.unlink()
        return self.originals.setdefault(path, path.read_bytes())

    def restore(self) -> None:
        for path, content in self.originals.items():
            path.write_bytes(content)
        self.originals.clear()

    @property
    def data_files(self) -> list[Path]:
        return [path for path in self.originals if path.suffix == ".parquet"]


@dataclass
class WorkflowUnderTest:
    root: Path
    source: DatabaseCredentials  # the owner: the application that changes the source
    reader: DatabaseCredentials  # the ingestion job's login
    warehouse: DatabaseCredentials  # the load job's login
    # Job key -> arguments replacing the definition's, and job key -> what happens right before it starts.
    argument_overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    before_job: dict[str, Callable[[], None]] = field(default_factory=dict)
    damaged: DamagedFiles = field(default_factory=DamagedFiles)  # zone files a bad input damaged
    # Every fact version the source had at a check, as check_warehouse_against_source keeps them.
    versions_seen: dict[str, set] = field(
        default_factory=lambda: {fact: set() for fact in VERSIONS_IN_SOURCE})

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def mail_dir(self) -> Path:
        return self.root / "mail"

    @property
    def ingestion(self) -> ZoneStore:
        return ZoneStore.for_uri((self.root / "ingestion").as_uri())

    @property
    def processed(self) -> ZoneStore:
        return ZoneStore.for_uri((self.root / "processed").as_uri())

    @property
    def passwords(self) -> tuple[str, ...]:
        return self.source.password, self.reader.password, self.warehouse.password, WRONG_PASSWORD

    # -- running ---------------------------------------------------------------------------------------------
    def workflow(self) -> Workflow:
        workflow = load_workflow({
            "name_prefix": LOCAL_NAME_PREFIX,
            "ingestion_zone_uri": self.ingestion.uri, "processed_zone_uri": self.processed.uri,
            "source_secret_id": SOURCE_SECRET_ID, "warehouse_secret_id": WAREHOUSE_SECRET_ID,
            "ingestion_database": "bad_input_ingestion", "processed_database": PROCESSED_DATABASE_UNDER_TEST,
            "processed_catalog": f"jdbc:{PROCESSED_CATALOG_SECRET_ID}",
        })
        # The tests stamp source rows with the database clock: there is no writer clock skew to wait out.
        workflow.jobs["ingest"].arguments["--read-lag-seconds"] = "0"
        for job_key, arguments in self.argument_overrides.items():
            workflow.jobs[job_key].arguments.update(arguments)
        return workflow

    def run(self) -> WorkflowRunResult:
        """One workflow run, as ``make run`` starts it (in the tests' SparkSession rather than its own)."""
        workflow = self.workflow()
        job_key_of = {job.script: key for key, job in workflow.jobs.items()}

        def run_script(script: Path, argv: list[str]) -> None:
            hook = self.before_job.get(job_key_of[script])
            if hook is not None:
                hook()
            run_job_script(script, argv)

        bus = LocalEventBus(self.state_dir / "events.jsonl", self.mail_dir,
                            EventPattern.for_jobs([job.name for job in workflow.jobs.values()]))
        runner = LocalWorkflowRunner(workflow, state_dir=self.state_dir, run_script=run_script, event_bus=bus)
        return runner.run()

    def max_retries(self, job_key: str) -> int:
        return self.workflow().jobs[job_key].max_retries

    # -- what the runs left ----------------------------------------------------------------------------------
    def events(self) -> list[dict]:
        path = self.state_dir / "events.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def alerts(self) -> dict[str, email.message.EmailMessage]:
        """Every alert delivered so far, by file name."""
        if not self.mail_dir.exists():
            return {}
        return {path.name: email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                for path in sorted(self.mail_dir.glob("*.eml"))}

    def warehouse_rows(self) -> dict[str, list[tuple]]:
        """Every row of every warehouse table (generated record ids included), in a stable order."""
        with warehouse_connect(self.warehouse) as conn:
            return {table.name: sorted((tuple(row) for row in conn.execute(f"SELECT * FROM {table.name}")),
                                       key=repr)
                    for table in STAR_TABLES}

    def latest_transform_manifest(self) -> RunManifest:
        return list_manifests(self.processed, TRANSFORM_JOB_NAME)[-1]

    def quarantine(self, fact: str) -> list[dict]:
        """The rows the processed zone holds back for a fact now, with their rule and reason."""
        source = star_table(fact).source_table
        with processed_tables(self.processed.uri, PROCESSED_DATABASE_UNDER_TEST) as tables:
            return tables.execute(f"SELECT * FROM quarantine_{source}").fetch_arrow_table().to_pylist()

    def newest_processed_file(self, table: str) -> Path:
        """The data file of ``table`` the latest commit to it wrote."""
        return max((self.processed.root / table / "data").rglob("*.parquet"), key=lambda path: path.stat().st_mtime)

    def written_files(self) -> list[Path]:
        """Everything the runs wrote: zones, state, events, mails, logs, catalog; not the secrets."""
        return [path for path in self.root.rglob("*")
                if path.is_file() and self.secrets_dir not in path.parents]

    def check_warehouse_against_source(self) -> None:
        check_warehouse_against_source(self.source, self.warehouse, self.versions_seen)

    # -- changing the inputs ---------------------------------------------------------------------------------
    def sql(self, *statements: str) -> list[tuple]:
        """Runs the statements in one transaction as the source application; returns the last one's rows."""
        rows: list[tuple] = []
        with source_connect(self.source) as conn:
            for statement in statements:
                cursor = conn.execute(statement)
                rows = [tuple(row) for row in cursor.fetchall()] if cursor.description else []
        return rows

    def write_secret(self, secret_id: str, credentials: DatabaseCredentials) -> None:
        path = self.secrets_dir / f"{secret_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dataclasses.asdict(credentials)))

    def restore_secrets(self) -> None:
        self.write_secret(SOURCE_SECRET_ID, self.reader)
        self.write_secret(WAREHOUSE_SECRET_ID, self.warehouse)
        copy_processed_catalog_secret(self.secrets_dir)

    def newest_files(self, zone: ZoneStore, job_name: str, table: str) -> list[str]:
        """The data files of ``table`` in the newest committed manifest of ``job_name``."""
        return list_manifests(zone, job_name)[-1].tables[table].files


@contextlib.contextmanager
def throwaway_databases(source_owner: DatabaseCredentials, name: str):
    """A source generated at scale 0.02 and a migrated warehouse; yields the owner's and loader's logins."""
    loader = LocalSecretProvider(LOCAL_SECRETS_DIR).get_database_credentials(WAREHOUSE_SECRET_ID)
    try:
        source = create_database(source_owner, f"src_{name}")
        with source_connect(source) as conn:
            create_schema(conn)
            generate(conn, scale=0.02, seed=2024)
        warehouse = create_database(loader, f"wh_{name}")
        with warehouse_connect(warehouse) as conn:
            migrate(conn)
        yield source, warehouse
    finally:
        drop_database(source_owner, f"src_{name}")
        drop_database(loader, f"wh_{name}")


@pytest.fixture(scope="module")
def workflow_under_test(spark, source_owner_credentials, source_reader_credentials, tmp_path_factory):
    """One pipeline for the whole module, after one good workflow run that loaded the warehouse."""
    root = tmp_path_factory.mktemp("bad_inputs")
    # Other test processes share the PostgreSQL server: the process id keeps the databases apart.
    with throwaway_databases(source_owner_credentials, f"bad_inputs_{os.getpid()}") as (source, warehouse), \
            pytest.MonkeyPatch.context() as patch:
        under_test = WorkflowUnderTest(root, source, dataclasses.replace(source_reader_credentials,
                                                                         dbname=source.dbname), warehouse)
        under_test.restore_secrets()
        patch.setenv("TOTES_LOCAL_SECRETS_DIR", str(under_test.secrets_dir))
        patch.setenv("TOTES_LOCAL_CATALOG_DIR", str(root / "catalog"))
        patch.setenv("TOTES_LOG_FILE", str(root / "logs" / "pipeline.jsonl"))
        patch.delenv("TOTES_SMTP_HOST", raising=False)  # alerts stay in the mail folder
        first = under_test.run()
        assert first.succeeded, [run.ErrorMessage for run in first.job_runs]
        under_test.check_warehouse_against_source()
        assert under_test.alerts() == {}
        yield under_test

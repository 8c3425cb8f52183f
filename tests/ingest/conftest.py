"""A harness that runs the real ingestion Glue script against a throwaway source database and a temp zone."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from totes.manifests import list_manifests
from totes.secrets import DatabaseCredentials
from totes.settings import INGEST_JOB_NAME, REPO_DIR, SOURCE_SECRET_ID
from totes.source.database import connect
from totes.tables import source_table
from totes.zones import ZoneStore

INGEST_SCRIPT = REPO_DIR / "glue_jobs" / "ingest_totesys.py"


def load_ingest_job():
    """The Glue script as a module, so tests call its main() with a Glue-style argv."""
    spec = importlib.util.spec_from_file_location("ingest_totesys", INGEST_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_local_secret(secrets_dir: Path, secret_id: str, credentials: DatabaseCredentials) -> None:
    path = secrets_dir / f"{secret_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dataclasses.asdict(credentials)))


@dataclass
class IngestionHarness:
    spark: object
    owner: DatabaseCredentials
    reader: DatabaseCredentials
    secrets_dir: Path
    zone: ZoneStore
    job: object

    def run(self, option: str = "job-bookmark-enable", *extra: str, secret_id: str = SOURCE_SECRET_ID):
        # Read lag 0: the test's writers stamp rows with the database clock, so there is no skew to wait out.
        argv = [str(INGEST_SCRIPT), "--JOB_NAME", INGEST_JOB_NAME, "--ingestion-zone", self.zone.uri,
                "--source-secret-id", secret_id, "--job-bookmark-option", option, "--read-lag-seconds", "0",
                *extra]
        return self.job.main(argv)

    def sql(self, statement: str, params=None) -> list[tuple]:
        with connect(self.owner) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def source_versions(self, table: str) -> list[tuple]:
        """(primary key, last_updated) of every current row of a source table, sorted."""
        definition = source_table(table)
        return self.sql(f"SELECT {definition.primary_key}, last_updated FROM {definition.quoted_name} ORDER BY 1")

    def manifests(self):
        return list_manifests(self.zone, INGEST_JOB_NAME)

    def ingested_rows(self, table: str):
        """Every row of a table in the files of committed manifests (what downstream jobs read)."""
        files = [self.zone.uri_of(key) for manifest in self.manifests() if table in manifest.tables
                 for key in manifest.tables[table].files]
        if not files:
            return []
        return self.spark.read.parquet(*files).collect()

    def ingested_versions(self, table: str) -> list[tuple]:
        key = source_table(table).primary_key
        return sorted((row[key], row["last_updated"]) for row in self.ingested_rows(table))

    def assert_every_version_ingested_once(self, tables=None) -> None:
        """Each current source row version is ingested, no version twice, and older versions only as history.

        A row updated between two runs leaves its earlier version in the zone (facts keep full history), so
        the zone may hold more versions than the source has now, but only older ones of existing rows.
        """
        from totes.tables import SOURCE_TABLES

        for table in tables or [table.name for table in SOURCE_TABLES]:
            ingested = self.ingested_versions(table)
            current = dict(self.source_versions(table))
            assert len(ingested) == len(set(ingested)), f"{table}: a version was ingested twice"
            assert set(current.items()) <= set(ingested), f"{table}: a current version is missing"
            for key, last_updated in ingested:
                assert key in current and last_updated <= current[key], f"{table}: unexpected version {key}"

    def data_files(self) -> list[str]:
        return [key for key in self.zone.list_keys("") if key.endswith(".parquet")]

    def bookmark_text(self) -> str | None:
        key = f"_state/bookmarks/{INGEST_JOB_NAME}.json"
        return self.zone.read_text(key) if self.zone.exists(key) else None


@pytest.fixture
def ingestion(spark, empty_source_db, tmp_path, monkeypatch) -> IngestionHarness:
    owner, reader = empty_source_db
    secrets_dir = tmp_path / "secrets"
    write_local_secret(secrets_dir, SOURCE_SECRET_ID, reader)
    monkeypatch.setenv("TOTES_LOCAL_SECRETS_DIR", str(secrets_dir))
    zone = ZoneStore.for_uri((tmp_path / "ingestion").as_uri())
    return IngestionHarness(spark, owner, reader, secrets_dir, zone, load_ingest_job())


@pytest.fixture
def seeded_ingestion(ingestion) -> IngestionHarness:
    """The harness over a source filled by the generator at a small scale (a few hundred orders)."""
    from totes.source.generator import generate

    with connect(ingestion.owner) as conn:
        generate(conn, scale=0.02, seed=7)
    return ingestion

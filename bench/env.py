"""The benchmark's own world: throwaway databases on the local server, a scratch folder, secrets pointing at them.

Per scale: a source database ``bench_src_<tag>`` (created with the source owner's credentials, the totesys
schema with its ``last_updated`` indexes, filled by the generator) and warehouse databases ``bench_wh_<tag>``
and ``bench_whcopy_<tag>`` (created with the loader's credentials and migrated). The jobs see them through a
private secrets folder holding the same secret ids the workflow uses, so the job scripts run unchanged. The
``totesys`` and ``warehouse`` databases of ``make run`` are never opened.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from totes.local.processed_catalog import forget_zone
from totes.secrets import DatabaseCredentials, LocalSecretProvider
from totes.settings import (
    LOCAL_SECRETS_DIR,
    PROCESSED_CATALOG_SECRET_ID,
    REPO_DIR,
    SOURCE_OWNER_SECRET_ID,
    SOURCE_SECRET_ID,
    WAREHOUSE_SECRET_ID,
)
from totes.source.database import connect as source_connect
from totes.source.database import create_database, create_schema, drop_database
from totes.warehouse.database import connect as warehouse_connect
from totes.warehouse.migrations import migrate

RESULTS_DIR = REPO_DIR / "bench" / "results"
SCRATCH_DIR = RESULTS_DIR / "tmp"


def scale_tag(scale: float) -> str:
    return f"{scale:g}".replace(".", "p")


@dataclass
class ScaleWorld:
    """The databases, zones and secrets of one scale."""

    scale: float
    root: Path
    owner: DatabaseCredentials  # the source owner, on the bench source database
    reader: DatabaseCredentials  # the ingestion job's read-only role, on the bench source database
    warehouse: DatabaseCredentials  # the loader, on the bench warehouse
    warehouse_copy: DatabaseCredentials  # the loader, on the warehouse the COPY baseline fills
    secrets_dir: Path
    label: str | None = None  # names the databases and folders instead of the scale (two worlds of one scale)

    @property
    def tag(self) -> str:
        return self.label or scale_tag(self.scale)

    @property
    def ingestion_zone(self) -> str:
        return (self.root / "zones" / "ingestion").as_uri()

    @property
    def processed_zone(self) -> str:
        return (self.root / "zones" / "processed").as_uri()

    def path(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def job_env(self, log_name: str, code_root: Path = REPO_DIR, **extra: str) -> dict[str, str]:
        """The environment of a job process: the bench secrets, catalog and log file; UTC; local Spark; the code
        of ``code_root`` (the working tree, or the baseline of :mod:`bench.baseline`)."""
        env = dict(os.environ)
        env.update({
            "TOTES_LOCAL_SECRETS_DIR": str(self.secrets_dir),
            "TOTES_LOCAL_CATALOG_DIR": str(self.root / "catalog"),
            "TOTES_LOCAL_DIR": str(self.root / "local"),
            "TOTES_LOG_FILE": str(self.path("logs", f"{log_name}.jsonl")),
            "TOTES_LOG_CONSOLE": "json",
            "PYTHONPATH": f"{code_root}:{code_root / 'local_glue'}:{REPO_DIR}",
            "SPARK_LOCAL_IP": "127.0.0.1",
            "TZ": "UTC",
        })
        env.pop("PYSPARK_SUBMIT_ARGS", None)
        env.pop("TOTES_SPARK_EVENT_LOG_DIR", None)
        env.update(extra)
        return env


class BenchEnv:
    """Creates and drops the per-scale worlds under one scratch folder."""

    def __init__(self, scratch: Path = SCRATCH_DIR):
        self.scratch = scratch
        provider = LocalSecretProvider(LOCAL_SECRETS_DIR)
        self.owner_admin = provider.get_database_credentials(SOURCE_OWNER_SECRET_ID)
        self.reader_template = provider.get_database_credentials(SOURCE_SECRET_ID)
        self.loader_admin = provider.get_database_credentials(WAREHOUSE_SECRET_ID)
        self._created: list[tuple[DatabaseCredentials, str]] = []

    def world(self, scale: float, label: str | None = None) -> ScaleWorld:
        tag = label or scale_tag(scale)
        root = self.scratch / (label or f"scale_{tag}")
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        # The zone's folder is new: an earlier run's entries in the processed catalog name files that are gone.
        forget_zone((root / "zones" / "processed").as_uri())
        owner = self._create(self.owner_admin, f"bench_src_{tag}")
        with source_connect(owner) as conn:
            create_schema(conn)
        reader = dataclasses.replace(self.reader_template, dbname=owner.dbname)
        warehouse = self._create(self.loader_admin, f"bench_wh_{tag}")
        warehouse_copy = self._create(self.loader_admin, f"bench_whcopy_{tag}")
        for credentials in (warehouse, warehouse_copy):
            with warehouse_connect(credentials) as conn:
                migrate(conn)
        secrets_dir = root / "secrets"
        for secret_id, credentials in ((SOURCE_SECRET_ID, reader), (WAREHOUSE_SECRET_ID, warehouse),
                                       (SOURCE_OWNER_SECRET_ID, owner)):
            path = secrets_dir / f"{secret_id}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(dataclasses.asdict(credentials)))
            path.chmod(0o600)
        # The processed zone's Iceberg catalog: the local stack's (each bench zone is a catalog of its own there).
        shutil.copy(LOCAL_SECRETS_DIR / f"{PROCESSED_CATALOG_SECRET_ID}.json",
                    secrets_dir / f"{PROCESSED_CATALOG_SECRET_ID}.json")
        return ScaleWorld(scale, root, owner, reader, warehouse, warehouse_copy, secrets_dir, label)

    def _create(self, admin: DatabaseCredentials, name: str) -> DatabaseCredentials:
        credentials = create_database(admin, name)
        self._created.append((admin, name))
        return credentials

    def drop(self, world: ScaleWorld, keep_files: bool = False) -> None:
        for admin, name in list(self._created):
            if name.endswith(f"_{world.tag}"):
                drop_database(admin, name)
                self._created.remove((admin, name))
        if not keep_files:
            # The zones of a 5M-row scale are a few hundred MB each: the report keeps the figures, not the data.
            for folder in [*world.root.glob("zones*"), world.root / "peers"]:
                for attempt in range(3):
                    try:
                        shutil.rmtree(folder)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(1)

    def drop_all(self) -> None:
        for admin, name in list(self._created):
            drop_database(admin, name)
        self._created.clear()

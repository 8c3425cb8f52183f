"""Versioned warehouse DDL (``sql/warehouse/V<n>__<description>.sql``), applied in order, safe to run again.

Rules, as Flyway's, which operators know:

- a file is applied once; ``schema_migrations`` records its version, description, script name and the SHA-256
  of its text;
- every pending version is applied in version order inside ONE transaction (PostgreSQL DDL is transactional),
  so a failing script leaves the warehouse exactly as before, with nothing recorded;
- an applied file whose text changed, or that disappeared, is refused: what the warehouse ran must stay what
  the repository says it ran. Fix forward with a new version instead;
- a new file numbered below the newest applied version is refused (it would run out of order);
- concurrent runs queue on an advisory lock, and the second finds nothing pending.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from totes.logs import log_event
from totes.settings import REPO_DIR
from totes.warehouse.errors import MigrationError

logger = logging.getLogger("totes.warehouse")

MIGRATIONS_DIR = REPO_DIR / "sql" / "warehouse"
# The packaged library Glue loads (dist/totes.zip) has no sql/ folder: scripts/package.py puts the migrations
# beside this module instead, where the load job's pre-flight finds the latest version on Glue.
PACKAGED_MIGRATIONS = "sql"
MIGRATIONS_TABLE = "schema_migrations"
_FILE_NAME = re.compile(r"^V(?P<version>\d+)__(?P<description>[A-Za-z0-9_]+)\.sql$")
# Any constant shared by every migrator of every warehouse; it only serialises concurrent migrate runs.
_ADVISORY_LOCK_KEY = 5_017_001

_CREATE_MIGRATIONS_TABLE = f"""
CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
    version     integer     NOT NULL PRIMARY KEY,
    description text        NOT NULL,
    script      text        NOT NULL,
    checksum    text        NOT NULL,  -- SHA-256 of the script's text, hex
    applied_at  timestamptz NOT NULL DEFAULT now(),
    applied_by  text        NOT NULL DEFAULT current_user
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    path: Path

    @property
    def script(self) -> str:
        return self.path.name

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    description: str
    script: str
    checksum: str


@dataclass(frozen=True)
class MigrationResult:
    applied: list[Migration]
    current_version: int | None


def default_migrations_dir():
    """sql/warehouse of the checkout, or in the packaged library the copy beside this module (a folder inside
    the zip, read through importlib.resources)."""
    if MIGRATIONS_DIR.is_dir():
        return MIGRATIONS_DIR
    return importlib.resources.files(__package__) / PACKAGED_MIGRATIONS


def discover(directory: Path | None = None) -> list[Migration]:
    """The migration files of ``directory`` (default: :func:`default_migrations_dir`) in version order; a badly
    named file or a repeated version is an error."""
    directory = default_migrations_dir() if directory is None else directory
    if not directory.is_dir():
        raise MigrationError(f"no migrations folder {directory}")
    migrations: dict[int, Migration] = {}
    for path in sorted((entry for entry in directory.iterdir() if entry.name.endswith(".sql")),
                       key=lambda entry: entry.name):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: a migration file is named V<number>__<description>.sql")
        version = int(match["version"])
        if version in migrations:
            raise MigrationError(f"{path.name} and {migrations[version].script} share version {version}")
        migrations[version] = Migration(version, match["description"].replace("_", " "), path)
    return [migrations[version] for version in sorted(migrations)]


def applied_migrations(conn: psycopg.Connection) -> list[AppliedMigration]:
    """What ``schema_migrations`` records, in version order (empty before the first migration)."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (MIGRATIONS_TABLE,)).fetchone()[0]
    if not exists:
        return []
    rows = conn.execute(
        f"SELECT version, description, script, checksum FROM {MIGRATIONS_TABLE} ORDER BY version"
    ).fetchall()
    return [AppliedMigration(*row) for row in rows]


def pending_migrations(available: list[Migration], applied: list[AppliedMigration]) -> list[Migration]:
    """The files still to apply; refuses a changed, vanished or out-of-order file."""
    by_version = {migration.version: migration for migration in available}
    for record in applied:
        migration = by_version.get(record.version)
        if migration is None:
            raise MigrationError(
                f"version {record.version} ({record.script}) is applied in the warehouse but its file is "
                "missing"
            )
        if migration.checksum != record.checksum:
            raise MigrationError(
                f"{migration.script} changed after it was applied (checksum {migration.checksum[:12]}..., "
                f"applied {record.checksum[:12]}...); never edit an applied migration, add a new version"
            )
    newest_applied = max((record.version for record in applied), default=0)
    applied_versions = {record.version for record in applied}
    pending = [migration for migration in available if migration.version not in applied_versions]
    late = [migration.script for migration in pending if migration.version < newest_applied]
    if late:
        raise MigrationError(
            f"{', '.join(late)} would run out of order: version {newest_applied} is already applied"
        )
    return pending


def migrate(conn: psycopg.Connection, directory: Path | None = None) -> MigrationResult:
    """Apply every pending migration in one transaction and record each; returns what was applied."""
    available = discover(directory)
    # transaction() commits only a transaction it began; inside the caller's it would be a mere savepoint.
    if conn.autocommit or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise MigrationError("migrate needs a connection with autocommit off and no transaction open")
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_KEY,))
        conn.execute(_CREATE_MIGRATIONS_TABLE)
        pending = pending_migrations(available, applied_migrations(conn))
        for migration in pending:
            try:
                conn.execute(migration.text)
            except psycopg.Error as error:
                message = " ".join(str(error).split())
                raise MigrationError(f"{migration.script} failed: {message}") from error
            conn.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (version, description, script, checksum) "
                "VALUES (%s, %s, %s, %s)",
                (migration.version, migration.description, migration.script, migration.checksum),
            )
            log_event(logger, "migration applied", version=migration.version, script=migration.script)
    # Every available file is now applied: the newest is the warehouse's version.
    return MigrationResult(applied=pending, current_version=available[-1].version if available else None)


# How long emptying waits for a load or a reader holding a table before it gives up and says so.
EMPTY_LOCK_TIMEOUT = "30s"


def empty_tables(conn: psycopg.Connection, lock_timeout: str = EMPTY_LOCK_TIMEOUT) -> list[str]:
    """Empty every table of the warehouse but ``schema_migrations``, in one transaction: the warehouse as
    :func:`migrate` leaves a new one, at the same version (``make reseed``: its rows came from a source that
    is gone). Returns the tables emptied, none before the first migration."""
    if conn.autocommit or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise MigrationError("emptying needs a connection with autocommit off and no transaction open")
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_KEY,))  # not under a migrate run
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
        tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> %s "
            "ORDER BY tablename", (MIGRATIONS_TABLE,))]
        if tables:
            try:
                conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(
                    sql.SQL(", ").join(map(sql.Identifier, tables))))
            except psycopg.errors.LockNotAvailable:
                raise MigrationError(f"the warehouse tables are in use (a load or a long query held them for "
                                     f"{lock_timeout}); nothing was emptied, try again") from None
    log_event(logger, "warehouse tables emptied", tables=len(tables))
    return tables

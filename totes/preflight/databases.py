"""The pre-flight checks of the jobs with a database: the secret, the source reader's grants, the warehouse's
migrations and the loader's privileges (README, "Pre-flight"); one connection per database.
"""

from __future__ import annotations

from collections.abc import Callable

from botocore.exceptions import BotoCoreError
from psycopg import sql

from totes.ingest.errors import SourceUnavailableError
from totes.ingest.run import SourceReader
from totes.ingest.window import SEES_OTHER_SESSIONS, blind_bound_message
from totes.preflight import AWS_CLIENT_CONFIG, CheckResult, aws_problem, catalog_checks, endpoint_of, failed
from totes.preflight import processed_catalog_checks, zone_write_check
from totes.secrets import REQUIRED_KEYS, DatabaseCredentials, LocalSecretProvider, SecretError, default_secret_provider
from totes.star import WAREHOUSE_TABLES
from totes.tables import SOURCE_TABLES
from totes.warehouse.database import connect as warehouse_connect
from totes.warehouse.errors import MigrationError, WarehouseUnavailableError
from totes.warehouse.migrations import applied_migrations, discover, pending_migrations


# -- secrets -----------------------------------------------------------------------------------------------------

def secret_check(secret_id: str) -> tuple[CheckResult, DatabaseCredentials | None]:
    """The secret exists, holds every field and names a PostgreSQL database; returns its credentials too."""
    name = f"secret {secret_id}"
    provider = None
    try:
        provider = default_secret_provider(AWS_CLIENT_CONFIG)
        credentials = provider.get_database_credentials(secret_id)
    except SecretError as error:
        return failed(name, f"{error}; {_secret_fix(provider, secret_id)}"), None
    except BotoCoreError as error:
        return failed(name, aws_problem("secretsmanager", endpoint_of(getattr(provider, "client", None)), error)), None
    if credentials.engine != "postgres":
        return failed(name, f"secret {secret_id!r} has engine {credentials.engine!r}: both databases are "
                            f"PostgreSQL, put \"engine\": \"postgres\""), None
    return CheckResult(name, detail=credentials.describe()), credentials


def _secret_fix(provider, secret_id: str) -> str:
    fields = ", ".join(REQUIRED_KEYS)
    if isinstance(provider, LocalSecretProvider):
        return f"a local secret is a JSON file with {fields} (make db-up writes the local stack's)"
    return (f"put its value, JSON with {fields}: aws secretsmanager put-secret-value --secret-id {secret_id} "
            f"--secret-string file://secret.json (the job's role needs secretsmanager:GetSecretValue on it)")


# -- databases ---------------------------------------------------------------------------------------------------

_REACH_DATABASE = ("check the secret's host, port and password, and that the job's network reaches the database "
                   "(the Glue connection's subnet and security groups)")


def _sql_list(names) -> str:
    """An SQL array of identifiers from the table definitions (never from input)."""
    return "ARRAY[" + ", ".join(f"'{name}'" for name in names) + "]::text[]"


_SOURCE_GRANTS_QUERY = f"""
SELECT current_schema() AS schema,
       {SEES_OTHER_SESSIONS} AS sees_other_sessions,
       ARRAY(SELECT name FROM unnest({_sql_list(table.name for table in SOURCE_TABLES)}) AS name
              WHERE to_regclass(quote_ident(name)) IS NOT NULL
                AND NOT has_table_privilege(to_regclass(quote_ident(name)), 'SELECT')
              ORDER BY name) AS not_selectable
"""


def source_check(credentials: DatabaseCredentials) -> CheckResult:
    """The ingestion's reader connects, may SELECT from every source table and sees other sessions' transactions.

    A missing table is left to the job's schema check, which names every difference from totes/tables.py.
    """
    name = f"source database {credentials.describe()}"
    role = sql.Identifier(credentials.username).as_string(None)
    try:
        (row,) = SourceReader(None, credentials).catalog_rows(_SOURCE_GRANTS_QUERY)
    except SourceUnavailableError as error:
        return failed(name, f"{error}: {_REACH_DATABASE}")
    problems = []
    if row["schema"] is None:
        problems.append(f"{name}: no schema on the search path of {role} is usable: "
                        f"GRANT USAGE ON SCHEMA public TO {role}")
    if row["not_selectable"]:
        tables = ", ".join(sql.Identifier(table).as_string(None) for table in row["not_selectable"])
        problems.append(f"{name}: {role} may not SELECT from {', '.join(row['not_selectable'])}: "
                        f"GRANT SELECT ON {tables} TO {role}")
    if not row["sees_other_sessions"]:
        problems.append(f"{name}: {blind_bound_message(credentials.username)}")
    return CheckResult(name, tuple(problems),
                       detail=f"SELECT on the {len(SOURCE_TABLES)} tables, sees other sessions (pg_read_all_stats)")


def _table_privileges(table) -> list[str]:
    privileges = [f"('{table.name}', '{privilege}')" for privilege in ("SELECT", "INSERT", "UPDATE")]
    if table.record_id:
        privileges.append(f"(CASE WHEN to_regclass('{table.name}') IS NOT NULL "
                          f"THEN pg_get_serial_sequence('{table.name}', '{table.record_id}') END, 'USAGE')")
    return privileges


# What the load does: stage in TEMP tables, read, insert and update every warehouse table, draw fact record ids
# from their serial sequences. A missing table is left to the job's schema check (the oid forms of the
# privilege functions answer NULL for it instead of an error).
_LOADER_PRIVILEGES_QUERY = f"""
SELECT has_database_privilege(current_database(), 'TEMPORARY') AS may_stage,
       ARRAY(SELECT privilege || ' ' || object
               FROM (VALUES {', '.join(p for table in WAREHOUSE_TABLES for p in _table_privileges(table))})
                    AS wanted(object, privilege)
              WHERE NOT CASE privilege WHEN 'USAGE' THEN has_sequence_privilege(to_regclass(object), privilege)
                                       ELSE has_table_privilege(to_regclass(object), privilege) END) AS missing
"""


def warehouse_check(credentials: DatabaseCredentials, secret_id: str) -> CheckResult:
    """The loader connects, the warehouse has every migration of sql/warehouse, the loader may do the load."""
    name = f"warehouse {credentials.describe()}"
    role = sql.Identifier(credentials.username).as_string(None)
    try:
        available = discover()
        with warehouse_connect(credentials, application_name="totesys-preflight") as conn:
            pending = pending_migrations(available, applied_migrations(conn))
            privileges = conn.execute(_LOADER_PRIVILEGES_QUERY).fetchone()
    except WarehouseUnavailableError as error:
        return failed(name, f"{error}: {_REACH_DATABASE}")
    except MigrationError as error:
        return failed(name, f"{name}: {error}")
    problems = []
    if pending:
        problems.append(
            f"{name} is not migrated to {available[-1].script}: {', '.join(m.script for m in pending)} pending; "
            f"run python -m totes.warehouse migrate --secret-id {secret_id} (locally: make warehouse)")
    may_stage, missing = privileges
    grants = []
    if not may_stage:
        grants.append(f"GRANT TEMPORARY ON DATABASE {sql.Identifier(credentials.dbname).as_string(None)} TO {role}")
    by_privilege: dict[str, list[str]] = {}
    for item in missing:
        privilege, object_name = item.split(" ", 1)
        by_privilege.setdefault(privilege, []).append(object_name)
    grants += [f"GRANT {privilege} ON {'SEQUENCE ' if privilege == 'USAGE' else ''}{', '.join(objects)} TO {role}"
               for privilege, objects in by_privilege.items()]
    if grants:
        problems.append(f"{name}: {role} lacks privileges the load needs: {'; '.join(grants)}")
    return CheckResult(name, tuple(problems), detail=f"at {available[-1].script}, loader privileges")


# -- the jobs ----------------------------------------------------------------------------------------------------

def _database_check(secret: CheckResult, credentials, check: Callable[[DatabaseCredentials], CheckResult],
                    name: str) -> CheckResult:
    """The database check, or a skip when the secret gave no credentials (its check holds the problem)."""
    if credentials is None:
        return CheckResult(name, skipped=f"needs {secret.name}")
    return check(credentials)


def ingest_checks(args: dict) -> list[CheckResult]:
    secret, credentials = secret_check(args["source_secret_id"])
    return [secret, _database_check(secret, credentials, source_check, "source database"),
            zone_write_check("ingestion zone", args["ingestion_zone"], args["JOB_NAME"]),
            *catalog_checks(args, args["ingestion_zone"])]


def load_checks(args: dict) -> list[CheckResult]:
    secret_id = args["warehouse_secret_id"]
    secret, credentials = secret_check(secret_id)
    return [secret,
            _database_check(secret, credentials, lambda found: warehouse_check(found, secret_id), "warehouse"),
            zone_write_check("processed zone", args["processed_zone"], args["JOB_NAME"]),
            *processed_catalog_checks(args)]


def jdbc_catalog_check(credentials: DatabaseCredentials) -> CheckResult:
    """The database of the processed zone's JDBC catalog (the local stack) answers."""
    name = f"processed catalog {credentials.describe()}"
    try:
        with warehouse_connect(credentials, application_name="totesys-preflight") as conn:
            conn.execute("SELECT 1")
    except WarehouseUnavailableError as error:
        return failed(name, f"processed catalog: {error}")
    return CheckResult(name, detail="reachable")


def jdbc_catalog_checks(secret_id: str) -> list[CheckResult]:
    secret, credentials = secret_check(secret_id)
    return [secret, _database_check(secret, credentials, jdbc_catalog_check, "processed catalog")]

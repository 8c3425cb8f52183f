"""One read-only, consistent snapshot of the warehouse for the page, and what to say when there is none.

Every query of a refresh runs in ONE ``REPEATABLE READ READ ONLY`` transaction, so the figures on the page all
come from the same moment even while a load commits. The connection uses the read-only role's secret; the READ
ONLY transaction is a second guard should that role ever be granted more.

A warehouse that cannot answer raises :class:`DashboardProblem`, whose ``message`` the page shows as it is:
what is wrong and what to do, never a stack trace and never a password. An empty warehouse is not a problem:
the snapshot says so (:attr:`WarehouseSnapshot.is_empty`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import pandas as pd
import psycopg
from psycopg import errors as pg_errors

from totes.dashboard import queries
from totes.logs import log_event
from totes.secrets import DatabaseCredentials, SecretError, default_secret_provider
from totes.warehouse.database import connect, scrub
from totes.warehouse.errors import WarehouseUnavailableError

logger = logging.getLogger("totes.dashboard")

APPLICATION_NAME = "totesys-dashboard"  # what pg_stat_activity shows for the dashboard's sessions
STATEMENT_TIMEOUT = "30s"  # a page query that runs longer is cancelled rather than holding a connection

UNREACHABLE, CREDENTIALS, MISSING_TABLES, NO_ACCESS, QUERY_FAILED = (
    "unreachable",
    "credentials",
    "missing_tables",
    "no_access",
    "query_failed",
)


class DashboardProblem(RuntimeError):
    """The warehouse cannot give the page its figures; ``message`` says why in words a reader can act on."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class WarehouseSnapshot:
    """The answers of every page query (:data:`queries.PAGE_QUERIES`), read in one transaction."""

    source: str  # user@host:port/db, safe to show
    taken_at: dt.datetime  # UTC
    as_of: dt.date  # the day "overdue" is measured against
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __getitem__(self, query_name: str) -> pd.DataFrame:
        return self.frames[query_name]

    @property
    def contents(self) -> dict:
        return self.frames[queries.WAREHOUSE_CONTENTS.name].iloc[0].to_dict()

    @property
    def is_empty(self) -> bool:
        contents = self.contents
        return not (contents["sales_orders"] or contents["purchase_orders"] or contents["payments"])

    @property
    def currencies(self) -> list[str]:
        """Currencies that have any sales, purchases or payments, in code order."""
        codes = set()
        for name in (queries.SALES_TOTALS.name, queries.PURCHASE_TOTALS.name, queries.PAYMENT_BALANCES.name):
            codes.update(self.frames[name]["currency_code"])
        return sorted(codes)


def read_credentials(secret_id: str) -> DatabaseCredentials:
    """The read-only role's credentials, from a local file or Secrets Manager as the jobs read theirs."""
    try:
        return default_secret_provider().get_database_credentials(secret_id)
    except SecretError as error:
        raise DashboardProblem(
            CREDENTIALS,
            f"The dashboard cannot read its warehouse credentials: {error}. It reads the secret "
            f"{secret_id!r} (a file under TOTES_LOCAL_SECRETS_DIR locally, Secrets Manager on AWS).",
        ) from None


def _frame(conn: psycopg.Connection, query: queries.Query, params: dict) -> pd.DataFrame:
    cursor = conn.execute(query.sql, params)
    columns = [column.name for column in cursor.description]
    return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)


def _check_tables(access: pd.DataFrame, source: str) -> None:
    missing = access.loc[~access["present"], "name"].tolist()
    if missing:
        raise DashboardProblem(
            MISSING_TABLES,
            f"The warehouse {source} lacks the table{'s' if len(missing) > 1 else ''} {', '.join(missing)}. "
            "Apply the migrations (`make warehouse`, or the load job's deployment on AWS) and check that the "
            "secret names the warehouse database.",
        )
    unreadable = access.loc[~access["readable"], "name"].tolist()
    if unreadable:
        raise DashboardProblem(
            NO_ACCESS,
            f"The dashboard's role may not read {', '.join(unreadable)} in {source}. The migrations grant "
            "SELECT on every table to warehouse_reader; check the grants.",
        )


def read_snapshot(credentials: DatabaseCredentials, as_of: dt.date) -> WarehouseSnapshot:
    """Run every page query in one read-only transaction; :class:`DashboardProblem` when that fails."""
    source = credentials.describe()
    params = queries.parameters(as_of)
    try:
        with connect(credentials, application_name=APPLICATION_NAME) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.transaction():
                conn.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
                _check_tables(_frame(conn, queries.TABLE_ACCESS, params), source)
                frames = {query.name: _frame(conn, query, params) for query in queries.PAGE_QUERIES}
    except WarehouseUnavailableError as error:
        raise DashboardProblem(
            UNREACHABLE,
            f"The warehouse is unreachable: {_sentence(str(error))} The page tries again at every refresh.",
        ) from None
    except pg_errors.UndefinedTable as error:  # dropped between the check and the query
        raise DashboardProblem(
            MISSING_TABLES, f"A warehouse table is missing in {source}: {_first_line(error, credentials)}."
        ) from None
    except pg_errors.InsufficientPrivilege as error:
        raise DashboardProblem(
            NO_ACCESS,
            f"The dashboard's role may not read the warehouse {source}: {_first_line(error, credentials)}.",
        ) from None
    except pg_errors.QueryCanceled:
        raise DashboardProblem(
            QUERY_FAILED,
            f"A dashboard query ran longer than {STATEMENT_TIMEOUT} on {source} and was cancelled.",
        ) from None
    except psycopg.OperationalError as error:  # the server went away mid-refresh
        raise DashboardProblem(
            UNREACHABLE,
            f"The warehouse {source} stopped answering: {_sentence(_first_line(error, credentials))} "
            "The page tries again at every refresh.",
        ) from None
    except psycopg.Error as error:
        raise DashboardProblem(
            QUERY_FAILED, f"A dashboard query failed on {source}: {_first_line(error, credentials)}."
        ) from None
    return WarehouseSnapshot(source, dt.datetime.now(dt.timezone.utc), as_of, frames)


def load_snapshot(secret_id: str, as_of: dt.date) -> WarehouseSnapshot:
    """Credentials, then the snapshot; every failure is logged with its kind and raised as a problem."""
    try:
        return read_snapshot(read_credentials(secret_id), as_of)
    except DashboardProblem as problem:
        log_event(
            logger,
            "warehouse snapshot failed",
            logging.WARNING,
            kind=problem.kind,
            error=problem.message,
            secret_id=secret_id,
        )
        raise


def _sentence(text: str) -> str:
    """Driver messages end with or without a full stop (or with a question); end them once."""
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _first_line(error: psycopg.Error, credentials: DatabaseCredentials) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return scrub(text, credentials.password)

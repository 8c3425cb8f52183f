"""The read window of one table in one ingestion run, and the SQL that reads it.

The guarantee (README, "The bookmark guarantee"): every row version committed in the source is ingested
exactly once, even though ``last_updated`` is shared by many rows and transactions commit late.

- Upper bound ``to_inclusive``: the database clock minus ``read_lag``, and never later than just before the
  start of the oldest transaction still open in the source database. A row's ``last_updated`` is stamped inside
  its transaction, so it is no earlier than that transaction's start: every row at or below the bound is
  already committed (or will never be). Rows sharing one ``last_updated`` are therefore read all together.
- Lower bound ``from_exclusive``: the previous run's upper bound minus ``overlap``. Re-reading a short overlap
  catches writers whose clock runs behind the database's, or a transaction the bound could not see (a
  transaction held open longer than ``max_transaction_wait`` is not waited for, and is reported).
  Versions (primary key, last_updated) already ingested by earlier runs are dropped from the overlap, so the
  overlap never duplicates anything: by the query itself when they are few (``excluded``), else after the read.
- No previous state (first run, ``job-bookmark-disable`` or after a reset): a full read up to the upper bound.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

from psycopg import sql

from totes.tables import SourceTable

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
# timestamp(3): the source keeps milliseconds, so "just before" a moment is one millisecond earlier.
ONE_TICK = dt.timedelta(milliseconds=1)


@dataclass(frozen=True)
class SourceClock:
    """What the source database said about time when the run started."""

    now: dt.datetime
    oldest_open_transaction_start: dt.datetime | None


@dataclass(frozen=True)
class ReadWindow:
    """Rows with ``from_exclusive < last_updated <= to_inclusive`` (no lower bound when ``from_exclusive`` is None)."""

    from_exclusive: dt.datetime | None
    to_inclusive: dt.datetime
    previous_to_inclusive: dt.datetime | None = None

    @property
    def is_full(self) -> bool:
        return self.from_exclusive is None

    def to_dict(self) -> dict:
        return {
            "from_exclusive": format_timestamp(self.from_exclusive),
            "to_inclusive": format_timestamp(self.to_inclusive),
            "previous_to_inclusive": format_timestamp(self.previous_to_inclusive),
        }


def format_timestamp(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime(TIMESTAMP_FORMAT)[:-3]


def parse_timestamp(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f")


def truncate_to_millis(value: dt.datetime) -> dt.datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class WindowPolicy:
    read_lag: dt.timedelta
    overlap: dt.timedelta
    max_transaction_wait: dt.timedelta


def upper_bound(clock: SourceClock, policy: WindowPolicy) -> tuple[dt.datetime, bool]:
    """The run's upper bound, and whether an open transaction was too old to wait for."""
    bound = truncate_to_millis(clock.now - policy.read_lag)
    oldest = clock.oldest_open_transaction_start
    if oldest is None:
        return bound, False
    if clock.now - oldest > policy.max_transaction_wait:
        return bound, True
    return min(bound, truncate_to_millis(oldest) - ONE_TICK), False


def next_window(previous_to_inclusive: dt.datetime | None, run_upper_bound: dt.datetime,
                policy: WindowPolicy) -> ReadWindow:
    """The window of a table given the bookmark it left last time (None: read everything)."""
    if previous_to_inclusive is None:
        return ReadWindow(None, run_upper_bound)
    # An upper bound never moves backwards: if the clock or an old transaction holds it back, re-read the
    # overlap only, and the bookmark stays where it was.
    to_inclusive = max(run_upper_bound, previous_to_inclusive)
    return ReadWindow(previous_to_inclusive - policy.overlap, to_inclusive, previous_to_inclusive)


def _literal(value: dt.datetime) -> str:
    # Values come from the bookmark state and the database clock, never from user input.
    return f"TIMESTAMP '{format_timestamp(value)}'"


# A version of a row: its primary key and its last_updated.
Version = tuple[int, dt.datetime]


def _window_condition(table: SourceTable, window: ReadWindow, excluded: Sequence[Version] = ()) -> str:
    conditions = [f"last_updated <= {_literal(window.to_inclusive)}"]
    if window.from_exclusive is not None:
        conditions.insert(0, f"last_updated > {_literal(window.from_exclusive)}")
    if excluded:
        # Keys are integers and stamps timestamps read back from the zone's own files, never user input.
        versions = ", ".join(f"({int(key)}, {_literal(stamp)})" for key, stamp in excluded)
        conditions.append(f'("{table.primary_key}", last_updated) NOT IN (VALUES {versions})')
    return " AND ".join(conditions)


def window_query(table: SourceTable, window: ReadWindow, excluded: Sequence[Version] = ()) -> str:
    """The SELECT pushed to the source for one table and window, without the ``excluded`` versions (those the
    overlap re-reads and earlier runs already ingested); uses the table's last_updated index."""
    columns = ", ".join(column.select_expression for column in table.columns)
    return f"SELECT {columns} FROM {table.quoted_name} WHERE {_window_condition(table, window, excluded)}"


def windows_with_rows_query(windows: dict[SourceTable, ReadWindow],
                            excluded: dict[SourceTable, Sequence[Version]] | None = None) -> str:
    """One query naming the tables whose window holds at least one row other than their ``excluded`` versions
    (``table_name`` per row).

    Each EXISTS stops at the first such row the last_updated index finds, so it costs the same for a window of
    one row or of millions.
    """
    excluded = excluded or {}
    return "\nUNION ALL\n".join(
        f"SELECT '{table.name}' AS table_name WHERE EXISTS "
        f"(SELECT 1 FROM {table.quoted_name} WHERE {_window_condition(table, window, excluded.get(table, ()))})"
        for table, window in windows.items())


# PostgreSQL shows another role's sessions in pg_stat_activity with xact_start NULL unless the reader has the
# privileges of pg_read_all_stats (a superuser has them; so has a member of pg_monitor, which includes it). A
# reader without them would see no open transaction at all, and the bound would pass rows still uncommitted:
# silently lost. This is the check the server itself makes (has_privs_of_role), so the run refuses instead.
SEES_OTHER_SESSIONS = "pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')"

# Truncated to the millisecond, never rounded: a cast to timestamp(3) rounds, so a transaction that started at
# .3255 s reads as .326 while its rows may be stamped with the truncated .325, and the bound "one tick before
# the oldest open transaction" would then admit its uncommitted stamp (found by the soak test).
CLOCK_QUERY = f"""
SELECT date_trunc('milliseconds', clock_timestamp())::timestamp(3) AS db_now,
       (SELECT date_trunc('milliseconds', min(xact_start))::timestamp(3)
          FROM pg_stat_activity
         WHERE datname = current_database()
           AND backend_type = 'client backend'
           AND xact_start IS NOT NULL
           AND pid <> pg_backend_pid()) AS oldest_open_transaction_start,
       {SEES_OTHER_SESSIONS} AS sees_other_sessions
"""


def blind_bound_message(username: str) -> str:
    """Why a reader without pg_read_all_stats may not ingest, and the GRANT that fixes it (one line)."""
    role = sql.Identifier(username).as_string(None)
    return (f"the source role {role} cannot see other sessions' open transactions in pg_stat_activity, so the "
            f"read window's upper bound would pass rows not yet committed and lose them: GRANT pg_read_all_stats "
            f"TO {role} (on RDS as the master user; pg_monitor, which includes it, also works)")

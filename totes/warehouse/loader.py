"""Load one batch into the warehouse: COPY into staging tables, check, set-based merges, in ONE transaction.

Per table, in load order (dimensions before facts):

1. **stage**: a TEMP table with the table's columns and types (``ON COMMIT DROP``, so nothing is left behind
   whatever happens), filled with ``COPY ... FROM STDIN (FORMAT csv)`` from the Arrow rows Spark read; the CSV
   is written by Arrow's C++ writer, so no Python object is built per row;
2. **check** the staged rows as the table's contract says: no NULL in a NOT NULL column, one row per dimension
   key, and every fact foreign key resolving to a dimension row that is either in the warehouse or staged
   (anti-joins that report the offending keys, :class:`ForeignKeyViolation`);
3. **merge**: dimensions upserted in place (``INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE`` the row
   differs, so unchanged rows are not rewritten), facts appended (``INSERT ... SELECT ... ON CONFLICT
   (natural key) DO NOTHING``, after an anti-join so that versions already loaded do not draw a record id).
   A fact batch that carries corrections (versions a reconciliation re-ingested because the source row was
   edited without moving ``last_updated``) first updates those versions in place, keeping their record ids.
   Of two copies of one version in a batch, the later transform run's wins (``_run_id``).

Then one COMMIT: a reader sees the whole batch or none of it, foreign keys always hold, and any failure rolls
everything back. Every identifier in the SQL comes from ``totes/star.py`` through ``psycopg.sql.Identifier``;
nothing from the input ever becomes SQL text.

**How foreign keys are checked** depends on the size of a fact's batch (:class:`BulkLoadPolicy`). PostgreSQL
checks a foreign key of an inserted row with one index lookup in the dimension per row and key: seven lookups
per payment, which is most of a full load's time (1.66 million payments: 52 s with the foreign keys in place,
11 s with them dropped and added back). So:

- a **small batch** (every 15-minute delta) is inserted with its foreign keys in place: the anti-joins of step 2
  name any offending key before anything is written, and PostgreSQL checks each inserted row. The load takes
  only row locks; readers such as the dashboard never wait for it;
- a **big batch** (first load, backfill, a large reconciliation) has the foreign keys of its fact dropped
  before the insert and added back after it, in the same transaction: PostgreSQL validates each re-added key
  with one join over the whole table, and a violation fails the ``ADD CONSTRAINT`` (the load then names the
  offending keys from the table and rolls back). The staged anti-join for that fact is skipped: the
  re-added key checks the same rows, once. The price is the lock: ``DROP CONSTRAINT`` takes ACCESS EXCLUSIVE
  on the fact and on every dimension it references until COMMIT, so readers of those tables wait for the
  checks and the merge (not for the read and staging, which come first). Acceptable when a batch is a large
  share of the table, as a first load or a backfill is; never for a delta, which is why a batch needs both a
  minimum number of rows and a minimum share of the table's rows. Into an empty table the fact's keys and
  indexes are dropped too and built once after the insert. The locks are taken in one statement with a short
  ``lock_timeout`` and retried: a reader that holds one of them never makes the load wait long or deadlock,
  and if readers keep the tables busy through every attempt the batch is loaded row by row instead (slower,
  same result).
  ``NOT VALID`` followed by ``VALIDATE CONSTRAINT`` would validate under a weaker lock, but dropping the key
  has already taken ACCESS EXCLUSIVE for the transaction, and disabling the foreign-key triggers instead
  needs a superuser.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterable

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from totes.logs import log_event
from totes.star import STAR_TABLES_BY_NAME, StarTable
from totes.warehouse.errors import BatchInputError, ForeignKeyViolation, OrphanKey
from totes.warehouse.schema import TableKey, table_keys

logger = logging.getLogger("totes.warehouse")

# Serialises concurrent loads into one warehouse (Glue also allows one concurrent run of the job).
_LOAD_LOCK_KEY = 5_017_002
# Rows per COPY chunk: bounds the CSV buffer in memory, large enough that per-chunk overhead is nil.
COPY_CHUNK_ROWS = 50_000
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, batch_size=COPY_CHUNK_ROWS)


@dataclass(frozen=True)
class BulkLoadPolicy:
    """When a fact's batch is big enough to have its foreign keys checked set-based (module docstring).

    A batch goes set-based with at least ``min_rows`` rows and at least ``min_share_of_table`` of the rows its
    table already has: the re-added keys are validated over the whole table, under an exclusive lock, so a
    mid-sized batch into a huge table is cheaper and kinder to readers row by row. Per row a payment costs
    about 26 µs of checks, the validation about 1.3 µs per row of the table: the share below is where the
    set-based path clearly wins.
    """

    min_rows: int = 100_000
    min_share_of_table: float = 0.1
    # Each attempt at the exclusive locks waits this long at most, and so do the readers queued behind it.
    # Below PostgreSQL's deadlock_timeout (1 s): should a reader's transaction deadlock with an attempt, the
    # attempt gives way before the deadlock check could pick the reader as its victim.
    lock_timeout_ms: int = 500
    lock_attempts: int = 60

    def is_bulk(self, batch_rows: int, table_rows: int) -> bool:
        return batch_rows >= self.min_rows and batch_rows >= self.min_share_of_table * table_rows


# TableLoad.references: how the fact's foreign keys were checked.
PER_ROW = "per row"
SET_BASED = "set-based"


@dataclass
class TableLoad:
    """What loading one table did. ``unchanged``: dimension rows equal to the warehouse's, fact versions
    already loaded (or repeated within the batch), both skipped. The seconds: reading the batch (Spark),
    staging it (COPY, ANALYZE), checking it, merging it (for a set-based fact, with the validation of its
    re-added foreign keys, also in ``validate_seconds``, and the rebuild of its indexes, ``index_seconds``)."""

    table: str
    staged: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    total: int = 0  # rows in the warehouse table after the load
    seconds: float = 0.0
    references: str | None = None  # facts: PER_ROW or SET_BASED
    read_seconds: float = 0.0
    stage_seconds: float = 0.0
    check_seconds: float = 0.0
    merge_seconds: float = 0.0
    index_seconds: float = 0.0
    validate_seconds: float = 0.0

    @property
    def status(self) -> str:
        return "written" if self.inserted or self.updated else "unchanged"

    def counts(self) -> dict:
        """The counts as the load manifest records them (``details`` of the table's output)."""
        counts = asdict(self)
        del counts["table"]
        return {"status": self.status, **counts}


def staging_name(table: StarTable) -> sql.Identifier:
    return sql.Identifier(f"stg_{table.name}")


def _columns(names) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)


def _qualified(alias: str, names) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(alias, name) for name in names)


# Facts are staged with the transform run each row comes from: of two copies of one version, the later wins.
RUN_ID_COLUMN = "_run_id"


def staged_columns(table: StarTable) -> tuple[str, ...]:
    return table.column_names + ((RUN_ID_COLUMN,) if table.is_fact else ())


def create_staging_sql(table: StarTable) -> sql.Composed:
    # No NOT NULL here: the checks report every NULL with its column and count, not just the first COPY hits.
    # Types are star.py literals such as 'numeric(10,2)' (SQL syntax, not identifiers), never input text.
    columns = [sql.SQL("{} {}").format(sql.Identifier(column.name), sql.SQL(column.pg_type))
               for column in table.columns]
    if table.is_fact:
        columns.append(sql.SQL("{} text").format(sql.Identifier(RUN_ID_COLUMN)))
    return sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(staging_name(table),
                                                                      sql.SQL(", ").join(columns))


def copy_sql(table: StarTable) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        staging_name(table), _columns(staged_columns(table)))


def null_counts_sql(table: StarTable) -> sql.Composed:
    required = [column.name for column in table.columns if not column.nullable]
    counts = sql.SQL(", ").join(
        sql.SQL("count(*) FILTER (WHERE {} IS NULL)").format(sql.Identifier(name)) for name in required
    )
    return sql.SQL("SELECT {} FROM {}").format(counts, staging_name(table))


def duplicate_keys_sql(table: StarTable) -> sql.Composed:
    key = _columns(table.natural_key)
    return sql.SQL(
        "SELECT {key}, count(*) FROM {staging} GROUP BY {key} HAVING count(*) > 1 ORDER BY {key} LIMIT 20"
    ).format(key=key, staging=staging_name(table))


def orphan_keys_sql(fact: StarTable, column: str, staged_dimension: bool,
                    staged_fact: bool = True) -> sql.Composed:
    """Values of ``fact.column`` with no row in its dimension, neither in the warehouse nor staged.

    ``staged_fact``: look at the staged rows (before the merge), else at the fact table itself (after it).
    """
    dimension = STAR_TABLES_BY_NAME[fact.column(column).references]
    (key,) = dimension.natural_key
    in_staging = sql.SQL("")
    if staged_dimension:
        in_staging = sql.SQL(" AND NOT EXISTS (SELECT FROM {staging} d WHERE d.{key} = s.{column})").format(
            staging=staging_name(dimension), key=sql.Identifier(key), column=sql.Identifier(column))
    return sql.SQL(
        "SELECT s.{column}, count(*) FROM {fact_rows} s WHERE s.{column} IS NOT NULL "
        "AND NOT EXISTS (SELECT FROM {dimension} d WHERE d.{key} = s.{column}){in_staging} "
        "GROUP BY s.{column} ORDER BY s.{column}"
    ).format(column=sql.Identifier(column),
             fact_rows=staging_name(fact) if staged_fact else sql.Identifier(fact.name),
             dimension=sql.Identifier(dimension.name), key=sql.Identifier(key), in_staging=in_staging)


def lock_exclusively_sql(tables: Iterable[str]) -> sql.Composed:
    return sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
        sql.SQL(", ").join(sql.Identifier(name) for name in tables))


def drop_key_sql(key: TableKey) -> sql.Composed:
    if key.kind == "i":
        return sql.SQL("DROP INDEX {}").format(sql.Identifier(key.name))
    return sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.Identifier(key.table),
                                                              sql.Identifier(key.name))


def add_key_sql(key: TableKey) -> sql.Composed:
    """The key exactly as it was: name and definition as the migrations created it, read back from the catalog
    (PostgreSQL's own quoting; never input text)."""
    if key.kind == "i":
        return sql.SQL(key.definition)
    return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
        sql.Identifier(key.table), sql.Identifier(key.name), sql.SQL(key.definition))


def in_drop_order(keys: Iterable[TableKey]) -> list[TableKey]:
    """Foreign keys first (the keys they reference cannot go before them); re-add in the reverse order."""
    return sorted(keys, key=lambda key: key.kind != "f")


def merge_dimension_sql(table: StarTable) -> sql.Composed:
    """Upsert: insert new keys, update rows whose values differ, leave equal rows untouched (no dead tuples).

    Returns (inserted, updated); ``xmax = 0`` is how PostgreSQL tells a freshly inserted row from an updated
    one.
    """
    values = [name for name in table.column_names if name not in table.natural_key]
    if values:
        sets = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name)) for name in values)
        conflict = sql.SQL(
            "DO UPDATE SET {sets} WHERE ROW({current}) IS DISTINCT FROM ROW({incoming})"
        ).format(sets=sets, current=_qualified("t", values), incoming=_qualified("excluded", values))
    else:
        conflict = sql.SQL("DO NOTHING")
    return sql.SQL(
        "WITH merged AS (INSERT INTO {table} AS t ({columns}) SELECT {columns} FROM {staging} "
        "ON CONFLICT ({key}) {conflict} RETURNING (t.xmax = 0) AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
    ).format(table=sql.Identifier(table.name), columns=_columns(table.column_names),
             staging=staging_name(table), key=_columns(table.natural_key), conflict=conflict)


def merge_fact_sql(table: StarTable, arbiter: bool = True) -> sql.Composed:
    """Append the versions the warehouse does not have yet; the record id comes from the table's sequence.

    A version repeated within the batch (overlapping transform runs) is taken once; rows are inserted in
    version order, so a later version of a source row gets a higher record id. ON CONFLICT stays as the
    guarantee (``arbiter``; not while the unique key is dropped, when rebuilding it is the guarantee).
    """
    key_matches = sql.SQL(" AND ").join(
        sql.SQL("f.{0} = s.{0}").format(sql.Identifier(name)) for name in table.natural_key)
    source_id, updated_date, updated_time = table.natural_key
    return sql.SQL(
        "INSERT INTO {table} ({columns}) "
        "SELECT {columns} FROM ("
        "SELECT DISTINCT ON ({key}) {columns} FROM {staging} s "
        "WHERE NOT EXISTS (SELECT FROM {table} f WHERE {key_matches}) ORDER BY {key}, {run_id} DESC NULLS LAST"
        ") new_versions ORDER BY {updated_date}, {updated_time}, {source_id}{on_conflict}"
    ).format(table=sql.Identifier(table.name), columns=_columns(table.column_names),
             staging=staging_name(table), key=_columns(table.natural_key), key_matches=key_matches,
             on_conflict=sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(_columns(table.natural_key))
             if arbiter else sql.SQL(""),
             source_id=sql.Identifier(source_id), updated_date=sql.Identifier(updated_date),
             updated_time=sql.Identifier(updated_time), run_id=sql.Identifier(RUN_ID_COLUMN))


def correct_fact_sql(table: StarTable) -> sql.Composed:
    """Versions already loaded whose values the batch corrects: updated in place, record id kept.

    Only for batches that carry corrections (a reconciliation re-ingested a row edited without moving
    ``last_updated``): the de-duplicating sort over the whole staged table is not free.
    """
    values = [name for name in table.column_names if name not in table.natural_key]
    key_matches = sql.SQL(" AND ").join(
        sql.SQL("f.{0} = s.{0}").format(sql.Identifier(name)) for name in table.natural_key)
    return sql.SQL(
        "UPDATE {table} f SET ({values}) = ({incoming}) FROM ("
        "SELECT DISTINCT ON ({key}) {columns} FROM {staging} ORDER BY {key}, {run_id} DESC NULLS LAST) s "
        "WHERE {key_matches} AND ROW({current}) IS DISTINCT FROM ROW({incoming})"
    ).format(table=sql.Identifier(table.name), values=_columns(values), incoming=_qualified("s", values),
             key=_columns(table.natural_key), columns=_columns(table.column_names), staging=staging_name(table),
             run_id=sql.Identifier(RUN_ID_COLUMN), key_matches=key_matches, current=_qualified("f", values))


class WarehouseLoader:
    """Loads one batch on one connection, in one transaction.

    ``bulk_policy``: which fact batches have their foreign keys checked set-based (module docstring).
    """

    def __init__(self, conn: psycopg.Connection, bulk_policy: BulkLoadPolicy = BulkLoadPolicy()):
        self.conn = conn
        self.bulk_policy = bulk_policy

    def load(self, tables: list[StarTable], read: Callable[[StarTable], pa.Table],
             corrected_facts: frozenset[str] = frozenset()) -> list[TableLoad]:
        """Stage ``tables`` (read one at a time, so only one is in memory), check, merge, commit.

        ``tables`` must be in load order (dimensions first). ``corrected_facts``: facts whose batch may correct
        versions already loaded. On any error the transaction is rolled back and the warehouse is exactly as
        before.
        """
        # transaction() commits only a transaction it began; inside the caller's it would be a mere savepoint.
        if self.conn.autocommit or self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise ValueError("the loader needs a connection with autocommit off and no transaction open")
        results = {table.name: TableLoad(table.name) for table in tables}
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOAD_LOCK_KEY,))
            # A large batch's de-duplicating sorts spill to disk at the default 4MB; raised for this load.
            self.conn.execute("SET LOCAL work_mem = '64MB'")
            for table in tables:
                result = results[table.name]
                started = time.monotonic()
                rows = read(table)
                result.read_seconds = time.monotonic() - started
                result.staged = self.stage(table, rows)
                result.stage_seconds = time.monotonic() - started - result.read_seconds
                del rows
            rows_before = {table.name: self._row_count(table) for table in tables}
            keys = table_keys(self.conn, [table for table in tables if table.is_fact])
            bulk = self._bulk_facts(tables, results, rows_before, keys)
            for table in tables:
                if table.is_fact:
                    results[table.name].references = SET_BASED if table.name in bulk else PER_ROW
            self.check_staged(tables, keys, results, checked_after_merge=bulk)
            for table in tables:
                result = results[table.name]
                started = time.monotonic()
                if table.name in bulk:
                    self._merge_fact_set_based(table, result, keys[table.name], table.name in corrected_facts,
                                               into_empty_table=rows_before[table.name] == 0)
                elif table.is_fact:
                    if table.name in corrected_facts:
                        self._correct_fact(table, result)
                    self._merge_fact(table, result)
                else:
                    self._merge_dimension(table, result)
                result.merge_seconds = time.monotonic() - started
                result.total = rows_before[table.name] + result.inserted
                result.unchanged = result.staged - result.inserted - result.updated
        for result in results.values():
            for name in ("read_seconds", "stage_seconds", "check_seconds", "merge_seconds", "index_seconds",
                         "validate_seconds"):
                setattr(result, name, round(getattr(result, name), 3))
            result.seconds = round(result.read_seconds + result.stage_seconds + result.check_seconds
                                   + result.merge_seconds, 3)
        return [results[table.name] for table in tables]

    def stage(self, table: StarTable, rows: pa.Table) -> int:
        """Create the table's staging table and COPY ``rows`` into it; returns the number of rows staged."""
        self.conn.execute(create_staging_sql(table))
        if table.is_fact and RUN_ID_COLUMN not in rows.column_names:
            rows = rows.append_column(RUN_ID_COLUMN, pa.nulls(rows.num_rows, pa.string()))
        rows = rows.select(list(staged_columns(table)))
        try:
            with self.conn.cursor().copy(copy_sql(table)) as copy:
                for batch in rows.to_batches(max_chunksize=COPY_CHUNK_ROWS):
                    sink = pa.BufferOutputStream()
                    pa_csv.write_csv(batch, sink, write_options=_CSV_OPTIONS)
                    copy.write(sink.getvalue())
        except psycopg.errors.DataError as error:
            where = f" ({error.diag.context.strip()})" if error.diag.context else ""
            raise BatchInputError(
                f"{table.name}: the batch has a value the warehouse column cannot hold: "
                f"{error.diag.message_primary}{where}"
            ) from None
        # Temporary tables are invisible to autovacuum: without statistics the anti-joins below plan blind.
        self.conn.execute(sql.SQL("ANALYZE {}").format(staging_name(table)))
        return rows.num_rows

    def check_staged(self, tables: list[StarTable], keys: dict[str, tuple[TableKey, ...]],
                     results: dict[str, TableLoad], checked_after_merge: frozenset[str] = frozenset()) -> None:
        """The table contracts on the staged rows: required values, unique dimension keys, resolving foreign
        keys (but for the facts in ``checked_after_merge``, whose re-added foreign keys check them)."""
        problems = []
        for table in tables:
            started = time.monotonic()
            required = [column.name for column in table.columns if not column.nullable]
            counts = self.conn.execute(null_counts_sql(table)).fetchone()
            problems += [f"{table.name}.{name} is NULL in {count} rows"
                         for name, count in zip(required, counts) if count]
            if not table.is_fact:
                for *key, count in self.conn.execute(duplicate_keys_sql(table)):
                    values = ", ".join(f"{name} = {value}" for name, value in zip(table.natural_key, key))
                    problems.append(f"{table.name} has {count} rows for {values}")
            results[table.name].check_seconds += time.monotonic() - started
        if problems:
            raise BatchInputError("the batch breaks the warehouse table contracts: " + "; ".join(problems))
        staged = {table.name for table in tables}
        orphans = []
        for fact in (table for table in tables if table.is_fact and table.name not in checked_after_merge):
            started = time.monotonic()
            orphans += self._orphans(fact, keys.get(fact.name, ()), staged, staged_fact=True)
            results[fact.name].check_seconds += time.monotonic() - started
        if orphans:
            raise ForeignKeyViolation(orphans)

    def _orphans(self, fact: StarTable, keys: tuple[TableKey, ...], staged_dimensions: set[str],
                 staged_fact: bool) -> list[OrphanKey]:
        constraint = {key.column: key.name for key in keys if key.kind == "f"}
        return [OrphanKey(fact.name, column, value, dimension, count, constraint.get(column))
                for column, dimension in fact.foreign_keys.items()
                for value, count in self.conn.execute(
                    orphan_keys_sql(fact, column, dimension in staged_dimensions, staged_fact))]

    def _row_count(self, table: StarTable) -> int:
        count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table.name))
        return self.conn.execute(count).fetchone()[0]

    def _bulk_facts(self, tables: list[StarTable], results: dict[str, TableLoad], rows_before: dict[str, int],
                    keys: dict[str, tuple[TableKey, ...]]) -> frozenset[str]:
        """The facts whose batch the policy calls big, once their tables and dimensions are locked; none if
        readers kept the locks from the load through every attempt."""
        bulk = [table for table in tables if table.is_fact
                and self.bulk_policy.is_bulk(results[table.name].staged, rows_before[table.name])]
        if not bulk:
            return frozenset()
        # Load order (dimensions first), so that two loaders could never take them in opposite orders.
        locked = ({key.dimension for table in bulk for key in keys.get(table.name, ()) if key.kind == "f"}
                  | {table.name for table in bulk})
        order = [name for name in STAR_TABLES_BY_NAME if name in locked]
        policy = self.bulk_policy
        for attempt in range(1, policy.lock_attempts + 1):
            try:
                # A savepoint: a failed attempt gives back what it took (and the timeout), so the readers
                # queued behind it go on.
                with self.conn.transaction():
                    previous = self.conn.execute("SELECT current_setting('lock_timeout')").fetchone()[0]
                    self.conn.execute("SELECT set_config('lock_timeout', %s, true)",
                                      (f"{policy.lock_timeout_ms}ms",))
                    self.conn.execute(lock_exclusively_sql(order))
                    self.conn.execute("SELECT set_config('lock_timeout', %s, true)", (previous,))
                log_event(logger, "tables locked for a set-based check of foreign keys",
                          facts=[table.name for table in bulk], tables=order, attempts=attempt)
                return frozenset(table.name for table in bulk)
            except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected) as error:
                log_event(logger, "tables busy: could not lock them for a set-based check of foreign keys",
                          logging.WARNING, tables=order, attempt=attempt, attempts=policy.lock_attempts,
                          cause=type(error).__name__)
        log_event(logger, "readers kept the tables busy: foreign keys checked row by row instead",
                  logging.WARNING, facts=[table.name for table in bulk])
        return frozenset()

    def _merge_dimension(self, table: StarTable, result: TableLoad) -> None:
        result.inserted, result.updated = self.conn.execute(merge_dimension_sql(table)).fetchone()

    def _correct_fact(self, table: StarTable, result: TableLoad) -> None:
        result.updated = self.conn.execute(correct_fact_sql(table)).rowcount
        if result.updated:
            log_event(logger, "fact versions corrected in place (edited in the source without a new "
                      "last_updated)", logging.WARNING, table=table.name, versions=result.updated)

    def _merge_fact(self, table: StarTable, result: TableLoad, arbiter: bool = True) -> None:
        result.inserted = self.conn.execute(merge_fact_sql(table, arbiter)).rowcount

    def _merge_fact_set_based(self, table: StarTable, result: TableLoad, keys: tuple[TableKey, ...],
                              corrects: bool, into_empty_table: bool) -> None:
        """The merge with the fact's foreign keys dropped, then added back: validated with one join each.

        Into an empty table (a first load, a reset) its keys and indexes go too and are built once after the
        insert, a sort each instead of a B-tree insertion per row and index; the insert then has no unique key
        to arbitrate on, and needs none: it takes each version once, and the rebuilt key checks that it did.
        Into a table with rows a rebuild would cost as much as the table, so the indexes stay.
        """
        dropped = in_drop_order(key for key in keys if key.kind == "f" or into_empty_table)
        for key in dropped:
            self.conn.execute(drop_key_sql(key))
        if corrects:
            self._correct_fact(table, result)
        self._merge_fact(table, result, arbiter=not into_empty_table)
        started = time.monotonic()
        for key in reversed(dropped):
            if key.kind != "f":
                self.conn.execute(add_key_sql(key))
        result.index_seconds = time.monotonic() - started
        started = time.monotonic()
        try:
            with self.conn.transaction():  # a savepoint, so that the offending keys can still be looked up
                for key in reversed(dropped):
                    if key.kind == "f":
                        self.conn.execute(add_key_sql(key))
        except psycopg.errors.ForeignKeyViolation:
            orphans = self._orphans(table, keys, set(), staged_fact=False)
            if not orphans:  # cannot happen: the failed key had an offending row
                raise
            raise ForeignKeyViolation(orphans) from None
        result.validate_seconds = time.monotonic() - started


def log_table_loads(loads: list[TableLoad]) -> None:
    for load in loads:
        log_event(logger, "table loaded", rows=load.staged, status=load.status, **asdict(load))

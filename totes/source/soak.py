"""Randomised source activity for the soak test: the live application with hostile timing.

Order writers, each a thread with its own connection, open a transaction, insert a few new sales and purchase
orders with their transactions and unpaid payments (built and stamped as the change simulator does: every row
of the transaction shares its database start time), hold it open for a random time and commit it, or now and
then roll it back. With several writers, transactions commit out of the order they started in; a few are held
long enough to span a pipeline cycle. Payers mark batches of payments paid the same way, one ``last_updated``
per batch.

Every version a committed transaction created is recorded as (primary key, last_updated), so a test can
compare what the pipeline loaded with exactly what was committed, including versions a later update replaced.
A thread that loses its connection (server restart) finds out whether its transaction landed, records that,
and carries on with a new connection.

A payment is updated at most once (unpaid to paid, as in the real data) and only when its unpaid version is at
or before the ``payable_before`` watermark the caller sets (the upper bound of an ingestion run that has
committed). In the real system the finance run pays days after an order, many cycles later; a version that
lives only between two reads is invisible to any ``last_updated`` delta, so a payer that overwrote unread
versions would test nothing about the pipeline.

The seed fixes each thread's random choices, so a replay makes the same choices; how the threads interleave
with each other and with the pipeline follows the machine's timing.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import psycopg
from psycopg import sql

from totes.secrets import DatabaseCredentials
from totes.source.database import connect
from totes.source.simulator import _insert_orders, _references, _stamp
from totes.tables import PAYMENT, PURCHASE_ORDER, SALES_ORDER, TRANSACTION, source_table

logger = logging.getLogger(__name__)

WRITTEN_TABLES = (SALES_ORDER.name, PURCHASE_ORDER.name, TRANSACTION.name, PAYMENT.name)
# The real data has up to 37 payments sharing one last_updated.
MAX_PAYMENTS_PER_BATCH = 37
# How long a thread keeps trying to reconnect after losing its connection (a server restart takes seconds).
RECONNECT_SECONDS = 60.0


class SoakWriterError(RuntimeError):
    """A writer thread failed: what it committed is uncertain, so the soak's expected versions are too."""


class _ConnectionLost(Exception):
    """A soak transaction's connection broke; its outcome is recorded and the thread reconnects."""


def _usable(conn: psycopg.Connection) -> bool:
    """Whether the connection still works after an error (False: the server ended it)."""
    if conn.broken or conn.closed:
        return False
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


@dataclass(frozen=True)
class SoakActivity:
    """How much and how hostile: the bounds of one soak's source activity."""

    order_writers: int = 3
    payers: int = 1
    max_transactions: int = 400
    max_orders_per_transaction: int = 4
    max_payments_per_batch: int = MAX_PAYMENTS_PER_BATCH
    max_hold_seconds: float = 3.0
    long_hold_seconds: tuple[float, float] = (8.0, 20.0)
    long_share: float = 0.08
    rollback_share: float = 0.05
    max_pause_seconds: float = 0.5

    def __post_init__(self):
        if self.order_writers < 1 or self.payers < 0 or self.max_transactions < 1:
            raise ValueError("a soak needs at least one order writer and one transaction")
        if not 1 <= self.max_payments_per_batch or not 1 <= self.max_orders_per_transaction:
            raise ValueError("batches must hold at least one row")


@dataclass(frozen=True)
class SourceTransaction:
    """One transaction a soak thread ran: its shared stamp, when it was open (monotonic), its outcome."""

    kind: str  # "orders" or "payments"
    stamp: datetime
    opened_at: float
    closed_at: float
    committed: bool
    long: bool
    versions: int


@dataclass
class _Tally:
    versions: dict[str, set] = field(default_factory=lambda: {table: set() for table in WRITTEN_TABLES})
    transactions: list[SourceTransaction] = field(default_factory=list)
    latest_committed_stamp: datetime | None = None
    late_commits: int = 0
    claimed: int = 0
    connections_lost: int = 0


class SoakWriter:
    """Background threads writing randomised activity into the source until :meth:`stop` or the count."""

    def __init__(self, credentials: DatabaseCredentials, seed: int, activity: SoakActivity = SoakActivity()):
        self.seed = seed
        self.activity = activity
        self._credentials = credentials
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._tally = _Tally()
        self._payable_before: datetime | None = None
        self._errors: list[str] = []
        self._threads: list[threading.Thread] = []

    @property
    def payable_before(self) -> datetime | None:
        """Payments whose unpaid version has ``last_updated`` at or before this may be paid (None: none yet).
        It only moves forwards."""
        return self._payable_before

    @payable_before.setter
    def payable_before(self, watermark: datetime) -> None:
        with self._lock:
            if self._payable_before is None or watermark > self._payable_before:
                self._payable_before = watermark

    def start(self) -> None:
        children = np.random.SeedSequence(self.seed).spawn(self.activity.order_writers + self.activity.payers)
        for index, child in enumerate(children):
            is_writer = index < self.activity.order_writers
            name = f"soak-{'orders' if is_writer else 'payments'}-{index}"
            step = self._write_orders if is_writer else self._pay
            # The first writer starts with a long transaction, so every soak has at least one.
            thread = threading.Thread(target=self._run, name=name, daemon=True,
                                      args=(name, step, np.random.default_rng(child), index == 0))
            self._threads.append(thread)
            thread.start()
        logger.info("soak writer started: seed %d, %s", self.seed, self.activity)

    @property
    def finished(self) -> bool:
        """Every thread has ended: the count bound is reached (or a thread failed)."""
        return bool(self._threads) and not any(thread.is_alive() for thread in self._threads)

    def stop(self, timeout_seconds: float = 60.0) -> None:
        """Cut every hold short (open transactions commit or roll back as drawn), join the threads, and raise
        :class:`SoakWriterError` if any thread failed."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_seconds)
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        if alive:
            self._errors.append(f"threads still running after {timeout_seconds} s: {', '.join(alive)}")
        if self._errors:
            raise SoakWriterError(f"soak writer (seed {self.seed}) failed: " + "; ".join(self._errors))

    @property
    def committed_versions(self) -> dict[str, set[tuple[int, datetime]]]:
        """Per table, every (primary key, last_updated) a committed transaction created."""
        with self._lock:
            return {table: set(versions) for table, versions in self._tally.versions.items()}

    @property
    def transactions(self) -> list[SourceTransaction]:
        with self._lock:
            return list(self._tally.transactions)

    @property
    def latest_committed_stamp(self) -> datetime | None:
        return self._tally.latest_committed_stamp

    def summary(self) -> dict:
        with self._lock:
            transactions = self._tally.transactions
            return {
                "seed": self.seed,
                "transactions_committed": sum(t.committed for t in transactions),
                "transactions_rolled_back": sum(not t.committed for t in transactions),
                "long_transactions": sum(t.long for t in transactions),
                "late_commits": self._tally.late_commits,
                "connections_lost": self._tally.connections_lost,
                "payment_batches": sum(t.kind == "payments" and t.committed and t.versions > 0
                                       for t in transactions),
                "versions_committed": {table: len(v) for table, v in self._tally.versions.items()},
            }

    def _run(self, name: str, step, rng: np.random.Generator, starts_long: bool) -> None:
        conn = None
        force_long = starts_long
        try:
            while not self._stop.is_set() and self._claim():
                try:
                    if conn is None:
                        conn = self._connect()
                        references = _references(conn)
                    step(conn, rng, references, force_long)
                    force_long = False
                except (psycopg.OperationalError, _ConnectionLost) as error:
                    # The server went away (restart, failover): the transaction's outcome is already recorded;
                    # carry on, as the application would, on a new connection.
                    logger.warning("soak thread %s lost its connection: %s", name, error)
                    with self._lock:
                        self._tally.connections_lost += 1
                    conn.close()
                    conn = None
                self._stop.wait(rng.uniform(0.0, self.activity.max_pause_seconds))
        except Exception as error:  # noqa: BLE001 - reported by stop(), which the test calls
            logger.exception("soak thread %s failed", name)
            with self._lock:
                self._errors.append(f"{name}: {type(error).__name__}: {error}")
            self._stop.set()
        finally:
            if conn is not None:
                conn.close()

    def _connect(self) -> psycopg.Connection:
        deadline = time.monotonic() + RECONNECT_SECONDS
        while True:
            try:
                return connect(self._credentials, autocommit=True)
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise SoakWriterError(
                        f"the source is unreachable for {RECONNECT_SECONDS} s: {error}") from None
                time.sleep(0.5)

    def _claim(self) -> bool:
        with self._lock:
            if self._tally.claimed >= self.activity.max_transactions:
                return False
            self._tally.claimed += 1
            return True

    def _hold(self, rng: np.random.Generator, force_long: bool) -> tuple[float, bool]:
        if force_long or rng.random() < self.activity.long_share:
            return float(rng.uniform(*self.activity.long_hold_seconds)), True
        return float(rng.uniform(0.0, self.activity.max_hold_seconds)), False

    def _write_orders(self, conn: psycopg.Connection, rng: np.random.Generator, references,
                      force_long: bool) -> None:
        most = self.activity.max_orders_per_transaction
        n_sales, n_purchases = int(rng.integers(0, most + 1)), int(rng.integers(0, most + 1))
        n_sales = n_sales or (0 if n_purchases else 1)
        hold, long = self._hold(rng, force_long)
        roll_back = bool(rng.random() < self.activity.rollback_share)

        def write(stamp: datetime) -> dict[str, list[tuple[int, datetime]]]:
            ids = _insert_orders(conn, rng, references, n_sales, n_purchases, stamp)
            return {table: [(row_id, stamp) for row_id in row_ids] for table, row_ids in ids.items()}

        self._transaction(conn, "orders", write, hold, long, roll_back)

    def _pay(self, conn: psycopg.Connection, rng: np.random.Generator, _references, force_long: bool) -> None:
        # Read before the transaction starts: the watermark is then earlier than the batch's stamp, so a paid
        # version's last_updated is always later than its unpaid one's.
        payable_before = self.payable_before
        if payable_before is None:
            with self._lock:
                self._tally.claimed -= 1
            return
        batch = int(rng.integers(1, self.activity.max_payments_per_batch + 1))
        newest_first = bool(rng.random() < 0.7)
        hold, long = self._hold(rng, force_long)
        roll_back = bool(rng.random() < self.activity.rollback_share)
        # SKIP LOCKED: a payment another payer holds is not waited for, and never paid twice.
        query = sql.SQL(
            "SELECT payment_id FROM payment WHERE NOT paid AND last_updated <= %s "
            "ORDER BY payment_id {} LIMIT %s FOR UPDATE SKIP LOCKED"
        ).format(sql.SQL("DESC" if newest_first else "ASC"))

        def write(stamp: datetime) -> dict[str, list[tuple[int, datetime]]]:
            payment_ids = sorted(row[0] for row in conn.execute(query, (payable_before, batch)))
            if payment_ids:
                conn.execute("UPDATE payment SET paid = true, last_updated = %s WHERE payment_id = ANY(%s)",
                             (stamp, payment_ids))
            return {PAYMENT.name: [(payment_id, stamp) for payment_id in payment_ids]}

        self._transaction(conn, "payments", write, hold, long, roll_back)

    def _transaction(self, conn: psycopg.Connection, kind: str, write, hold: float, long: bool,
                     roll_back: bool) -> None:
        """``write(stamp)`` in one transaction stamped with its database start time, held open ``hold`` s,
        then committed or rolled back; the outcome recorded. A lost connection is re-raised once the outcome
        is known: the versions are looked up on a new connection, since a commit under way may have landed."""
        opened_at = time.monotonic()
        stamp = versions = None
        try:
            with conn.transaction():
                stamp = _stamp(conn, None)
                versions = write(stamp)
                self._stop.wait(hold)
                if roll_back:
                    raise psycopg.Rollback()
        except (psycopg.Error, psycopg.Rollback) as error:
            # A Rollback escapes too when the connection died before the rollback could be sent.
            if _usable(conn):
                raise
            if versions is not None:
                self._record(kind, stamp, opened_at, not roll_back and self._landed(versions), long, versions)
            raise _ConnectionLost(str(error) or type(error).__name__) from error
        self._record(kind, stamp, opened_at, not roll_back, long, versions)

    def _landed(self, versions: dict[str, list[tuple[int, datetime]]]) -> bool:
        """Whether a transaction whose connection was lost committed: all its versions are there, or none."""
        deadline = time.monotonic() + RECONNECT_SECONDS
        while True:
            try:
                return self._look_up(versions)
            except psycopg.OperationalError:
                # Lost again (the server restarts once more): the answer has not changed, ask again.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def _look_up(self, versions: dict[str, list[tuple[int, datetime]]]) -> bool:
        with self._connect() as conn:
            found = expected = 0
            for table_name, table_versions in versions.items():
                if not table_versions:
                    continue
                table = source_table(table_name)
                query = sql.SQL(
                    "SELECT count(*) FROM {} WHERE ({}, last_updated) IN "
                    "(SELECT * FROM unnest(%s::int[], %s::timestamp[]))"
                ).format(sql.Identifier(table.name), sql.Identifier(table.primary_key))
                ids, stamps = zip(*table_versions, strict=True)
                found += conn.execute(query, (list(ids), list(stamps))).fetchone()[0]
                expected += len(table_versions)
        if found not in (0, expected):
            raise SoakWriterError(f"{found} of {expected} versions of one transaction are in the source")
        return found == expected > 0

    def _record(self, kind: str, stamp: datetime, opened_at: float, committed: bool, long: bool,
                versions: dict[str, list[tuple[int, datetime]]]) -> None:
        count = sum(len(v) for v in versions.values())
        transaction = SourceTransaction(kind, stamp, opened_at, time.monotonic(), committed, long, count)
        with self._lock:
            self._tally.transactions.append(transaction)
            if not committed:
                return
            for table, table_versions in versions.items():
                self._tally.versions[table].update(table_versions)
            latest = self._tally.latest_committed_stamp
            if latest is not None and stamp < latest:
                self._tally.late_commits += 1
            if latest is None or stamp > latest:
                self._tally.latest_committed_stamp = stamp

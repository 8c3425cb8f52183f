"""How the loader checks foreign keys: row by row for a small batch (no lock a reader waits for), set-based for a
big one (keys dropped and added back under an exclusive lock); both refuse a broken reference by its keys and
leave the warehouse as it was. The policy's thresholds are tiny here: the switch, not big data, is tested."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from decimal import Decimal

import psycopg
import pytest

from totes.star import (
    DIM_TRANSACTION,
    FACT_PAYMENT,
    FACT_PURCHASE_ORDER,
    FACT_SALES_ORDER,
    STAR_TABLES,
    STAR_TABLES_BY_NAME,
    star_table,
)
from totes.warehouse.database import connect
from totes.warehouse.errors import ForeignKeyViolation, OrphanKey
from totes.warehouse.loader import PER_ROW, SET_BASED, BulkLoadPolicy, WarehouseLoader
from totes.warehouse.schema import schema_problems, table_keys

from tests.warehouse.conftest import (
    FIRST_DIMENSIONS,
    PAYMENT_4,
    PAYMENTS_FIRST,
    PURCHASE_ORDERS_FIRST,
    SALES_ORDERS_BAD_FK,
    SALES_ORDERS_FIRST,
    TRANSACTIONS_AFTER_UPDATE,
    load_batch,
)

ROW_BY_ROW = BulkLoadPolicy()  # the job's policy: a batch of a few rows is never big
SET_BASED_ALWAYS = BulkLoadPolicy(min_rows=1, min_share_of_table=0.0)
POLICIES = pytest.mark.parametrize("policy", [ROW_BY_ROW, SET_BASED_ALWAYS], ids=["per-row", "set-based"])

DIMENSIONS = {star_table(name): rows for name, rows in FIRST_DIMENSIONS.items()}
FIRST_BATCH = {**DIMENSIONS, FACT_SALES_ORDER: SALES_ORDERS_FIRST, FACT_PURCHASE_ORDER: PURCHASE_ORDERS_FIRST,
               FACT_PAYMENT: PAYMENTS_FIRST}
STAR_TABLE_NAMES = [table.name for table in STAR_TABLES]


def _dump(credentials) -> dict[str, list[tuple]]:
    with connect(credentials) as conn:
        return {name: conn.execute(f"SELECT * FROM {name} ORDER BY 1").fetchall() for name in STAR_TABLE_NAMES}


def _foreign_keys_valid(credentials) -> list[tuple[str, bool]]:
    with connect(credentials) as conn:
        return conn.execute("SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' "
                            "ORDER BY conname").fetchall()


@contextmanager
def _reader(credentials, reader_credentials):
    """The dashboard's login on this test's warehouse; a lock it would wait for fails within 200 ms."""
    with connect(dataclasses.replace(reader_credentials, dbname=credentials.dbname), autocommit=True) as conn:
        conn.execute("SET lock_timeout = '200ms'")
        yield conn


def _observe_each_fact_merge(monkeypatch, observe) -> None:
    """Call ``observe(loader connection, fact)`` right after each fact's insert, inside the load's transaction."""
    original = WarehouseLoader._merge_fact

    def merge_then_observe(self, table, result, *args, **kwargs):
        original(self, table, result, *args, **kwargs)
        observe(self.conn, table)

    monkeypatch.setattr(WarehouseLoader, "_merge_fact", merge_then_observe)


def _exclusively_locked(reader, loader_conn) -> set[str]:
    return {name for (name,) in reader.execute(
        "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE l.pid = %s AND l.mode = 'AccessExclusiveLock' AND c.relname = ANY(%s)",
        (loader_conn.info.backend_pid, STAR_TABLE_NAMES))}


def test_a_small_batch_is_checked_row_by_row_and_takes_no_lock_a_reader_waits_for(
        warehouse_db, warehouse_reader_credentials, monkeypatch):
    seen = {}
    with _reader(warehouse_db, warehouse_reader_credentials) as reader:
        def observe(loader_conn, fact):
            # Every table readable while the load's transaction is open (the committed state: empty).
            counts = [reader.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in STAR_TABLE_NAMES]
            seen[fact.name] = (_exclusively_locked(reader, loader_conn), set(counts))

        _observe_each_fact_merge(monkeypatch, observe)
        loads = load_batch(warehouse_db, FIRST_BATCH, ROW_BY_ROW)

    assert seen == {name: (set(), {0}) for name in ("fact_sales_order", "fact_purchase_order", "fact_payment")}
    assert {load.table: load.references for load in loads if load.references} == {
        "fact_sales_order": PER_ROW, "fact_purchase_order": PER_ROW, "fact_payment": PER_ROW}
    assert [load.inserted for load in loads[-3:]] == [2, 1, 3]


def _keys_and_indexes(loader_conn, fact) -> tuple[int, int]:
    """The fact's foreign keys and indexes as the loader's transaction sees them."""
    return (loader_conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                                "AND conrelid = %s::regclass", (fact.name,)).fetchone()[0],
            loader_conn.execute("SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass",
                                (fact.name,)).fetchone()[0])


def _table_keys(credentials):
    with connect(credentials) as conn:
        return table_keys(conn)


def test_a_big_batch_into_empty_tables_drops_and_rebuilds_keys_and_indexes_under_an_exclusive_lock(
        warehouse_db, warehouse_reader_credentials, monkeypatch):
    migrated = _table_keys(warehouse_db)
    seen = {}
    with _reader(warehouse_db, warehouse_reader_credentials) as reader:
        def observe(loader_conn, fact):
            with pytest.raises(psycopg.errors.LockNotAvailable):
                reader.execute(f"SELECT count(*) FROM {fact.name}")
            seen[fact.name] = (_keys_and_indexes(loader_conn, fact), _exclusively_locked(reader, loader_conn))

        _observe_each_fact_merge(monkeypatch, observe)
        loads = load_batch(warehouse_db, FIRST_BATCH, SET_BASED_ALWAYS)

    referenced = {name: {STAR_TABLES_BY_NAME[name].column(column).references
                         for column in STAR_TABLES_BY_NAME[name].foreign_keys} for name in seen}
    every_fact_and_dimension = {name for name in STAR_TABLE_NAMES if name != "source_deletion"}
    for name, (keys_and_indexes, locked) in seen.items():
        assert keys_and_indexes == (0, 0)
        assert referenced[name] | {name} <= locked == every_fact_and_dimension
    assert {load.table: load.references for load in loads if load.references} == {
        "fact_sales_order": SET_BASED, "fact_purchase_order": SET_BASED, "fact_payment": SET_BASED}
    assert [load.inserted for load in loads[-3:]] == [2, 1, 3]
    assert _table_keys(warehouse_db) == migrated  # every key, index, foreign key back as the migrations made them
    assert all(valid for _, valid in _foreign_keys_valid(warehouse_db))


def test_a_big_batch_into_a_table_with_rows_drops_only_its_foreign_keys(warehouse_db, monkeypatch):
    load_batch(warehouse_db, FIRST_BATCH, ROW_BY_ROW)
    migrated = _table_keys(warehouse_db)
    seen = {}
    _observe_each_fact_merge(monkeypatch, lambda loader_conn, fact: seen.setdefault(
        fact.name, _keys_and_indexes(loader_conn, fact)))

    _, load = load_batch(warehouse_db, {DIM_TRANSACTION: TRANSACTIONS_AFTER_UPDATE,
                                        FACT_PAYMENT: PAYMENTS_FIRST + [PAYMENT_4]}, SET_BASED_ALWAYS)

    assert seen == {"fact_payment": (0, 3)}  # primary key, version key, payment_date index kept
    assert (load.references, load.inserted, load.unchanged, load.total) == (SET_BASED, 1, 3, 4)
    assert _table_keys(warehouse_db) == migrated


@POLICIES
def test_a_broken_reference_is_named_with_its_keys_and_constraint_and_nothing_is_loaded(warehouse_db, policy):
    load_batch(warehouse_db, FIRST_BATCH, policy)
    before, constraints_before = _dump(warehouse_db), _foreign_keys_valid(warehouse_db)

    with pytest.raises(ForeignKeyViolation) as raised:
        load_batch(warehouse_db, {FACT_SALES_ORDER: SALES_ORDERS_BAD_FK, FACT_PAYMENT: [PAYMENTS_FIRST[0]]},
                   policy)

    assert raised.value.orphans == [
        OrphanKey("fact_sales_order", "sales_staff_id", 77, "dim_staff", 1,
                  "fact_sales_order_sales_staff_id_fkey"),
        OrphanKey("fact_sales_order", "design_id", 999, "dim_design", 3, "fact_sales_order_design_id_fkey"),
    ]
    assert ("fact_sales_order.design_id = 999 has no dim_design row (3 rows, foreign key "
            "fact_sales_order_design_id_fkey)") in str(raised.value)
    assert _dump(warehouse_db) == before
    assert _foreign_keys_valid(warehouse_db) == constraints_before


@POLICIES
def test_a_first_load_with_a_broken_reference_leaves_the_warehouse_empty(warehouse_db, policy):
    with pytest.raises(ForeignKeyViolation, match="fact_sales_order.design_id = 999 has no dim_design row"):
        load_batch(warehouse_db, {**FIRST_BATCH, FACT_SALES_ORDER: SALES_ORDERS_FIRST + SALES_ORDERS_BAD_FK},
                   policy)

    assert set(map(len, _dump(warehouse_db).values())) == {0}
    with connect(warehouse_db) as conn:
        assert schema_problems(conn) == []


@POLICIES
def test_loading_the_same_batch_again_changes_nothing(warehouse_db, policy):
    load_batch(warehouse_db, FIRST_BATCH, policy)
    before = _dump(warehouse_db)

    again = load_batch(warehouse_db, FIRST_BATCH, policy)

    assert _dump(warehouse_db) == before  # record ids included
    assert [(load.inserted, load.updated) for load in again] == [(0, 0)] * len(FIRST_BATCH)
    assert [load.total for load in again[-3:]] == [2, 1, 3]


def test_a_big_batch_of_corrections_updates_the_versions_in_place(warehouse_db):
    load_batch(warehouse_db, FIRST_BATCH, SET_BASED_ALWAYS)
    corrected = PAYMENTS_FIRST[1][:7] + (Decimal("29.99"),) + PAYMENTS_FIRST[1][8:]

    (load,) = load_batch(warehouse_db, {FACT_PAYMENT: [corrected]}, SET_BASED_ALWAYS,
                         corrected_facts=frozenset({"fact_payment"}))

    assert (load.references, load.updated, load.inserted, load.total) == (SET_BASED, 1, 0, 3)
    record_id, payment_id, *_, amount = _dump(warehouse_db)["fact_payment"][1][:9]
    assert (record_id, payment_id, amount) == (2, 2, Decimal("29.99"))  # the version's record id kept


def test_only_a_batch_above_both_thresholds_is_checked_set_based(warehouse_db):
    policy = BulkLoadPolicy(min_rows=2, min_share_of_table=0.5)
    assert [policy.is_bulk(rows, table) for rows, table in ((1, 0), (2, 0), (2, 4), (2, 5), (3, 5))] == [
        False, True, True, False, True]

    loads = load_batch(warehouse_db, FIRST_BATCH, policy)

    # 2 sales orders and 3 payments into empty tables: set-based; 1 purchase order: below min_rows.
    assert {load.table: load.references for load in loads if load.references} == {
        "fact_sales_order": SET_BASED, "fact_purchase_order": PER_ROW, "fact_payment": SET_BASED}
    assert [load.total for load in loads[-3:]] == [2, 1, 3]


def test_a_big_batch_is_checked_row_by_row_when_a_reader_keeps_a_table_busy(warehouse_db,
                                                                             warehouse_reader_credentials):
    impatient = BulkLoadPolicy(min_rows=1, min_share_of_table=0.0, lock_timeout_ms=50, lock_attempts=2)
    load_batch(warehouse_db, DIMENSIONS, impatient)
    with connect(dataclasses.replace(warehouse_reader_credentials, dbname=warehouse_db.dbname)) as reader:
        reader.execute("SELECT count(*) FROM dim_design").fetchone()  # its transaction stays open

        loads = load_batch(warehouse_db, {FACT_SALES_ORDER: SALES_ORDERS_FIRST}, impatient)

        assert reader.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert [(load.references, load.inserted) for load in loads] == [(PER_ROW, 2)]
    assert len(_dump(warehouse_db)["fact_sales_order"]) == 2

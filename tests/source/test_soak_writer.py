"""The soak writer against a real PostgreSQL: what it records is exactly what it committed."""

from __future__ import annotations

import time

import pytest

from totes.source.database import connect
from totes.source.generator import generate
from totes.source.soak import SoakActivity, SoakWriter

SCALE = 0.02
SEED = 5
QUICK = SoakActivity(order_writers=2, payers=2, max_transactions=40, max_hold_seconds=0.2,
                     long_hold_seconds=(0.5, 1.0), long_share=0.1, rollback_share=0.2, max_pause_seconds=0.05)
VERSIONS = {
    "sales_order": "SELECT sales_order_id, last_updated FROM sales_order",
    "purchase_order": "SELECT purchase_order_id, last_updated FROM purchase_order",
    "transaction": 'SELECT transaction_id, last_updated FROM "transaction"',
    "payment": "SELECT payment_id, last_updated FROM payment",
}


def _versions(conn) -> dict[str, set]:
    return {table: set(conn.execute(query).fetchall()) for table, query in VERSIONS.items()}


@pytest.fixture
def source(empty_source_db):
    owner, _ = empty_source_db
    with connect(owner) as conn:
        generate(conn, SCALE, SEED)
    return owner


def _run_until_done(writer: SoakWriter, during=None) -> None:
    writer.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not writer.finished:
        if during:
            during()
        time.sleep(0.2)
    writer.stop()


def _assert_recorded_exactly_what_changed(writer: SoakWriter, seeded: dict, current: dict) -> None:
    committed = writer.committed_versions
    for table in VERSIONS:
        # Rows only the writer created or changed: exactly the latest of the versions it recorded.
        changed = current[table] - seeded[table]
        latest = {}
        for row_id, last_updated in committed[table]:
            latest[row_id] = max(last_updated, latest.get(row_id, last_updated))
        assert changed == set(latest.items()), table


def test_records_every_committed_version_and_pays_each_payment_once(source):
    with connect(source, autocommit=True) as conn:
        seeded = _versions(conn)
        watermark = conn.execute("SELECT max(last_updated) FROM payment").fetchone()[0]
    writer = SoakWriter(source, seed=7, activity=QUICK)
    writer.payable_before = watermark
    _run_until_done(writer)
    with connect(source, autocommit=True) as conn:
        current = _versions(conn)
        paid_after = conn.execute("SELECT payment_id FROM payment WHERE paid AND last_updated > %s",
                                  (watermark,)).fetchall()

    summary = writer.summary()
    assert summary["transactions_committed"] > 0 and summary["transactions_rolled_back"] > 0, summary
    _assert_recorded_exactly_what_changed(writer, seeded, current)
    # Each payment is paid at most once, and only if its unpaid version is at or before the watermark: here
    # only seeded payments, whose one recorded version is the paid one.
    seeded_payments = dict(seeded["payment"])
    paid_ids = sorted(payment_id for payment_id, in paid_after)
    assert paid_ids, summary
    assert all(seeded_payments[payment_id] <= watermark for payment_id in paid_ids)
    recorded_ids = [payment_id for payment_id, _ in writer.committed_versions["payment"]
                    if payment_id in seeded_payments]
    assert sorted(recorded_ids) == paid_ids


def test_connections_killed_mid_transaction_leave_the_record_exact(source):
    with connect(source, autocommit=True) as conn:
        seeded = _versions(conn)
        writer = SoakWriter(source, seed=9, activity=QUICK)
        writer.payable_before = conn.execute("SELECT max(last_updated) FROM payment").fetchone()[0]
        kills = []
        terminate = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                     "WHERE usename = current_user AND datname = current_database() "
                     "AND pid <> pg_backend_pid()")

        def kill_the_writers():
            if len(kills) < 3 and len(writer.transactions) > 8 * (len(kills) + 1):
                kills.append(conn.execute(terminate).fetchone()[0])

        _run_until_done(writer, during=kill_the_writers)
        current = _versions(conn)

    assert sum(kills) > 0 and writer.summary()["connections_lost"] > 0, (kills, writer.summary())
    _assert_recorded_exactly_what_changed(writer, seeded, current)


def test_no_payment_is_paid_before_a_watermark_is_set(source):
    with connect(source, autocommit=True) as conn:
        seeded = _versions(conn)["payment"]
    writer = SoakWriter(source, seed=3, activity=QUICK)
    writer.start()
    time.sleep(1.0)
    writer.stop()
    with connect(source, autocommit=True) as conn:
        current = _versions(conn)["payment"]
    changed_ids = {payment_id for payment_id, _ in current - seeded}
    assert not changed_ids & {payment_id for payment_id, _ in seeded}


def test_rejects_an_activity_without_a_writer():
    with pytest.raises(ValueError, match="at least one order writer"):
        SoakActivity(order_writers=0)

"""The change simulator against a real PostgreSQL seeded by the generator: what the live application does."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pytest

from totes.source.database import connect, create_schema, drop_schema
from totes.source.generator import generate
from totes.source.simulator import SourceNotSeededError, simulate

SCALE = 0.05
SEED = 11


def _scalar(conn: psycopg.Connection, query: str, params=None):
    return conn.execute(query, params).fetchone()[0]


@pytest.fixture
def seeded(empty_source_db):
    """A connection (owner) to a throwaway source seeded at a small scale."""
    owner, _ = empty_source_db
    with connect(owner) as conn:
        generate(conn, SCALE, SEED)
        yield conn


def test_inserts_orders_each_with_one_transaction_and_one_unpaid_payment(seeded):
    result = simulate(seeded, seed=1, new_sales_orders=5, new_purchase_orders=3, payments_to_mark_paid=0)
    ids = result["inserted_ids"]
    new_orders = seeded.execute(
        """
        SELECT t.transaction_id, t.transaction_type::text, t.sales_order_id, t.purchase_order_id,
               p.payment_id, p.paid,
               p.counterparty_id = coalesce(s.counterparty_id, o.counterparty_id)
                 AND p.currency_id = coalesce(s.currency_id, o.currency_id)
                 AND p.payment_amount
                     = coalesce(s.units_sold * s.unit_price, o.item_quantity * o.item_unit_price)
                 AND p.payment_date = coalesce(s.agreed_payment_date, o.agreed_payment_date) AS agrees
        FROM "transaction" t
        JOIN payment p USING (transaction_id)
        LEFT JOIN sales_order s ON s.sales_order_id = t.sales_order_id
        LEFT JOIN purchase_order o ON o.purchase_order_id = t.purchase_order_id
        WHERE t.transaction_id = ANY(%s)
        ORDER BY t.transaction_id
        """,
        (ids["transaction"],),
    ).fetchall()

    assert result["inserted"] == {"sales_order": 5, "purchase_order": 3, "transaction": 8, "payment": 8}
    assert [row[1] for row in new_orders] == ["SALE"] * 5 + ["PURCHASE"] * 3
    assert [row[2] for row in new_orders[:5]] == ids["sales_order"]
    assert [row[3] for row in new_orders[5:]] == ids["purchase_order"]
    assert [row[4] for row in new_orders] == ids["payment"]
    assert not any(row[5] for row in new_orders)
    assert all(row[6] for row in new_orders)


def test_new_rows_get_fresh_ids_after_the_generated_ones(seeded):
    highest_sales_order = _scalar(seeded, "SELECT max(sales_order_id) FROM sales_order")
    highest_payment = _scalar(seeded, "SELECT max(payment_id) FROM payment")

    result = simulate(seeded, seed=1, new_sales_orders=2, new_purchase_orders=0, payments_to_mark_paid=0)

    assert result["inserted_ids"]["sales_order"] == [highest_sales_order + 1, highest_sales_order + 2]
    assert result["inserted_ids"]["payment"] == [highest_payment + 1, highest_payment + 2]


def test_new_rows_share_one_last_updated_from_the_database_clock(seeded):
    before = _scalar(seeded, "SELECT now() AT TIME ZONE 'UTC'")
    seeded.commit()
    result = simulate(seeded, seed=2)
    after = _scalar(seeded, "SELECT now() AT TIME ZONE 'UTC'")
    stamps = set()
    for table, ids in result["inserted_ids"].items():
        stamps |= set(
            seeded.execute(
                f'SELECT DISTINCT created_at, last_updated FROM "{table}" WHERE {table}_id = ANY(%s)', (ids,)
            ).fetchall()
        )
    inserted_at = result["inserted_at"]

    assert stamps == {(inserted_at, inserted_at)}
    assert before - timedelta(milliseconds=1) <= inserted_at <= after
    assert inserted_at.microsecond % 1000 == 0


def test_marks_due_unpaid_payments_paid_with_one_later_last_updated(seeded):
    unpaid_before = {row[0] for row in seeded.execute("SELECT payment_id FROM payment WHERE NOT paid")}

    result = simulate(seeded, seed=3, payments_to_mark_paid=30)
    paid_ids = result["paid_payment_ids"]
    rows = seeded.execute(
        "SELECT paid, last_updated, created_at, payment_date FROM payment WHERE payment_id = ANY(%s)",
        (paid_ids,),
    ).fetchall()

    assert result["updated"] == {"payment": 30}
    assert len(paid_ids) == 30 and set(paid_ids) <= unpaid_before
    assert all(paid for paid, *_ in rows)
    assert {last_updated for _, last_updated, _, _ in rows} == {result["paid_at"]}
    assert all(created_at < last_updated for _, last_updated, created_at, _ in rows)
    assert all(payment_date <= result["paid_at"].date().isoformat() for *_, payment_date in rows)


def test_payments_inserted_in_a_run_are_not_marked_paid_in_the_same_run(seeded):
    result = simulate(seeded, seed=4, new_sales_orders=50, payments_to_mark_paid=10_000)

    assert not set(result["paid_payment_ids"]) & set(result["inserted_ids"]["payment"])
    assert _scalar(seeded, "SELECT count(*) FROM payment WHERE NOT paid AND payment_id = ANY(%s)",
                   (result["inserted_ids"]["payment"],)) == 50 + 8  # fmt: skip


def test_an_explicit_now_stamps_both_steps(seeded):
    now = datetime(2025, 1, 2, 3, 4, 5, 678_901)

    result = simulate(seeded, seed=5, now=now)
    stamp = datetime(2025, 1, 2, 3, 4, 5, 678_000)

    assert result["inserted_at"] == result["paid_at"] == stamp
    assert _scalar(seeded, "SELECT count(*) FROM payment WHERE last_updated = %s", (stamp,)) == 28 + 30


def test_same_seed_and_state_insert_the_same_orders(empty_source_db):
    owner, _ = empty_source_db
    now = datetime(2025, 1, 2, 3, 4, 5)
    digest_query = """
        SELECT md5(string_agg(s::text, '|' ORDER BY s.sales_order_id))
        FROM sales_order s WHERE created_at = %s
    """
    with connect(owner) as conn:
        generate(conn, SCALE, SEED)
        first = simulate(conn, seed=6, now=now)
        first_digest = _scalar(conn, digest_query, (now,))
        drop_schema(conn)
        create_schema(conn)
        generate(conn, SCALE, SEED)
        second = simulate(conn, seed=6, now=now)
        second_digest = _scalar(conn, digest_query, (now,))

    assert first_digest == second_digest is not None
    assert first["paid_payment_ids"] == second["paid_payment_ids"]


def test_zero_of_everything_changes_nothing(seeded):
    result = simulate(seeded, seed=7, new_sales_orders=0, new_purchase_orders=0, payments_to_mark_paid=0)

    assert result["inserted"] == {"sales_order": 0, "purchase_order": 0, "transaction": 0, "payment": 0}
    assert result["updated"] == {"payment": 0}


def test_refuses_an_unseeded_source(empty_source_db):
    owner, _ = empty_source_db
    with connect(owner) as conn, pytest.raises(SourceNotSeededError, match="seed it first"):
        simulate(conn, seed=8)


def test_rejects_negative_counts(seeded):
    with pytest.raises(ValueError, match="new_sales_orders"):
        simulate(seeded, seed=9, new_sales_orders=-1)

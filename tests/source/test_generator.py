"""The seeded generator against a real PostgreSQL: sizes, determinism, and the shape of the real data."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from psycopg import errors, sql

from totes.source.database import connect, create_schema, drop_schema
from totes.source.generator import PERIOD_END, PERIOD_START, SourceNotEmptyError, generate
from totes.tables import SOURCE_TABLES

SMALL_SCALE = 0.1
SEED = 7


def _scalar(conn: psycopg.Connection, query: str, params=None):
    return conn.execute(query, params).fetchone()[0]


def _table_digests(conn: psycopg.Connection) -> dict[str, str]:
    """An md5 of every table's rows in primary-key order: equal digests, identical contents."""
    return {
        table.name: _scalar(
            conn,
            sql.SQL("SELECT md5(string_agg(t::text, '|' ORDER BY t.{})) FROM {} t").format(
                sql.Identifier(table.primary_key), sql.Identifier(table.name)
            ),
        )
        for table in SOURCE_TABLES
    }


def _foreign_keys(conn: psycopg.Connection) -> set[tuple[str, str, str]]:
    rows = conn.execute(
        """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace
        """
    ).fetchall()
    return set(rows)


@pytest.fixture
def seeded(empty_source_db):
    """A connection (owner) to a throwaway source seeded at a small scale."""
    owner, _ = empty_source_db
    with connect(owner) as conn:
        generate(conn, SMALL_SCALE, SEED)
        yield conn


def test_scale_one_has_the_real_row_counts(empty_source_db):
    owner, _ = empty_source_db
    with connect(owner) as conn:
        counts = generate(conn, 1, SEED)
        in_database = {
            table.name: _scalar(conn, f'SELECT count(*) FROM "{table.name}"') for table in SOURCE_TABLES
        }

    assert counts == in_database
    assert counts == {
        "address": 30,
        "counterparty": 20,
        "currency": 3,
        "department": 8,
        "design": 473,
        "payment_type": 4,
        "staff": 20,
        "sales_order": 11_187,
        "purchase_order": 4_649,
        "transaction": 15_836,
        "payment": 15_836,
    }


def test_fact_tables_grow_linearly_and_enumerations_stay_fixed(seeded):
    counts = {table.name: _scalar(seeded, f'SELECT count(*) FROM "{table.name}"') for table in SOURCE_TABLES}

    assert counts["sales_order"] == round(11_187 * SMALL_SCALE)
    assert counts["purchase_order"] == round(4_649 * SMALL_SCALE)
    assert counts["transaction"] == counts["payment"] == counts["sales_order"] + counts["purchase_order"]
    assert counts["design"] == round(473 * SMALL_SCALE)
    assert (counts["currency"], counts["department"], counts["payment_type"]) == (3, 8, 4)


def test_same_scale_and_seed_give_identical_rows_and_another_seed_does_not(empty_source_db):
    owner, _ = empty_source_db
    with connect(owner) as conn:
        generate(conn, SMALL_SCALE, SEED)
        first = _table_digests(conn)
        drop_schema(conn)
        create_schema(conn)
        generate(conn, SMALL_SCALE, SEED)
        second = _table_digests(conn)
        drop_schema(conn)
        create_schema(conn)
        generate(conn, SMALL_SCALE, SEED + 1)
        other_seed = _table_digests(conn)

    assert first == second
    assert all(digest is not None for digest in first.values())
    assert other_seed["sales_order"] != first["sales_order"]
    assert other_seed["payment"] != first["payment"]


def test_refuses_a_source_that_already_has_rows(seeded):
    before = _table_digests(seeded)

    with pytest.raises(SourceNotEmptyError, match="already has rows"):
        generate(seeded, SMALL_SCALE, SEED)

    seeded.rollback()
    assert _table_digests(seeded) == before


def test_only_payments_are_updated_and_only_the_paid_ones(seeded):
    for table in SOURCE_TABLES:
        changed = _scalar(seeded, f'SELECT count(*) FROM "{table.name}" WHERE last_updated <> created_at')
        if table.name != "payment":
            assert changed == 0, table.name
    paid, updated, paid_and_updated, later_than_created = seeded.execute(
        """
        SELECT count(*) FILTER (WHERE paid),
               count(*) FILTER (WHERE last_updated <> created_at),
               count(*) FILTER (WHERE paid AND last_updated > created_at),
               count(*) FILTER (WHERE last_updated >= created_at)
        FROM payment
        """
    ).fetchone()
    total = _scalar(seeded, "SELECT count(*) FROM payment")

    assert paid == updated == paid_and_updated
    assert later_than_created == total
    assert 0.55 <= paid / total <= 0.66  # the real data: 9,648 of 15,836


def test_rows_arrive_in_batches_sharing_one_last_updated(seeded):
    largest_order_batch = _scalar(
        seeded, 'SELECT max(n) FROM (SELECT count(*) AS n FROM "transaction" GROUP BY last_updated) b'
    )
    paid_batches = seeded.execute(
        """
        SELECT max(n), avg(n) FROM (SELECT count(*) AS n FROM payment WHERE paid GROUP BY last_updated) b
        """
    ).fetchone()
    shared_order_timestamps = _scalar(
        seeded, "SELECT count(*) FROM (SELECT 1 FROM sales_order GROUP BY last_updated HAVING count(*) > 1) s"
    )

    assert 5 <= largest_order_batch <= 30
    assert shared_order_timestamps > 0
    largest_paid_batch, mean_paid_batch = paid_batches
    assert 20 <= largest_paid_batch <= 37
    assert 12 <= mean_paid_batch <= 24


def test_timestamps_are_milliseconds_within_the_period(seeded):
    for table in SOURCE_TABLES:
        earliest, latest, sub_millisecond = seeded.execute(
            f"""
            SELECT min(created_at), max(last_updated),
                   count(*) FILTER (WHERE date_trunc('milliseconds', last_updated) <> last_updated)
            FROM "{table.name}"
            """
        ).fetchone()
        assert PERIOD_START <= earliest <= latest <= PERIOD_END, table.name
        assert sub_millisecond == 0


def test_address_line_2_and_district_are_often_but_not_always_null(empty_source_db):
    owner, _ = empty_source_db
    with connect(owner) as conn:
        generate(conn, 4, SEED)  # 60 addresses: enough to see both
        null_line_2, null_district, total = conn.execute(
            "SELECT count(*) FILTER (WHERE address_line_2 IS NULL), count(*) FILTER (WHERE district IS NULL),"
            " count(*) FROM address"
        ).fetchone()

    assert total == 60
    assert total / 2 < null_line_2 < total
    assert 0 < null_district < total


def test_departments_are_the_real_ones_typo_included(seeded):
    departments = seeded.execute(
        "SELECT department_name, location FROM department ORDER BY department_id"
    ).fetchall()

    assert [name for name, _ in departments] == [
        "Sales", "Purchasing", "Production", "Dispatch", "Finance", "Facilities", "Communications", "HR",
    ]  # fmt: skip
    assert {location for _, location in departments} == {"Manchester", "Leeds", "Leds"}
    assert _scalar(seeded, "SELECT array_agg(currency_code ORDER BY currency_id) FROM currency") == [
        "GBP",
        "USD",
        "EUR",
    ]


def test_agreed_and_payment_dates_are_text_dates_a_few_days_after_creation(seeded):
    checks = {
        "sales_order": ("agreed_delivery_date", "agreed_payment_date"),
        "purchase_order": ("agreed_delivery_date", "agreed_payment_date"),
        "payment": ("payment_date",),
    }
    for table, columns in checks.items():
        for column in columns:
            malformed, before_creation, median_days = seeded.execute(
                f"""
                SELECT count(*) FILTER (WHERE {column} !~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}$'),
                       count(*) FILTER (WHERE {column}::date < created_at::date),
                       percentile_disc(0.5) WITHIN GROUP (ORDER BY {column}::date - created_at::date)
                FROM {table}
                """
            ).fetchone()
            assert malformed == 0, (table, column)
            assert before_creation == 0, (table, column)
            assert 1 <= median_days <= 5, (table, column)


def test_each_transaction_belongs_to_exactly_one_order_of_its_type(seeded):
    wrong = _scalar(
        seeded,
        """
        SELECT count(*) FROM "transaction"
        WHERE num_nonnulls(sales_order_id, purchase_order_id) <> 1
           OR (transaction_type = 'SALE') <> (sales_order_id IS NOT NULL)
        """,
    )
    orders_without_transaction = _scalar(
        seeded,
        """
        -- the order ids in transaction are unique and resolve, so equal counts mean every order has one
        SELECT (SELECT count(*) FROM sales_order) - (SELECT count(sales_order_id) FROM "transaction")
             + (SELECT count(*) FROM purchase_order) - (SELECT count(purchase_order_id) FROM "transaction")
        """,
    )

    assert wrong == 0
    assert orders_without_transaction == 0


def test_payment_agrees_with_the_order_of_its_transaction(seeded):
    mismatches = _scalar(
        seeded,
        """
        SELECT count(*)
        FROM payment p
        JOIN "transaction" t USING (transaction_id)
        LEFT JOIN sales_order s ON s.sales_order_id = t.sales_order_id
        LEFT JOIN purchase_order o ON o.purchase_order_id = t.purchase_order_id
        WHERE p.counterparty_id <> coalesce(s.counterparty_id, o.counterparty_id)
           OR p.currency_id <> coalesce(s.currency_id, o.currency_id)
           OR p.payment_amount <> coalesce(s.units_sold * s.unit_price, o.item_quantity * o.item_unit_price)
           OR p.payment_date <> coalesce(s.agreed_payment_date, o.agreed_payment_date)
           OR p.created_at <> t.created_at
           OR t.created_at <> coalesce(s.created_at, o.created_at)
        """,
    )

    assert mismatches == 0


def test_payment_type_follows_the_transaction_type_with_a_few_refunds(seeded):
    pairs = dict(
        (
            (transaction_type, payment_type),
            count,
        )
        for transaction_type, payment_type, count in seeded.execute(
            """
            SELECT t.transaction_type::text, pt.payment_type_name::text, count(*)
            FROM payment p
            JOIN "transaction" t USING (transaction_id)
            JOIN payment_type pt USING (payment_type_id)
            GROUP BY 1, 2
            """
        )
    )
    total = sum(pairs.values())

    assert set(pairs) <= {
        ("SALE", "SALES_RECEIPT"),
        ("SALE", "SALES_REFUND"),
        ("PURCHASE", "PURCHASE_PAYMENT"),
        ("PURCHASE", "PURCHASE_REFUND"),
    }
    refunds = pairs.get(("SALE", "SALES_REFUND"), 0) + pairs.get(("PURCHASE", "PURCHASE_REFUND"), 0)
    assert 0 < refunds < 0.05 * total


def test_values_fall_in_the_real_ranges_and_money_is_exact(seeded):
    units, prices = seeded.execute(
        "SELECT array[min(units_sold), max(units_sold)], array[min(unit_price), max(unit_price)]"
        " FROM sales_order"
    ).fetchone()
    malformed_item_codes = _scalar(
        seeded, "SELECT count(*) FROM purchase_order WHERE item_code !~ '^[A-Z0-9]{7}$'"
    )
    account_numbers = _scalar(
        seeded,
        "SELECT array[min(least(company_ac_number, counterparty_ac_number)),"
        " max(greatest(company_ac_number, counterparty_ac_number))] FROM payment",
    )
    amount = _scalar(seeded, "SELECT payment_amount FROM payment ORDER BY payment_id LIMIT 1")

    assert 1_000 <= units[0] <= units[1] <= 100_000
    assert Decimal("2.00") <= prices[0] <= prices[1] <= Decimal("4.00")
    assert malformed_item_codes == 0
    assert 10_000_000 <= account_numbers[0] <= account_numbers[1] <= 99_999_999
    assert isinstance(amount, Decimal) and amount.as_tuple().exponent == -2


def test_orders_only_use_designs_that_already_existed(seeded):
    too_early = _scalar(
        seeded,
        "SELECT count(*) FROM sales_order s JOIN design d USING (design_id)"
        " WHERE d.created_at > s.created_at",
    )

    assert too_early == 0


def test_foreign_keys_are_all_back_and_enforced_after_the_load(empty_source_db):
    owner, _ = empty_source_db
    with connect(owner) as conn:
        before = _foreign_keys(conn)
        generate(conn, SMALL_SCALE, SEED)
        after = _foreign_keys(conn)
        with pytest.raises(errors.ForeignKeyViolation):
            conn.execute(
                "INSERT INTO payment (created_at, last_updated, transaction_id, counterparty_id,"
                " payment_amount, currency_id, payment_type_id, paid, payment_date, company_ac_number,"
                " counterparty_ac_number)"
                " VALUES (now(), now(), 999999, 1, 1.00, 1, 1, false, '2024-01-01', 12345678, 12345678)"
            )

    assert len(before) == 17  # every REFERENCES clause of the schema
    assert after == before


def test_serial_sequences_continue_after_the_loaded_ids(seeded):
    for table in SOURCE_TABLES:
        highest = _scalar(seeded, f'SELECT max("{table.primary_key}") FROM "{table.name}"')
        next_id = _scalar(
            seeded, "SELECT nextval(pg_get_serial_sequence(%s, %s))", (table.quoted_name, table.primary_key)
        )
        assert next_id == highest + 1, table.name
    new_currency_id = _scalar(
        seeded,
        "INSERT INTO currency (currency_code, last_updated) VALUES ('JPY', now()) RETURNING currency_id",
    )

    assert new_currency_id == 5  # 4 was taken by the nextval above


def test_generated_rows_are_analyzed_and_readable_by_the_reader_role(empty_source_db):
    owner, reader = empty_source_db
    with connect(owner) as conn:
        generate(conn, SMALL_SCALE, SEED)
    with connect(reader) as conn:
        estimated_payments = _scalar(conn, "SELECT reltuples FROM pg_class WHERE oid = 'payment'::regclass")
        payments = _scalar(conn, "SELECT count(*) FROM payment")

    assert payments == round(11_187 * SMALL_SCALE) + round(4_649 * SMALL_SCALE)
    assert estimated_payments == payments


@pytest.mark.parametrize("scale, seed", [(0, 1), (-1, 1), (1, -1)])
def test_rejects_a_non_positive_scale_or_negative_seed(empty_source_db, scale, seed):
    owner, _ = empty_source_db
    with connect(owner) as conn, pytest.raises(ValueError):
        generate(conn, scale, seed)


def test_the_declared_references_are_the_source_schemas_foreign_keys(empty_source_db):
    """totes/tables.py's ``references`` (the quality rules' parents) name exactly the keys the schema enforces."""
    owner, _ = empty_source_db
    with connect(owner) as conn:
        enforced = {(table.strip('"'), definition) for table, _, definition in _foreign_keys(conn)}
    declared = {(table.name, f"FOREIGN KEY ({column}) REFERENCES {parent}({parent}_id)")
                for table in SOURCE_TABLES for column, parent in table.foreign_keys}
    assert {(table, definition.split(" ON ")[0]) for table, definition in enforced} == declared

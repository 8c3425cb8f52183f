"""The live totesys application in miniature: what changes in the source between two ingestion runs.

One call does what the real system does in a few minutes: a batch of new sales and purchase orders
arrives, each with its transaction and its (unpaid) payment, all sharing one created_at = last_updated; then
the finance run marks a batch of due payments paid, sharing one later last_updated. Both are ordinary small
transactions with plain INSERT and UPDATE statements, stamped with the database's clock like the
application's own rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import psycopg
from psycopg import sql

from totes.source import generator
from totes.tables import (
    ADDRESS,
    COUNTERPARTY,
    CURRENCY,
    DESIGN,
    PAYMENT,
    PURCHASE_ORDER,
    SALES_ORDER,
    STAFF,
    TRANSACTION,
    SourceTable,
)

logger = logging.getLogger(__name__)

DEFAULT_NEW_SALES_ORDERS = 20
DEFAULT_NEW_PURCHASE_ORDERS = 8
DEFAULT_PAYMENTS_TO_MARK_PAID = 30


class SourceNotSeededError(RuntimeError):
    """The simulator needs the lookup rows (designs, staff, counterparties...) that the generator creates."""


@dataclass(frozen=True)
class _References:
    """Ids a new order may point at, as they are in the database now."""

    design_ids: list[int]
    staff_ids: list[int]
    counterparty_ids: list[int]
    currency_ids: list[int]
    address_ids: list[int]
    payment_type_ids: dict[str, int]


def simulate(
    conn: psycopg.Connection,
    seed: int,
    new_sales_orders: int = DEFAULT_NEW_SALES_ORDERS,
    new_purchase_orders: int = DEFAULT_NEW_PURCHASE_ORDERS,
    payments_to_mark_paid: int = DEFAULT_PAYMENTS_TO_MARK_PAID,
    now: datetime | None = None,
) -> dict:
    """Insert new orders with their transactions and payments, then mark a batch of due payments paid.

    Each step is one committed transaction whose rows share one timestamp: ``now`` if given (UTC), otherwise
    the database's transaction start time truncated to milliseconds, as the application's
    ``DEFAULT CURRENT_TIMESTAMP`` would give. Returns what was done::

        {"inserted_at": datetime, "paid_at": datetime,
         "inserted": {table: rows}, "updated": {"payment": rows},
         "inserted_ids": {table: [ids]}, "paid_payment_ids": [ids]}
    """
    for name, value in (
        ("new_sales_orders", new_sales_orders),
        ("new_purchase_orders", new_purchase_orders),
        ("payments_to_mark_paid", payments_to_mark_paid),
    ):
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
    rng = np.random.default_rng(seed)
    with conn.transaction():
        inserted_at = _stamp(conn, now)
        references = _references(conn)
        inserted_ids = _insert_orders(
            conn, rng, references, new_sales_orders, new_purchase_orders, inserted_at
        )
    with conn.transaction():
        paid_at = _stamp(conn, now)
        paid_payment_ids = _mark_due_payments_paid(
            conn, payments_to_mark_paid, paid_at, created_before=inserted_at
        )
    conn.commit()
    logger.info(
        "simulated %d sales and %d purchase orders at %s, marked %d payments paid at %s",
        new_sales_orders,
        new_purchase_orders,
        inserted_at,
        len(paid_payment_ids),
        paid_at,
    )
    return {
        "inserted_at": inserted_at,
        "paid_at": paid_at,
        "inserted": {table: len(ids) for table, ids in inserted_ids.items()},
        "updated": {PAYMENT.name: len(paid_payment_ids)},
        "inserted_ids": inserted_ids,
        "paid_payment_ids": paid_payment_ids,
    }


def _stamp(conn: psycopg.Connection, now: datetime | None) -> datetime:
    """The shared created_at/last_updated of one step, in UTC to the millisecond like timestamp(3)."""
    if now is None:
        # now() is the transaction's start, the value CURRENT_TIMESTAMP defaults give every row it inserts.
        return conn.execute("SELECT date_trunc('milliseconds', now() AT TIME ZONE 'UTC')").fetchone()[0]
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _ids_of(conn: psycopg.Connection, table: SourceTable) -> list[int]:
    query = sql.SQL("SELECT {} FROM {} ORDER BY 1").format(
        sql.Identifier(table.primary_key), sql.Identifier(table.name)
    )
    return [row[0] for row in conn.execute(query)]


def _references(conn: psycopg.Connection) -> _References:
    references = _References(
        design_ids=_ids_of(conn, DESIGN),
        staff_ids=_ids_of(conn, STAFF),
        counterparty_ids=_ids_of(conn, COUNTERPARTY),
        currency_ids=_ids_of(conn, CURRENCY),
        address_ids=_ids_of(conn, ADDRESS),
        payment_type_ids=dict(
            conn.execute("SELECT payment_type_name::text, payment_type_id FROM payment_type").fetchall()
        ),
    )
    empty = [name for name, ids in vars(references).items() if not ids]
    missing_types = sorted(set(generator.PAYMENT_TYPE_NAMES) - set(references.payment_type_ids))
    if empty or missing_types:
        raise SourceNotSeededError(
            "the source has no rows to build orders on "
            f"(empty: {', '.join(empty) or '-'}; missing payment types: {', '.join(missing_types) or '-'});"
            " seed it first: python -m totes.source seed"
        )
    return references


def _insert_returning_ids(conn: psycopg.Connection, table: SourceTable, rows: list[dict]) -> list[int]:
    """INSERT the rows (column name -> value, every column but the serial id); their new ids, in row order."""
    if not rows:
        return []
    columns = [name for name in table.column_names if name != table.primary_key]
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        sql.Identifier(table.primary_key),
    )
    with conn.cursor() as cursor:
        cursor.executemany(query, [tuple(row[name] for name in columns) for row in rows], returning=True)
        ids = [cursor.fetchone()[0]]
        while cursor.nextset():
            ids.append(cursor.fetchone()[0])
    return ids


def _pick(rng: np.random.Generator, ids: list[int]) -> int:
    return int(ids[rng.integers(0, len(ids))])


def _days_after(moment: datetime, rng: np.random.Generator, weights: tuple[float, ...]) -> str:
    return (moment.date() + timedelta(days=int(rng.choice(len(weights), p=weights)))).isoformat()


def _new_order(rng: np.random.Generator, references: _References, stamp: datetime, is_sale: bool) -> dict:
    """The values of one new order, drawn from the generator's ranges; kind-specific columns added by the
    caller. Money is Decimal from integer cents: exact, never float."""
    if is_sale:
        quantity = int(rng.integers(generator.UNITS_SOLD_RANGE[0], generator.UNITS_SOLD_RANGE[1] + 1))
        cents = int(
            rng.integers(generator.UNIT_PRICE_CENTS_RANGE[0], generator.UNIT_PRICE_CENTS_RANGE[1] + 1)
        )
    else:
        quantity = int(rng.integers(generator.ITEM_QUANTITY_RANGE[0], generator.ITEM_QUANTITY_RANGE[1] + 1))
        cents = int(
            rng.integers(
                generator.ITEM_UNIT_PRICE_CENTS_RANGE[0], generator.ITEM_UNIT_PRICE_CENTS_RANGE[1] + 1
            )
        )
    return {
        "created_at": stamp,
        "last_updated": stamp,
        "staff_id": _pick(rng, references.staff_ids),
        "counterparty_id": _pick(rng, references.counterparty_ids),
        "currency_id": _pick(rng, references.currency_ids),
        "agreed_delivery_date": _days_after(stamp, rng, generator.DELIVERY_DAY_WEIGHTS),
        "agreed_payment_date": _days_after(stamp, rng, generator.PAYMENT_DAY_WEIGHTS),
        "agreed_delivery_location_id": _pick(rng, references.address_ids),
        "quantity": quantity,
        "unit_price": Decimal(cents).scaleb(-2),
    }


def _item_code(rng: np.random.Generator) -> str:
    alphabet = generator.ITEM_CODE_ALPHABET
    return bytes(alphabet[i] for i in rng.integers(0, len(alphabet), generator.ITEM_CODE_LENGTH)).decode()


def _insert_orders(
    conn: psycopg.Connection,
    rng: np.random.Generator,
    references: _References,
    n_sales: int,
    n_purchases: int,
    stamp: datetime,
) -> dict[str, list[int]]:
    """New sales and purchase orders, one transaction each, one unpaid payment per transaction for the
    order's amount, counterparty and currency, due on the agreed payment date; all stamped ``stamp``."""
    sales = [_new_order(rng, references, stamp, is_sale=True) for _ in range(n_sales)]
    purchases = [_new_order(rng, references, stamp, is_sale=False) for _ in range(n_purchases)]
    for order in sales:
        order.update(
            design_id=_pick(rng, references.design_ids),
            units_sold=order["quantity"],
            unit_price=order["unit_price"],
        )
    for order in purchases:
        order.update(
            item_code=_item_code(rng), item_quantity=order["quantity"], item_unit_price=order["unit_price"]
        )
    sales_order_ids = _insert_returning_ids(conn, SALES_ORDER, sales)
    purchase_order_ids = _insert_returning_ids(conn, PURCHASE_ORDER, purchases)

    orders = [(order, "SALE", order_id) for order, order_id in zip(sales, sales_order_ids, strict=True)]
    orders += [
        (order, "PURCHASE", order_id) for order, order_id in zip(purchases, purchase_order_ids, strict=True)
    ]
    transactions = [
        {
            "transaction_type": kind,
            "sales_order_id": order_id if kind == "SALE" else None,
            "purchase_order_id": order_id if kind == "PURCHASE" else None,
            "created_at": stamp,
            "last_updated": stamp,
        }
        for _, kind, order_id in orders
    ]
    transaction_ids = _insert_returning_ids(conn, TRANSACTION, transactions)
    payments = [
        _new_payment(rng, references, order, kind, transaction_id)
        for (order, kind, _), transaction_id in zip(orders, transaction_ids, strict=True)
    ]
    payment_ids = _insert_returning_ids(conn, PAYMENT, payments)
    return {
        SALES_ORDER.name: sales_order_ids,
        PURCHASE_ORDER.name: purchase_order_ids,
        TRANSACTION.name: transaction_ids,
        PAYMENT.name: payment_ids,
    }


def _new_payment(
    rng: np.random.Generator, references: _References, order: dict, kind: str, transaction_id: int
):
    refund = rng.random() < generator.REFUND_SHARE
    type_name = {
        ("SALE", False): "SALES_RECEIPT",
        ("SALE", True): "SALES_REFUND",
        ("PURCHASE", False): "PURCHASE_PAYMENT",
        ("PURCHASE", True): "PURCHASE_REFUND",
    }[(kind, refund)]
    low, high = generator.AC_NUMBER_RANGE
    return {
        "created_at": order["created_at"],
        "last_updated": order["last_updated"],
        "transaction_id": transaction_id,
        "counterparty_id": order["counterparty_id"],
        "payment_amount": order["quantity"] * order["unit_price"],
        "currency_id": order["currency_id"],
        "payment_type_id": references.payment_type_ids[type_name],
        "paid": False,
        "payment_date": order["agreed_payment_date"],
        "company_ac_number": int(rng.integers(low, high + 1)),
        "counterparty_ac_number": int(rng.integers(low, high + 1)),
    }


def _mark_due_payments_paid(
    conn: psycopg.Connection, limit: int, paid_at: datetime, created_before: datetime
) -> list[int]:
    """The finance run: the most recent unpaid payments that are due by ``paid_at``'s date become paid, all
    with last_updated = ``paid_at``. Only payments of earlier batches qualify (created before
    ``created_before``, which is never after ``paid_at``), so a paid payment's last_updated is always later
    than its created_at and a new payment is first seen unpaid."""
    if limit == 0:
        return []
    due_by = paid_at.date().isoformat()
    # payment_date is TEXT 'YYYY-MM-DD', so comparing the text compares the dates.
    rows = conn.execute(
        """
        SELECT payment_id FROM payment
        WHERE NOT paid AND created_at < %s AND payment_date <= %s
        ORDER BY payment_id DESC
        LIMIT %s
        FOR UPDATE
        """,
        (created_before, due_by, limit),
    ).fetchall()
    payment_ids = sorted(row[0] for row in rows)
    if payment_ids:
        conn.execute(
            "UPDATE payment SET paid = true, last_updated = %s WHERE payment_id = ANY(%s)",
            (paid_at, payment_ids),
        )
    return payment_ids

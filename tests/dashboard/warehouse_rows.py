"""Known warehouse rows for the dashboard tests, inserted through the loader role, and the figures they make.

Small enough to check by hand. What they exercise:

- sales order 1 has two versions (120 units replaced 100): only the latest counts;
- payment 1 has two versions (unpaid, then paid): only the latest counts;
- an amount in the tens of millions (sales order 3, EUR) and three currencies, never added together;
- overdue is measured against today: payments due in 2024 are overdue, payment 3 is due in the future;
- payment types in both directions: receipts (money in), a purchase payment and a sales refund (money out).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
from psycopg import sql

from totes.star import star_table

D = dt.date
TODAY = dt.datetime.now(dt.timezone.utc).date()
FUTURE_PAYMENT_DATE = TODAY + dt.timedelta(days=30)
FIRST_CALENDAR_DAY = D(2024, 6, 1)
LAST_CALENDAR_DAY = FUTURE_PAYMENT_DATE + dt.timedelta(days=31)


def _date_row(day: dt.date) -> tuple:
    return (day, day.year, day.month, day.day, day.isoweekday(), day.strftime("%A"), day.strftime("%B"),
            (day.month - 1) // 3 + 1)


def dim_date_rows(first: dt.date = FIRST_CALENDAR_DAY, last: dt.date = LAST_CALENDAR_DAY) -> list[tuple]:
    return [_date_row(first + dt.timedelta(days=n)) for n in range((last - first).days + 1)]


DIMENSIONS = {
    "dim_staff": [
        (1, "Jeremie", "Franey", "Purchasing", "Manchester", "jeremie.franey@terrifictotes.com"),
        (2, "Deron", "Beier", "Sales", "Leeds", "deron.beier@terrifictotes.com"),
    ],
    "dim_location": [
        (1, "6826 Herzog Via", None, "Avon", "New Patienceburgh", "28441", "Turkey", "1803 637401"),
        (2, "179 Alexie Cliffs", None, None, "Aliso Viejo", "99305-7380", "San Marino", "9621 880720"),
    ],
    "dim_currency": [(1, "GBP", "Pound Sterling"), (2, "USD", "US Dollar"), (3, "EUR", "Euro")],
    "dim_design": [(1, "Wooden", "/usr", "wooden-20220717-npgz.json"),
                   (2, "Granite", "/private/var", "granite-20220717-g8ec.json")],
    "dim_counterparty": [
        (1, "Fahey and Sons", "605 Haskell Trafficway", "Axel Freeway", None, "East Bobbie", "88253-4257",
         "Heard Island and McDonald Islands", "9687 937447"),
        (2, "Leannon, Predovic and Morar", "079 Horacio Landing", None, None, "Utica", "93045", "Austria",
         "7772 084705"),
    ],
    "dim_transaction": [(1, "SALE", 1, None), (2, "SALE", 2, None), (3, "PURCHASE", None, 1),
                        (4, "SALE", 3, None), (5, "SALE", 4, None), (6, "PURCHASE", None, 2),
                        (7, "SALE", 5, None)],
    "dim_payment_type": [(1, "SALES_RECEIPT"), (2, "SALES_REFUND"), (3, "PURCHASE_PAYMENT"),
                         (4, "PURCHASE_REFUND")],
}


def _sales_order(sales_order_id, created, updated, units, price, currency_id, updated_time="09:00:00.000",
                 staff_id=1, counterparty_id=1, design_id=1, location_id=1) -> tuple:
    return (sales_order_id, created, "09:00:00.000", updated, updated_time, staff_id, counterparty_id, units,
            Decimal(price), currency_id, design_id, D(2024, 7, 20), D(2024, 7, 15), location_id)


SALES_ORDERS = [
    _sales_order(1, D(2024, 6, 3), D(2024, 6, 3), 100, "2.50", 1),
    _sales_order(1, D(2024, 6, 3), D(2024, 6, 4), 120, "2.50", 1, updated_time="10:30:00.000"),  # the latest
    _sales_order(2, D(2024, 6, 5), D(2024, 6, 5), 7, "3.99", 2, staff_id=2, counterparty_id=2, design_id=2,
                 location_id=2),
    _sales_order(3, D(2024, 7, 1), D(2024, 7, 1), 12, "1234567.89", 3, counterparty_id=2, location_id=2),
    _sales_order(4, D(2024, 7, 2), D(2024, 7, 2), 50, "1.25", 1, staff_id=2, design_id=2),
]
PURCHASE_ORDERS = [
    (1, D(2024, 6, 10), "11:11:11.111", D(2024, 6, 10), "11:11:11.111", 1, 1, "ZDOI5EA", 371,
     Decimal("361.39"), 1, D(2024, 7, 9), D(2024, 7, 7), 2),
    (2, D(2024, 7, 3), "08:00:00.000", D(2024, 7, 3), "08:00:00.000", 2, 2, "QKX81RT", 10, Decimal("5.00"),
     2, D(2024, 7, 9), D(2024, 7, 7), 1),
]
PAYMENTS_CREATED = D(2024, 6, 6)


def _payment(payment_id, transaction_id, amount, currency_id, payment_type_id, paid, payment_date,
             updated=PAYMENTS_CREATED, updated_time="12:00:00.000", counterparty_id=1) -> tuple:
    return (payment_id, PAYMENTS_CREATED, "12:00:00.000", updated, updated_time, transaction_id,
            counterparty_id, Decimal(amount), currency_id, payment_type_id, paid, payment_date)


PAYMENTS = [
    _payment(1, 1, "300.00", 1, 1, False, D(2024, 7, 20)),
    _payment(1, 1, "300.00", 1, 1, True, D(2024, 7, 20), updated=D(2024, 7, 19)),  # paid later: the latest
    _payment(2, 2, "27.93", 2, 1, False, D(2024, 7, 10), counterparty_id=2),
    _payment(3, 3, "134075.69", 1, 3, False, FUTURE_PAYMENT_DATE),
    _payment(4, 4, "14814814.68", 3, 1, False, D(2024, 7, 20), counterparty_id=2),
    _payment(5, 5, "12.50", 1, 2, False, D(2024, 7, 25)),
]

# What a later load adds: a GBP sale with its payment, and payment 2 marked paid.
NEW_SALES_ORDERS = [_sales_order(5, D(2024, 7, 5), D(2024, 7, 5), 10, "9.99", 1, staff_id=2)]
NEW_PAYMENTS = [
    _payment(6, 7, "99.90", 1, 1, False, D(2024, 7, 30)),
    _payment(2, 2, "27.93", 2, 1, True, D(2024, 7, 10), updated=D(2024, 7, 12), counterparty_id=2),
]

# The figures by hand (latest versions only), which the SQL truth in the tests must also give.
EXPECTED_REVENUE = {"GBP": Decimal("362.50"), "USD": Decimal("27.93"), "EUR": Decimal("14814814.68")}
EXPECTED_REVENUE_AFTER_NEW_LOAD = {**EXPECTED_REVENUE, "GBP": Decimal("462.40")}
EXPECTED_SPEND = {"GBP": Decimal("134075.69"), "USD": Decimal("50.00")}


def insert_rows(conn: psycopg.Connection, table_name: str, rows: list[tuple]) -> None:
    """Insert rows into a star table, columns in ``totes/star.py`` order (facts: without the record id)."""
    table = star_table(table_name)
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(map(sql.Identifier, table.column_names)),
        sql.SQL(", ").join(sql.Placeholder() * len(table.column_names)),
    )
    with conn.cursor() as cursor:
        cursor.executemany(statement, rows)


def load_known_rows(conn: psycopg.Connection) -> None:
    insert_rows(conn, "dim_date", dim_date_rows())
    for table_name, rows in DIMENSIONS.items():
        insert_rows(conn, table_name, rows)
    insert_rows(conn, "fact_sales_order", SALES_ORDERS)
    insert_rows(conn, "fact_purchase_order", PURCHASE_ORDERS)
    insert_rows(conn, "fact_payment", PAYMENTS)


def load_new_rows(conn: psycopg.Connection) -> None:
    insert_rows(conn, "fact_sales_order", NEW_SALES_ORDERS)
    insert_rows(conn, "fact_payment", NEW_PAYMENTS)

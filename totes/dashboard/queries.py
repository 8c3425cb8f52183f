"""Every SQL statement the dashboard runs, in one place.

Rules the statements keep:

- read-only: plain SELECTs, run in a READ ONLY transaction by the read-only role;
- parameterised: values travel as ``%(name)s`` parameters, never formatted into the text; identifiers (table
  and column names) come only from this module and ``totes/star.py``;
- business figures use the **latest version** of each order and payment (facts keep one row per version), the
  same ``ROW_NUMBER()`` rule as the named queries of ``sql/athena/``;
- money is summed per currency only: every money figure is grouped by ``currency_code``.
"""

from __future__ import annotations

from dataclasses import dataclass

from totes.star import FACT_PAYMENT, FACT_PURCHASE_ORDER, FACT_SALES_ORDER, STAR_TABLES, StarTable

TOP_N = 15  # bars per ranking chart
TOP_ITEMS = 8  # items shown by name in "spend by item over time"; the rest are one "other items" series
OTHER_ITEMS = "other items"

# Which way money moves for each payment type: receivables come in, payables go out. A payment type not named
# here is reported as "unclassified", never guessed.
INCOMING_PAYMENT_TYPES = ("SALES_RECEIPT", "PURCHASE_REFUND")
OUTGOING_PAYMENT_TYPES = ("PURCHASE_PAYMENT", "SALES_REFUND")

# Overdue payments by how many days past their agreed payment date: (label, first day, last day or None).
OVERDUE_AGE_BANDS = (
    ("1-30 days", 1, 30),
    ("31-60 days", 31, 60),
    ("61-90 days", 61, 90),
    ("91-180 days", 91, 180),
    ("over 180 days", 181, None),
)


@dataclass(frozen=True)
class Query:
    name: str
    grain: str  # what one row of the answer is
    sql: str


def _latest_versions(cte_name: str, fact: StarTable) -> str:
    """A CTE with the latest version of each source row of ``fact`` (its newest last_updated)."""
    source_id = fact.natural_key[0]
    return (
        f"{cte_name} AS (\n"
        f"    SELECT * FROM (\n"
        f"        SELECT f.*, ROW_NUMBER() OVER (PARTITION BY f.{source_id}\n"
        f"                                       ORDER BY f.last_updated_date DESC, f.last_updated_time DESC)"
        f" AS version_rank\n"
        f"        FROM {fact.name} f\n"
        f"    ) versions\n"
        f"    WHERE version_rank = 1\n"
        f")"
    )


LATEST_SALES = _latest_versions("latest_sales", FACT_SALES_ORDER)
LATEST_PURCHASES = _latest_versions("latest_purchases", FACT_PURCHASE_ORDER)
LATEST_PAYMENTS = _latest_versions("latest_payments", FACT_PAYMENT)

_REVENUE = "SUM(s.units_sold * s.unit_price)"
_SPEND = "SUM(p.item_quantity * p.item_unit_price)"
_MONTH = "make_date(d.year, d.month, 1)"
_DIRECTION = (
    "CASE WHEN t.payment_type_name = ANY(%(incoming_types)s) THEN 'receivable' "
    "WHEN t.payment_type_name = ANY(%(outgoing_types)s) THEN 'payable' ELSE 'unclassified' END"
)
_OVERDUE = "NOT p.paid AND p.payment_date < %(as_of)s"
_AGE_BAND = (
    "CASE "
    + " ".join(
        f"WHEN %(as_of)s - p.payment_date BETWEEN {first} AND {last} THEN {order}"
        if last is not None
        else f"WHEN %(as_of)s - p.payment_date >= {first} THEN {order}"
        for order, (_label, first, last) in enumerate(OVERDUE_AGE_BANDS)
    )
    + " END"
)

TABLE_ACCESS = Query(
    "table_access",
    "one row per warehouse table the dashboard needs: is it there, may this role read it",
    """
SELECT t.name,
       c.oid IS NOT NULL AS present,
       c.oid IS NOT NULL AND has_table_privilege(c.oid, 'SELECT') AS readable
FROM unnest(%(tables)s::text[]) AS t(name)
LEFT JOIN (pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema())
       ON c.relname = t.name AND c.relkind IN ('r', 'p', 'v', 'm')
ORDER BY t.name
""",
)

WAREHOUSE_CONTENTS = Query(
    "warehouse_contents",
    "one row: orders and payments in the warehouse, and the newest source change loaded (last_updated, UTC)",
    """
SELECT (SELECT COUNT(DISTINCT sales_order_id) FROM fact_sales_order) AS sales_orders,
       (SELECT COUNT(DISTINCT purchase_order_id) FROM fact_purchase_order) AS purchase_orders,
       (SELECT COUNT(DISTINCT payment_id) FROM fact_payment) AS payments,
       GREATEST((SELECT MAX(last_updated_date + last_updated_time) FROM fact_sales_order),
                (SELECT MAX(last_updated_date + last_updated_time) FROM fact_purchase_order),
                (SELECT MAX(last_updated_date + last_updated_time) FROM fact_payment)) AS newest_last_updated
""",
)

SALES_TOTALS = Query(
    "sales_totals",
    "one row per currency: sales orders, units sold and revenue",
    f"""
WITH {LATEST_SALES}
SELECT c.currency_code, COUNT(*) AS sales_orders, SUM(s.units_sold) AS units_sold, {_REVENUE} AS revenue
FROM latest_sales s
JOIN dim_currency c ON c.currency_id = s.currency_id
GROUP BY c.currency_code
ORDER BY c.currency_code
""",
)

REVENUE_BY_MONTH = Query(
    "revenue_by_month",
    "one row per month the orders were created in and currency",
    f"""
WITH {LATEST_SALES}
SELECT {_MONTH} AS month, c.currency_code, COUNT(*) AS sales_orders, {_REVENUE} AS revenue
FROM latest_sales s
JOIN dim_date d ON d.date_id = s.created_date
JOIN dim_currency c ON c.currency_id = s.currency_id
GROUP BY 1, 2
ORDER BY 1, 2
""",
)

TOP_DESIGNS = Query(
    "top_designs",
    "one row per design among the top_n by units sold (units are comparable across currencies)",
    f"""
WITH {LATEST_SALES}
SELECT g.design_id, g.design_name || ' #' || g.design_id AS design, SUM(s.units_sold) AS units_sold,
       COUNT(*) AS sales_orders
FROM latest_sales s
JOIN dim_design g ON g.design_id = s.design_id
GROUP BY g.design_id, g.design_name
ORDER BY units_sold DESC, g.design_id
LIMIT %(top_n)s
""",
)

REVENUE_BY_COUNTERPARTY = Query(
    "revenue_by_counterparty",
    "one row per counterparty and currency",
    f"""
WITH {LATEST_SALES}
SELECT cp.counterparty_legal_name AS counterparty, c.currency_code, COUNT(*) AS sales_orders,
       {_REVENUE} AS revenue
FROM latest_sales s
JOIN dim_counterparty cp ON cp.counterparty_id = s.counterparty_id
JOIN dim_currency c ON c.currency_id = s.currency_id
GROUP BY cp.counterparty_id, cp.counterparty_legal_name, c.currency_code
ORDER BY revenue DESC, counterparty, c.currency_code
""",
)

REVENUE_BY_DELIVERY_LOCATION = Query(
    "revenue_by_delivery_location",
    "one row per agreed delivery city (with its country) and currency",
    f"""
WITH {LATEST_SALES}
SELECT l.country, l.city, c.currency_code, COUNT(*) AS sales_orders, SUM(s.units_sold) AS units_sold,
       {_REVENUE} AS revenue
FROM latest_sales s
JOIN dim_location l ON l.location_id = s.agreed_delivery_location_id
JOIN dim_currency c ON c.currency_id = s.currency_id
GROUP BY l.country, l.city, c.currency_code
ORDER BY revenue DESC, l.country, l.city, c.currency_code
""",
)

REVENUE_BY_STAFF = Query(
    "revenue_by_staff",
    "one row per sales staff member and currency, with the member's current department",
    f"""
WITH {LATEST_SALES}
SELECT st.first_name || ' ' || st.last_name AS staff_member, st.department_name, c.currency_code,
       COUNT(*) AS sales_orders, {_REVENUE} AS revenue
FROM latest_sales s
JOIN dim_staff st ON st.staff_id = s.sales_staff_id
JOIN dim_currency c ON c.currency_id = s.currency_id
GROUP BY st.staff_id, st.first_name, st.last_name, st.department_name, c.currency_code
ORDER BY revenue DESC, staff_member, c.currency_code
""",
)

REVENUE_BY_DEPARTMENT = Query(
    "revenue_by_department",
    "one row per department (of the staff member who made the sale, as of now) and currency",
    f"""
WITH {LATEST_SALES}
SELECT st.department_name, c.currency_code, COUNT(*) AS sales_orders, {_REVENUE} AS revenue
FROM latest_sales s
JOIN dim_staff st ON st.staff_id = s.sales_staff_id
JOIN dim_currency c ON c.currency_id = s.currency_id
GROUP BY st.department_name, c.currency_code
ORDER BY revenue DESC, st.department_name, c.currency_code
""",
)

PURCHASE_TOTALS = Query(
    "purchase_totals",
    "one row per currency: purchase orders, items bought and spend",
    f"""
WITH {LATEST_PURCHASES}
SELECT c.currency_code, COUNT(*) AS purchase_orders, SUM(p.item_quantity) AS items, {_SPEND} AS spend
FROM latest_purchases p
JOIN dim_currency c ON c.currency_id = p.currency_id
GROUP BY c.currency_code
ORDER BY c.currency_code
""",
)

SPEND_BY_COUNTERPARTY_MONTH = Query(
    "spend_by_counterparty_month",
    "one row per month the purchase orders were created in, counterparty and currency",
    f"""
WITH {LATEST_PURCHASES}
SELECT {_MONTH} AS month, cp.counterparty_legal_name AS counterparty, c.currency_code,
       COUNT(*) AS purchase_orders, {_SPEND} AS spend
FROM latest_purchases p
JOIN dim_date d ON d.date_id = p.created_date
JOIN dim_counterparty cp ON cp.counterparty_id = p.counterparty_id
JOIN dim_currency c ON c.currency_id = p.currency_id
GROUP BY 1, cp.counterparty_id, cp.counterparty_legal_name, c.currency_code
ORDER BY 1, counterparty, c.currency_code
""",
)

SPEND_BY_ITEM_MONTH = Query(
    "spend_by_item_month",
    "one row per month, currency and item: the top_items items by spend in that currency by name, "
    "the rest as other_items",
    f"""
WITH {LATEST_PURCHASES},
item_ranks AS (
    SELECT p.currency_id, p.item_code,
           ROW_NUMBER() OVER (PARTITION BY p.currency_id ORDER BY {_SPEND} DESC, p.item_code) AS spend_rank
    FROM latest_purchases p
    GROUP BY p.currency_id, p.item_code
)
SELECT {_MONTH} AS month, c.currency_code,
       CASE WHEN r.spend_rank <= %(top_items)s THEN p.item_code ELSE %(other_items)s END AS item,
       COUNT(*) AS purchase_orders, {_SPEND} AS spend
FROM latest_purchases p
JOIN item_ranks r ON r.currency_id = p.currency_id AND r.item_code = p.item_code
JOIN dim_date d ON d.date_id = p.created_date
JOIN dim_currency c ON c.currency_id = p.currency_id
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
""",
)

PAYMENTS_BY_TYPE_AND_STATUS = Query(
    "payments_by_type_and_status",
    "one row per currency, payment type and paid flag (of each payment's latest version)",
    f"""
WITH {LATEST_PAYMENTS}
SELECT c.currency_code, t.payment_type_name, p.paid, COUNT(*) AS payments, SUM(p.payment_amount) AS amount
FROM latest_payments p
JOIN dim_payment_type t ON t.payment_type_id = p.payment_type_id
JOIN dim_currency c ON c.currency_id = p.currency_id
GROUP BY c.currency_code, t.payment_type_name, p.paid
ORDER BY c.currency_code, t.payment_type_name, p.paid
""",
)

PAYMENT_BALANCES = Query(
    "payment_balances",
    "one row per currency and direction (receivable, payable): paid, unpaid and overdue amounts as of as_of",
    f"""
WITH {LATEST_PAYMENTS}
SELECT c.currency_code, {_DIRECTION} AS direction,
       COUNT(*) FILTER (WHERE p.paid) AS paid_payments,
       COALESCE(SUM(p.payment_amount) FILTER (WHERE p.paid), 0) AS paid_amount,
       COUNT(*) FILTER (WHERE NOT p.paid) AS unpaid_payments,
       COALESCE(SUM(p.payment_amount) FILTER (WHERE NOT p.paid), 0) AS unpaid_amount,
       COUNT(*) FILTER (WHERE {_OVERDUE}) AS overdue_payments,
       COALESCE(SUM(p.payment_amount) FILTER (WHERE {_OVERDUE}), 0) AS overdue_amount
FROM latest_payments p
JOIN dim_payment_type t ON t.payment_type_id = p.payment_type_id
JOIN dim_currency c ON c.currency_id = p.currency_id
GROUP BY 1, 2
ORDER BY 1, 2
""",
)

OVERDUE_BY_AGE = Query(
    "overdue_by_age",
    "one row per currency, direction and age band of the unpaid payments past their agreed payment date",
    f"""
WITH {LATEST_PAYMENTS}
SELECT c.currency_code, {_DIRECTION} AS direction, {_AGE_BAND} AS age_band_order,
       COUNT(*) AS overdue_payments, SUM(p.payment_amount) AS overdue_amount
FROM latest_payments p
JOIN dim_payment_type t ON t.payment_type_id = p.payment_type_id
JOIN dim_currency c ON c.currency_id = p.currency_id
WHERE {_OVERDUE}
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
""",
)

# What the page shows, in the order it is read; one READ ONLY transaction runs them all (one snapshot).
PAGE_QUERIES: tuple[Query, ...] = (
    WAREHOUSE_CONTENTS,
    SALES_TOTALS,
    REVENUE_BY_MONTH,
    TOP_DESIGNS,
    REVENUE_BY_COUNTERPARTY,
    REVENUE_BY_DELIVERY_LOCATION,
    REVENUE_BY_STAFF,
    REVENUE_BY_DEPARTMENT,
    PURCHASE_TOTALS,
    SPEND_BY_COUNTERPARTY_MONTH,
    SPEND_BY_ITEM_MONTH,
    PAYMENTS_BY_TYPE_AND_STATUS,
    PAYMENT_BALANCES,
    OVERDUE_BY_AGE,
)
REQUIRED_TABLES: tuple[str, ...] = tuple(table.name for table in STAR_TABLES)


def parameters(as_of) -> dict:
    """The parameters every page query may use (psycopg ignores the ones a statement does not name)."""
    return {
        "as_of": as_of,
        "top_n": TOP_N,
        "top_items": TOP_ITEMS,
        "other_items": OTHER_ITEMS,
        "incoming_types": list(INCOMING_PAYMENT_TYPES),
        "outgoing_types": list(OUTGOING_PAYMENT_TYPES),
        "tables": list(REQUIRED_TABLES),
    }


def age_band_label(order: int) -> str:
    return OVERDUE_AGE_BANDS[order][0]

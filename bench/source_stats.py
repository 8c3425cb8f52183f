"""What the source database did for a run: rows read per table by scan type, and the query plans of a delta.

``pg_stat_user_tables`` counts, per table, the sequential scans and the rows they read (``seq_tup_read``), and
the index scans and the rows they fetched (``idx_tup_fetch``). A snapshot before and after a run gives the rows
that run made the server read: a delta that scans a whole table shows up as ``seq_tup_read`` of the table's size.
The job processes end before the second snapshot, and PostgreSQL flushes a backend's counters when it exits.
"""

from __future__ import annotations

import datetime as dt
import json
import time

from psycopg import sql

from totes.ingest.window import ReadWindow, parse_timestamp, window_query
from totes.secrets import DatabaseCredentials
from totes.source.database import INDEXES_SQL, connect
from totes.tables import SOURCE_TABLES, source_table

_STATS_QUERY = """
SELECT relname, seq_scan, seq_tup_read, COALESCE(idx_scan, 0), COALESCE(idx_tup_fetch, 0)
  FROM pg_stat_user_tables WHERE schemaname = 'public'
"""


def table_scan_counters(owner: DatabaseCredentials) -> dict[str, dict[str, int]]:
    with connect(owner, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return {name: {"seq_scan": seq_scan, "seq_tup_read": seq_read, "idx_scan": idx_scan,
                       "idx_tup_fetch": idx_fetch}
                for name, seq_scan, seq_read, idx_scan, idx_fetch in conn.execute(_STATS_QUERY).fetchall()}


def rows_read_between(before: dict, after: dict) -> dict[str, dict[str, int]]:
    """Per table: the scans and rows read between two snapshots."""
    difference = {}
    for name, counters in after.items():
        earlier = before.get(name, {})
        difference[name] = {key: value - earlier.get(key, 0) for key, value in counters.items()}
    return difference


def settle_stats(seconds: float = 1.0) -> None:
    """Let the exited backends' statistics reach the shared counters (PostgreSQL 15 flushes at exit)."""
    time.sleep(seconds)


def _plan_summary(plan: dict) -> dict:
    nodes = []

    def walk(node):
        nodes.append({key: node.get(key) for key in ("Node Type", "Relation Name", "Index Name", "Actual Rows",
                                                     "Rows Removed by Filter", "Filter", "Index Cond",
                                                     "Recheck Cond") if node.get(key) is not None})
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return {"execution_ms": plan.get("Execution Time"), "nodes": nodes}


def explain_window(owner: DatabaseCredentials, table_name: str, window: dict, extra_predicate: str = "") -> dict:
    """EXPLAIN ANALYZE of the query the ingestion job sends for ``table_name`` and a manifest's window."""
    read_window = ReadWindow(parse_timestamp(window["from_exclusive"]), parse_timestamp(window["to_inclusive"]))
    query = window_query(source_table(table_name), read_window)
    if extra_predicate:
        query = f"SELECT * FROM ({query}) AS w WHERE {extra_predicate}"
    with connect(owner) as conn:
        (plan,) = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}").fetchone()[0]
        text = "\n".join(row[0] for row in conn.execute(f"EXPLAIN {query}").fetchall())
    return {"table": table_name, "query": query, "plan_text": text, **_plan_summary(plan)}


def drop_last_updated_indexes(owner: DatabaseCredentials) -> list[str]:
    names = []
    with connect(owner) as conn:
        for table in SOURCE_TABLES:
            name = f"{table.name}_last_updated_idx"
            conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name)))
            names.append(name)
        conn.commit()
    return names


def create_last_updated_indexes(owner: DatabaseCredentials) -> float:
    started = time.monotonic()
    with connect(owner) as conn:
        conn.execute(INDEXES_SQL.read_text())
        conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
    return round(time.monotonic() - started, 3)


def index_sizes(owner: DatabaseCredentials) -> dict[str, int]:
    with connect(owner) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c WHERE c.relkind = 'i' "
            "AND c.relname LIKE '%_last_updated_idx'").fetchall()
    return dict(rows)


def delta_sizes(total_rows: int, fraction: float) -> dict[str, int]:
    """Simulator arguments changing ``fraction`` of the source rows: new orders (each one order, one transaction,
    one payment) in the real data's sales/purchase ratio, and about a third as many payments marked paid."""
    target = max(10, round(total_rows * fraction))
    paid = round(target * 0.3)
    orders = max(2, round((target - paid) / 3))
    sales = round(orders * 11_187 / (11_187 + 4_649))
    return {"new_sales_orders": sales, "new_purchase_orders": orders - sales, "payments_to_mark_paid": paid}


def to_json(value) -> str:
    return json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, dt.datetime) else str(v))

"""Fixtures of the dashboard tests: a throwaway migrated warehouse per test, written by the loader role and
read by the read-only role through a secret file, as the dashboard reads the real one."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from psycopg import sql

from tests.dashboard import warehouse_rows
from totes import logs
from totes.secrets import DatabaseCredentials, LocalSecretProvider
from totes.settings import LOCAL_SECRETS_DIR, WAREHOUSE_READONLY_SECRET_ID, WAREHOUSE_SECRET_ID
from totes.source.database import create_database, drop_database
from totes.warehouse.database import connect
from totes.warehouse.migrations import migrate


@dataclass
class DashboardWarehouse:
    loader: DatabaseCredentials  # owns and writes the tables
    reader: DatabaseCredentials  # warehouse_reader, pointed at this database
    secrets_dir: Path  # holds the reader's secret (and only that one)

    def sql(self, statement, params=None) -> list[tuple]:
        """Run SQL as the loader and commit."""
        with connect(self.loader) as conn:
            cursor = conn.execute(statement, params)
            rows = cursor.fetchall() if cursor.description else []
            conn.commit()
            return rows

    def load_known_rows(self) -> None:
        with connect(self.loader) as conn:
            warehouse_rows.load_known_rows(conn)
            conn.commit()

    def load_new_rows(self) -> None:
        with connect(self.loader) as conn:
            warehouse_rows.load_new_rows(conn)
            conn.commit()

    def rename_table(self, old: str, new: str) -> None:
        self.sql(sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new)))

    def write_reader_secret(self, **overrides) -> None:
        """The dashboard's secret file; ``overrides`` point it elsewhere (e.g. a port nothing listens on)."""
        path = self.secrets_dir / f"{WAREHOUSE_READONLY_SECRET_ID}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dataclasses.asdict(dataclasses.replace(self.reader, **overrides))))


def _database_name(request) -> str:
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    return "wh_dash_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:36] + "_" + digest


@pytest.fixture
def dashboard_warehouse(request, tmp_path, monkeypatch) -> DashboardWarehouse:
    """A fresh migrated, empty warehouse; TOTES_LOCAL_SECRETS_DIR holds the read-only secret for it."""
    provider = LocalSecretProvider(LOCAL_SECRETS_DIR)
    owner = provider.get_database_credentials(WAREHOUSE_SECRET_ID)
    reader = provider.get_database_credentials(WAREHOUSE_READONLY_SECRET_ID)
    name = _database_name(request)
    loader = create_database(owner, name)
    logs.configure(job="tests")
    with connect(loader) as conn:
        migrate(conn)
    warehouse = DashboardWarehouse(loader, dataclasses.replace(reader, dbname=name), tmp_path / "secrets")
    warehouse.write_reader_secret()
    monkeypatch.setenv("TOTES_LOCAL_SECRETS_DIR", str(warehouse.secrets_dir))
    yield warehouse
    drop_database(owner, name)


@pytest.fixture
def known_warehouse(dashboard_warehouse) -> DashboardWarehouse:
    dashboard_warehouse.load_known_rows()
    return dashboard_warehouse


# Independent of totes/dashboard/queries.py: DISTINCT ON instead of ROW_NUMBER(), written out per figure.
LATEST_SALES_TRUTH = (
    "(SELECT DISTINCT ON (sales_order_id) * FROM fact_sales_order "
    " ORDER BY sales_order_id, last_updated_date DESC, last_updated_time DESC)"
)
LATEST_PAYMENTS_TRUTH = (
    "(SELECT DISTINCT ON (payment_id) * FROM fact_payment "
    " ORDER BY payment_id, last_updated_date DESC, last_updated_time DESC)"
)
REVENUE_TRUTH = (
    f"SELECT c.currency_code, SUM(s.units_sold * s.unit_price) FROM {LATEST_SALES_TRUTH} s "
    "JOIN dim_currency c USING (currency_id) GROUP BY c.currency_code"
)
SPEND_TRUTH = (
    "SELECT c.currency_code, SUM(p.item_quantity * p.item_unit_price) FROM "
    "(SELECT DISTINCT ON (purchase_order_id) * FROM fact_purchase_order "
    " ORDER BY purchase_order_id, last_updated_date DESC, last_updated_time DESC) p "
    "JOIN dim_currency c USING (currency_id) GROUP BY c.currency_code"
)
# (currency, direction) -> (unpaid, overdue); receivable = money in.
BALANCES_TRUTH = (
    "SELECT c.currency_code, "
    "       CASE WHEN t.payment_type_name IN ('SALES_RECEIPT', 'PURCHASE_REFUND') THEN 'receivable' "
    "            ELSE 'payable' END, "
    "       SUM(p.payment_amount) FILTER (WHERE NOT p.paid), "
    "       SUM(p.payment_amount) FILTER (WHERE NOT p.paid "
    "                                     AND p.payment_date < (now() AT TIME ZONE 'UTC')::date) "
    f"FROM {LATEST_PAYMENTS_TRUTH} p JOIN dim_currency c USING (currency_id) "
    "JOIN dim_payment_type t USING (payment_type_id) GROUP BY 1, 2"
)

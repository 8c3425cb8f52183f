"""The whole pipeline on throwaway databases and zones: fixtures and the checks against the source.

``pipeline`` yields (source owner credentials, warehouse credentials, run_workflow): ``run_workflow()`` runs the
three real Glue scripts in order, as one workflow run does.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
from decimal import Decimal

import pytest

from tests.conftest import PROCESSED_CATALOG_ARGS, copy_processed_catalog_secret

from totes.secrets import LocalSecretProvider
from totes.settings import (
    INGEST_JOB_NAME,
    LOAD_JOB_NAME,
    LOCAL_SECRETS_DIR,
    REPO_DIR,
    SOURCE_SECRET_ID,
    TRANSFORM_JOB_NAME,
    WAREHOUSE_SECRET_ID,
)
from totes.source.database import connect as source_connect
from totes.source.database import create_database, drop_database
from totes.source.generator import generate
from totes.warehouse.database import connect as warehouse_connect
from totes.warehouse.migrations import migrate


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_DIR / "glue_jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def warehouse(request):
    loader = LocalSecretProvider(LOCAL_SECRETS_DIR).get_database_credentials(WAREHOUSE_SECRET_ID)
    name = "wh_e2e_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    credentials = create_database(loader, name)
    with warehouse_connect(credentials) as conn:
        migrate(conn)
    yield credentials
    drop_database(loader, name)


@pytest.fixture
def pipeline(spark, empty_source_db, warehouse, tmp_path, monkeypatch):
    owner, reader = empty_source_db
    with source_connect(owner) as conn:
        generate(conn, scale=0.02, seed=2024)
    secrets_dir = tmp_path / "secrets"
    for secret_id, credentials in ((SOURCE_SECRET_ID, reader), (WAREHOUSE_SECRET_ID, warehouse)):
        path = secrets_dir / f"{secret_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dataclasses.asdict(credentials)))
    copy_processed_catalog_secret(secrets_dir)
    monkeypatch.setenv("TOTES_LOCAL_SECRETS_DIR", str(secrets_dir))
    monkeypatch.setenv("TOTES_LOCAL_CATALOG_DIR", str(tmp_path / "catalog"))
    monkeypatch.setenv("TOTES_LOG_FILE", str(tmp_path / "logs" / "pipeline.jsonl"))
    ingestion, processed = (tmp_path / "ingestion").as_uri(), (tmp_path / "processed").as_uri()
    jobs = _script("ingest_totesys"), _script("transform_totesys"), _script("load_warehouse")
    enable = ["--job-bookmark-option", "job-bookmark-enable"]

    def run_workflow(*load_arguments: str):
        jobs[0].main(["ingest", "--JOB_NAME", INGEST_JOB_NAME, "--ingestion-zone", ingestion,
                      "--source-secret-id", SOURCE_SECRET_ID, "--read-lag-seconds", "0",
                      "--catalog-database", "e2e_ingestion", *enable])
        jobs[1].main(["transform", "--JOB_NAME", TRANSFORM_JOB_NAME, "--ingestion-zone", ingestion,
                      "--processed-zone", processed, "--catalog-database", "e2e_processed",
                      *PROCESSED_CATALOG_ARGS, *enable])
        return jobs[2].main(["load", "--JOB_NAME", LOAD_JOB_NAME, "--processed-zone", processed,
                             "--warehouse-secret-id", WAREHOUSE_SECRET_ID, "--ingestion-zone", ingestion,
                             "--catalog-database", "e2e_processed", *PROCESSED_CATALOG_ARGS, *enable,
                             *load_arguments])

    run_workflow.written = tmp_path  # everything the runs write: zones, catalog, JSON logs
    run_workflow.passwords = (reader.password, warehouse.password)
    return owner, warehouse, run_workflow


def rows_of(credentials, statement: str, connect) -> list[tuple]:
    with connect(credentials) as conn:
        return [tuple(row) for row in conn.execute(statement).fetchall()]


def normalised(rows):
    def value(v):
        return v.normalize() if isinstance(v, Decimal) else v
    return sorted(tuple(value(v) for v in row) for row in rows)


VERSIONS_IN_SOURCE = {
    "fact_sales_order": "SELECT sales_order_id, last_updated FROM sales_order",
    "fact_purchase_order": "SELECT purchase_order_id, last_updated FROM purchase_order",
    "fact_payment": "SELECT payment_id, last_updated FROM payment",
}
VERSIONS_IN_WAREHOUSE = {
    "fact_sales_order": "SELECT sales_order_id, last_updated_date + last_updated_time FROM fact_sales_order",
    "fact_purchase_order": "SELECT purchase_order_id, last_updated_date + last_updated_time FROM fact_purchase_order",
    "fact_payment": "SELECT payment_id, last_updated_date + last_updated_time FROM fact_payment",
}
# Each dimension as the source says it should be now, and as the warehouse holds it.
DIMENSIONS_IN_SOURCE = {
    "dim_staff": "SELECT s.staff_id, s.first_name, s.last_name, d.department_name, d.location, s.email_address "
                 "FROM staff s JOIN department d USING (department_id)",
    "dim_location": "SELECT address_id, address_line_1, NULLIF(TRIM(address_line_2), ''), NULLIF(TRIM(district), ''),"
                    " city, postal_code, country, phone FROM address",
    "dim_design": "SELECT design_id, design_name, file_location, file_name FROM design",
    "dim_payment_type": "SELECT payment_type_id, payment_type_name::text FROM payment_type",
    "dim_transaction": 'SELECT transaction_id, transaction_type::text, sales_order_id, purchase_order_id '
                       'FROM "transaction"',
    "dim_counterparty": "SELECT c.counterparty_id, c.counterparty_legal_name, a.address_line_1, "
                        "NULLIF(TRIM(a.address_line_2), ''), NULLIF(TRIM(a.district), ''), a.city, a.postal_code, "
                        "a.country, a.phone FROM counterparty c JOIN address a ON a.address_id = c.legal_address_id",
    "dim_currency": "SELECT currency_id, currency_code FROM currency",
}
DIMENSIONS_IN_WAREHOUSE = {
    "dim_staff": "SELECT staff_id, first_name, last_name, department_name, location, email_address FROM dim_staff",
    "dim_location": "SELECT location_id, address_line_1, address_line_2, district, city, postal_code, country, "
                    "phone FROM dim_location",
    "dim_design": "SELECT design_id, design_name, file_location, file_name FROM dim_design",
    "dim_payment_type": "SELECT payment_type_id, payment_type_name FROM dim_payment_type",
    "dim_transaction": "SELECT transaction_id, transaction_type, sales_order_id, purchase_order_id "
                       "FROM dim_transaction",
    "dim_counterparty": "SELECT counterparty_id, counterparty_legal_name, counterparty_legal_address_line_1, "
                        "counterparty_legal_address_line_2, counterparty_legal_district, counterparty_legal_city, "
                        "counterparty_legal_postal_code, counterparty_legal_country, "
                        "counterparty_legal_phone_number FROM dim_counterparty",
    "dim_currency": "SELECT currency_id, currency_code FROM dim_currency",
}
PAYMENTS_PER_CURRENCY_IN_SOURCE = (
    "SELECT c.currency_code, SUM(p.payment_amount), COUNT(*), SUM(CASE WHEN p.paid THEN 1 ELSE 0 END) "
    "FROM payment p JOIN currency c USING (currency_id) GROUP BY c.currency_code")
PAYMENTS_PER_CURRENCY_IN_WAREHOUSE = (
    "SELECT c.currency_code, SUM(p.payment_amount), COUNT(*), SUM(CASE WHEN p.paid THEN 1 ELSE 0 END) "
    "FROM (SELECT DISTINCT ON (payment_id) * FROM fact_payment "
    "      ORDER BY payment_id, last_updated_date DESC, last_updated_time DESC) p "
    "JOIN dim_currency c USING (currency_id) GROUP BY c.currency_code")
SALES_PER_CURRENCY_IN_SOURCE = (
    "SELECT c.currency_code, SUM(s.units_sold * s.unit_price) FROM sales_order s JOIN currency c USING (currency_id) "
    "GROUP BY c.currency_code")
SALES_PER_CURRENCY_IN_WAREHOUSE = (
    "SELECT c.currency_code, SUM(s.units_sold * s.unit_price) FROM fact_sales_order s "
    "JOIN dim_currency c USING (currency_id) GROUP BY c.currency_code")


def check_warehouse_against_source(source, warehouse, versions_seen: dict[str, set]):
    for fact, statement in VERSIONS_IN_SOURCE.items():
        current = set(rows_of(source, statement, source_connect))
        versions_seen[fact] |= current
        loaded = rows_of(warehouse, VERSIONS_IN_WAREHOUSE[fact], warehouse_connect)
        assert len(loaded) == len(set(loaded)), f"{fact}: a version loaded twice"
        # Every version the source ever had while the pipeline watched it, exactly once.
        assert set(loaded) == versions_seen[fact], fact
    for dim, statement in DIMENSIONS_IN_SOURCE.items():
        assert sorted(rows_of(warehouse, DIMENSIONS_IN_WAREHOUSE[dim], warehouse_connect)) == \
            sorted(rows_of(source, statement, source_connect)), dim
    assert rows_of(warehouse, PAYMENTS_PER_CURRENCY_IN_WAREHOUSE, warehouse_connect) and \
        sorted(rows_of(warehouse, PAYMENTS_PER_CURRENCY_IN_WAREHOUSE, warehouse_connect)) == \
        sorted(rows_of(source, PAYMENTS_PER_CURRENCY_IN_SOURCE, source_connect))
    assert sorted(rows_of(warehouse, SALES_PER_CURRENCY_IN_WAREHOUSE, warehouse_connect)) == \
        sorted(rows_of(source, SALES_PER_CURRENCY_IN_SOURCE, source_connect))
    names = {"GBP": "Pound Sterling", "USD": "US Dollar", "EUR": "Euro"}
    assert dict(rows_of(warehouse, "SELECT currency_code, currency_name FROM dim_currency", warehouse_connect)) == names



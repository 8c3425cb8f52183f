"""Warehouse migrations: versioned, recorded with checksums, safe to re-run, matching totes/star.py; roles."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil

import psycopg
import pytest

from totes.settings import WAREHOUSE_SECRET_ID
from totes.star import WAREHOUSE_TABLES
from totes.warehouse.__main__ import main as warehouse_cli
from totes.warehouse.database import connect
from totes.warehouse.errors import MigrationError
from totes.warehouse.migrations import MIGRATIONS_DIR, applied_migrations, discover, migrate
from totes.warehouse.schema import check_warehouse_schema, format_type, schema_problems

from tests.warehouse.conftest import write_local_secret


def _catalog(conn) -> list[tuple]:
    """Every column and constraint of the public schema: what a second migrate must leave identical."""
    columns = conn.execute(
        "SELECT table_name, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2").fetchall()
    constraints = conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2").fetchall()
    return columns + constraints


@pytest.fixture
def migrations_copy(tmp_path):
    """A private copy of sql/warehouse that a test may add to or edit."""
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    return directory


def test_migrate_applies_every_version_in_order_and_records_its_checksum(empty_warehouse_db):
    with connect(empty_warehouse_db) as conn:
        result = migrate(conn)

        assert [m.version for m in result.applied] == [m.version for m in discover()] == [1, 2]
        records = applied_migrations(conn)
        assert [record.script for record in records] == ["V001__star_schema.sql", "V002__source_deletion.sql"]
        for record in records:
            assert record.checksum == hashlib.sha256((MIGRATIONS_DIR / record.script).read_bytes()).hexdigest()


def test_migrate_again_applies_nothing_and_changes_nothing(warehouse_db):
    with connect(warehouse_db) as conn:
        before = _catalog(conn), applied_migrations(conn)
        conn.rollback()  # migrate runs in a transaction of its own

        result = migrate(conn)

        assert result.applied == [] and result.current_version == 2
        assert (_catalog(conn), applied_migrations(conn)) == before


def test_migrated_schema_matches_the_star_definition(warehouse_db):
    with connect(warehouse_db) as conn:
        check_warehouse_schema(conn)
        for table in WAREHOUSE_TABLES:
            rows = conn.execute(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull "
                "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped "
                "ORDER BY a.attnum",
                (table.name,)).fetchall()
            declared = [(c.name, format_type(c.pg_type), c.nullable) for c in table.columns]
            if table.is_fact:
                assert rows[0] == (table.record_id, "integer", False), table.name
                rows = rows[1:]
            assert rows == declared, table.name


def test_a_fact_row_without_its_dimension_rows_is_refused_by_the_warehouse(warehouse_db):
    with connect(warehouse_db) as conn:
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="dim_date"):
            conn.execute(
                "INSERT INTO fact_payment (payment_id, created_date, created_time, last_updated_date, "
                "last_updated_time, transaction_id, counterparty_id, payment_amount, currency_id, "
                "payment_type_id, paid, payment_date) "
                "VALUES (1, '2024-07-01', '10:00', '2024-07-01', '10:00', 1, 1, 1.00, 1, 1, false, "
                "'2024-07-01')")


def test_an_applied_migration_that_changed_is_refused(empty_warehouse_db, migrations_copy):
    with connect(empty_warehouse_db) as conn:
        migrate(conn, migrations_copy)
        script = migrations_copy / "V001__star_schema.sql"
        script.write_text(script.read_text() + "\n-- an innocent-looking edit\n")

        with pytest.raises(MigrationError, match="V001__star_schema.sql changed after it was applied"):
            migrate(conn, migrations_copy)


def test_a_failing_migration_leaves_the_warehouse_as_it_was_and_unrecorded(warehouse_db, migrations_copy):
    (migrations_copy / "V099__add_broken_view.sql").write_text(
        "CREATE TABLE note (id integer);\nCREATE VIEW broken AS SELECT no_such_column FROM dim_date;\n")
    with connect(warehouse_db) as conn:
        before = _catalog(conn)
        conn.rollback()  # migrate runs in a transaction of its own

        with pytest.raises(MigrationError, match="V099__add_broken_view.sql failed: .*no_such_column"):
            migrate(conn, migrations_copy)

        assert _catalog(conn) == before
        assert [record.version for record in applied_migrations(conn)] == [1, 2]


def test_a_new_migration_applies_once_and_its_tables_are_readable_by_the_reader_role(
        warehouse_db, migrations_copy, warehouse_reader_credentials):
    (migrations_copy / "V099__sales_targets.sql").write_text(
        "CREATE TABLE sales_target (staff_id integer PRIMARY KEY REFERENCES dim_staff, "
        "target numeric(10,2));\n")
    with connect(warehouse_db) as conn:
        assert [m.version for m in migrate(conn, migrations_copy).applied] == [99]
        assert migrate(conn, migrations_copy).applied == []
    reader = dataclasses.replace(warehouse_reader_credentials, dbname=warehouse_db.dbname)
    with connect(reader) as conn:
        assert conn.execute("SELECT count(*) FROM sales_target").fetchone() == (0,)


@pytest.mark.parametrize("problem, message", [
    ("missing", "version 1 .* is applied in the warehouse but its file is missing"),
    ("out_of_order", "V000__too_late.sql would run out of order"),
    ("badly_named", "notes.sql: a migration file is named V<number>__<description>.sql"),
])
def test_migration_files_that_cannot_be_trusted_are_refused(warehouse_db, migrations_copy, problem, message):
    if problem == "missing":
        (migrations_copy / "V001__star_schema.sql").unlink()
    elif problem == "out_of_order":
        (migrations_copy / "V000__too_late.sql").write_text("SELECT 1;\n")
    else:
        (migrations_copy / "notes.sql").write_text("SELECT 1;\n")
    with connect(warehouse_db) as conn:
        with pytest.raises(MigrationError, match=message):
            migrate(conn, migrations_copy)


def test_reader_role_can_select_every_table_and_cannot_write(warehouse_db, warehouse_reader_credentials):
    reader = dataclasses.replace(warehouse_reader_credentials, dbname=warehouse_db.dbname)
    with connect(reader, autocommit=True) as conn:
        for table in WAREHOUSE_TABLES:
            assert conn.execute(f"SELECT count(*) FROM {table.name}").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (2,)
        denied = "permission denied for table dim_currency"
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=denied):
            conn.execute("INSERT INTO dim_currency VALUES (9, 'JPY', 'Yen')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM dim_date")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for schema public"):
            conn.execute("CREATE TABLE mine (id integer)")


def test_schema_check_lists_every_difference(warehouse_db):
    with connect(warehouse_db) as conn:
        conn.execute("ALTER TABLE dim_staff ALTER COLUMN location SET NOT NULL")
        conn.execute("ALTER TABLE fact_payment DROP CONSTRAINT fact_payment_version_key")
        conn.execute("ALTER TABLE dim_design ADD COLUMN colour text")

        assert schema_problems(conn) == [
            "column dim_staff.location is NOT NULL, expected nullable",
            "column dim_design.colour is not in totes/star.py",
            "table fact_payment lacks the unique constraint on its natural key "
            "(payment_id, last_updated_date, last_updated_time)",
        ]
        conn.rollback()


def test_cli_migrate_uses_the_loader_secret_and_is_safe_to_repeat(empty_warehouse_db, tmp_path, monkeypatch,
                                                                   capsys):
    write_local_secret(tmp_path / "secrets", WAREHOUSE_SECRET_ID, empty_warehouse_db)
    monkeypatch.setenv("TOTES_LOCAL_SECRETS_DIR", str(tmp_path / "secrets"))

    assert warehouse_cli(["migrate"]) == 0
    assert warehouse_cli(["migrate"]) == 0
    assert warehouse_cli(["check"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("applied V001 (star schema), V002 (source deletion); now at V002")
    assert out[1].endswith("up to date at V002")
    assert out[2].endswith("matches totes/star.py")

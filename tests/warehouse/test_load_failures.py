"""Failures of the load job: a clear error naming what is wrong, a failed run, the warehouse exactly as
before, the bookmark unmoved; and the rerun completes once the cause is gone."""

from __future__ import annotations

import dataclasses

import pytest

from totes.preflight import PreflightError
from totes.warehouse.errors import (
    BatchInputError,
    ForeignKeyViolation,
    OrphanKey,
    WarehouseSchemaError,
)
from totes.warehouse.loader import WarehouseLoader

from tests.warehouse.conftest import BAD_FK, FIRST, UPDATE, write_local_secret


@pytest.fixture
def update_pending(loaded_once):
    """FIRST is loaded, UPDATE is committed by the transform and waits; yields (harness, state before)."""
    loaded_once.commit(UPDATE)
    return loaded_once, _state(loaded_once)


def _state(harness, exclude: tuple[str, ...] = ()) -> tuple:
    load_runs = [manifest.run_id for manifest in harness.load_manifests()]
    return harness.dump(exclude), harness.bookmark_text(), load_runs


def test_a_failure_half_way_leaves_the_warehouse_exactly_as_before_and_the_rerun_completes(update_pending,
                                                                                          monkeypatch):
    harness, before = update_pending
    merged = []
    original = WarehouseLoader._merge_fact

    def merge_then_fail_on_the_last_fact(self, table, result):
        if table.name == "fact_payment":
            raise ConnectionResetError("connection lost during the last merge (injected)")
        original(self, table, result)
        merged.append(table.name)

    with monkeypatch.context() as patch:
        patch.setattr(WarehouseLoader, "_merge_fact", merge_then_fail_on_the_last_fact)
        with pytest.raises(ConnectionResetError, match="injected"):
            harness.run()

    assert merged == ["fact_sales_order", "fact_purchase_order"]  # dimensions and two facts were merged...
    assert _state(harness) == before  # ...and rolled back with everything else

    rerun = harness.run()

    assert rerun.batch_run_ids == [UPDATE]
    assert len(harness.rows("fact_payment")) == 5
    assert harness.rows("dim_staff")[0][3] == "Production"


def test_a_foreign_key_violation_names_the_offending_keys_and_loads_nothing(loaded_once):
    before = _state(loaded_once)
    loaded_once.commit(BAD_FK)

    with pytest.raises(ForeignKeyViolation) as raised:
        loaded_once.run()

    assert raised.value.orphans == [
        OrphanKey("fact_sales_order", "sales_staff_id", 77, "dim_staff", 1,
                  "fact_sales_order_sales_staff_id_fkey"),
        OrphanKey("fact_sales_order", "design_id", 999, "dim_design", 3, "fact_sales_order_design_id_fkey"),
    ]
    message = str(raised.value)
    assert ("fact_sales_order.design_id = 999 has no dim_design row (3 rows, foreign key "
            "fact_sales_order_design_id_fkey)") in message
    assert ("fact_sales_order.sales_staff_id = 77 has no dim_staff row (1 rows, foreign key "
            "fact_sales_order_sales_staff_id_fkey)") in message
    assert _state(loaded_once) == before


def test_wrong_warehouse_password_names_the_user_and_never_the_password(update_pending, capfd):
    harness, before = update_pending
    wrong = dataclasses.replace(harness.credentials, password="not-the-Password-42")
    write_local_secret(harness.secrets_dir, "totesys/wrong-password", wrong)

    # The pre-flight (totes/preflight/) finds it before the job reads anything, in the connection's words.
    with pytest.raises(PreflightError, match="password authentication failed") as raised:
        harness.run(secret_id="totesys/wrong-password")

    assert f"warehouse {harness.credentials.username}@" in str(raised.value)
    captured = capfd.readouterr()
    for text in (str(raised.value), captured.out, captured.err):
        assert "not-the-Password-42" not in text
        assert harness.credentials.password not in text
    assert _state(harness) == before


def test_a_missing_warehouse_table_is_named(update_pending):
    harness, _ = update_pending
    harness.sql("ALTER TABLE fact_payment RENAME TO fact_payment_old")
    before = _state(harness, exclude=("fact_payment",))

    with pytest.raises(WarehouseSchemaError, match="table fact_payment is missing"):
        harness.run()

    assert _state(harness, exclude=("fact_payment",)) == before
    assert harness.sql("SELECT count(*) FROM fact_payment_old") == [(3,)]


def test_a_column_type_mismatch_is_named_with_both_types(update_pending):
    harness, _ = update_pending
    harness.sql("ALTER TABLE fact_sales_order ALTER COLUMN units_sold TYPE bigint")
    before = _state(harness)

    expected = "column fact_sales_order.units_sold is bigint, expected integer"
    with pytest.raises(WarehouseSchemaError, match=expected):
        harness.run()

    assert _state(harness) == before


@pytest.fixture
def own_update_pending(loading_own_files):
    """As ``update_pending``, over processed files of this test's own."""
    loading_own_files.commit(FIRST)
    loading_own_files.run()
    loading_own_files.commit(UPDATE)
    return loading_own_files, _state(loading_own_files)


def test_a_missing_data_file_of_a_committed_snapshot_names_the_file(own_update_pending):
    harness, before = own_update_pending
    missing = harness.data_file(UPDATE, "fact_payment")
    missing.unlink()

    with pytest.raises(BatchInputError, match="cannot read the changes of fact_payment") as raised:
        harness.run()

    assert missing.name in str(raised.value)
    assert _state(harness) == before


def test_a_corrupt_parquet_file_is_named(own_update_pending):
    harness, before = own_update_pending
    corrupt = harness.data_file(UPDATE, "fact_payment")
    corrupt.write_bytes(corrupt.read_bytes()[:-100])  # cut short, as an interrupted upload would be

    with pytest.raises(BatchInputError, match="cannot read the changes of fact_payment") as raised:
        harness.run()

    assert corrupt.name in str(raised.value)
    assert _state(harness) == before


def test_an_unreadable_transform_manifest_is_named(loaded_once):
    before = _state(loaded_once)
    key = f"_manifests/totesys-transform/{UPDATE}.json"
    loaded_once.zone.write_text(key, '{"job_name": "totesys-transform", "run_id": ')  # cut short

    with pytest.raises(BatchInputError, match=f"manifest {key} is unreadable"):
        loaded_once.run()

    assert _state(loaded_once) == before


def test_a_data_file_with_corrupt_pages_is_named_among_the_files_the_commits_added(own_update_pending):
    harness, before = own_update_pending
    corrupt = harness.data_file(UPDATE, "fact_payment")
    corrupt.with_name(f".{corrupt.name}.crc").unlink(missing_ok=True)  # as on S3: no checksum gives it away
    data = corrupt.read_bytes()
    footer = int.from_bytes(data[-8:-4], "little") + 8
    corrupt.write_bytes(data[:4] + bytes((i * 37 + 11) % 251 for i in range(len(data) - 4 - footer)) + data[-footer:])

    with pytest.raises(BatchInputError, match="cannot read the changes of fact_payment") as raised:
        harness.run()

    assert corrupt.name in str(raised.value)
    assert _state(harness) == before

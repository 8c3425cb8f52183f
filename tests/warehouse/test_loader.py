"""The loader on its own (no Spark): COPY staging keeps every value exact; the table contracts are checked."""

from __future__ import annotations

import pytest

from totes.star import DIM_CURRENCY, DIM_LOCATION, DIM_STAFF, StarTable
from totes.warehouse.database import connect
from totes.warehouse.errors import BatchInputError

from tests.warehouse.conftest import load_batch as _load


def _rows(credentials, table: StarTable) -> list[tuple]:
    with connect(credentials) as conn:
        return conn.execute(f"SELECT * FROM {table.name} ORDER BY 1").fetchall()


def test_text_round_trips_exactly_empty_strings_stay_apart_from_nulls(warehouse_db):
    awkward = [
        (1, 'Flat 2, "The Old Mill"', "", None, "Bishop's Stortford", "CM23 2ER", "United Kingdom",
         "01279 000000"),
        (2, "Line one\nline two", None, "", "Zürich", "8001", "Schweiz ☃", "\\N"),
    ]

    _load(warehouse_db, {DIM_LOCATION: awkward})

    assert _rows(warehouse_db, DIM_LOCATION) == awkward


def test_a_dimension_upsert_counts_inserted_updated_and_unchanged_rows(warehouse_db):
    _load(warehouse_db, {DIM_CURRENCY: [(1, "GBP", "Pound Sterling"), (2, "USD", "US Dollar")]})

    renamed = [(1, "GBP", "Pound Sterling"), (2, "USD", "United States Dollar"), (3, "EUR", "Euro")]
    (load,) = _load(warehouse_db, {DIM_CURRENCY: renamed})

    assert (load.staged, load.inserted, load.updated, load.unchanged, load.total) == (3, 1, 1, 1, 3)
    assert _rows(warehouse_db, DIM_CURRENCY)[1] == (2, "USD", "United States Dollar")


def test_nulls_in_required_columns_are_counted_per_column_and_nothing_is_loaded(warehouse_db):
    rows = [(1, None, "Franey", "Purchasing", None, "a@b.c"), (2, None, None, "Facilities", None, "d@e.f")]

    with pytest.raises(BatchInputError) as raised:
        _load(warehouse_db, {DIM_CURRENCY: [(1, "GBP", "Pound Sterling")], DIM_STAFF: rows})

    assert "dim_staff.first_name is NULL in 2 rows" in str(raised.value)
    assert "dim_staff.last_name is NULL in 1 rows" in str(raised.value)
    assert "location" not in str(raised.value)  # nullable
    assert _rows(warehouse_db, DIM_CURRENCY) == []


def test_a_dimension_snapshot_with_a_repeated_key_is_refused(warehouse_db):
    with pytest.raises(BatchInputError, match="dim_currency has 2 rows for currency_id = 1"):
        _load(warehouse_db, {DIM_CURRENCY: [(1, "GBP", "Pound Sterling"), (1, "GBP", "Sterling")]})


def test_a_value_the_column_cannot_hold_is_named_with_its_column(warehouse_db):
    expected = r"dim_currency: .*character varying\(3\).*column currency_code"
    with pytest.raises(BatchInputError, match=expected):
        _load(warehouse_db, {DIM_CURRENCY: [(1, "GBPX", "Pound Sterling")]})

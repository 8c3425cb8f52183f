"""Deleting a local processed zone forgets its tables in the local Iceberg catalog, and only its own."""

from __future__ import annotations

import shutil

import psycopg

from totes.iceberg import catalog_from_args, create_table, current_snapshot, use_catalog
from totes.local.processed_catalog import forget_zone
from totes.secrets import LocalSecretProvider
from totes.settings import LOCAL_SECRETS_DIR, PROCESSED_CATALOG_SECRET_ID, PROCESSED_DATABASE
from totes.star import DIM_CURRENCY


def _catalog(zone_uri):
    return catalog_from_args({"processed_catalog": f"jdbc:{PROCESSED_CATALOG_SECRET_ID}",
                              "catalog_database": PROCESSED_DATABASE, "processed_zone": zone_uri})


def _entries(catalog) -> list[str]:
    credentials = LocalSecretProvider(LOCAL_SECRETS_DIR).get_database_credentials(PROCESSED_CATALOG_SECRET_ID)
    with psycopg.connect(**credentials.libpq_kwargs()) as conn:
        return [row[0] for row in conn.execute("SELECT table_name FROM iceberg_tables WHERE catalog_name = %s",
                                               (catalog.spark_name,))]


def test_a_deleted_zone_is_forgotten_by_the_catalog_and_no_other_zone_is(spark, tmp_path):
    zone, other = (tmp_path / "zone").as_uri(), (tmp_path / "other").as_uri()
    for uri in (zone, other):
        use_catalog(spark, _catalog(uri))
        create_table(spark, _catalog(uri), DIM_CURRENCY.name, DIM_CURRENCY.spark_schema)
        spark.createDataFrame([(1, "GBP", "Pound Sterling")], DIM_CURRENCY.spark_schema).writeTo(
            _catalog(uri).table(DIM_CURRENCY.name)).append()

    assert forget_zone(zone) >= 2  # the table, and the namespace with its properties
    shutil.rmtree(tmp_path / "zone")

    assert _entries(_catalog(zone)) == []
    assert _entries(_catalog(other)) == [DIM_CURRENCY.name]  # another zone's tables stay
    assert current_snapshot(spark, _catalog(other).table(DIM_CURRENCY.name)) is not None

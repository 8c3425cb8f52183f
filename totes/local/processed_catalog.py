"""The local processed catalog's entries of a zone: forgotten when the zone's folders are deleted.

Iceberg's JDBC catalog (the local PostgreSQL, totes/iceberg.py) keeps each table's current metadata location
apart from the zone: a zone deleted by ``make clean-zones`` or ``make reseed`` would leave tables the catalog
still names, whose metadata files are gone, and the next run would fail on them. Deleting the zone's folders
therefore forgets its catalog entries too.

    python -m totes.local.processed_catalog forget    # the local zone's entries (make clean-zones)
"""

from __future__ import annotations

import sys

import psycopg
from psycopg import sql

from totes import settings
from totes.iceberg import spark_catalog_name
from totes.secrets import get_database_credentials
from totes.zones import normalise_uri

# The JDBC catalog's own tables (Iceberg's JdbcUtil), each keyed by the catalog's name.
CATALOG_TABLES = ("iceberg_tables", "iceberg_namespace_properties")


def forget_zone(zone_uri: str = settings.LOCAL_PROCESSED_ZONE,
                secret_id: str = settings.PROCESSED_CATALOG_SECRET_ID) -> int:
    """Delete every catalog entry of the zone's tables and namespaces; returns how many rows went."""
    name = spark_catalog_name("jdbc", normalise_uri(zone_uri))
    credentials = get_database_credentials(secret_id)
    deleted = 0
    with psycopg.connect(**credentials.libpq_kwargs(), application_name="totesys-forget-zone") as conn:
        for table in CATALOG_TABLES:
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]
            if exists:  # a catalog never used has not created its tables yet
                deleted += conn.execute(sql.SQL("DELETE FROM {} WHERE catalog_name = %s").format(
                    sql.Identifier(table)), (name,)).rowcount
    return deleted


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["forget"]:
        print("usage: python -m totes.local.processed_catalog forget", file=sys.stderr)
        return 2
    print(f"forgot {forget_zone()} catalog entries of {settings.LOCAL_PROCESSED_ZONE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Athena-style SQL on the processed zone: each of its Iceberg tables as a DuckDB view of the same name.

Athena reads the tables the Glue Data Catalog registers; locally the jobs register them in Iceberg's JDBC catalog
(the local PostgreSQL, secret ``totesys/processed-catalog``), and each view here is DuckDB's ``iceberg_scan`` of the
metadata file that catalog names as the table's current one: exactly what the last commit left. The named queries
in sql/athena/ run here unchanged.

    python -m totes.local.query "SELECT ..."          # ad-hoc SQL
    python -m totes.local.query --name top_designs     # a named query (sql/athena/top_designs.sql)
    python -m totes.local.query --list                 # the named queries
"""

from __future__ import annotations

import argparse
import importlib.resources
import sys
from urllib.parse import urlparse

import duckdb
import psycopg

from totes import settings
from totes.iceberg import ProcessedCatalog
from totes.secrets import get_database_credentials
from totes.transform.commits import LOOKUP_TABLES, current_state_table

NAMED_QUERIES_DIR = settings.REPO_DIR / "sql" / "athena"
# The transformation's own state, not part of what readers query.
INTERNAL_TABLES = frozenset(current_state_table(name) for name in LOOKUP_TABLES)
# Iceberg's extension and the Avro reader it needs for manifests, from their PyPI packages (requirements.txt):
# loaded from the files, DuckDB never downloads an extension.
EXTENSIONS = (("duckdb_extension_avro", "avro"), ("duckdb_extension_iceberg", "iceberg"))


class NoTablesError(RuntimeError):
    """The catalog holds no table of the processed zone: the transformation has not committed there yet."""


class ExtensionMissingError(RuntimeError):
    """An extension's package is not installed at duckdb's version."""


def named_queries() -> dict[str, str]:
    return {path.stem: path.read_text() for path in sorted(NAMED_QUERIES_DIR.glob("*.sql"))}


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _extension_file(package: str, name: str) -> str:
    version = duckdb.__version__
    try:
        path = importlib.resources.files(package) / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise ExtensionMissingError(f"DuckDB's {name} extension for duckdb {version} is not installed: "
                                    f"requirements.txt pins {package.replace('_', '-')} at duckdb's version (make venv)")
    return str(path)


def load_extensions(connection: duckdb.DuckDBPyConnection) -> None:
    for package, name in EXTENSIONS:
        connection.execute(f"LOAD {_literal(_extension_file(package, name))}")


def current_metadata(zone_uri: str = settings.LOCAL_PROCESSED_ZONE, database: str = settings.PROCESSED_DATABASE,
                     secret_id: str = settings.PROCESSED_CATALOG_SECRET_ID) -> dict[str, str]:
    """Table name → the metadata file the JDBC catalog holds as current (as DuckDB's iceberg functions take it),
    for the zone's published tables in ``database``.

    Iceberg's JDBC catalog keys each table by (catalog name, namespace, name); the jobs' catalog name is the
    zone's :attr:`ProcessedCatalog.spark_name`, so two zones in one catalog database never mix.
    """
    credentials = get_database_credentials(secret_id)
    catalog = ProcessedCatalog("jdbc", database, zone_uri, credentials.jdbc_url)
    with psycopg.connect(**credentials.libpq_kwargs(), connect_timeout=10) as connection:
        try:
            rows = connection.execute(
                "SELECT table_name, metadata_location FROM iceberg_tables"
                " WHERE catalog_name = %s AND table_namespace = %s", (catalog.spark_name, database)).fetchall()
        except psycopg.errors.UndefinedTable:  # the catalog creates its tables on first use
            rows = []
    if not rows:
        raise NoTablesError(f"no Iceberg table of {zone_uri} in namespace {database} of {credentials.describe()} "
                            f"(catalog {catalog.spark_name}): has the transformation committed a run there?")
    return {name: _duckdb_path(location) for name, location in rows if name not in INTERNAL_TABLES}


def _duckdb_path(location: str) -> str:
    """Iceberg writes local locations as ``file:/path``; DuckDB reads a plain path (and s3:// as it is)."""
    return urlparse(location).path if location.startswith("file:") else location


def connect(zone_uri: str = settings.LOCAL_PROCESSED_ZONE, database: str = settings.PROCESSED_DATABASE,
            secret_id: str = settings.PROCESSED_CATALOG_SECRET_ID) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per table of the processed zone, at its current snapshot."""
    metadata = current_metadata(zone_uri, database, secret_id)
    connection = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    load_extensions(connection)
    for name, path in sorted(metadata.items()):
        connection.execute(f"CREATE VIEW {_quote(name)} AS SELECT * FROM iceberg_scan({_literal(path)})")
    return connection


def run_query(sql: str, zone_uri: str = settings.LOCAL_PROCESSED_ZONE, database: str = settings.PROCESSED_DATABASE,
              secret_id: str = settings.PROCESSED_CATALOG_SECRET_ID):
    """Rows and column names of ``sql`` over the processed zone's tables."""
    with connect(zone_uri, database, secret_id) as connection:
        cursor = connection.execute(sql)
        return [column[0] for column in cursor.description], cursor.fetchall()


def format_table(columns: list[str], rows: list[tuple]) -> str:
    cells = [[str(value) for value in row] for row in rows]
    widths = [max([len(column)] + [len(row[i]) for row in cells]) for i, column in enumerate(columns)]
    line = "  ".join(column.ljust(width) for column, width in zip(columns, widths))
    body = ["  ".join(value.ljust(width) for value, width in zip(row, widths)) for row in cells]
    return "\n".join([line, "  ".join("-" * width for width in widths), *body, f"({len(rows)} rows)"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m totes.local.query", description=__doc__.splitlines()[0])
    parser.add_argument("sql", nargs="?", help="SQL to run")
    parser.add_argument("--name", help="a named query of sql/athena/")
    parser.add_argument("--list", action="store_true", help="list the named queries")
    parser.add_argument("--zone", default=settings.LOCAL_PROCESSED_ZONE, help="the processed zone's URI")
    parser.add_argument("--database", default=settings.PROCESSED_DATABASE, help="the tables' namespace")
    args = parser.parse_args(argv)
    queries = named_queries()
    if args.list:
        print("\n".join(queries))
        return 0
    if args.name:
        if args.name not in queries:
            print(f"no named query {args.name!r}; known: {', '.join(queries)}", file=sys.stderr)
            return 2
        sql = queries[args.name]
    elif args.sql:
        sql = args.sql
    else:
        parser.error("give SQL, --name or --list")
    try:
        columns, rows = run_query(sql, args.zone, args.database)
    except (duckdb.Error, psycopg.Error, NoTablesError, ExtensionMissingError) as error:
        print(f"query failed: {error}", file=sys.stderr)
        return 1
    print(format_table(columns, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

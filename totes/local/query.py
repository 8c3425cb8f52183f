"""Athena-style SQL on the local catalog: every catalogued table of a database as a DuckDB view.

A view reads exactly what the catalog registers, as Athena does: the partitions' folders for a partitioned
table, the table's location for a snapshot table. The named queries in sql/athena/ run here unchanged.

    python -m totes.local.query "SELECT ..."          # ad-hoc SQL
    python -m totes.local.query --name top_designs     # a named query (sql/athena/top_designs.sql)
    python -m totes.local.query --list                 # the named queries
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlparse

import duckdb

from totes import settings
from totes.catalog import catalog_client

NAMED_QUERIES_DIR = settings.REPO_DIR / "sql" / "athena"


def named_queries() -> dict[str, str]:
    return {path.stem: path.read_text() for path in sorted(NAMED_QUERIES_DIR.glob("*.sql"))}


def _local_glob(location: str) -> str:
    path = urlparse(location).path if location.startswith("file://") else location
    return str(Path(path) / "*.parquet")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def connect(database: str = settings.PROCESSED_DATABASE, client=None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per table of ``database`` in the (local) catalog."""
    client = client or catalog_client()
    connection = duckdb.connect()
    for table in client.get_tables(DatabaseName=database)["TableList"]:
        name = table["Name"]
        if table.get("PartitionKeys"):
            partitions = client.get_partitions(DatabaseName=database, TableName=name)["Partitions"]
            globs = [_local_glob(p["StorageDescriptor"]["Location"]) for p in partitions]
            if not globs:
                continue
            source = f"read_parquet({globs!r}, hive_partitioning = true, union_by_name = true)"
        else:
            source = f"read_parquet({_local_glob(table['StorageDescriptor']['Location'])!r})"
        connection.execute(f"CREATE VIEW {_quote(name)} AS SELECT * FROM {source}")
    return connection


def run_query(sql: str, database: str = settings.PROCESSED_DATABASE, client=None):
    """Rows and column names of ``sql`` over the catalogued tables."""
    with connect(database, client) as connection:
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
    parser.add_argument("--database", default=settings.PROCESSED_DATABASE)
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
        columns, rows = run_query(sql, args.database)
    except duckdb.Error as error:
        print(f"query failed: {error}", file=sys.stderr)
        return 1
    print(format_table(columns, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

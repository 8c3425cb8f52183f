"""The physical limit of the load: the same rows COPY'd into unconstrained tables, then every key and reference
built and validated set-based, in one transaction.

``python -m bench.load_limit --processed-zone URI --dbname NAME`` reads the processed zone's Iceberg tables
(DuckDB's iceberg_scan, no Spark) into an empty migrated warehouse. In one transaction it drops every primary key,
unique key, foreign key and index of the star tables (read from the catalog, so the migrations stay the one
definition), COPYs each table (dimensions first), then adds the keys and indexes back (one sorted index build
each) and the foreign keys (one validating join each), exactly as the migrations defined them. The end state
is the load's: the same rows, keys, indexes and validated references. The rows reach PostgreSQL as the load
job sends them (CSV written by Arrow's C++ writer through psycopg's COPY), so what the load adds on top is
Spark's read, staging, the checks and the merge. Prints one JSON line with the time of each part.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from totes.local.query import connect as processed_tables
from totes.secrets import get_database_credentials
from totes.settings import WAREHOUSE_SECRET_ID
from totes.star import STAR_TABLES
from totes.warehouse.database import connect
from totes.warehouse.loader import COPY_CHUNK_ROWS, add_key_sql, drop_key_sql, in_drop_order
from totes.warehouse.schema import table_keys

_CSV = pa_csv.WriteOptions(include_header=False, batch_size=COPY_CHUNK_ROWS)

def _timed(conn, statements) -> float:
    started = time.monotonic()
    for statement in statements:
        conn.execute(statement)
    return round(time.monotonic() - started, 3)


def copy_load(processed_zone: str, dbname: str, database: str = "bench_processed") -> dict:
    started = time.monotonic()
    credentials = dataclasses.replace(get_database_credentials(WAREHOUSE_SECRET_ID), dbname=dbname)
    results = []
    with connect(credentials) as conn, processed_tables(processed_zone, database) as tables:
        with conn.transaction():
            keys = in_drop_order(key for found in table_keys(conn, STAR_TABLES).values() for key in found)
            drop_seconds = _timed(conn, [drop_key_sql(key) for key in keys])
            for table in STAR_TABLES:
                table_started = time.monotonic()
                rows = tables.execute(f"SELECT {', '.join(table.column_names)} FROM {table.name}").fetch_arrow_table()
                if not rows.num_rows:
                    continue
                copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
                    sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, table.column_names)))
                with conn.cursor().copy(copy) as sink_copy:
                    for batch in rows.to_batches(max_chunksize=COPY_CHUNK_ROWS):
                        sink = pa.BufferOutputStream()
                        pa_csv.write_csv(batch, sink, write_options=_CSV)
                        sink_copy.write(sink.getvalue())
                results.append({"table": table.name, "rows": rows.num_rows,
                                "seconds": round(time.monotonic() - table_started, 3)})
            keys_seconds = _timed(conn, [add_key_sql(key) for key in reversed(keys) if key.kind != "f"])
            references_seconds = _timed(conn, [add_key_sql(key) for key in reversed(keys) if key.kind == "f"])
    return {"seconds": round(time.monotonic() - started, 3), "tables": results,
            "rows": sum(r["rows"] for r in results), "copy_seconds": round(sum(r["seconds"] for r in results), 3),
            "drop_seconds": drop_seconds, "keys_seconds": keys_seconds, "references_seconds": references_seconds,
            "keys": sum(key.kind != "f" for key in keys), "references": sum(key.kind == "f" for key in keys)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load_limit")
    parser.add_argument("--processed-zone", required=True)
    parser.add_argument("--dbname", required=True)
    args = parser.parse_args(argv)
    sys.stdout.write(json.dumps(copy_load(args.processed_zone, args.dbname)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The physical limit of the load: the same rows COPY'd into unconstrained tables, then every key and reference
built and validated set-based, in one transaction.

``python -m bench.load_limit --processed-zone URI --dbname NAME`` reads the files the committed transform
runs list (pyarrow, no Spark) into an empty migrated warehouse. In one transaction it drops every primary key,
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
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq
from psycopg import sql

from totes.manifests import list_manifests
from totes.secrets import get_database_credentials
from totes.settings import TRANSFORM_JOB_NAME, WAREHOUSE_SECRET_ID
from totes.star import STAR_TABLES
from totes.warehouse.database import connect
from totes.warehouse.loader import COPY_CHUNK_ROWS, add_key_sql, drop_key_sql, in_drop_order
from totes.warehouse.schema import table_keys
from totes.zones import ZoneStore

_CSV = pa_csv.WriteOptions(include_header=False, batch_size=COPY_CHUNK_ROWS)

def _read_file(uri: str, columns: list[str]) -> pa.Table:
    # One file as written, without hive partition discovery from its folder names (run_id=...).
    filesystem, path = pa_fs.FileSystem.from_uri(uri)
    with filesystem.open_input_file(path) as handle:
        return pq.ParquetFile(handle).read(columns=columns)


def _timed(conn, statements) -> float:
    started = time.monotonic()
    for statement in statements:
        conn.execute(statement)
    return round(time.monotonic() - started, 3)


def copy_load(processed_zone: str, dbname: str) -> dict:
    started = time.monotonic()
    zone = ZoneStore.for_uri(processed_zone)
    manifests = list_manifests(zone, TRANSFORM_JOB_NAME)
    credentials = dataclasses.replace(get_database_credentials(WAREHOUSE_SECRET_ID), dbname=dbname)
    results = []
    with connect(credentials) as conn:
        with conn.transaction():
            keys = in_drop_order(key for found in table_keys(conn, STAR_TABLES).values() for key in found)
            drop_seconds = _timed(conn, [drop_key_sql(key) for key in keys])
            for table in STAR_TABLES:
                listed = [m.tables[table.name] for m in manifests if table.name in m.tables]
                if table.is_fact:
                    files = [key for output in listed for key in output.files]
                else:
                    files = list(listed[-1].files) if listed else []
                if not files:
                    continue
                table_started = time.monotonic()
                rows = pa.concat_tables(
                    [_read_file(zone.uri_of(key), list(table.column_names))
                     for key in files]).combine_chunks()
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

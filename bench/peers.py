"""The yardsticks of the ingestion benchmark, each a full read of the 11 source tables into parquet files.

``python -m bench.peers <peer> --out DIR`` runs one peer against the source the bench secrets point at (the
same read-only role the ingestion job uses) and prints one JSON line: rows and seconds per table, and in total.

- ``copy-limit``: the physical limit of this machine. ADBC's PostgreSQL driver reads a query with
  ``COPY (query) TO STDOUT (FORMAT binary)`` straight into Arrow record batches, which pyarrow streams into a
  parquet file: no per-row object anywhere. It reads exactly the columns the ingestion job reads
  (``window_query`` of a full window). Run with one stream and with two (one per core), the faster counts.
- ``pandas-lambda``: what a typical team writes for this database: one Lambda-style invocation per table
  (a fresh process each, two at a time on two cores), pg8000 ``SELECT *``, ``fetchall`` into a pandas
  DataFrame, ``to_parquet`` with pyarrow.
- ``dlt``: dlt's ``sql_database`` source (its fast ``pyarrow`` backend, resources parallelised, two normalize
  workers) to the ``filesystem`` destination as parquet, incremental on ``last_updated``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path

from totes.ingest.window import ReadWindow, window_query
from totes.secrets import get_database_credentials
from totes.settings import SOURCE_SECRET_ID
from totes.tables import SOURCE_TABLES, SourceTable, source_table

FAR_FUTURE = dt.datetime(2999, 1, 1)


def _uri(credentials) -> str:
    return (f"postgresql://{credentials.username}:{credentials.password}@{credentials.host}:{credentials.port}/"
            f"{credentials.dbname}")


def _tables_by_size(names: list[str]) -> list[SourceTable]:
    credentials = get_database_credentials(SOURCE_SECRET_ID)
    import psycopg

    with psycopg.connect(**credentials.libpq_kwargs()) as conn:
        sizes = dict(conn.execute("SELECT relname, reltuples FROM pg_class WHERE relkind = 'r'").fetchall())
    return sorted((source_table(name) for name in names), key=lambda t: -sizes.get(t.name, 0))


# -- the COPY limit ----------------------------------------------------------------------------------------------
def _copy_one(table: SourceTable, out: Path) -> dict:
    import adbc_driver_postgresql.dbapi as adbc_pg
    import pyarrow.parquet as pq

    started = time.monotonic()
    credentials = get_database_credentials(SOURCE_SECRET_ID)
    rows = 0
    with adbc_pg.connect(_uri(credentials)) as conn, conn.cursor() as cursor:
        cursor.execute(window_query(table, ReadWindow(None, FAR_FUTURE)))
        reader = cursor.fetch_record_batch()
        path = out / table.name / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(path, reader.schema, compression="snappy") as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
    return {"table": table.name, "rows": rows, "seconds": round(time.monotonic() - started, 3)}


def copy_limit(tables: list[SourceTable], out: Path, streams: int) -> dict:
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(streams) as pool:
        results = list(pool.map(lambda t: _copy_one(t, out / f"streams{streams}"), tables))
    return {"streams": streams, "seconds": round(time.monotonic() - started, 3), "tables": results}


# -- the pandas-style Lambda ---------------------------------------------------------------------------------------
def lambda_handler(event: dict, _context=None) -> dict:
    """One table per invocation, as a Lambda per table would do it."""
    started = time.monotonic()
    import pandas as pd
    import pg8000.native

    credentials = get_database_credentials(SOURCE_SECRET_ID)
    conn = pg8000.native.Connection(user=credentials.username, password=credentials.password,
                                    host=credentials.host, port=credentials.port, database=credentials.dbname)
    try:
        rows = conn.run(f'SELECT * FROM "{event["table"]}"')
        columns = [column["name"] for column in conn.columns]
    finally:
        conn.close()
    df = pd.DataFrame(rows, columns=columns)
    path = Path(event["out"]) / event["table"] / "part-0.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, engine="pyarrow", index=False)
    return {"table": event["table"], "rows": len(df), "seconds": round(time.monotonic() - started, 3)}


def pandas_lambda(tables: list[SourceTable], out: Path, concurrency: int) -> dict:
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    # max_tasks_per_child=1: a fresh interpreter per table, as a cold Lambda invocation.
    with concurrent.futures.ProcessPoolExecutor(concurrency, mp_context=context, max_tasks_per_child=1) as pool:
        results = list(pool.map(lambda_handler, [{"table": t.name, "out": str(out)} for t in tables]))
    return {"concurrency": concurrency, "seconds": round(time.monotonic() - started, 3), "tables": results}


# -- dlt ------------------------------------------------------------------------------------------------------------
def run_dlt(tables: list[SourceTable], out: Path) -> dict:
    started = time.monotonic()
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("NORMALIZE__WORKERS", "2")
    import dlt
    from dlt.sources.credentials import ConnectionStringCredentials
    from dlt.sources.sql_database import sql_database

    credentials = get_database_credentials(SOURCE_SECRET_ID)
    url = _uri(credentials).replace("postgresql://", "postgresql+psycopg://", 1)
    source = sql_database(ConnectionStringCredentials(url), table_names=[t.name for t in tables],
                          backend="pyarrow").parallelize()
    for table in tables:
        source.resources[table.name].apply_hints(incremental=dlt.sources.incremental("last_updated"))
    pipeline = dlt.pipeline(pipeline_name="bench_totesys", pipelines_dir=str(out / "_pipelines"),
                            destination=dlt.destinations.filesystem(bucket_url=(out / "data").as_uri()),
                            dataset_name="totesys")
    imported = time.monotonic()
    info = pipeline.run(source, loader_file_format="parquet", write_disposition="append")
    rows = {name: count for name, count in pipeline.last_trace.last_normalize_info.row_counts.items()
            if not name.startswith("_dlt")}
    return {"seconds": round(time.monotonic() - started, 3), "import_seconds": round(imported - started, 3),
            "tables": [{"table": name, "rows": count} for name, count in rows.items()],
            "load_packages": len(info.loads_ids)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers")
    parser.add_argument("peer", choices=["copy-limit", "pandas-lambda", "dlt"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--streams", type=int, default=2, help="copy-limit: parallel COPY streams")
    parser.add_argument("--concurrency", type=int, default=2, help="pandas-lambda: invocations at a time")
    parser.add_argument("--tables", default=",".join(t.name for t in SOURCE_TABLES))
    args = parser.parse_args(argv)
    args.out = args.out.resolve()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    tables = _tables_by_size(args.tables.split(","))
    if args.peer == "copy-limit":
        result = copy_limit(tables, args.out, args.streams)
    elif args.peer == "pandas-lambda":
        result = pandas_lambda(tables, args.out, args.concurrency)
    else:
        result = run_dlt(tables, args.out)
    result["rows"] = sum(t["rows"] for t in result["tables"])
    result["peer"] = args.peer
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Seed the local totesys source database, or simulate the live application changing it.

    python -m totes.source seed --scale 1 --seed 42 [--if-empty | --replace]
    python -m totes.source simulate --seed 7 [--sales 20 --purchases 8 --mark-paid 30]

Connects as the source owner (the "application") with the secret the local server writes (``make db-up``).
``seed`` creates the schema if it is missing and fills it; on a source that already has rows it refuses,
unless ``--if-empty`` (leave it, exit 0) or ``--replace`` (drop and re-create everything, in one transaction).

``--replace`` (``make reseed``) also forgets what the pipeline made of the old source, first, so that the next
``make run`` yields a warehouse equal to the new source: it empties the warehouse tables (the migrations stay
applied) and deletes the local zones with the jobs' bookmarks, and the local catalog. It refuses while a
workflow runs (``make schedule``), holding the runner's lock until the new source is committed. The job run
history stays.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from pathlib import Path

import psycopg

from totes import settings
from totes.catalog import LOCAL_CATALOG_DIR_ENV
from totes.local.processed_catalog import forget_zone
from totes.local.runner import LOCAL_STATE_DIR, WorkflowAlreadyRunningError, workflow_lock
from totes.local.workflow import load_workflow, local_workflow_variables
from totes.secrets import DatabaseCredentials, LocalSecretProvider, SecretError
from totes.settings import LOCAL_SECRETS_DIR, SOURCE_OWNER_SECRET_ID, WAREHOUSE_SECRET_ID
from totes.source import simulator
from totes.source.database import connect, create_schema, drop_schema, schema_exists
from totes.source.generator import SourceNotEmptyError, generate, tables_with_rows
from totes.source.simulator import SourceNotSeededError, simulate
from totes.warehouse import database as warehouse_database
from totes.warehouse.errors import WarehouseError
from totes.warehouse.migrations import empty_tables


class CommandError(RuntimeError):
    """A failure the user can act on; its message is all they see."""


@contextlib.contextmanager
def _no_workflow_running():
    """The runner's lock, so that no workflow run reads the source or writes the zones while they change."""
    workflow_name = load_workflow(local_workflow_variables()).name
    try:
        with workflow_lock(LOCAL_STATE_DIR, workflow_name,
                           f"workflow {workflow_name} is running (make schedule?); nothing was changed: "
                           "reseed once it has ended"):
            yield
    except WorkflowAlreadyRunningError as error:
        raise CommandError(str(error)) from None


def _forget_the_old_source() -> None:
    """Empty the warehouse tables, then delete the zones (bookmarks included) and the catalog built from them.

    The warehouse first: it is the step that can be refused (unreachable, in use), and until the source is
    replaced a next run would simply load the old source again into the empty warehouse.
    """
    try:
        credentials = LocalSecretProvider(LOCAL_SECRETS_DIR).get_database_credentials(WAREHOUSE_SECRET_ID)
        with warehouse_database.connect(credentials, application_name="totesys-reseed") as conn:
            emptied = empty_tables(conn)
    except (SecretError, WarehouseError) as error:
        raise CommandError(f"{error}; nothing was changed") from None
    print(f"emptied the warehouse {credentials.describe()}: {len(emptied)} tables (migrations stay applied)")
    # The processed zone's Iceberg tables are registered apart from the zone (totes/local/processed_catalog.py).
    print(f"forgot {forget_zone()} processed-catalog entries of {settings.LOCAL_PROCESSED_ZONE}")
    catalog_dir = Path(os.environ.get(LOCAL_CATALOG_DIR_ENV) or settings.LOCAL_DIR / "catalog")
    for folder in (settings.LOCAL_ZONES_DIR, catalog_dir):
        if folder.exists():
            shutil.rmtree(folder)
            print(f"deleted {folder}")


def _seed(conn: psycopg.Connection, args: argparse.Namespace) -> None:
    if args.replace:
        with _no_workflow_running():
            _forget_the_old_source()
            drop_schema(conn)
            create_schema(conn)
            _fill(conn, args)
        return
    if not schema_exists(conn):
        create_schema(conn)
    else:
        non_empty = tables_with_rows(conn)
        if non_empty and args.if_empty:
            conn.rollback()
            print(f"the source already has data (in {', '.join(non_empty)}); not seeding")
            return
        if non_empty:
            raise CommandError(
                f"the source already has data (in {', '.join(non_empty)}); "
                "use --replace to seed it again or --if-empty to keep it"
            )
    _fill(conn, args)


def _fill(conn: psycopg.Connection, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    counts = generate(conn, args.scale, args.seed)
    seconds = time.perf_counter() - started
    total = sum(counts.values())
    print(
        f"seeded the totesys source (scale {args.scale:g}, seed {args.seed}): {total:,} rows, {seconds:.1f} s"
    )
    for table, rows in counts.items():
        print(f"  {table:<15} {rows:>12,}")


def _simulate(conn: psycopg.Connection, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    result = simulate(
        conn,
        args.seed,
        new_sales_orders=args.sales,
        new_purchase_orders=args.purchases,
        payments_to_mark_paid=args.mark_paid,
    )
    seconds = time.perf_counter() - started
    inserted = ", ".join(f"{rows} {table}" for table, rows in result["inserted"].items())
    print(f"inserted at {_ms(result['inserted_at'])}: {inserted}")
    print(
        f"marked {result['updated']['payment']} payments paid at {_ms(result['paid_at'])} ({seconds:.2f} s)"
    )


def _ms(moment) -> str:
    return moment.isoformat(sep=" ", timespec="milliseconds")


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m totes.source", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    seed = commands.add_parser("seed", help="create the schema if missing and fill it with generated data")
    seed.add_argument("--scale", type=_positive_float, default=1.0, help="1 = the real size (about 48k rows)")
    seed.add_argument("--seed", type=_non_negative_int, default=42, help="same scale and seed, same data")
    existing = seed.add_mutually_exclusive_group()
    existing.add_argument("--if-empty", action="store_true", help="leave a source that already has rows")
    existing.add_argument("--replace", action="store_true",
                          help="drop everything and seed again; the warehouse tables are emptied and the "
                               "zones, bookmarks and catalog deleted too (not while a workflow runs)")
    seed.set_defaults(run=_seed)

    sim = commands.add_parser(
        "simulate", help="insert new orders and mark due payments paid, like the live app"
    )
    sim.add_argument("--seed", type=_non_negative_int, required=True)
    sim.add_argument("--sales", type=_non_negative_int, default=simulator.DEFAULT_NEW_SALES_ORDERS)
    sim.add_argument("--purchases", type=_non_negative_int, default=simulator.DEFAULT_NEW_PURCHASE_ORDERS)
    sim.add_argument("--mark-paid", type=_non_negative_int, default=simulator.DEFAULT_PAYMENTS_TO_MARK_PAID)
    sim.set_defaults(run=_simulate)
    return parser


def _owner_credentials() -> DatabaseCredentials:
    try:
        return LocalSecretProvider(LOCAL_SECRETS_DIR).get_database_credentials(SOURCE_OWNER_SECRET_ID)
    except SecretError as error:
        raise CommandError(f"{error}; start the local server with `make db-up`") from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        credentials = _owner_credentials()
        try:
            with connect(credentials) as conn:
                args.run(conn, args)
        except psycopg.OperationalError as error:
            # libpq messages name host, port and user, never the password.
            raise CommandError(f"source database {credentials.describe()}: {error}") from None
    except (CommandError, SourceNotEmptyError, SourceNotSeededError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except psycopg.Error as error:
        print(f"error: the source database refused: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

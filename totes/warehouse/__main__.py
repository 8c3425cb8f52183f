"""Command line of the warehouse: ``python -m totes.warehouse migrate | check | status``.

``make warehouse`` runs ``migrate`` against the local warehouse. On AWS the same command (or a Glue Python
shell job running it) migrates the RDS warehouse with the loader secret from Secrets Manager.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from totes import logs
from totes.secrets import get_database_credentials
from totes.settings import WAREHOUSE_SECRET_ID
from totes.warehouse.database import connect
from totes.warehouse.errors import WarehouseError
from totes.warehouse.migrations import (
    applied_migrations,
    discover,
    migrate,
    pending_migrations,
)
from totes.warehouse.schema import schema_problems

logger = logging.getLogger("totes.warehouse")


def command_migrate(args) -> int:
    credentials = get_database_credentials(args.secret_id)
    with connect(credentials, application_name="totesys-migrate") as conn:
        result = migrate(conn, args.dir)
    if result.applied:
        applied = ", ".join(f"V{m.version:03d} ({m.description})" for m in result.applied)
        print(f"warehouse {credentials.describe()}: applied {applied}; now at V{result.current_version:03d}")
    else:
        print(f"warehouse {credentials.describe()}: up to date at V{result.current_version:03d}")
    return 0


def command_check(args) -> int:
    credentials = get_database_credentials(args.secret_id)
    with connect(credentials, application_name="totesys-migrate") as conn:
        problems = schema_problems(conn)
    if problems:
        print(f"warehouse {credentials.describe()} does not match totes/star.py:")
        print("\n".join(f"  - {problem}" for problem in problems))
        return 1
    print(f"warehouse {credentials.describe()} matches totes/star.py")
    return 0


def command_status(args) -> int:
    credentials = get_database_credentials(args.secret_id)
    with connect(credentials, application_name="totesys-migrate") as conn:
        applied = applied_migrations(conn)
    for record in applied:
        print(f"applied  V{record.version:03d}  {record.script}")
    for migration in pending_migrations(discover(args.dir), applied):
        print(f"pending  V{migration.version:03d}  {migration.script}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m totes.warehouse", description=__doc__.splitlines()[0])
    parser.add_argument("--secret-id", default=WAREHOUSE_SECRET_ID,
                        help="the loader's secret (default: %(default)s)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="the migrations folder (default: sql/warehouse of the checkout, else the packaged copy)")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, func, description in (
        ("migrate", command_migrate, "apply pending migrations (safe to re-run)"),
        ("check", command_check, "compare the warehouse with totes/star.py"),
        ("status", command_status, "list applied and pending migrations"),
    ):
        commands.add_parser(name, help=description).set_defaults(func=func)
    args = parser.parse_args(argv)
    logs.configure(job="totesys-warehouse")
    try:
        return args.func(args)
    except WarehouseError as error:
        logger.error(str(error))
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

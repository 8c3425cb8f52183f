"""Shared fixtures: one real local SparkSession for the whole run, and the local PostgreSQL server.

``make test`` starts the server; the database fixtures create throwaway databases on it so tests never touch
the databases ``make run`` uses.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def spark():
    from totes.local.spark import get_local_spark

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = get_local_spark("totes-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's server on a free loopback port, for real boto3 clients over HTTP; tests reset it before use."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def source_owner_credentials():
    """The role that owns the totesys database (the 'application'); may create throwaway databases."""
    from totes.secrets import LocalSecretProvider
    from totes.settings import LOCAL_SECRETS_DIR, SOURCE_OWNER_SECRET_ID

    return LocalSecretProvider(LOCAL_SECRETS_DIR).get_database_credentials(SOURCE_OWNER_SECRET_ID)


@pytest.fixture(scope="session")
def source_reader_credentials():
    """The read-only role the ingestion job uses."""
    from totes.secrets import LocalSecretProvider
    from totes.settings import LOCAL_SECRETS_DIR, SOURCE_SECRET_ID

    return LocalSecretProvider(LOCAL_SECRETS_DIR).get_database_credentials(SOURCE_SECRET_ID)


@pytest.fixture
def empty_source_db(request, source_owner_credentials, source_reader_credentials):
    """A fresh database with the totesys schema and no rows. Yields (owner credentials, reader credentials)."""
    import dataclasses
    import hashlib
    import re

    from totes.source.database import connect, create_database, create_schema, drop_database

    # PostgreSQL names stop at 63 bytes; the hash keeps long or parametrised test names apart.
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    name = "test_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40] + "_" + digest
    owner = create_database(source_owner_credentials, name)
    with connect(owner) as conn:
        create_schema(conn)
    yield owner, dataclasses.replace(source_reader_credentials, dbname=name)
    drop_database(source_owner_credentials, name)


def run_as_database_admin(statements: str, dbname: str = "postgres") -> None:
    """SQL as the local cluster's superuser, the way a DBA changes roles (``scripts/local_pg.sh psql``, which
    connects over the server's socket as ``postgres``); the statements travel on stdin, never on a command line."""
    import subprocess

    from totes.settings import REPO_DIR

    subprocess.run([str(REPO_DIR / "scripts" / "local_pg.sh"), "psql", dbname], input=statements, text=True,
                   check=True, capture_output=True, timeout=60)


@pytest.fixture
def make_source_role(request, empty_source_db):
    """Creates real login roles for this test's source database: ``make_source_role(tables, read_all_stats)``
    grants USAGE on its schema, SELECT on ``tables`` (names) and, if asked, pg_read_all_stats; returns the
    role's credentials. Every role is dropped afterwards."""
    import dataclasses
    import hashlib
    import secrets

    from psycopg import sql

    from totes.source.database import connect

    owner, reader = empty_source_db
    made = []

    def make(tables, read_all_stats: bool = False):
        digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:8]
        name = f"test_reader_{digest}_{len(made)}_{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(18)
        role = sql.Identifier(name).as_string(None)
        run_as_database_admin(f"CREATE ROLE {role} LOGIN PASSWORD '{password}';"
                              + (f"GRANT pg_read_all_stats TO {role};" if read_all_stats else ""))
        made.append(role)
        with connect(owner) as conn:
            conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
            for table in tables:
                conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(table), sql.Identifier(name)))
        return dataclasses.replace(reader, username=name, password=password)

    yield make
    for role in made:
        # The privileges in the test's database go first: a role that still holds some cannot be dropped.
        run_as_database_admin(f"DROP OWNED BY {role}", dbname=owner.dbname)
        run_as_database_admin(f"DROP ROLE {role}")


# The local stack's processed catalog (Iceberg's JDBC catalog in the local PostgreSQL server): the argument the
# transformation and the load take, and its secret, which a test with a secrets folder of its own copies in.
PROCESSED_CATALOG_ARGS = ("--processed-catalog", "jdbc:totesys/processed-catalog")


def copy_processed_catalog_secret(secrets_dir) -> None:
    import shutil

    from totes.settings import LOCAL_SECRETS_DIR, PROCESSED_CATALOG_SECRET_ID

    target = secrets_dir / f"{PROCESSED_CATALOG_SECRET_ID}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(LOCAL_SECRETS_DIR / f"{PROCESSED_CATALOG_SECRET_ID}.json", target)

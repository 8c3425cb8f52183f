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

"""Shared fixtures: one real local SparkSession for the whole run, and the local PostgreSQL server.

``make test`` starts the server; the database fixtures create throwaway databases on it so tests never touch
the databases ``make run`` uses.
"""

from __future__ import annotations

import os

import pytest

from totes.local.spark import get_local_spark


@pytest.fixture(scope="session")
def spark():
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = get_local_spark("totes-tests")
    yield session
    session.stop()

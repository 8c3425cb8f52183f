"""Connections to the local source database, schema creation, and throwaway databases for tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import psycopg
from psycopg import sql

from totes.secrets import DatabaseCredentials
from totes.settings import REPO_DIR

SCHEMA_SQL = REPO_DIR / "sql" / "source" / "totesys_schema.sql"
INDEXES_SQL = REPO_DIR / "sql" / "source" / "ingestion_indexes.sql"
READER_ROLE = "totesys_reader"


def connect(credentials: DatabaseCredentials, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(**credentials.libpq_kwargs(), autocommit=autocommit, connect_timeout=10)


def schema_exists(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass('public.payment') IS NOT NULL").fetchone()
    return bool(row[0])


def create_schema(conn: psycopg.Connection, reader_role: str | None = READER_ROLE) -> None:
    """Create the totesys tables, the last_updated indexes a delta read needs, and read grants."""
    conn.execute(Path(SCHEMA_SQL).read_text())
    conn.execute(Path(INDEXES_SQL).read_text())
    if reader_role:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(reader_role)))
        conn.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(reader_role))
        )


def drop_schema(conn: psycopg.Connection) -> None:
    # As initdb makes it in PostgreSQL 15: owned by the database owner, usable by everyone.
    conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION pg_database_owner; "
                 "GRANT USAGE ON SCHEMA public TO PUBLIC")


def create_database(owner: DatabaseCredentials, name: str) -> DatabaseCredentials:
    """Create (or re-create) an empty database owned by ``owner``; returns credentials pointing at it."""
    with connect(dataclasses.replace(owner, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return dataclasses.replace(owner, dbname=name)


def drop_database(owner: DatabaseCredentials, name: str) -> None:
    with connect(dataclasses.replace(owner, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

"""Connections to the warehouse, with failures that name the user and the database, never the password."""

from __future__ import annotations

import psycopg

from totes.secrets import DatabaseCredentials
from totes.warehouse.errors import WarehouseUnavailableError

CONNECT_TIMEOUT_SECONDS = 10


def scrub(text: str, *secret_values: str) -> str:
    """Remove secret values from a message, belt and braces for driver messages we do not control."""
    for value in secret_values:
        if value:
            text = text.replace(value, "***")
    return text


def connect(credentials: DatabaseCredentials, autocommit: bool = False,
            application_name: str = "totesys-load") -> psycopg.Connection:
    """A psycopg connection to the warehouse; :class:`WarehouseUnavailableError` when that is impossible."""
    try:
        return psycopg.connect(**credentials.libpq_kwargs(), autocommit=autocommit,
                               connect_timeout=CONNECT_TIMEOUT_SECONDS, application_name=application_name)
    except psycopg.OperationalError as error:
        cause = scrub(" ".join(str(error).split()), credentials.password)
        raise WarehouseUnavailableError(
            f"cannot connect to the warehouse {credentials.describe()}: {cause}"
        ) from None

"""Checks that the source still has the tables and columns the pipeline was built for.

Schema drift in the source (a table missing, a column added, dropped or retyped) fails the run before anything
is read or written, with a message that lists exactly what differs. Reading on regardless would either fail
half-way through (a dropped column) or silently lose data (an added column).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from totes.tables import SourceTable


class SchemaDriftError(RuntimeError):
    """The source schema differs from totes/tables.py; the message lists every difference found."""


# information_schema spells the declared types differently; map both to one comparable form.
_INFORMATION_SCHEMA_TYPES = {
    "integer": "integer",
    "text": "text",
    "boolean": "boolean",
    "timestamp(3)": "timestamp without time zone(3)",
    "numeric(10,2)": "numeric(10,2)",
    "varchar(3)": "character varying(3)",
    '"PaymentTypeName"': "USER-DEFINED:PaymentTypeName",
    '"TransactionType"': "USER-DEFINED:TransactionType",
}


@dataclass(frozen=True)
class ObservedColumn:
    table: str
    column: str
    data_type: str
    udt_name: str
    numeric_precision: int | None
    numeric_scale: int | None
    datetime_precision: int | None
    character_maximum_length: int | None

    @property
    def comparable_type(self) -> str:
        if self.data_type == "USER-DEFINED":
            return f"USER-DEFINED:{self.udt_name}"
        if self.data_type == "numeric":
            return f"numeric({self.numeric_precision},{self.numeric_scale})"
        if self.data_type == "timestamp without time zone":
            return f"timestamp without time zone({self.datetime_precision})"
        if self.data_type == "character varying":
            return f"character varying({self.character_maximum_length})"
        return self.data_type


def columns_query(tables: Iterable[SourceTable]) -> str:
    names = ", ".join(f"'{table.name}'" for table in tables)
    return (
        "SELECT table_name AS table, column_name AS column, data_type, udt_name, numeric_precision, "
        "numeric_scale, datetime_precision, character_maximum_length "
        "FROM information_schema.columns "
        f"WHERE table_schema = 'public' AND table_name IN ({names})"
    )


def find_schema_drift(tables: Iterable[SourceTable], observed: Iterable[ObservedColumn]) -> list[str]:
    """Every difference between the expected tables and the observed columns, as readable sentences."""
    by_table: dict[str, dict[str, ObservedColumn]] = {}
    for column in observed:
        by_table.setdefault(column.table, {})[column.column] = column
    problems = []
    for table in tables:
        found = by_table.get(table.name)
        if not found:
            problems.append(f"table {table.name} is missing (or not readable by this role)")
            continue
        expected_names = set(table.column_names)
        for name in table.column_names:
            if name not in found:
                problems.append(f"{table.name}.{name} is missing")
                continue
            expected_type = _INFORMATION_SCHEMA_TYPES[table.column(name).pg_type]
            if found[name].comparable_type != expected_type:
                problems.append(
                    f"{table.name}.{name} has type {found[name].comparable_type}, expected {expected_type}"
                )
        for name in sorted(set(found) - expected_names):
            problems.append(f"{table.name}.{name} is a new column the pipeline does not know")
    return problems


def check_source_schema(tables: Iterable[SourceTable], observed: Iterable[ObservedColumn]) -> None:
    tables = list(tables)
    problems = find_schema_drift(tables, observed)
    if problems:
        raise SchemaDriftError(
            f"source schema drift in {len(problems)} place(s): " + "; ".join(problems)
            + ". Update totes/tables.py (and the downstream jobs) before ingesting again."
        )

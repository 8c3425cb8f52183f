"""Does the migrated warehouse match ``totes/star.py``? Checked by the load job before it stages anything.

Compared per table: every declared column exists with the declared type and nullability, no undeclared
column exists (facts: besides the serial record id), and the keys the merge relies on are there: a
dimension's primary key on its natural key; a fact's primary key on its record id, a unique constraint on its
natural version key (what ``ON CONFLICT`` needs) and a foreign key from each referencing column to its
dimension. Every difference is listed, so one failed run says everything that has to be fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from totes.star import WAREHOUSE_TABLES, StarTable
from totes.warehouse.errors import WarehouseSchemaError

# star.py's spelling of a type → PostgreSQL's format_type() spelling.
_FORMAT_TYPE = {"varchar(3)": "character varying(3)", "time(3)": "time(3) without time zone"}


def format_type(pg_type: str) -> str:
    return _FORMAT_TYPE.get(pg_type, pg_type)


@dataclass(frozen=True)
class ObservedColumn:
    table: str
    name: str
    type: str  # format_type(), e.g. 'integer', 'numeric(10,2)', 'time(3) without time zone'
    not_null: bool
    default: str | None
    identity: bool


_COLUMNS_QUERY = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity <> ''
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)
ORDER BY c.relname, a.attnum
"""

# Primary key, unique and foreign-key constraints with their columns in key order; for a foreign key also the
# referenced table and columns. Then the constraint's name and its definition as PostgreSQL prints it.
_CONSTRAINTS_QUERY = """
SELECT c.relname, k.contype,
       ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(attnum, i)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum ORDER BY u.i),
       f.relname,
       ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(attnum, i)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum ORDER BY u.i),
       k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class f ON f.oid = k.confrelid
WHERE n.nspname = current_schema() AND k.contype IN ('p', 'u', 'f') AND c.relname = ANY(%s)
"""


def observed_columns(conn: psycopg.Connection, tables=WAREHOUSE_TABLES) -> dict[str, dict[str, ObservedColumn]]:
    """The columns of the star tables present in the warehouse: {table: {column: ObservedColumn}}."""
    found: dict[str, dict[str, ObservedColumn]] = {}
    for row in conn.execute(_COLUMNS_QUERY, ([table.name for table in tables],)):
        column = ObservedColumn(*row)
        found.setdefault(column.table, {})[column.name] = column
    return found


@dataclass(frozen=True)
class TableKey:
    """A key, foreign key or index of a warehouse table, as the migrations created it."""

    table: str
    name: str
    kind: str  # 'p' primary key, 'u' unique, 'f' foreign key, 'i' an index behind no constraint
    # As PostgreSQL prints it: pg_get_constraintdef() for a constraint ('FOREIGN KEY (design_id) REFERENCES
    # dim_design(design_id)'), pg_get_indexdef() for an index (the whole CREATE INDEX statement).
    definition: str
    column: str | None = None  # a single-column foreign key: the referencing column
    dimension: str | None = None  # a foreign key: the referenced table


# The indexes that back no primary key or unique constraint (a foreign key's conindid is the referenced key's).
_INDEXES_QUERY = """
SELECT c.relname, i.relname, pg_get_indexdef(i.oid)
FROM pg_index x
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = ANY(%s)
  AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.contype IN ('p', 'u'))
"""


def _constraints(conn: psycopg.Connection, tables) -> dict[str, list[tuple]]:
    found: dict[str, list[tuple]] = {}
    for table, kind, columns, referenced, referenced_columns, _, _ in conn.execute(
            _CONSTRAINTS_QUERY, ([table.name for table in tables],)):
        found.setdefault(table, []).append(
            (kind, tuple(columns), referenced, tuple(referenced_columns or ())))
    return found


def table_keys(conn: psycopg.Connection, tables=WAREHOUSE_TABLES) -> dict[str, tuple[TableKey, ...]]:
    """The keys, foreign keys and indexes of ``tables`` in the warehouse: {table: (TableKey, ...)} by name."""
    names = [table.name for table in tables]
    found: dict[str, list[TableKey]] = {}
    for table, kind, columns, referenced, _, name, definition in conn.execute(_CONSTRAINTS_QUERY, (names,)):
        column = columns[0] if kind == "f" and len(columns) == 1 else None
        found.setdefault(table, []).append(TableKey(table, name, kind, definition, column, referenced))
    for table, name, definition in conn.execute(_INDEXES_QUERY, (names,)):
        found.setdefault(table, []).append(TableKey(table, name, "i", definition))
    return {table: tuple(sorted(keys, key=lambda key: key.name)) for table, keys in found.items()}


def _column_problems(table: StarTable, observed: dict[str, ObservedColumn]) -> list[str]:
    problems = []
    for column in table.columns:
        actual = observed.get(column.name)
        if actual is None:
            problems.append(f"column {table.name}.{column.name} is missing")
            continue
        if actual.type != format_type(column.pg_type):
            problems.append(
                f"column {table.name}.{column.name} is {actual.type}, expected {format_type(column.pg_type)}"
            )
        if actual.not_null == column.nullable:
            expected = "nullable" if column.nullable else "NOT NULL"
            found = "NOT NULL" if actual.not_null else "nullable"
            problems.append(f"column {table.name}.{column.name} is {found}, expected {expected}")
    if table.is_fact:
        record_id = observed.get(table.record_id)
        if record_id is None:
            problems.append(f"column {table.name}.{table.record_id} (the record id) is missing")
        elif record_id.type != "integer" or not (record_id.identity
                                                 or "nextval(" in (record_id.default or "")):
            problems.append(f"column {table.name}.{table.record_id} must be a serial (or identity) integer, "
                            f"found {record_id.type} without a generated default")
    declared = set(table.column_names) | ({table.record_id} if table.is_fact else set())
    for name in observed:
        if name not in declared:
            problems.append(f"column {table.name}.{name} is not in totes/star.py")
    return problems


def _key_problems(table: StarTable, constraints: list[tuple]) -> list[str]:
    problems = []
    primary = {columns for kind, columns, _, _ in constraints if kind == "p"}
    unique = {frozenset(columns) for kind, columns, _, _ in constraints if kind in ("p", "u")}
    expected_primary = (table.record_id,) if table.is_fact else table.natural_key
    if expected_primary not in primary:
        problems.append(f"table {table.name} lacks its primary key ({', '.join(expected_primary)})")
    if table.is_fact and frozenset(table.natural_key) not in unique:
        problems.append(
            f"table {table.name} lacks the unique constraint on its natural key "
            f"({', '.join(table.natural_key)})"
        )
    foreign = {(columns, referenced) for kind, columns, referenced, _ in constraints if kind == "f"}
    for column, dimension in table.foreign_keys.items():
        if ((column,), dimension) not in foreign:
            problems.append(f"table {table.name} lacks the foreign key {column} -> {dimension}")
    return problems


def schema_problems(conn: psycopg.Connection, tables=WAREHOUSE_TABLES) -> list[str]:
    """Every difference between the warehouse and ``totes/star.py`` (empty when they match)."""
    columns = observed_columns(conn, tables)
    constraints = _constraints(conn, tables)
    problems = []
    for table in tables:
        if table.name not in columns:
            problems.append(f"table {table.name} is missing (run `python -m totes.warehouse migrate`)")
            continue
        problems += _column_problems(table, columns[table.name])
        problems += _key_problems(table, constraints.get(table.name, []))
    return problems


def check_warehouse_schema(conn: psycopg.Connection, tables=WAREHOUSE_TABLES) -> None:
    """Raise :class:`WarehouseSchemaError` listing every difference from ``totes/star.py``."""
    problems = schema_problems(conn, tables)
    if problems:
        raise WarehouseSchemaError(problems)

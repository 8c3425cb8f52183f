"""The totesys source tables, defined once.

Every SQL identifier the jobs send to the source comes from here, never from input strings. The generator,
the ingestion job, the transformation job's input contracts and the tests all read these definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import types as T


@dataclass(frozen=True)
class Column:
    """One source column: its name, its PostgreSQL type as declared, whether it may be NULL, the table its
    foreign key refers to (as sql/source/totesys_schema.sql declares it), and what the type does not say: a text
    that holds a date, a number that cannot be negative."""

    name: str
    pg_type: str
    nullable: bool = False
    text_date: bool = False  # TEXT holding a 'YYYY-MM-DD' date
    references: str | None = None  # the source table whose primary key this column holds
    non_negative: bool = False

    @property
    def is_text(self) -> bool:
        return self.pg_type in TEXT_TYPES

    @property
    def select_expression(self) -> str:
        """The expression the ingestion read uses: enums leave the database as text (JDBC cannot map them)."""
        if self.pg_type in ENUM_TYPES:
            return f'"{self.name}"::text AS "{self.name}"'
        return f'"{self.name}"'


@dataclass(frozen=True)
class SourceTable:
    """One totesys table: name, integer serial primary key, and its columns in table order."""

    name: str
    columns: tuple[Column, ...]

    @property
    def primary_key(self) -> str:
        return f"{self.name}_id"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def quoted_name(self) -> str:
        # "transaction" is a reserved word; quoting every table keeps one rule for all.
        return f'"{self.name}"'

    @property
    def text_date_columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.text_date)

    @property
    def foreign_keys(self) -> tuple[tuple[str, str], ...]:
        """(column, parent table) of every column that refers to another table, in column order."""
        return tuple((column.name, column.references) for column in self.columns if column.references)

    @property
    def non_negative_columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.non_negative)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")


ENUM_TYPES = {'"PaymentTypeName"', '"TransactionType"'}
TEXT_TYPES = {"text", "varchar(3)", *ENUM_TYPES}

_CREATED_AT = Column("created_at", "timestamp(3)")
_LAST_UPDATED = Column("last_updated", "timestamp(3)")


def _table(name: str, *columns: Column) -> SourceTable:
    return SourceTable(name, (Column(f"{name}_id", "integer"), *columns))


ADDRESS = _table(
    "address",
    Column("address_line_1", "text"),
    Column("address_line_2", "text", nullable=True),
    Column("district", "text", nullable=True),
    Column("city", "text"),
    Column("postal_code", "text"),
    Column("country", "text"),
    Column("phone", "text"),
    _CREATED_AT,
    _LAST_UPDATED,
)
COUNTERPARTY = _table(
    "counterparty",
    Column("counterparty_legal_name", "text"),
    Column("legal_address_id", "integer", references="address"),
    Column("commercial_contact", "text", nullable=True),
    Column("delivery_contact", "text", nullable=True),
    _CREATED_AT,
    _LAST_UPDATED,
)
CURRENCY = _table("currency", Column("currency_code", "varchar(3)"), _CREATED_AT, _LAST_UPDATED)
DEPARTMENT = _table(
    "department",
    Column("department_name", "text"),
    Column("location", "text", nullable=True),
    Column("manager", "text", nullable=True),
    _CREATED_AT,
    _LAST_UPDATED,
)
DESIGN = _table(
    "design",
    _CREATED_AT,
    Column("design_name", "text"),
    Column("file_location", "text"),
    Column("file_name", "text"),
    _LAST_UPDATED,
)
PAYMENT_TYPE = _table(
    "payment_type", Column("payment_type_name", '"PaymentTypeName"'), _CREATED_AT, _LAST_UPDATED
)
STAFF = _table(
    "staff",
    Column("first_name", "text"),
    Column("last_name", "text"),
    Column("department_id", "integer", references="department"),
    Column("email_address", "text"),
    _CREATED_AT,
    _LAST_UPDATED,
)
SALES_ORDER = _table(
    "sales_order",
    _CREATED_AT,
    _LAST_UPDATED,
    Column("design_id", "integer", references="design"),
    Column("staff_id", "integer", references="staff"),
    Column("counterparty_id", "integer", references="counterparty"),
    Column("units_sold", "integer", non_negative=True),
    Column("unit_price", "numeric(10,2)", non_negative=True),
    Column("currency_id", "integer", references="currency"),
    Column("agreed_delivery_date", "text", text_date=True),
    Column("agreed_payment_date", "text", text_date=True),
    Column("agreed_delivery_location_id", "integer", references="address"),
)
PURCHASE_ORDER = _table(
    "purchase_order",
    _CREATED_AT,
    _LAST_UPDATED,
    Column("staff_id", "integer", references="staff"),
    Column("counterparty_id", "integer", references="counterparty"),
    Column("item_code", "text"),
    Column("item_quantity", "integer", non_negative=True),
    Column("item_unit_price", "numeric(10,2)", non_negative=True),
    Column("currency_id", "integer", references="currency"),
    Column("agreed_delivery_date", "text", text_date=True),
    Column("agreed_payment_date", "text", text_date=True),
    Column("agreed_delivery_location_id", "integer", references="address"),
)
TRANSACTION = _table(
    "transaction",
    Column("transaction_type", '"TransactionType"'),
    Column("sales_order_id", "integer", nullable=True, references="sales_order"),
    Column("purchase_order_id", "integer", nullable=True, references="purchase_order"),
    _CREATED_AT,
    _LAST_UPDATED,
)
PAYMENT = _table(
    "payment",
    _CREATED_AT,
    _LAST_UPDATED,
    Column("transaction_id", "integer", references="transaction"),
    Column("counterparty_id", "integer", references="counterparty"),
    Column("payment_amount", "numeric(10,2)"),
    Column("currency_id", "integer", references="currency"),
    Column("payment_type_id", "integer", references="payment_type"),
    Column("paid", "boolean"),
    Column("payment_date", "text", text_date=True),
    Column("company_ac_number", "integer"),
    Column("counterparty_ac_number", "integer"),
)

# Foreign-key order: parents before children, the order for loading and for reading a consistent picture.
SOURCE_TABLES: tuple[SourceTable, ...] = (
    ADDRESS,
    COUNTERPARTY,
    CURRENCY,
    DEPARTMENT,
    DESIGN,
    PAYMENT_TYPE,
    STAFF,
    SALES_ORDER,
    PURCHASE_ORDER,
    TRANSACTION,
    PAYMENT,
)
SOURCE_TABLES_BY_NAME: dict[str, SourceTable] = {table.name: table for table in SOURCE_TABLES}


def source_table(name: str) -> SourceTable:
    """The definition of a source table; an unknown name is an error that lists the known ones."""
    try:
        return SOURCE_TABLES_BY_NAME[name]
    except KeyError:
        known = ", ".join(SOURCE_TABLES_BY_NAME)
        raise KeyError(f"unknown totesys table {name!r}; known tables: {known}") from None


# The Spark type of each PostgreSQL type the source and the warehouse declare: the ingestion zone's parquet types
# (the ingest -> transform contract) and the processed zone's (totes/star.py). Spark has no time-of-day type, so
# the warehouse's times travel as 'HH:mm:ss.SSS' text.
SPARK_TYPES = {
    "integer": T.IntegerType(),
    "smallint": T.ShortType(),
    "text": T.StringType(),
    "varchar(3)": T.StringType(),
    "boolean": T.BooleanType(),
    "timestamp(3)": T.TimestampType(),
    "numeric(10,2)": T.DecimalType(10, 2),
    "date": T.DateType(),
    "time(3)": T.StringType(),
    '"PaymentTypeName"': T.StringType(),
    '"TransactionType"': T.StringType(),
}


def expected_spark_schema(table: SourceTable) -> T.StructType:
    """The schema of a table's parquet files in the ingestion zone: the contract with the transformation job."""
    return T.StructType(
        [T.StructField(column.name, SPARK_TYPES[column.pg_type], column.nullable) for column in table.columns]
    )


# A reconciliation's deletion records (<ingestion zone>/_deletions/<table>/run_id=<run>/), which the
# transformation reads: one row per source row found deleted.
DELETION_SCHEMA = T.StructType([
    T.StructField("source_id", T.IntegerType(), False),
    T.StructField("last_updated", T.TimestampType(), False),  # of the last version ingested
    T.StructField("detected_at", T.TimestampType(), False),  # the database clock when the run started
])

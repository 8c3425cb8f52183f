"""The star schema of the warehouse, defined once (DESIGN.md §2).

The transformation job ends every builder with a ``select`` of these columns and types; the load job takes its
staging tables, merge keys and load order from here; the warehouse migrations must produce exactly these tables
(a test compares them). Three stars share the dimensions:

- facts keep full history: one row per version of a source row (a new row whenever ``last_updated`` changes),
  keyed in the warehouse by a generated serial record id and, for idempotent loads, by the natural version key
  (source id, last_updated date and time);
- dimensions hold the latest values, one row per natural key (the source id).

In the processed zone (Iceberg tables) a fact row has every column but the record id; a dimension row has every
column.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import types as T

from totes.tables import SPARK_TYPES



@dataclass(frozen=True)
class StarColumn:
    name: str
    pg_type: str
    nullable: bool = False
    references: str | None = None  # the dimension table this column is a foreign key to

    @property
    def spark_type(self) -> T.DataType:
        return SPARK_TYPES[self.pg_type]


@dataclass(frozen=True)
class StarTable:
    """One warehouse table. ``grain`` says what one row is."""

    name: str
    grain: str
    columns: tuple[StarColumn, ...]
    natural_key: tuple[str, ...]
    record_id: str | None = None  # facts only: the warehouse-generated serial primary key
    source_table: str | None = None  # the totesys table the rows come from, where there is one

    @property
    def is_fact(self) -> bool:
        return self.record_id is not None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def spark_schema(self) -> T.StructType:
        """The schema of the table's rows in the processed zone (without partition columns)."""
        return T.StructType([T.StructField(c.name, c.spark_type, c.nullable) for c in self.columns])

    @property
    def foreign_keys(self) -> dict[str, str]:
        return {column.name: column.references for column in self.columns if column.references}

    def column(self, name: str) -> StarColumn:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")


def _c(name: str, pg_type: str, references: str | None = None, nullable: bool = False) -> StarColumn:
    return StarColumn(name, pg_type, nullable, references)


def _version_columns() -> tuple[StarColumn, ...]:
    return (
        _c("created_date", "date", "dim_date"),
        _c("created_time", "time(3)"),
        _c("last_updated_date", "date", "dim_date"),
        _c("last_updated_time", "time(3)"),
    )


DIM_DATE = StarTable(
    "dim_date",
    "one row per calendar day, every day from the earliest to the latest date any fact refers to",
    (
        _c("date_id", "date"),
        _c("year", "integer"),
        _c("month", "integer"),
        _c("day", "integer"),
        _c("day_of_week", "integer"),  # ISO: Monday = 1 ... Sunday = 7
        _c("day_name", "text"),
        _c("month_name", "text"),
        _c("quarter", "integer"),
    ),
    natural_key=("date_id",),
)
DIM_STAFF = StarTable(
    "dim_staff",
    "one row per staff member, with the current name and location of their department",
    (
        _c("staff_id", "integer"),
        _c("first_name", "text"),
        _c("last_name", "text"),
        _c("department_name", "text"),
        _c("location", "text", nullable=True),
        _c("email_address", "text"),
    ),
    natural_key=("staff_id",),
    source_table="staff",
)
DIM_LOCATION = StarTable(
    "dim_location",
    "one row per address",
    (
        _c("location_id", "integer"),
        _c("address_line_1", "text"),
        _c("address_line_2", "text", nullable=True),
        _c("district", "text", nullable=True),
        _c("city", "text"),
        _c("postal_code", "text"),
        _c("country", "text"),
        _c("phone", "text"),
    ),
    natural_key=("location_id",),
    source_table="address",
)
DIM_CURRENCY = StarTable(
    "dim_currency",
    "one row per currency, named from ISO 4217",
    (
        _c("currency_id", "integer"),
        _c("currency_code", "varchar(3)"),
        _c("currency_name", "text", nullable=True),  # NULL only for a code ISO 4217 does not know (reported)
    ),
    natural_key=("currency_id",),
    source_table="currency",
)
DIM_DESIGN = StarTable(
    "dim_design",
    "one row per design",
    (
        _c("design_id", "integer"),
        _c("design_name", "text"),
        _c("file_location", "text"),
        _c("file_name", "text"),
    ),
    natural_key=("design_id",),
    source_table="design",
)
DIM_COUNTERPARTY = StarTable(
    "dim_counterparty",
    "one row per counterparty, with its current legal address",
    (
        _c("counterparty_id", "integer"),
        _c("counterparty_legal_name", "text"),
        _c("counterparty_legal_address_line_1", "text"),
        _c("counterparty_legal_address_line_2", "text", nullable=True),
        _c("counterparty_legal_district", "text", nullable=True),
        _c("counterparty_legal_city", "text"),
        _c("counterparty_legal_postal_code", "text"),
        _c("counterparty_legal_country", "text"),
        _c("counterparty_legal_phone_number", "text"),
    ),
    natural_key=("counterparty_id",),
    source_table="counterparty",
)
DIM_TRANSACTION = StarTable(
    "dim_transaction",
    "one row per transaction (a sale or a purchase)",
    (
        _c("transaction_id", "integer"),
        _c("transaction_type", "text"),
        _c("sales_order_id", "integer", nullable=True),
        _c("purchase_order_id", "integer", nullable=True),
    ),
    natural_key=("transaction_id",),
    source_table="transaction",
)
DIM_PAYMENT_TYPE = StarTable(
    "dim_payment_type",
    "one row per payment type",
    (
        _c("payment_type_id", "integer"),
        _c("payment_type_name", "text"),
    ),
    natural_key=("payment_type_id",),
    source_table="payment_type",
)

FACT_SALES_ORDER = StarTable(
    "fact_sales_order",
    "one row per version of a sales order (a new row whenever its last_updated changes)",
    (
        _c("sales_order_id", "integer"),
        *_version_columns(),
        _c("sales_staff_id", "integer", "dim_staff"),
        _c("counterparty_id", "integer", "dim_counterparty"),
        _c("units_sold", "integer"),
        _c("unit_price", "numeric(10,2)"),
        _c("currency_id", "integer", "dim_currency"),
        _c("design_id", "integer", "dim_design"),
        _c("agreed_payment_date", "date", "dim_date"),
        _c("agreed_delivery_date", "date", "dim_date"),
        _c("agreed_delivery_location_id", "integer", "dim_location"),
    ),
    natural_key=("sales_order_id", "last_updated_date", "last_updated_time"),
    record_id="sales_record_id",
    source_table="sales_order",
)
FACT_PURCHASE_ORDER = StarTable(
    "fact_purchase_order",
    "one row per version of a purchase order",
    (
        _c("purchase_order_id", "integer"),
        *_version_columns(),
        _c("staff_id", "integer", "dim_staff"),
        _c("counterparty_id", "integer", "dim_counterparty"),
        _c("item_code", "text"),
        _c("item_quantity", "integer"),
        _c("item_unit_price", "numeric(10,2)"),
        _c("currency_id", "integer", "dim_currency"),
        _c("agreed_delivery_date", "date", "dim_date"),
        _c("agreed_payment_date", "date", "dim_date"),
        _c("agreed_delivery_location_id", "integer", "dim_location"),
    ),
    natural_key=("purchase_order_id", "last_updated_date", "last_updated_time"),
    record_id="purchase_record_id",
    source_table="purchase_order",
)
FACT_PAYMENT = StarTable(
    "fact_payment",
    "one row per version of a payment (an unpaid and a later paid version are two rows)",
    (
        _c("payment_id", "integer"),
        *_version_columns(),
        _c("transaction_id", "integer", "dim_transaction"),
        _c("counterparty_id", "integer", "dim_counterparty"),
        _c("payment_amount", "numeric(10,2)"),
        _c("currency_id", "integer", "dim_currency"),
        _c("payment_type_id", "integer", "dim_payment_type"),
        _c("paid", "boolean"),
        _c("payment_date", "date", "dim_date"),
    ),
    natural_key=("payment_id", "last_updated_date", "last_updated_time"),
    record_id="payment_record_id",
    source_table="payment",
)

DIMENSIONS: tuple[StarTable, ...] = (
    DIM_DATE, DIM_STAFF, DIM_LOCATION, DIM_CURRENCY, DIM_DESIGN, DIM_COUNTERPARTY, DIM_TRANSACTION,
    DIM_PAYMENT_TYPE,
)
FACTS: tuple[StarTable, ...] = (FACT_SALES_ORDER, FACT_PURCHASE_ORDER, FACT_PAYMENT)
# Load order: dimensions before the facts that reference them.
STAR_TABLES: tuple[StarTable, ...] = DIMENSIONS + FACTS

# Beside the stars: the delete policy (README, "Reconciliation"). Rows deleted in the source are never deleted
# from the warehouse (facts are history, and dimension rows may be referenced by it); the reconciliation finds
# them and this table flags them, one row per deleted source row. The transformation keeps it as a complete
# snapshot and the load upserts it, like a dimension.
SOURCE_DELETION = StarTable(
    "source_deletion",
    "one row per source row found deleted by a reconciliation (the row stays in facts and dimensions)",
    (
        _c("source_table", "text"),
        _c("source_id", "integer"),
        _c("last_updated_date", "date"),  # of the last version the pipeline ingested
        _c("last_updated_time", "time(3)"),
        _c("detected_date", "date"),  # the source database's clock when the reconciliation started
        _c("detected_time", "time(3)"),
    ),
    natural_key=("source_table", "source_id"),
)
AUDIT_TABLES: tuple[StarTable, ...] = (SOURCE_DELETION,)
# Every table the warehouse holds, in load order.
WAREHOUSE_TABLES: tuple[StarTable, ...] = STAR_TABLES + AUDIT_TABLES
STAR_TABLES_BY_NAME: dict[str, StarTable] = {table.name: table for table in WAREHOUSE_TABLES}


def star_table(name: str) -> StarTable:
    try:
        return STAR_TABLES_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown warehouse table {name!r}; known: {', '.join(STAR_TABLES_BY_NAME)}") from None

"""A deterministic, seeded totesys database: the real data's shape at any size, bulk-loaded with COPY.

Scale 1 reproduces the size of the real snapshot of 2024-11-15: 11,187 sales orders and 4,649 purchase orders
over 2022-11-03 .. 2024-11-15, one transaction per order, one payment per transaction, 473 designs, 30
addresses, 20 counterparties, 20 staff, 8 departments, 3 currencies, 4 payment types.

How each table grows with ``scale``:

- sales_order, purchase_order, transaction, payment and design: linearly (``round(real count * scale)``).
- address, counterparty and staff: fixed at the real size up to scale 1, then ``real size * sqrt(scale)``
  (a business a hundred times larger has more customers and staff, not a hundred times more).
- currency, department and payment_type: fixed; they are enumerations.

The same ``scale`` and ``seed`` give identical rows with the pinned numpy and Faker versions: every random
stream is derived from the seed and a fixed name, and the fact tables are generated in chunks of a fixed
size, so memory stays bounded at any scale. Rows reach PostgreSQL as CSV through COPY (Arrow writes the CSV),
never as row-by-row INSERTs.
"""

from __future__ import annotations

import logging
import math
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from faker import Faker
from psycopg import sql

from totes.tables import (
    ADDRESS,
    COUNTERPARTY,
    CURRENCY,
    DEPARTMENT,
    DESIGN,
    PAYMENT,
    PAYMENT_TYPE,
    PURCHASE_ORDER,
    SALES_ORDER,
    SOURCE_TABLES,
    STAFF,
    TRANSACTION,
    SourceTable,
)

logger = logging.getLogger(__name__)

# The real database's lifetime: lookup tables created at the start, orders flowing until the end.
PERIOD_START = datetime(2022, 11, 3, 14, 20, 49, 962000)
PERIOD_END = datetime(2024, 11, 15, 14, 40, 10, 188000)
# Prisma seeded counterparties and staff a moment after the other lookups, and orders after those.
PEOPLE_CREATED_AFTER_MS = 1_601
FIRST_ORDERS_AFTER_MS = 2_224

REAL_SALES_ORDERS = 11_187
REAL_PURCHASE_ORDERS = 4_649
REAL_DESIGNS = 473
REAL_ADDRESSES = 30
REAL_COUNTERPARTIES = 20
REAL_STAFF = 20
DESIGNS_AT_START = 10

CURRENCY_CODES = ("GBP", "USD", "EUR")
PAYMENT_TYPE_NAMES = ("SALES_RECEIPT", "SALES_REFUND", "PURCHASE_PAYMENT", "PURCHASE_REFUND")
# (department_name, location) as in the real data, including its "Leds" typo.
DEPARTMENTS = (
    ("Sales", "Manchester"),
    ("Purchasing", "Manchester"),
    ("Production", "Leeds"),
    ("Dispatch", "Leds"),
    ("Finance", "Manchester"),
    ("Facilities", "Manchester"),
    ("Communications", "Leeds"),
    ("HR", "Leeds"),
)
STAFF_EMAIL_DOMAIN = "terrifictotes.com"
DESIGN_MATERIALS = (
    "Steel", "Soft", "Granite", "Concrete", "Frozen", "Bronze",
    "Plastic", "Cotton", "Metal", "Fresh", "Wooden", "Rubber",
)  # fmt: skip
DESIGN_FOLDERS = (
    "/usr", "/usr/share", "/usr/local/src", "/usr/libexec", "/usr/ports", "/usr/lib", "/usr/include",
    "/usr/bin", "/usr/sbin", "/usr/src", "/usr/obj", "/usr/X11R6", "/usr/libdata", "/etc", "/etc/periodic",
    "/etc/ppp", "/etc/namedb", "/etc/mail", "/etc/defaults", "/opt", "/opt/lib", "/opt/bin", "/opt/sbin",
    "/opt/include", "/var", "/var/log", "/var/tmp", "/var/yp", "/home", "/home/user/dir", "/net", "/selinux",
    "/lost+found", "/bin", "/sbin", "/lib", "/private", "/private/tmp", "/System", "/Library", "/Users",
    "/Applications", "/boot", "/boot/defaults", "/sys", "/root", "/dev", "/mnt", "/proc", "/srv",
)  # fmt: skip

# Value ranges of the real orders; the simulator draws from the same ones.
UNITS_SOLD_RANGE = (1_000, 100_000)
UNIT_PRICE_CENTS_RANGE = (200, 400)
ITEM_QUANTITY_RANGE = (1, 999)
ITEM_UNIT_PRICE_CENTS_RANGE = (100, 99_999)
ITEM_CODE_LENGTH = 7
ITEM_CODE_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
AC_NUMBER_RANGE = (10_000_000, 99_999_999)
# Agreed dates are a few days after the order: delivery 0-7 days, payment 0-6 days; a rare delivery is
# agreed months ahead.
DELIVERY_DAY_WEIGHTS = (0.06, 0.145, 0.145, 0.145, 0.145, 0.145, 0.135, 0.08)
PAYMENT_DAY_WEIGHTS = (0.07, 0.17, 0.16, 0.17, 0.165, 0.165, 0.10)
FAR_DELIVERY_SHARE = 0.005
FAR_DELIVERY_DAYS_RANGE = (8, 650)
REFUND_SHARE = 0.01

# Orders arrive in batches sharing one created_at: most alone, some in groups of up to a few dozen.
SINGLE_ORDER_SHARE = 0.75
ORDER_BATCH_SIZE_RANGE = (2, 30)
# Payments are marked paid in batches sharing one last_updated (real: about 18 per batch, at most 37),
# between half a day and six days after the payment was created; about 61% of payments end up paid.
PAID_SHARE = 0.61
PAID_BATCH_MEAN = 18
PAID_BATCH_SD = 5
PAID_BATCH_MAX = 37
PAID_DELAY_MS_RANGE = (43_200_000, 518_400_000)
PAID_RUN_JITTER_MS = 600_000

ADDRESS_LINE_2_SHARE = 0.3
DISTRICT_SHARE = 0.55

# Orders per generated chunk: bounds memory (a chunk is a few tens of MB of CSV) at any scale.
CHUNK_ORDERS = 200_000
MS_PER_DAY = 86_400_000
_EPOCH = datetime(1970, 1, 1)


class SourceNotEmptyError(RuntimeError):
    """The generator only fills an empty totesys schema; this one already has rows."""


@dataclass(frozen=True)
class LookupSizes:
    """Rows in the tables the orders point at; their ids are 1..n (loaded with explicit ids)."""

    addresses: int
    counterparties: int
    staff: int
    designs: int


def generate(conn: psycopg.Connection, scale: float, seed: int) -> dict[str, int]:
    """Fill an empty totesys schema with seeded data at ``scale``; return the rows per table (FK order).

    Loads everything in one transaction, sets every serial sequence past the loaded ids so the application can
    insert more rows, commits, and runs ANALYZE.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    sizes = lookup_sizes(scale)
    n_sales = max(1, round(REAL_SALES_ORDERS * scale))
    n_purchases = max(1, round(REAL_PURCHASE_ORDERS * scale))
    counts = {table.name: 0 for table in SOURCE_TABLES}
    with conn.transaction():
        _require_empty(conn)
        with _foreign_keys_checked_after_load(conn):
            for table, rows in _lookup_tables(seed, sizes):
                counts[table.name] += _copy_rows(conn, table, rows)
            for table, rows in _fact_tables(seed, sizes, n_sales, n_purchases):
                counts[table.name] += _copy_rows(conn, table, rows)
        _reset_sequences(conn)
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    return counts


def lookup_sizes(scale: float) -> LookupSizes:
    people_factor = max(1.0, math.sqrt(scale))
    return LookupSizes(
        addresses=round(REAL_ADDRESSES * people_factor),
        counterparties=round(REAL_COUNTERPARTIES * people_factor),
        staff=round(REAL_STAFF * people_factor),
        designs=max(1, round(REAL_DESIGNS * scale)),
    )


def tables_with_rows(conn: psycopg.Connection) -> list[str]:
    """The source tables that hold at least one row (FK order); empty means the generator may run."""
    return [
        table.name
        for table in SOURCE_TABLES
        if conn.execute(
            sql.SQL("SELECT EXISTS (SELECT FROM {})").format(sql.Identifier(table.name))
        ).fetchone()[0]
    ]


def _require_empty(conn: psycopg.Connection) -> None:
    non_empty = tables_with_rows(conn)
    if non_empty:
        raise SourceNotEmptyError(f"the totesys schema already has rows in {', '.join(non_empty)}")


@contextmanager
def _foreign_keys_checked_after_load(conn: psycopg.Connection):
    """Drop the foreign keys for the load and add them back, unchanged, after it (as pg_restore does).

    Adding a foreign key validates every row in one join, where COPY would fire one trigger per row and
    reference: that made the load three times slower. All of it happens in the caller's transaction, so a
    violation rolls the whole load back and no one ever sees the schema without its constraints.
    """
    foreign_keys = conn.execute(
        """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE contype = 'f' AND connamespace = 'public'::regnamespace
        ORDER BY conrelid::regclass::text, conname
        """
    ).fetchall()
    for table_name, constraint_name, _ in foreign_keys:
        conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.SQL(table_name), sql.Identifier(constraint_name)
            )
        )
    # No try/finally: if the load fails, rolling the transaction back restores the dropped keys too.
    yield
    for table_name, constraint_name, definition in foreign_keys:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.SQL(table_name), sql.Identifier(constraint_name), sql.SQL(definition)
            )
        )


def _copy_rows(conn: psycopg.Connection, table: SourceTable, rows: pa.Table) -> int:
    """COPY an Arrow table (columns in the table's order) as CSV: Arrow quotes every string and leaves NULLs
    as empty unquoted fields, which is exactly how PostgreSQL's CSV format tells NULL from ''."""
    if tuple(rows.column_names) != table.column_names:
        raise ValueError(f"{table.name}: generated columns {rows.column_names} != {table.column_names}")
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(rows, sink, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, table.column_names))
    )
    with conn.cursor().copy(statement) as copy:
        copy.write(sink.getvalue())
    return rows.num_rows


def _reset_sequences(conn: psycopg.Connection) -> None:
    """Point every serial sequence past the highest id, so an INSERT without an id gets a fresh one."""
    for table in SOURCE_TABLES:
        conn.execute(
            sql.SQL(
                "SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX({}), 0) + 1, false) FROM {}"
            ).format(sql.Identifier(table.primary_key), sql.Identifier(table.name)),
            (table.quoted_name, table.primary_key),
        )


# ---------------------------------------------------------------------------------------------- randomness


def _rng(seed: int, stream: str, index: int = 0) -> np.random.Generator:
    """An independent random stream per purpose, so changing how one table is drawn never shifts another."""
    return np.random.default_rng([seed, zlib.crc32(stream.encode()), index])


def _faker(seed: int, stream: str, locale: str = "en_US") -> Faker:
    fake = Faker(locale)
    fake.seed_instance(seed * 1_000_003 + zlib.crc32(stream.encode()))
    return fake


def _epoch_ms(moment: datetime) -> int:
    """Milliseconds since 1970 of a naive UTC datetime, in integer arithmetic (a float could lose the last
    millisecond)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


# ---------------------------------------------------------------------------------------------- arrow helpers


def _timestamps(ms: np.ndarray | list[int]) -> pa.Array:
    return pa.array(np.asarray(ms, dtype=np.int64), type=pa.timestamp("ms"))


def _date_texts(ms: np.ndarray, days_after: np.ndarray) -> pa.Array:
    """'YYYY-MM-DD' of the day ``days_after`` the moment ``ms``: the TEXT dates of the source."""
    days = (ms // MS_PER_DAY + days_after).astype(np.int32)
    return pa.array(days, type=pa.date32()).cast(pa.string())


def _money(cents: np.ndarray) -> pa.Array:
    """Exact numeric(10,2) values built from integer cents: a decimal128 holds the unscaled integer."""
    cents = np.asarray(cents, dtype=np.int64)
    words = np.zeros((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = np.where(cents < 0, -1, 0)  # two's complement sign extension into the high word
    return pa.Array.from_buffers(pa.decimal128(10, 2), len(cents), [None, pa.py_buffer(words.tobytes())])


def _fixed_width_strings(codes: np.ndarray) -> pa.Array:
    """A string array from an (n, width) uint8 array of ASCII codes, without a Python object per row."""
    n, width = codes.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(codes, dtype=np.uint8)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data.tobytes()))


def _ids(first: int, count: int) -> pa.Array:
    return pa.array(np.arange(first, first + count, dtype=np.int32))


def _int32(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int32), mask=mask)


def _rows(table: SourceTable, columns: dict[str, pa.Array | list]) -> tuple[SourceTable, pa.Table]:
    """Columns in the table's declared order; a missing or extra column is a generator bug."""
    if set(columns) != set(table.column_names):
        raise ValueError(f"{table.name}: generated {sorted(columns)}, expected {sorted(table.column_names)}")
    arrays = [
        columns[name] if isinstance(columns[name], pa.Array) else pa.array(columns[name])
        for name in table.column_names
    ]
    return table, pa.table(arrays, names=list(table.column_names))


# ---------------------------------------------------------------------------------------------- lookup tables


def _lookup_tables(seed: int, sizes: LookupSizes):
    """The tables created once (plus design, which grows over the period), in foreign-key order."""
    start_ms = _epoch_ms(PERIOD_START)
    people_ms = start_ms + PEOPLE_CREATED_AFTER_MS
    yield _address_table(seed, sizes.addresses, start_ms)
    yield _counterparty_table(seed, sizes, people_ms)
    yield _enumeration_table(CURRENCY, "currency_code", CURRENCY_CODES, start_ms)
    yield _department_table(seed, start_ms)
    yield _design_table(seed, sizes.designs, start_ms, _epoch_ms(PERIOD_END))
    yield _enumeration_table(PAYMENT_TYPE, "payment_type_name", PAYMENT_TYPE_NAMES, start_ms)
    yield _staff_table(seed, sizes.staff, people_ms)


def _audit_columns(n: int, ms: int) -> dict[str, pa.Array]:
    """created_at = last_updated for rows inserted once and never changed."""
    stamps = _timestamps(np.full(n, ms, dtype=np.int64))
    return {"created_at": stamps, "last_updated": stamps}


def _address_table(seed: int, n: int, created_ms: int):
    """One row per address (delivery locations and counterparties' legal addresses); line 2 and district are
    often NULL; international, like the real ones."""
    fake = _faker(seed, "address")
    uk = _faker(seed, "address-district", "en_GB")
    rng = _rng(seed, "address")
    has_line_2 = rng.random(n) < ADDRESS_LINE_2_SHARE
    has_district = rng.random(n) < DISTRICT_SHARE
    return _rows(
        ADDRESS,
        {
            "address_id": _ids(1, n),
            "address_line_1": [f"{fake.building_number()} {fake.street_name()}" for _ in range(n)],
            "address_line_2": [fake.street_name() if flag else None for flag in has_line_2],
            "district": [uk.county() if flag else None for flag in has_district],
            "city": [fake.city() for _ in range(n)],
            "postal_code": [fake.postcode() if i % 2 else fake.zipcode_plus4() for i in range(n)],
            "country": [fake.country() for _ in range(n)],
            "phone": [fake.numerify("#### ######") for _ in range(n)],
            **_audit_columns(n, created_ms),
        },
    )


def _counterparty_table(seed: int, sizes: LookupSizes, created_ms: int):
    """One row per customer or supplier company, with its legal address and two contact names."""
    fake = _faker(seed, "counterparty")
    rng = _rng(seed, "counterparty")
    n = sizes.counterparties
    return _rows(
        COUNTERPARTY,
        {
            "counterparty_id": _ids(1, n),
            "counterparty_legal_name": [fake.company() for _ in range(n)],
            "legal_address_id": _int32(rng.integers(1, sizes.addresses + 1, n)),
            "commercial_contact": [fake.name() for _ in range(n)],
            "delivery_contact": [fake.name() for _ in range(n)],
            **_audit_columns(n, created_ms),
        },
    )


def _enumeration_table(table: SourceTable, name_column: str, names: tuple[str, ...], created_ms: int):
    """One row per fixed value (currency code, payment type name)."""
    return _rows(
        table,
        {
            table.primary_key: _ids(1, len(names)),
            name_column: list(names),
            **_audit_columns(len(names), created_ms),
        },
    )


def _department_table(seed: int, created_ms: int):
    """One row per department: the real names and locations, invented managers."""
    fake = _faker(seed, "department")
    n = len(DEPARTMENTS)
    return _rows(
        DEPARTMENT,
        {
            "department_id": _ids(1, n),
            "department_name": [name for name, _ in DEPARTMENTS],
            "location": [location for _, location in DEPARTMENTS],
            "manager": [f"{fake.first_name()} {fake.last_name()}" for _ in range(n)],
            **_audit_columns(n, created_ms),
        },
    )


def _staff_table(seed: int, n: int, created_ms: int):
    """One row per employee: a department and a first.last@terrifictotes.com address."""
    fake = _faker(seed, "staff")
    rng = _rng(seed, "staff")
    first_names = [fake.first_name() for _ in range(n)]
    last_names = [fake.last_name() for _ in range(n)]
    return _rows(
        STAFF,
        {
            "staff_id": _ids(1, n),
            "first_name": first_names,
            "last_name": last_names,
            "department_id": _int32(rng.integers(1, len(DEPARTMENTS) + 1, n)),
            "email_address": [
                f"{first}.{last}@{STAFF_EMAIL_DOMAIN}".lower()
                for first, last in zip(first_names, last_names, strict=True)
            ],
            **_audit_columns(n, created_ms),
        },
    )


def design_created_ms(seed: int, n: int, start_ms: int, end_ms: int) -> np.ndarray:
    """Creation moments of designs 1..n, ascending: a first few at the start, the rest over the period."""
    rng = _rng(seed, "design-timeline")
    at_start = min(DESIGNS_AT_START, n)
    later = np.sort(rng.integers(start_ms + 1, end_ms, n - at_start))
    return np.concatenate([np.full(at_start, start_ms, dtype=np.int64), later])


def _design_table(seed: int, n: int, start_ms: int, end_ms: int):
    """One row per tote-bag design, created over the whole period (ids ascending with created_at); the file
    name carries the material and a date shortly before the design was registered."""
    rng = _rng(seed, "design")
    created_ms = design_created_ms(seed, n, start_ms, end_ms)
    materials = np.array(DESIGN_MATERIALS)[rng.integers(0, len(DESIGN_MATERIALS), n)]
    folders = np.array(DESIGN_FOLDERS)[rng.integers(0, len(DESIGN_FOLDERS), n)]
    drawn_days = created_ms // MS_PER_DAY - rng.integers(0, 600, n)
    drawn_dates = pa.array(drawn_days.astype(np.int32), type=pa.date32()).to_pylist()
    suffix_codes = rng.integers(0, 36, (n, 4))
    suffix_alphabet = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)
    suffixes = _fixed_width_strings(suffix_alphabet[suffix_codes]).to_pylist()
    file_names = [
        f"{material.lower()}-{drawn:%Y%m%d}-{suffix}.json"
        for material, drawn, suffix in zip(materials.tolist(), drawn_dates, suffixes, strict=True)
    ]
    stamps = _timestamps(created_ms)
    return _rows(
        DESIGN,
        {
            "design_id": _ids(1, n),
            "created_at": stamps,
            "design_name": materials.tolist(),
            "file_location": folders.tolist(),
            "file_name": file_names,
            "last_updated": stamps,
        },
    )


# ---------------------------------------------------------------------------------------------- fact tables


def order_timeline(seed: int, n_sales: int, n_purchases: int, start_ms: int, end_ms: int):
    """created_at of every order (ascending, in batches sharing one value) and whether it is a sale.

    Transaction and payment ids follow this order: the n-th order gets transaction n and payment n.
    """
    rng = _rng(seed, "order-timeline")
    n = n_sales + n_purchases
    low, high = ORDER_BATCH_SIZE_RANGE
    sizes = np.where(rng.random(n) < SINGLE_ORDER_SHARE, 1, rng.integers(low, high + 1, n))
    ends = np.cumsum(sizes)
    n_batches = int(np.searchsorted(ends, n)) + 1
    sizes = sizes[:n_batches].copy()
    sizes[-1] -= ends[n_batches - 1] - n  # trim the last batch to the exact order count
    batch_ms = np.sort(rng.integers(start_ms + FIRST_ORDERS_AFTER_MS, end_ms + 1, n_batches))
    created_ms = np.repeat(batch_ms, sizes)
    is_sale = rng.permutation(n) < n_sales
    return created_ms, is_sale


def payment_paid_ms(seed: int, created_ms: np.ndarray, end_ms: int) -> np.ndarray:
    """When each payment (in order-timeline order) was marked paid, -1 if it is still unpaid.

    About 61% of payments get paid, half a day to six days after they were created. The finance run marks
    them in batches sharing one last_updated (like the real data: about 18 a batch, never more than 37): the
    payments are taken in the order they fell due, and each batch runs just after its last one fell due.
    Batches that would run after the end of the period leave their payments unpaid.
    """
    rng = _rng(seed, "payment-paid")
    n = len(created_ms)
    to_pay = np.flatnonzero(rng.random(n) < PAID_SHARE)
    due_ms = created_ms[to_pay] + rng.integers(*PAID_DELAY_MS_RANGE, len(to_pay))
    by_due = np.argsort(due_ms, kind="stable")
    to_pay, due_ms = to_pay[by_due], due_ms[by_due]
    sizes = np.clip(np.rint(rng.normal(PAID_BATCH_MEAN, PAID_BATCH_SD, len(to_pay) + 1)), 1, PAID_BATCH_MAX)
    batch_of = np.repeat(np.arange(len(sizes)), sizes.astype(np.int64))[: len(to_pay)]
    last_in_batch = np.flatnonzero(np.diff(batch_of, append=len(sizes)))
    run_ms = due_ms[last_in_batch] + rng.integers(1, PAID_RUN_JITTER_MS, len(last_in_batch))
    paid_at = run_ms[np.searchsorted(last_in_batch, np.arange(len(to_pay)))]
    paid_ms = np.full(n, -1, dtype=np.int64)
    in_period = paid_at <= end_ms
    paid_ms[to_pay[in_period]] = paid_at[in_period]
    return paid_ms


def _fact_tables(seed: int, sizes: LookupSizes, n_sales: int, n_purchases: int):
    """sales_order, purchase_order, transaction and payment rows, chunk by chunk of the order timeline."""
    start_ms, end_ms = _epoch_ms(PERIOD_START), _epoch_ms(PERIOD_END)
    created_ms, is_sale = order_timeline(seed, n_sales, n_purchases, start_ms, end_ms)
    designs_ms = design_created_ms(seed, sizes.designs, start_ms, end_ms)
    paid_ms = payment_paid_ms(seed, created_ms, end_ms)
    sales_before = purchases_before = 0
    for chunk_index, first in enumerate(range(0, len(created_ms), CHUNK_ORDERS)):
        chunk = _OrderChunk.draw(
            _rng(seed, "orders", chunk_index),
            created_ms[first : first + CHUNK_ORDERS],
            is_sale[first : first + CHUNK_ORDERS],
            first_order_number=first + 1,
            first_sales_order_id=sales_before + 1,
            first_purchase_order_id=purchases_before + 1,
            sizes=sizes,
            designs_ms=designs_ms,
            paid_ms=paid_ms[first : first + CHUNK_ORDERS],
        )
        yield chunk.sales_order_table()
        yield chunk.purchase_order_table()
        yield chunk.transaction_table()
        yield chunk.payment_table()
        sales_before += int(chunk.is_sale.sum())
        purchases_before += int((~chunk.is_sale).sum())


@dataclass
class _OrderChunk:
    """A run of consecutive orders (both kinds, in created_at order) with every value their sales_order or
    purchase_order row, transaction row and payment row need."""

    created_ms: np.ndarray
    is_sale: np.ndarray
    order_number: np.ndarray  # = transaction_id = payment_id
    sales_order_id: np.ndarray  # valid where is_sale
    purchase_order_id: np.ndarray  # valid where not is_sale
    design_id: np.ndarray
    staff_id: np.ndarray
    counterparty_id: np.ndarray
    currency_id: np.ndarray
    quantity: np.ndarray
    unit_price_cents: np.ndarray
    delivery_days: np.ndarray
    payment_days: np.ndarray
    location_id: np.ndarray
    item_codes: pa.Array  # one per purchase order
    payment_type_id: np.ndarray
    paid_ms: np.ndarray  # -1 where still unpaid
    company_ac_number: np.ndarray
    counterparty_ac_number: np.ndarray

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        created_ms: np.ndarray,
        is_sale: np.ndarray,
        *,
        first_order_number: int,
        first_sales_order_id: int,
        first_purchase_order_id: int,
        sizes: LookupSizes,
        designs_ms: np.ndarray,
        paid_ms: np.ndarray,
    ) -> _OrderChunk:
        n = len(created_ms)
        n_purchases = int((~is_sale).sum())
        # Only designs that already exist can be ordered; ids ascend with creation.
        designs_available = np.searchsorted(designs_ms, created_ms, side="right")
        design_id = 1 + (rng.random(n) * designs_available).astype(np.int64)
        quantity = np.where(
            is_sale,
            rng.integers(UNITS_SOLD_RANGE[0], UNITS_SOLD_RANGE[1] + 1, n),
            rng.integers(ITEM_QUANTITY_RANGE[0], ITEM_QUANTITY_RANGE[1] + 1, n),
        )
        unit_price_cents = np.where(
            is_sale,
            rng.integers(UNIT_PRICE_CENTS_RANGE[0], UNIT_PRICE_CENTS_RANGE[1] + 1, n),
            rng.integers(ITEM_UNIT_PRICE_CENTS_RANGE[0], ITEM_UNIT_PRICE_CENTS_RANGE[1] + 1, n),
        )
        delivery_days = rng.choice(len(DELIVERY_DAY_WEIGHTS), n, p=DELIVERY_DAY_WEIGHTS)
        far = rng.random(n) < FAR_DELIVERY_SHARE
        delivery_days = np.where(far, rng.integers(*FAR_DELIVERY_DAYS_RANGE, n), delivery_days)
        alphabet = np.frombuffer(ITEM_CODE_ALPHABET, dtype=np.uint8)
        item_codes = _fixed_width_strings(
            alphabet[rng.integers(0, len(alphabet), (n_purchases, ITEM_CODE_LENGTH))]
        )
        refund = rng.random(n) < REFUND_SHARE
        # Payment type ids are the positions in PAYMENT_TYPE_NAMES plus one.
        payment_type_id = np.where(is_sale, np.where(refund, 2, 1), np.where(refund, 4, 3))
        return cls(
            created_ms=created_ms,
            is_sale=is_sale,
            order_number=np.arange(first_order_number, first_order_number + n),
            sales_order_id=first_sales_order_id - 1 + np.cumsum(is_sale),
            purchase_order_id=first_purchase_order_id - 1 + np.cumsum(~is_sale),
            design_id=design_id,
            staff_id=rng.integers(1, sizes.staff + 1, n),
            counterparty_id=rng.integers(1, sizes.counterparties + 1, n),
            currency_id=rng.integers(1, len(CURRENCY_CODES) + 1, n),
            quantity=quantity,
            unit_price_cents=unit_price_cents,
            delivery_days=delivery_days,
            payment_days=rng.choice(len(PAYMENT_DAY_WEIGHTS), n, p=PAYMENT_DAY_WEIGHTS),
            location_id=rng.integers(1, sizes.addresses + 1, n),
            item_codes=item_codes,
            payment_type_id=payment_type_id,
            paid_ms=paid_ms,
            company_ac_number=rng.integers(AC_NUMBER_RANGE[0], AC_NUMBER_RANGE[1] + 1, n),
            counterparty_ac_number=rng.integers(AC_NUMBER_RANGE[0], AC_NUMBER_RANGE[1] + 1, n),
        )

    def _order_columns(self, mask: np.ndarray) -> dict[str, pa.Array]:
        """The columns sales_order and purchase_order share, for the orders selected by ``mask``."""
        created = self.created_ms[mask]
        stamps = _timestamps(created)
        return {
            "created_at": stamps,
            "last_updated": stamps,
            "staff_id": _int32(self.staff_id[mask]),
            "counterparty_id": _int32(self.counterparty_id[mask]),
            "currency_id": _int32(self.currency_id[mask]),
            "agreed_delivery_date": _date_texts(created, self.delivery_days[mask]),
            "agreed_payment_date": _date_texts(created, self.payment_days[mask]),
            "agreed_delivery_location_id": _int32(self.location_id[mask]),
        }

    def sales_order_table(self):
        """One row per sales order, insert-only: created_at = last_updated."""
        sale = self.is_sale
        return _rows(
            SALES_ORDER,
            {
                "sales_order_id": _int32(self.sales_order_id[sale]),
                "design_id": _int32(self.design_id[sale]),
                "units_sold": _int32(self.quantity[sale]),
                "unit_price": _money(self.unit_price_cents[sale]),
                **self._order_columns(sale),
            },
        )

    def purchase_order_table(self):
        """One row per purchase order, insert-only: created_at = last_updated."""
        purchase = ~self.is_sale
        return _rows(
            PURCHASE_ORDER,
            {
                "purchase_order_id": _int32(self.purchase_order_id[purchase]),
                "item_code": self.item_codes,
                "item_quantity": _int32(self.quantity[purchase]),
                "item_unit_price": _money(self.unit_price_cents[purchase]),
                **self._order_columns(purchase),
            },
        )

    def transaction_table(self):
        """One row per order, created with it: SALE with sales_order_id or PURCHASE with purchase_order_id."""
        stamps = _timestamps(self.created_ms)
        types = pa.array(["SALE", "PURCHASE"]).take(pa.array(np.where(self.is_sale, 0, 1)))
        return _rows(
            TRANSACTION,
            {
                "transaction_id": _int32(self.order_number),
                "transaction_type": types,
                "sales_order_id": _int32(self.sales_order_id, mask=~self.is_sale),
                "purchase_order_id": _int32(self.purchase_order_id, mask=self.is_sale),
                "created_at": stamps,
                "last_updated": stamps,
            },
        )

    def payment_table(self):
        """One row per transaction, created with it, for the order's full amount in the order's currency and
        counterparty, due on the agreed payment date; paid ones were updated later (paid flag and
        last_updated), the only updates the source ever sees."""
        paid = self.paid_ms >= 0
        return _rows(
            PAYMENT,
            {
                "payment_id": _int32(self.order_number),
                "created_at": _timestamps(self.created_ms),
                "last_updated": _timestamps(np.where(paid, self.paid_ms, self.created_ms)),
                "transaction_id": _int32(self.order_number),
                "counterparty_id": _int32(self.counterparty_id),
                "payment_amount": _money(self.quantity * self.unit_price_cents),
                "currency_id": _int32(self.currency_id),
                "payment_type_id": _int32(self.payment_type_id),
                "paid": pa.array(paid),
                "payment_date": _date_texts(self.created_ms, self.payment_days),
                "company_ac_number": _int32(self.company_ac_number),
                "counterparty_ac_number": _int32(self.counterparty_ac_number),
            },
        )

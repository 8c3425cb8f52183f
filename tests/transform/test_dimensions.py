"""Dimensions: the latest values per natural key, with their parents' names, in the star schema's columns."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from tests.transform.rows import (
    any_row_order,
    frame,
    good_row,
    ingested_schema,
    names_and_types,
    null_row,
    staged_df,
)
from totes.star import (
    DIM_COUNTERPARTY,
    DIM_CURRENCY,
    DIM_DATE,
    DIM_DESIGN,
    DIM_LOCATION,
    DIM_PAYMENT_TYPE,
    DIM_STAFF,
    DIM_TRANSACTION,
)
from totes.tables import source_table
from totes.transform import dimensions as dims
from totes.transform.contracts import UnresolvedDimensionParentError, require_resolved
from totes.transform.staging import stage


def _empty_staged(spark, table_name):
    table = source_table(table_name)
    return frame(spark, [], ingested_schema(table)).transform(stage(table))


# Each dimension built from empty staged inputs: enough to compare schemas without running a job.
DIMENSION_BUILDS = {
    DIM_LOCATION: lambda spark: dims.dim_location(_empty_staged(spark, "address")),
    DIM_DESIGN: lambda spark: dims.dim_design(_empty_staged(spark, "design")),
    DIM_PAYMENT_TYPE: lambda spark: dims.dim_payment_type(_empty_staged(spark, "payment_type")),
    DIM_TRANSACTION: lambda spark: dims.dim_transaction(_empty_staged(spark, "transaction")),
    DIM_STAFF: lambda spark: dims.dim_staff(_empty_staged(spark, "staff"),
                                            _empty_staged(spark, "department")),
    DIM_COUNTERPARTY: lambda spark: dims.dim_counterparty(_empty_staged(spark, "counterparty"),
                                                          _empty_staged(spark, "address")),
    DIM_CURRENCY: lambda spark: dims.dim_currency(_empty_staged(spark, "currency").transform(
        dims.with_currency_names(dims.iso_4217_currencies(spark)))),
    DIM_DATE: lambda spark: dims.dim_date(spark, dt.date(2024, 11, 5), dt.date(2024, 11, 5)),
}


@pytest.mark.parametrize("dim", DIMENSION_BUILDS, ids=lambda dim: dim.name)
def test_every_dimension_has_exactly_the_star_columns_and_types(spark, dim):
    dim_df = DIMENSION_BUILDS[dim](spark)

    assert names_and_types(dim_df.schema) == names_and_types(dim.spark_schema)


def test_dim_staff_takes_department_name_and_location_from_the_department(spark):
    staff_df = staged_df(
        spark, "staff",
        good_row("staff", staff_id=1, department_id=1),
        good_row("staff", staff_id=2, first_name="Deron", last_name="Beier", department_id=2,
                 email_address="deron.beier@terrifictotes.com"),
        good_row("staff", staff_id=3, first_name="Jeanette", last_name="Erdman", department_id=2,
                 email_address="jeanette.erdman@terrifictotes.com"),
    )
    department_df = staged_df(
        spark, "department",
        good_row("department", department_id=1, department_name="Sales", location="Manchester"),
        good_row("department", department_id=2, department_name="Purchasing", location=None),
        good_row("department", department_id=3, department_name="Dispatch", location="Leds"),
    )

    dim_df = dims.dim_staff(staff_df, department_df)

    expected = frame(
        spark,
        [(1, "Jeremie", "Franey", "Sales", "Manchester", "jeremie.franey@terrifictotes.com"),
         (2, "Deron", "Beier", "Purchasing", None, "deron.beier@terrifictotes.com"),
         (3, "Jeanette", "Erdman", "Purchasing", None, "jeanette.erdman@terrifictotes.com")],
        DIM_STAFF.spark_schema,
    )
    assert_df_equality(dim_df, expected, ignore_nullable=True, transforms=any_row_order())


def test_staff_without_their_department_get_nulls_which_require_resolved_reports_by_id(spark):
    staff_df = staged_df(spark, "staff",
                         good_row("staff", staff_id=1, department_id=1),
                         good_row("staff", staff_id=7, department_id=99),
                         null_row("staff", staff_id=8))
    department_df = staged_df(spark, "department", good_row("department", department_id=1))

    dim_df = dims.dim_staff(staff_df, department_df)

    assert_df_equality(
        dim_df.select("staff_id", "department_name", "location"),
        frame(spark, [(1, "Sales", "Manchester"), (7, None, None), (8, None, None)],
                              "staff_id int, department_name string, location string"),
        ignore_nullable=True, transforms=any_row_order())
    with pytest.raises(UnresolvedDimensionParentError,
                       match=r"^dim_staff: no department row for staff_id") as raised:
        require_resolved("dim_staff", dim_df, "staff_id", "department_name", "department")
    listed = str(raised.value).rsplit("staff_id ", 1)[1]
    assert sorted(listed.split(", ")) == ["7", "8"]


def test_require_resolved_passes_when_every_row_found_its_parent(spark):
    dim_df = dims.dim_staff(staged_df(spark, "staff", good_row("staff")),
                            staged_df(spark, "department", good_row("department", location=None)))

    require_resolved("dim_staff", dim_df, "staff_id", "department_name", "department")


def test_dim_counterparty_takes_the_legal_address_fields(spark):
    counterparty_df = staged_df(
        spark, "counterparty",
        good_row("counterparty", counterparty_id=1, counterparty_legal_name="Fahey and Sons",
                 legal_address_id=15),
        good_row("counterparty", counterparty_id=2, counterparty_legal_name="Leannon, Predovic and Morar",
                 legal_address_id=28, commercial_contact=None),
        good_row("counterparty", counterparty_id=3, counterparty_legal_name="Armstrong Inc",
                 legal_address_id=99),
    )
    address_df = staged_df(
        spark, "address",
        good_row("address", address_id=15, address_line_1="605 Haskell Trafficway",
                 address_line_2="Axel Freeway", district=None, city="East Bobbie", postal_code="88253-4257",
                 country="Heard Island", phone="9687 937447"),
        good_row("address", address_id=28, address_line_1="079 Horacio Landing", address_line_2=None,
                 district="Avon", city="Utica", postal_code="93045", country="Austria", phone="7772 084705"),
    )

    dim_df = dims.dim_counterparty(counterparty_df, address_df)

    expected = frame(
        spark,
        [(1, "Fahey and Sons", "605 Haskell Trafficway", "Axel Freeway", None, "East Bobbie", "88253-4257",
          "Heard Island", "9687 937447"),
         (2, "Leannon, Predovic and Morar", "079 Horacio Landing", None, "Avon", "Utica", "93045", "Austria",
          "7772 084705"),
         (3, "Armstrong Inc", None, None, None, None, None, None, None)],
        "counterparty_id int, counterparty_legal_name string, counterparty_legal_address_line_1 string, "
        "counterparty_legal_address_line_2 string, counterparty_legal_district string, "
        "counterparty_legal_city string, counterparty_legal_postal_code string, "
        "counterparty_legal_country string, counterparty_legal_phone_number string",
    )
    assert_df_equality(dim_df, expected, ignore_nullable=True, transforms=any_row_order())
    with pytest.raises(UnresolvedDimensionParentError, match=r"^dim_counterparty: no address row for "
                                                             r"counterparty_id 3$"):
        require_resolved("dim_counterparty", dim_df, "counterparty_id", "counterparty_legal_address_line_1",
                         "address")


def test_dim_location_is_the_address_keyed_by_location_id(spark):
    address_df = staged_df(
        spark, "address",
        good_row("address", address_id=1),
        good_row("address", address_id=2, address_line_2="  ", district="Bedfordshire"),
        null_row("address", address_id=3),
    )

    dim_df = dims.dim_location(address_df)

    expected = frame(
        spark,
        [(1, "6826 Herzog Via", None, "Avon", "New Patienceburgh", "28441", "Turkey", "1803 637401"),
         (2, "6826 Herzog Via", None, "Bedfordshire", "New Patienceburgh", "28441", "Turkey", "1803 637401"),
         (3, None, None, None, None, None, None, None)],
        "location_id int, address_line_1 string, address_line_2 string, district string, city string, "
        "postal_code string, country string, phone string",
    )
    assert_df_equality(dim_df, expected, ignore_nullable=True, transforms=any_row_order())


def test_dim_design_dim_payment_type_and_dim_transaction_keep_their_source_values(spark):
    design = dims.dim_design(staged_df(spark, "design", good_row("design", design_id=1),
                                       null_row("design", design_id=2)))
    payment_type = dims.dim_payment_type(staged_df(
        spark, "payment_type",
        good_row("payment_type", payment_type_id=3, payment_type_name="PURCHASE_PAYMENT"),
        null_row("payment_type", payment_type_id=4)))
    transaction = dims.dim_transaction(staged_df(
        spark, "transaction",
        good_row("transaction", transaction_id=1, transaction_type="SALE", sales_order_id=1,
                 purchase_order_id=None),
        good_row("transaction", transaction_id=2, transaction_type="PURCHASE", sales_order_id=None,
                 purchase_order_id=2),
        null_row("transaction", transaction_id=3)))

    assert_df_equality(design, frame(
        spark,
        [(1, "Wooden", "/usr", "wooden-20220717-npgz.json"), (2, None, None, None)],
        "design_id int, design_name string, file_location string, file_name string"),
        ignore_nullable=True, transforms=any_row_order())
    assert_df_equality(payment_type, frame(
        spark,
        [(3, "PURCHASE_PAYMENT"), (4, None)], "payment_type_id int, payment_type_name string"),
        ignore_nullable=True, transforms=any_row_order())
    assert_df_equality(transaction, frame(
        spark,
        [(1, "SALE", 1, None), (2, "PURCHASE", None, 2), (3, None, None, None)],
        "transaction_id int, transaction_type string, sales_order_id int, purchase_order_id int"),
        ignore_nullable=True, transforms=any_row_order())


def test_currencies_are_named_from_iso_4217_and_an_unknown_code_is_flagged(spark):
    currency_df = staged_df(
        spark, "currency",
        good_row("currency", currency_id=1, currency_code="GBP"),
        good_row("currency", currency_id=2, currency_code="USD"),
        good_row("currency", currency_id=3, currency_code="EUR"),
        good_row("currency", currency_id=4, currency_code="eur"),
        good_row("currency", currency_id=5, currency_code="XXZ"),
        null_row("currency", currency_id=6),
    )

    named_df = currency_df.transform(dims.with_currency_names(dims.iso_4217_currencies(spark)))

    assert named_df.columns == [*currency_df.columns, "currency_name", "currency_known"]
    assert_df_equality(
        named_df.select("currency_id", "currency_code", "currency_name", "currency_known"),
        frame(
            spark,
            [(1, "GBP", "Pound Sterling", True), (2, "USD", "US Dollar", True), (3, "EUR", "Euro", True),
             (4, "eur", "Euro", True), (5, "XXZ", None, False), (6, None, None, False)],
            "currency_id int, currency_code string, currency_name string, currency_known boolean"),
        ignore_nullable=True, transforms=any_row_order())
    assert_df_equality(
        dims.dim_currency(named_df),
        frame(
            spark,
            [(1, "GBP", "Pound Sterling"), (2, "USD", "US Dollar"), (3, "EUR", "Euro"), (4, "eur", "Euro"),
             (5, "XXZ", None), (6, None, None)],
            "currency_id int, currency_code string, currency_name string"),
        ignore_nullable=True, transforms=any_row_order())


def test_dim_date_is_a_gapless_calendar_from_first_to_last_date_inclusive(spark):
    dim_df = dims.dim_date(spark, dt.date(2024, 11, 16), dt.date(2024, 11, 25))

    days = [row.date_id for row in dim_df.select("date_id").collect()]
    assert sorted(days) == [dt.date(2024, 11, 16) + dt.timedelta(days=n) for n in range(10)]


def test_dim_date_counts_iso_weekdays_from_monday_1_to_sunday_7(spark):
    # 2024-11-18 is a Monday.
    dim_df = dims.dim_date(spark, dt.date(2024, 11, 18), dt.date(2024, 11, 24))

    names = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    expected = frame(
        spark,
        [(dt.date(2024, 11, 18 + n), 2024, 11, 18 + n, n + 1, names[n], "November", 4) for n in range(7)],
        DIM_DATE.spark_schema,
    )
    assert_df_equality(dim_df, expected, ignore_nullable=True, transforms=any_row_order())


def test_dim_date_names_months_and_quarters_across_a_year_end_and_a_leap_day(spark):
    dim_df = dims.dim_date(spark, dt.date(2024, 2, 28), dt.date(2024, 3, 1)).unionByName(
        dims.dim_date(spark, dt.date(2024, 12, 31), dt.date(2025, 1, 1))).unionByName(
        dims.dim_date(spark, dt.date(2025, 7, 4), dt.date(2025, 7, 4)))

    expected = frame(
        spark,
        [(dt.date(2024, 2, 28), 2024, 2, 28, 3, "Wednesday", "February", 1),
         (dt.date(2024, 2, 29), 2024, 2, 29, 4, "Thursday", "February", 1),
         (dt.date(2024, 3, 1), 2024, 3, 1, 5, "Friday", "March", 1),
         (dt.date(2024, 12, 31), 2024, 12, 31, 2, "Tuesday", "December", 4),
         (dt.date(2025, 1, 1), 2025, 1, 1, 3, "Wednesday", "January", 1),
         (dt.date(2025, 7, 4), 2025, 7, 4, 5, "Friday", "July", 3)],
        DIM_DATE.spark_schema,
    )
    assert_df_equality(dim_df, expected, ignore_nullable=True, transforms=any_row_order())

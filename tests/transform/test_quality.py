"""Quality rules: a bad fact row gets the first rule it breaks and a reason naming every column and value."""

from __future__ import annotations

from decimal import Decimal

import pytest
from chispa import assert_df_equality

from tests.transform.rows import (
    any_row_order,
    currency_verdicts_df,
    frame,
    good_row,
    keys_df,
    null_row,
    staged_df,
)
from totes.transform.quality import (
    FACT_PARENTS,
    QUARANTINE_REASON,
    QUARANTINE_RULE,
    filter_passed,
    filter_quarantined,
    with_quality_verdicts,
)

VERDICT_SCHEMA = "{key} int, quarantine_rule string, quarantine_reason string"
UNKNOWN_CURRENCY_ID = 2
MISSING_ID = 99


def _parents(spark, table_name):
    """Every parent of the table has exactly the key 1 (the good rows refer to 1)."""
    return {parent: keys_df(spark, parent, 1)
            for _, parent in FACT_PARENTS[table_name] if parent != "currency"}


def _currencies(spark):
    return currency_verdicts_df(spark, (1, "GBP", True), (UNKNOWN_CURRENCY_ID, "XXZ", False))


def _verdicts(spark, table_name, *rows, narrowed=False):
    key = f"{table_name}_id"
    parents = _parents(spark, table_name)
    narrowed_parents = frozenset(parents) if narrowed else frozenset()
    judged = staged_df(spark, table_name, *rows).transform(
        with_quality_verdicts(table_name, parents, _currencies(spark), narrowed_parents))
    return judged.select(key, QUARANTINE_RULE, QUARANTINE_REASON)


def _expected(spark, table_name, *rows):
    return frame(spark, list(rows), VERDICT_SCHEMA.format(key=f"{table_name}_id"))


def test_each_rule_names_itself_and_the_column_and_value_of_a_sales_order(spark):
    verdicts = _verdicts(
        spark, "sales_order",
        good_row("sales_order", sales_order_id=1),
        good_row("sales_order", sales_order_id=2, units_sold=None),
        good_row("sales_order", sales_order_id=3, unit_price=Decimal("-1.50")),
        good_row("sales_order", sales_order_id=4, units_sold=-3),
        good_row("sales_order", sales_order_id=5, staff_id=MISSING_ID),
        good_row("sales_order", sales_order_id=6, currency_id=UNKNOWN_CURRENCY_ID),
        good_row("sales_order", sales_order_id=7, currency_id=MISSING_ID),
        good_row("sales_order", sales_order_id=8, units_sold=0, unit_price=Decimal("0.00")),
    )

    expected = _expected(
        spark, "sales_order",
        (1, None, None),
        (2, "missing_value", "units_sold is NULL"),
        (3, "negative_quantity", "unit_price is negative (-1.50)"),
        (4, "negative_quantity", "units_sold is negative (-3)"),
        (5, "missing_parent", "staff_id 99 has no staff row"),
        (6, "unknown_currency", "currency_id 2 has code 'XXZ', which ISO 4217 does not know"),
        (7, "missing_parent", "currency_id 99 has no currency row"),
        (8, None, None),  # zero is not negative
    )
    assert_df_equality(verdicts, expected, ignore_nullable=True, transforms=any_row_order())


# A small batch (a delta) narrows big parents to the keys it refers to before joining: the verdicts are the same.
PARENTS_NARROWED = pytest.mark.parametrize("narrowed", [False, True], ids=["whole parents", "narrowed parents"])


@PARENTS_NARROWED
def test_every_foreign_key_of_a_sales_order_is_checked_against_its_parent(spark, narrowed):
    foreign_keys = [column for column, _ in FACT_PARENTS["sales_order"]]
    verdicts = _verdicts(spark, "sales_order", *(
        good_row("sales_order", sales_order_id=key, **{column: MISSING_ID})
        for key, column in enumerate(foreign_keys, start=1)), narrowed=narrowed)

    expected = _expected(spark, "sales_order",
                         (1, "missing_parent", "design_id 99 has no design row"),
                         (2, "missing_parent", "staff_id 99 has no staff row"),
                         (3, "missing_parent", "counterparty_id 99 has no counterparty row"),
                         (4, "missing_parent", "currency_id 99 has no currency row"),
                         (5, "missing_parent", "agreed_delivery_location_id 99 has no address row"))
    assert_df_equality(verdicts, expected, ignore_nullable=True, transforms=any_row_order())


def test_a_null_row_is_quarantined_as_missing_values_only(spark):
    # A NULL foreign key is a missing value, not also a missing parent or an unknown currency.
    verdicts = _verdicts(spark, "sales_order", null_row("sales_order", sales_order_id=1))

    expected = _expected(spark, "sales_order", (1, "missing_value", "; ".join(f"{name} is NULL" for name in (
        "created_at", "last_updated", "design_id", "staff_id", "counterparty_id", "units_sold", "unit_price",
        "currency_id", "agreed_delivery_date", "agreed_payment_date", "agreed_delivery_location_id"))))
    assert_df_equality(verdicts, expected, ignore_nullable=True)


def test_a_row_breaking_two_rules_is_named_by_the_first_and_lists_both_reasons(spark):
    verdicts = _verdicts(
        spark, "sales_order",
        good_row("sales_order", sales_order_id=1, units_sold=-3, design_id=MISSING_ID),
        good_row("sales_order", sales_order_id=2, staff_id=MISSING_ID, currency_id=UNKNOWN_CURRENCY_ID),
        good_row("sales_order", sales_order_id=3, units_sold=None, unit_price=Decimal("-0.01")),
        good_row("sales_order", sales_order_id=4, counterparty_id=None, currency_id=UNKNOWN_CURRENCY_ID),
        null_row("sales_order", sales_order_id=5),
    )

    expected = _expected(
        spark, "sales_order",
        (1, "negative_quantity", "units_sold is negative (-3); design_id 99 has no design row"),
        (2, "missing_parent",
         "staff_id 99 has no staff row; currency_id 2 has code 'XXZ', which ISO 4217 does not know"),
        (3, "missing_value", "units_sold is NULL; unit_price is negative (-0.01)"),
        (4, "missing_value",
         "counterparty_id is NULL; currency_id 2 has code 'XXZ', which ISO 4217 does not know"),
        (5, "missing_value", "; ".join(f"{name} is NULL" for name in (
            "created_at", "last_updated", "design_id", "staff_id", "counterparty_id", "units_sold",
            "unit_price", "currency_id", "agreed_delivery_date", "agreed_payment_date",
            "agreed_delivery_location_id"))),
    )
    assert_df_equality(verdicts, expected, ignore_nullable=True, transforms=any_row_order())


def test_an_unparsable_date_is_quarantined_as_unparsable_date_quoting_its_text(spark):
    texts = ["2024-13-01", "2024-1-5", "05/11/2024", "2024-11-05T10:00"]
    verdicts = _verdicts(
        spark, "sales_order",
        *(good_row("sales_order", sales_order_id=key, agreed_delivery_date=text)
          for key, text in enumerate(texts, start=1)),
        good_row("sales_order", sales_order_id=6, agreed_delivery_date=None,
                 agreed_payment_date="2024-02-30"),
    )

    expected = _expected(
        spark, "sales_order",
        *((key, "unparsable_date", f"agreed_delivery_date '{text}' is not a YYYY-MM-DD date")
          for key, text in enumerate(texts, start=1)),
        # A missing text is a missing value, not an unparsable one; the first rule broken names the row.
        (6, "missing_value",
         "agreed_delivery_date is NULL; agreed_payment_date '2024-02-30' is not a YYYY-MM-DD date"),
    )
    assert_df_equality(verdicts, expected, ignore_nullable=True, transforms=any_row_order())


def test_a_blank_in_a_not_null_text_column_is_quarantined_as_blank_value(spark):
    # Staging trims, so only spaces are blank too; a blank date is blank, not also unparsable.
    verdicts = _verdicts(
        spark, "purchase_order",
        good_row("purchase_order", purchase_order_id=1, item_code=""),
        good_row("purchase_order", purchase_order_id=2, item_code="   "),
        good_row("purchase_order", purchase_order_id=3, agreed_delivery_date=" ", item_quantity=-1),
        good_row("purchase_order", purchase_order_id=4, item_code=" ZDOI5EA "),
        good_row("purchase_order", purchase_order_id=5, item_code=None, agreed_payment_date=""),
    )

    expected = _expected(
        spark, "purchase_order",
        (1, "blank_value", "item_code is blank"),
        (2, "blank_value", "item_code is blank"),
        (3, "blank_value", "agreed_delivery_date is blank; item_quantity is negative (-1)"),
        (4, None, None),
        (5, "missing_value", "item_code is NULL; agreed_payment_date is blank"),
    )
    assert_df_equality(verdicts, expected, ignore_nullable=True, transforms=any_row_order())


def test_a_blank_payment_date_is_blank_value(spark):
    verdicts = _verdicts(spark, "payment", good_row("payment", payment_id=1, payment_date=""))

    assert_df_equality(verdicts, _expected(spark, "payment", (1, "blank_value", "payment_date is blank")),
                       ignore_nullable=True)


def test_purchase_order_rules(spark):
    verdicts = _verdicts(
        spark, "purchase_order",
        good_row("purchase_order", purchase_order_id=1),
        good_row("purchase_order", purchase_order_id=2, item_quantity=-371),
        good_row("purchase_order", purchase_order_id=3, item_unit_price=Decimal("-361.39")),
        good_row("purchase_order", purchase_order_id=4, staff_id=MISSING_ID),
        good_row("purchase_order", purchase_order_id=5, counterparty_id=MISSING_ID),
        good_row("purchase_order", purchase_order_id=6, agreed_delivery_location_id=MISSING_ID),
        good_row("purchase_order", purchase_order_id=7, currency_id=UNKNOWN_CURRENCY_ID),
        good_row("purchase_order", purchase_order_id=8, item_code=None),
        good_row("purchase_order", purchase_order_id=9, item_quantity=None, item_unit_price=None),
        null_row("purchase_order", purchase_order_id=10),
    )

    expected = _expected(
        spark, "purchase_order",
        (1, None, None),
        (2, "negative_quantity", "item_quantity is negative (-371)"),
        (3, "negative_quantity", "item_unit_price is negative (-361.39)"),
        (4, "missing_parent", "staff_id 99 has no staff row"),
        (5, "missing_parent", "counterparty_id 99 has no counterparty row"),
        (6, "missing_parent", "agreed_delivery_location_id 99 has no address row"),
        (7, "unknown_currency", "currency_id 2 has code 'XXZ', which ISO 4217 does not know"),
        (8, "missing_value", "item_code is NULL"),
        (9, "missing_value", "item_quantity is NULL; item_unit_price is NULL"),
        (10, "missing_value", "; ".join(f"{name} is NULL" for name in (
            "created_at", "last_updated", "staff_id", "counterparty_id", "item_code", "item_quantity",
            "item_unit_price", "currency_id", "agreed_delivery_date", "agreed_payment_date",
            "agreed_delivery_location_id"))),
    )
    assert_df_equality(verdicts, expected, ignore_nullable=True, transforms=any_row_order())


@PARENTS_NARROWED
def test_payment_rules_and_a_negative_amount_is_allowed(spark, narrowed):
    # Refunds are payments too: payment_amount has no non-negative rule.
    verdicts = _verdicts(
        spark, "payment",
        good_row("payment", payment_id=1),
        good_row("payment", payment_id=2, payment_amount=Decimal("-54.00")),
        good_row("payment", payment_id=3, transaction_id=MISSING_ID),
        good_row("payment", payment_id=4, counterparty_id=MISSING_ID),
        good_row("payment", payment_id=5, payment_type_id=MISSING_ID),
        good_row("payment", payment_id=6, currency_id=UNKNOWN_CURRENCY_ID),
        good_row("payment", payment_id=7, paid=None),
        null_row("payment", payment_id=8),
        good_row("payment", payment_id=9, payment_date="06/11/2024"),
        narrowed=narrowed,
    )

    expected = _expected(
        spark, "payment",
        (1, None, None),
        (2, None, None),
        (3, "missing_parent", "transaction_id 99 has no transaction row"),
        (4, "missing_parent", "counterparty_id 99 has no counterparty row"),
        (5, "missing_parent", "payment_type_id 99 has no payment_type row"),
        (6, "unknown_currency", "currency_id 2 has code 'XXZ', which ISO 4217 does not know"),
        (7, "missing_value", "paid is NULL"),
        (8, "missing_value", "; ".join(f"{name} is NULL" for name in (
            "created_at", "last_updated", "transaction_id", "counterparty_id", "payment_amount",
            "currency_id", "payment_type_id", "paid", "payment_date", "company_ac_number",
            "counterparty_ac_number"))),
        (9, "unparsable_date", "payment_date '06/11/2024' is not a YYYY-MM-DD date"),
    )
    assert_df_equality(verdicts, expected, ignore_nullable=True, transforms=any_row_order())


def test_verdicts_keep_every_staged_row_and_column_unchanged(spark):
    staged = staged_df(spark, "sales_order",
                       good_row("sales_order", sales_order_id=1),
                       good_row("sales_order", sales_order_id=2, staff_id=MISSING_ID),
                       null_row("sales_order", sales_order_id=3))

    judged = staged.transform(with_quality_verdicts("sales_order", _parents(spark, "sales_order"),
                                                    _currencies(spark)))

    assert judged.columns == [*staged.columns, QUARANTINE_RULE, QUARANTINE_REASON]
    assert_df_equality(judged.drop(QUARANTINE_RULE, QUARANTINE_REASON), staged,
                       ignore_nullable=True, transforms=any_row_order())


def test_filter_passed_and_filter_quarantined_split_on_the_rule(spark):
    judged = frame(
        spark,
        [(1, None, None), (2, "missing_value", "units_sold is NULL"), (3, None, None),
         (4, "missing_parent", "staff_id 99 has no staff row"), (None, None, None)],
        VERDICT_SCHEMA.format(key="sales_order_id"))

    passed = judged.transform(filter_passed)
    quarantined = judged.transform(filter_quarantined)

    assert_df_equality(
        passed, _expected(spark, "sales_order", (1, None, None), (3, None, None), (None, None, None)),
        ignore_nullable=True, transforms=any_row_order())
    assert_df_equality(
        quarantined, _expected(spark, "sales_order", (2, "missing_value", "units_sold is NULL"),
                               (4, "missing_parent", "staff_id 99 has no staff row")),
        ignore_nullable=True, transforms=any_row_order())


def test_a_currency_with_a_null_code_is_an_unknown_currency(spark):
    currencies = currency_verdicts_df(spark, (1, "GBP", True), (3, None, False))
    staged = staged_df(spark, "sales_order", good_row("sales_order", sales_order_id=1, currency_id=3),
                       null_row("sales_order", sales_order_id=2))

    judged = staged.transform(
        with_quality_verdicts("sales_order", _parents(spark, "sales_order"), currencies))

    assert_df_equality(judged.select("sales_order_id", QUARANTINE_RULE),
                       frame(spark, [(1, "unknown_currency"), (2, "missing_value")],
                             "sales_order_id int, quarantine_rule string"),
                       ignore_nullable=True, transforms=any_row_order())


def test_a_date_more_than_ten_years_from_the_order_is_out_of_range(spark):
    # CREATED_AT is 2024-11-05: ten years either side is allowed, a typo such as 2999 is not.
    verdicts = _verdicts(
        spark, "sales_order",
        good_row("sales_order", sales_order_id=1, agreed_delivery_date="2999-12-31"),
        good_row("sales_order", sales_order_id=2, agreed_payment_date="1970-01-01"),
        good_row("sales_order", sales_order_id=3, agreed_delivery_date="2034-11-04"),
        null_row("sales_order", sales_order_id=4),
    )

    rules = {row[0]: (row[1], row[2]) for row in verdicts.collect()}
    assert rules[1] == ("date_out_of_range",
                        "agreed_delivery_date 2999-12-31 is more than 10 years from created_at 2024-11-05")
    assert rules[2][0] == "date_out_of_range" and rules[2][1].startswith("agreed_payment_date 1970-01-01 is more")
    assert rules[3] == (None, None)
    assert rules[4][0] == "missing_value"


def test_a_payment_date_far_from_the_payment_is_out_of_range(spark):
    verdicts = _verdicts(spark, "payment", good_row("payment", payment_id=1, payment_date="2099-01-01"))

    assert verdicts.collect()[0][1] == "date_out_of_range"

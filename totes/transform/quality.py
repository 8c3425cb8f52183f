"""Data-quality rules for fact rows: a row that breaks one is quarantined with the rule and the reason.

Rules (per staged source row of sales_order, purchase_order, payment):

- ``missing_value``: a NOT NULL source column is NULL (a file that lacked the column reads as NULL too);
- ``blank_value``: a NOT NULL text column is blank ('' or only spaces, which staging trims to ''): the source's
  NOT NULL lets a blank through, and a blank item code or agreed date is as unusable as a NULL one;
- ``unparsable_date``: a text date that is not a valid 'YYYY-MM-DD' date;
- ``date_out_of_range``: a text date more than ``MAX_YEARS_FROM_CREATED`` years before or after the row was
  created (a typo such as 2999 would otherwise stretch the gapless dim_date calendar over centuries);
- ``negative_quantity``: a negative quantity or unit price;
- ``missing_parent``: a foreign key with no row in the current state of its parent table (a parent that
  arrives later releases the row on that run);
- ``unknown_currency``: the currency exists but its code is not in ISO 4217.

Systemic problems are not quarantined row by row; they fail the run (see :mod:`totes.transform.contracts`).

Only fact rows are quarantined. A lookup row (a dimension's) cannot be held back: every fact referring to it
would then be held as ``missing_parent`` although the fact itself is sound, and the dimension keeps the row's
latest values anyway. A problem of a lookup row is therefore a contract of the dimensions, which fails the run
naming the rows (as an unresolved parent does, :func:`totes.transform.contracts.require_resolved`): a blank in a
lookup table's NOT NULL text column is for those contracts to refuse, not for these rules.

What the rules found in a run is counted by :func:`judged_quality` (:mod:`totes.transform.quality_report`).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from totes.tables import SourceTable, expected_spark_schema, source_table
from totes.transform.quality_report import RuleGroup, TableQuality, table_quality

QUARANTINE_RULE = "quarantine_rule"
QUARANTINE_REASON = "quarantine_reason"
# The rules in the order they judge a row: a row is held by the first one it breaks.
QUALITY_RULES = ("missing_value", "blank_value", "unparsable_date", "date_out_of_range", "negative_quantity",
                 "missing_parent", "unknown_currency")

# The source tables whose rows become fact rows: the only rows these rules judge.
FACT_SOURCE_TABLES: tuple[str, ...] = ("sales_order", "purchase_order", "payment")
# Foreign keys of each fact source table (totes/tables.py): (column, parent table). The parent key is <parent>_id.
FACT_PARENTS: dict[str, tuple[tuple[str, str], ...]] = {
    name: source_table(name).foreign_keys for name in FACT_SOURCE_TABLES}
# Agreed delivery and payment dates are weeks to months from the order in the real data; ten years is generous.
MAX_YEARS_FROM_CREATED = 10


def _found_flag(column: str) -> str:
    return f"_{column}_found"


def _verdicts(table: SourceTable) -> list[tuple[str, Column]]:
    """(rule, reason-or-NULL) per check, in the order a row's first broken rule is named."""
    checks = []
    text_dates = table.text_date_columns
    for column in table.columns:
        if not column.nullable:
            # A text date is missing when its text is; a NULL parsed date with text is unparsable instead.
            staged = f"{column.name}_text" if column.name in text_dates else column.name
            checks.append(("missing_value", F.when(F.col(staged).isNull(), F.lit(f"{column.name} is NULL"))))
    for column in table.columns:
        if not column.nullable and column.is_text:
            staged = f"{column.name}_text" if column.name in text_dates else column.name
            checks.append(("blank_value", F.when(F.col(staged) == "", F.lit(f"{column.name} is blank"))))
    for name in text_dates:
        text = F.col(f"{name}_text")
        checks.append(("unparsable_date", F.when(
            text.isNotNull() & (text != "") & F.col(name).isNull(),
            F.concat(F.lit(f"{name} '"), text, F.lit("' is not a YYYY-MM-DD date")))))
    for name in text_dates:
        date, created = F.col(name), F.col("created_date")
        checks.append(("date_out_of_range", F.when(
            date.isNotNull() & created.isNotNull()
            & ((date > F.add_months(created, 12 * MAX_YEARS_FROM_CREATED))
               | (date < F.add_months(created, -12 * MAX_YEARS_FROM_CREATED))),
            F.concat(F.lit(f"{name} "), date.cast("string"),
                     F.lit(f" is more than {MAX_YEARS_FROM_CREATED} years from created_at "),
                     created.cast("string")))))
    for name in table.non_negative_columns:
        checks.append(("negative_quantity", F.when(
            F.col(name) < 0, F.concat(F.lit(f"{name} is negative ("), F.col(name).cast("string"), F.lit(")")))))
    for column, parent in FACT_PARENTS[table.name]:
        checks.append(("missing_parent", F.when(
            F.col(column).isNotNull() & F.col(_found_flag(column)).isNull(),
            F.concat(F.lit(f"{column} "), F.col(column).cast("string"), F.lit(f" has no {parent} row")))))
    checks.append(("unknown_currency", F.when(
        F.col("_currency_id_found").isNotNull() & ~F.col("_currency_known"),
        F.concat(F.lit("currency_id "), F.col("currency_id").cast("string"), F.lit(" has code "),
                 F.coalesce(F.concat(F.lit("'"), F.col("_currency_code"), F.lit("'")), F.lit("NULL")),
                 F.lit(", which ISO 4217 does not know")))))
    return checks


def table_rules(table_name: str) -> tuple[str, ...]:
    """The rules that judge a table's rows, in judging order (payments have no non-negative column)."""
    named = {name for name, _ in _verdicts(source_table(table_name))}
    return tuple(rule for rule in QUALITY_RULES if rule in named)


def with_quality_verdicts(table_name: str, parent_keys: dict[str, DataFrame], currency_df: DataFrame,
                          narrowed_parents: frozenset[str] = frozenset()):
    """Adds ``quarantine_rule`` (the first rule broken, NULL for a good row) and ``quarantine_reason`` (all).

    ``parent_keys`` maps each parent table to a frame of its current keys (column ``<parent>_id``);
    ``currency_df`` has ``currency_id``, ``currency_code`` and ``currency_known`` (ISO 4217 knows the code).
    A parent in ``narrowed_parents`` is first narrowed to the keys the rows refer to (a broadcast semi-join
    while its keys are scanned), so a few rows join a handful of keys instead of shuffling every key of a big
    parent: a delta's payments against the 1.7 million transactions of scale 100.
    """
    table = source_table(table_name)

    def add_verdicts(staged_df: DataFrame) -> DataFrame:
        output_columns = staged_df.columns
        checked_df = staged_df
        for column, parent in FACT_PARENTS[table.name]:
            if parent == "currency":
                keys_df = currency_df.select(
                    F.col("currency_id").alias(column), F.lit(True).alias(_found_flag(column)),
                    F.col("currency_known").alias("_currency_known"), F.col("currency_code").alias("_currency_code"))
            else:
                keys_df = parent_keys[parent].select(F.col(f"{parent}_id").alias(column))
                if parent in narrowed_parents:
                    referred_df = F.broadcast(staged_df.select(column).where(F.col(column).isNotNull()).distinct())
                    keys_df = F.broadcast(keys_df.join(referred_df, on=column, how="left_semi"))
                keys_df = keys_df.withColumn(_found_flag(column), F.lit(True))
            checked_df = checked_df.join(keys_df, on=column, how="left")
        checks = _verdicts(table)
        rule = F.coalesce(*(F.when(reason.isNotNull(), F.lit(name)) for name, reason in checks))
        reason = F.concat_ws("; ", *(reason for _, reason in checks))
        return checked_df.select(
            *output_columns,
            rule.alias(QUARANTINE_RULE),
            F.when(rule.isNotNull(), reason).alias(QUARANTINE_REASON),
        )

    return add_verdicts


HELD_RULE = "_held_rule"


def held_rows_schema(table_name: str) -> T.StructType:
    """What :func:`judged_quality` reads of an earlier run's quarantine: the version and the rule."""
    table = source_table(table_name)
    version = [field for field in expected_spark_schema(table).fields
               if field.name in (table.primary_key, "last_updated")]
    return T.StructType(version + [T.StructField(QUARANTINE_RULE, T.StringType())])


def judged_quality(table_name: str, judged_df: DataFrame, held_df: DataFrame | None = None) -> TableQuality:
    """The quality report of a judged frame (the output of :func:`with_quality_verdicts`), in one aggregation.

    ``held_df``: the rows an earlier run held back (primary key, ``last_updated``, ``quarantine_rule``), among
    the candidates again; a judged row of the same version is one the earlier run held (a held row of that
    version re-ingested since counts too: the corrected copy replaced it among the candidates).
    """
    table = source_table(table_name)
    version = [table.primary_key, "last_updated"]
    rows_df = judged_df.select(*version, QUARANTINE_RULE, QUARANTINE_REASON)
    if held_df is None:
        rows_df = rows_df.withColumn(HELD_RULE, F.lit(None).cast("string"))
    else:
        # One rule per version, even where an earlier run held two copies of it (a quarantine is one file).
        held_rules_df = held_df.coalesce(1).groupBy(*version).agg(F.min(QUARANTINE_RULE).alias(HELD_RULE))
        rows_df = rows_df.join(held_rules_df, on=version, how="left")
    # The lowest and the highest key a group holds: a couple of examples in bounded memory, whatever its size.
    example = F.when(F.col(QUARANTINE_RULE).isNotNull(), F.struct(F.col(table.primary_key).alias("key"),
                                                                  F.col(QUARANTINE_REASON).alias("reason")))
    # One partition: the groups are a handful, and grouping it needs no shuffle (a Spark job less per fact).
    groups = rows_df.coalesce(1).groupBy(QUARANTINE_RULE, HELD_RULE).agg(
        F.count(F.lit(1)).alias("rows"), F.min(example).alias("first"), F.max(example).alias("last")).collect()
    return table_quality(table_rules(table_name), [
        RuleGroup(group[QUARANTINE_RULE], group[HELD_RULE], group["rows"], tuple(
            f"{table.primary_key} {'NULL' if example.key is None else example.key}: {example.reason}"
            for example in dict.fromkeys(e for e in (group["first"], group["last"]) if e is not None)))
        for group in groups])


def filter_passed(df: DataFrame) -> DataFrame:
    return df.where(F.col(QUARANTINE_RULE).isNull())


def filter_quarantined(df: DataFrame) -> DataFrame:
    return df.where(F.col(QUARANTINE_RULE).isNotNull())

"""Small frames built in the JVM: values arrive exactly as given, whatever characters they hold."""

from __future__ import annotations

from pyspark.sql import types as T

from totes.spark_frames import empty_frame, string_rows_frame

AWKWARD_VALUES = [
    ("quote", "Côte d'Ivoire franc"),
    ("backslash", "C:\\totes\\new"),
    ("variable", "${env:HOME} and ${x}"),
    ("escape text", "\\u0041 is not A"),
    ("unicode", "Bolívar Soberano ₿ 日本円"),
    ("empty", ""),
]


def test_string_rows_frame_keeps_quotes_backslashes_dollar_variables_and_unicode(spark):
    frame = string_rows_frame(spark, AWKWARD_VALUES, ["label", "value"])

    assert frame.columns == ["label", "value"]
    assert sorted(tuple(row) for row in frame.collect()) == sorted(AWKWARD_VALUES)


def test_string_rows_frame_of_no_rows_has_the_columns_and_no_rows(spark):
    frame = string_rows_frame(spark, [], ["currency_code", "currency_name"])

    assert frame.columns == ["currency_code", "currency_name"]
    assert frame.count() == 0


def test_empty_frame_has_the_schema_columns_and_types(spark):
    schema = T.StructType([T.StructField("id", T.IntegerType(), False), T.StructField("amount", T.DecimalType(10, 2)),
                           T.StructField("at", T.TimestampType())])

    frame = empty_frame(spark, schema)

    assert [(f.name, f.dataType) for f in frame.schema.fields] == [(f.name, f.dataType) for f in schema.fields]
    assert frame.count() == 0

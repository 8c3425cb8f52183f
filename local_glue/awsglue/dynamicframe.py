"""A DynamicFrame over a Spark DataFrame: the conversions the jobs use."""

from __future__ import annotations


class DynamicFrame:
    def __init__(self, data_frame, glue_ctx, name: str = ""):
        self._df = data_frame
        self.glue_ctx = glue_ctx
        self.name = name

    def toDF(self):  # noqa: N802 - Glue's name
        return self._df

    @classmethod
    def fromDF(cls, dataframe, glue_ctx, name: str):  # noqa: N802 - Glue's name
        return cls(dataframe, glue_ctx, name)

    def count(self) -> int:
        return self._df.count()

    def schema(self):
        return self._df.schema

    def printSchema(self) -> None:  # noqa: N802 - Glue's name
        self._df.printSchema()

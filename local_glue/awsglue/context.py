"""GlueContext: the Spark session and the JDBC reads of the Glue runtime, on plain local Spark."""

from __future__ import annotations

import logging
import re

from pyspark.sql import SparkSession

from awsglue.dynamicframe import DynamicFrame

# The driver class Glue uses for each JDBC connection type (Glue bundles the drivers; locally they come from
# spark.jars, which Java's DriverManager does not search, hence the explicit class).
JDBC_DRIVERS = {
    "postgresql": "org.postgresql.Driver",
    "mysql": "com.mysql.cj.jdbc.Driver",
    "sqlserver": "com.microsoft.sqlserver.jdbc.SQLServerDriver",
    "oracle": "oracle.jdbc.OracleDriver",
    "redshift": "com.amazon.redshift.jdbc.Driver",
}
JDBC_CONNECTION_TYPES = tuple(JDBC_DRIVERS)
# Glue's own option names and what Spark's JDBC source calls them; every other option passes through to Spark.
_GLUE_ONLY_OPTIONS = {"sampleQuery", "dbtable", "url", "user", "password", "jobBookmarkKeys",
                      "jobBookmarkKeysSortOrder", "enablePartitioningForSampleQuery", "hashfield",
                      "hashexpression", "hashpartitions"}
# The connection options Glue documents for its JDBC connection types: the JDBC page
# (https://docs.aws.amazon.com/glue/latest/dg/aws-glue-programming-etl-connect-jdbc-home.html) and the general
# options (bookmark keys). That page passes "all other option name/value pairs" to the Spark data source for
# redshift only; its older versions said so for every JDBC type. So any other option passes through here as
# the older text describes, with a warning that Glue may ignore it (local_glue/README.md, "Connection options").
GLUE_DOCUMENTED_JDBC_OPTIONS = frozenset({
    "useConnectionProperties", "connectionName", "databaseName", "url", "dbtable", "user", "password",
    "customJdbcDriverS3Path", "customJdbcDriverClassName", "bulkSize", "hashfield", "hashexpression",
    "hashpartitions", "sampleQuery", "enablePartitioningForSampleQuery", "sampleSize", "jobBookmarkKeys",
    "jobBookmarkKeysSortOrder",
})
_PASS_THROUGH_DOCUMENTED_FOR = ("redshift",)
# Glue's default number of parallel JDBC reads when partitioning is asked for without hashpartitions.
_GLUE_DEFAULT_HASHPARTITIONS = 7


class GlueBookmarkNotEmulatedError(NotImplementedError):
    """A read asked for Glue-managed bookmarks, which this emulation deliberately does not provide."""


class _DynamicFrameReader:
    def __init__(self, glue_context: "GlueContext"):
        self._glue_context = glue_context

    def from_options(self, connection_type: str, connection_options: dict | None = None, format=None,
                     format_options=None, transformation_ctx: str = "", **kwargs) -> DynamicFrame:
        options = dict(connection_options or {})
        if connection_type not in JDBC_CONNECTION_TYPES:
            raise ValueError(
                f"connection_type {connection_type!r} is not emulated locally; "
                f"supported: {', '.join(JDBC_CONNECTION_TYPES)}"
            )
        if transformation_ctx and self._glue_context.bookmarks_active:
            raise GlueBookmarkNotEmulatedError(
                f"transformation_ctx {transformation_ctx!r} asks for a Glue-managed JDBC bookmark; the local "
                "emulation does not provide them (see local_glue/README.md)"
            )
        undocumented = sorted(set(options) - GLUE_DOCUMENTED_JDBC_OPTIONS)
        if undocumented and connection_type not in _PASS_THROUGH_DOCUMENTED_FOR:
            self._glue_context._warn_undocumented(connection_type, undocumented)
        options.setdefault("driver", JDBC_DRIVERS[connection_type])
        return DynamicFrame(self._glue_context._read_jdbc(options), self._glue_context, transformation_ctx)


class GlueContext:
    """Wraps a SparkContext the way Glue's does; ``spark_session`` is the session the jobs use."""

    def __init__(self, spark_context, **options):
        self._sc = spark_context
        self.spark_session = SparkSession(spark_context)
        self.create_dynamic_frame = _DynamicFrameReader(self)
        self.bookmarks_active = False  # set by Job.init from --job-bookmark-option
        self._warned_undocumented: set[tuple[str, tuple[str, ...]]] = set()

    def get_logger(self) -> logging.Logger:
        return logging.getLogger("awsglue")

    def _warn_undocumented(self, connection_type: str, options: list[str]) -> None:
        """Once per GlueContext and set of options: a job reads many tables with the same options."""
        key = (connection_type, tuple(options))
        if key in self._warned_undocumented:
            return
        self._warned_undocumented.add(key)
        self.get_logger().warning(
            "connection options %s are not among the JDBC options Glue documents for %s: passed to Spark's "
            "JDBC source here, which Glue documents for redshift only, so Glue may ignore them",
            ", ".join(options), connection_type)

    def _read_jdbc(self, options: dict):
        for required in ("url", "dbtable"):
            if not options.get(required):
                raise ValueError(f"JDBC connection_options need {required!r}")
        if options.get("sampleQuery") and str(options.get("enablePartitioningForSampleQuery", "")).lower() == "true":
            return self._read_jdbc_partitioned(options)
        reader = self.spark_session.read.format("jdbc").option("url", options["url"])
        if options.get("user") is not None:
            reader = reader.option("user", options["user"])
        if options.get("password") is not None:
            reader = reader.option("password", options["password"])
        # Glue runs sampleQuery in place of reading dbtable whole; Spark calls that its "query" option.
        if options.get("sampleQuery"):
            reader = reader.option("query", options["sampleQuery"])
        else:
            reader = reader.option("dbtable", options["dbtable"])
        for key, value in options.items():
            if key not in _GLUE_ONLY_OPTIONS:
                reader = reader.option(key, value)
        return reader.load()

    def _read_jdbc_partitioned(self, options: dict):
        """Glue's parallel read of a sampleQuery: ``hashpartitions`` queries, each the sampleQuery (which must end
        with AND, or WHERE when it has no predicate of its own) with a predicate on ``hashexpression`` appended.

        Emulated with Spark's JDBC ``predicates``: partition ``i`` of ``n`` reads the rows whose
        ``MOD(hashexpression, n)`` is ``i`` or ``-i`` (partition 0 also takes NULL), which together cover every
        row exactly once. ``hashfield`` (Glue hashes a column of any type itself) is not emulated.
        """
        expression = options.get("hashexpression")
        if not expression:
            raise ValueError("enablePartitioningForSampleQuery needs hashexpression locally (hashfield is not emulated)")
        partitions = int(options.get("hashpartitions", _GLUE_DEFAULT_HASHPARTITIONS))
        query = options["sampleQuery"].rstrip()
        keyword = re.search(r"\b(AND|WHERE)$", query, re.IGNORECASE)
        if keyword is None:
            raise ValueError("with enablePartitioningForSampleQuery, sampleQuery must end with AND (or WHERE)")
        query = query[: keyword.start()].rstrip()
        predicates = [f"COALESCE(MOD({expression}, {partitions}), 0) IN ({i}, {-i})" for i in range(partitions)]
        properties = {key: str(value) for key, value in options.items()
                      if key not in _GLUE_ONLY_OPTIONS or key in ("user", "password")}
        return self.spark_session.read.jdbc(options["url"], f"({query}) AS glue_sample_query",
                                            predicates=predicates, properties=properties)

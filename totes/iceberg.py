"""The processed zone's Iceberg catalog: which one, how Spark reaches it, and commits that carry the run id.

The transformation and the load reach the processed zone's tables through one Spark catalog
(:attr:`ProcessedCatalog.spark_name`), configured from the job's arguments (README, "The processed zone"):

- ``--processed-catalog glue`` (AWS): Iceberg's Glue catalog, the Glue Data Catalog database of
  ``--catalog-database`` being the namespace, S3 file IO; with an endpoint override in the environment (the
  deploy rehearsal's emulator: ``AWS_ENDPOINT_URL``, as boto3 reads it) both clients go there, S3 path-style;
- ``--processed-catalog jdbc:<secret id>`` (locally): Iceberg's JDBC catalog in the PostgreSQL database whose
  credentials are that secret; the same namespace; files through Hadoop's file system.

Spark needs Iceberg's SQL extensions (MERGE, CALL) from its start: Terraform's ``--conf`` and the local Spark
configuration set ``ICEBERG_SQL_EXTENSIONS``; the catalog itself is set on the session at run time, so one job script
serves both runtimes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from totes.spark_session import ICEBERG_SQL_EXTENSIONS
from totes.zones import join_uri

CATALOG_KINDS = ("glue", "jdbc")
# The summary key of every snapshot a pipeline job commits: which run made it.
RUN_ID_PROPERTY = "totes.run-id"

# Copy-on-write for every row-level change: the load reads each commit's changes through Iceberg's changelog
# scan, which reads data files only (delete files of merge-on-read would fail it), and small tables stay
# free of delete files between compactions.
TABLE_PROPERTIES = {
    "format-version": "2",
    "write.merge.mode": "copy-on-write",
    "write.update.mode": "copy-on-write",
    "write.delete.mode": "copy-on-write",
    "write.parquet.compression-codec": "snappy",
    # Every commit writes a new metadata file (96 a day per table), which Iceberg keeps unless told: keep the last
    # 100 and delete older ones at commit. Snapshot expiry and orphan-file removal do not remove them promptly.
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "100",
}


class IcebergSetupError(RuntimeError):
    """The session cannot reach the processed zone's catalog (a missing extension, an unknown kind)."""


def spark_catalog_name(kind: str, zone_uri: str) -> str:
    """The Spark catalog's name of a zone: one per zone. Spark keeps a catalog it has once loaded for the
    session's life, so a session that meets a second zone (the tests, a warm local runner) needs a second name;
    the JDBC catalog also keys its tables by this name."""
    digest = hashlib.sha1(f"{kind} {zone_uri}".encode()).hexdigest()[:12]
    return f"processed_{digest}"


@dataclass(frozen=True)
class ProcessedCatalog:
    """Where the processed zone's tables are registered and stored."""

    kind: str  # "glue" | "jdbc"
    namespace: str  # the Glue database (AWS) or the JDBC catalog's namespace (locally)
    zone_uri: str  # the processed zone: tables live under <zone>/<table>/
    jdbc_url: str | None = None
    jdbc_user: str | None = None
    jdbc_password: str | None = None

    def __post_init__(self):
        if self.kind not in CATALOG_KINDS:
            raise IcebergSetupError(f"--processed-catalog must be one of {', '.join(CATALOG_KINDS)}, got {self.kind!r}")
        if self.kind == "jdbc" and not self.jdbc_url:
            raise IcebergSetupError("a jdbc processed catalog needs its database: --processed-catalog jdbc:<secret id>")

    @property
    def spark_name(self) -> str:
        return spark_catalog_name(self.kind, self.zone_uri)

    def table(self, name: str) -> str:
        """A table's identifier in Spark SQL."""
        return f"{self.spark_name}.{self.namespace}.{name}"

    def location(self, name: str) -> str:
        return join_uri(self.zone_uri, name)

    def spark_conf(self) -> dict[str, str]:
        prefix = f"spark.sql.catalog.{self.spark_name}"
        conf = {prefix: "org.apache.iceberg.spark.SparkCatalog", f"{prefix}.warehouse": self.zone_uri}
        if self.kind == "glue":
            conf.update({f"{prefix}.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
                         f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
                         # The jobs' own optimistic check is the metadata location; Glue's table versions grow by
                         # one per commit, every 15 minutes, without archive copies the crawler never needs.
                         f"{prefix}.glue.skip-archive": "true"})
            conf.update(_endpoint_overrides(prefix))
        else:
            conf.update({f"{prefix}.catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
                         f"{prefix}.uri": self.jdbc_url,
                         f"{prefix}.jdbc.user": self.jdbc_user or "",
                         f"{prefix}.jdbc.password": self.jdbc_password or "",
                         # V1 also keeps views; the schema is created on first use.
                         f"{prefix}.jdbc.schema-version": "V1",
                         # A server restarted under a pooled connection (admin or crash shutdown, starting up):
                         # reconnect and retry, as for the connection errors Iceberg retries by default.
                         f"{prefix}.retryable_status_codes": "57P01,57P02,57P03"})
        return conf


def _endpoint_overrides(prefix: str) -> dict[str, str]:
    """The Glue catalog's settings for AWS endpoints overridden in the environment (boto3's variables: the
    general ``AWS_ENDPOINT_URL``, or ``AWS_ENDPOINT_URL_GLUE`` / ``AWS_ENDPOINT_URL_S3`` per service); none on AWS.

    The AWS SDK in the driver reads ``AWS_ENDPOINT_URL`` itself, but S3FileIO also writes from the executors,
    which get the catalog's properties and not the driver's environment; path-style, because an emulator on an
    IP address has no bucket host names.
    """
    general = os.environ.get("AWS_ENDPOINT_URL")
    glue = os.environ.get("AWS_ENDPOINT_URL_GLUE", general)
    s3 = os.environ.get("AWS_ENDPOINT_URL_S3", general)
    conf = {f"{prefix}.glue.endpoint": glue} if glue else {}
    if s3:
        conf.update({f"{prefix}.s3.endpoint": s3, f"{prefix}.s3.path-style-access": "true"})
    return conf


def use_catalog(spark: SparkSession, catalog: ProcessedCatalog) -> None:
    """Point the session's processed catalog at ``catalog``; refuses when Iceberg's extensions are not loaded."""
    extensions = spark.conf.get("spark.sql.extensions", "") or ""
    if ICEBERG_SQL_EXTENSIONS not in extensions:
        raise IcebergSetupError(f"the Spark session lacks Iceberg's SQL extensions: set --conf "
                                f"spark.sql.extensions={ICEBERG_SQL_EXTENSIONS} (and --datalake-formats iceberg on Glue)")
    for key, value in catalog.spark_conf().items():
        spark.conf.set(key, value)
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {catalog.spark_name}.{catalog.namespace}")


@contextlib.contextmanager
def commits_tagged(spark: SparkSession, run_id: str, extra: dict[str, str] | None = None):
    """Every Iceberg commit this thread makes inside the block carries ``run_id`` (and ``extra``) in its snapshot
    summary.

    Spark SQL has no option for a MERGE's snapshot summary; Iceberg takes extra summary properties from a
    thread-local that its ``CommitMetadata.withCommitProperties`` sets around a Java callable. PySpark runs each
    Python thread's calls on one JVM thread (pinned thread mode, its default), so setting that thread-local for
    the block tags exactly this thread's commits.
    """
    jvm = spark.sparkContext._jvm
    field = jvm.org.apache.iceberg.spark.CommitMetadata._java_lang_class.getDeclaredField("COMMIT_PROPERTIES")
    field.setAccessible(True)
    thread_local = field.get(None)
    properties = jvm.java.util.HashMap()
    properties.put(RUN_ID_PROPERTY, run_id)
    for key, value in (extra or {}).items():
        properties.put(key, value)
    thread_local.set(properties)
    try:
        yield
    finally:
        thread_local.remove()


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: int
    operation: str
    summary: dict[str, str]

    @property
    def run_id(self) -> str | None:
        return self.summary.get(RUN_ID_PROPERTY)

    def count(self, key: str) -> int:
        return int(self.summary.get(key, 0))


def table_exists(spark: SparkSession, table: str) -> bool:
    return spark.catalog.tableExists(table)


def current_snapshot(spark: SparkSession, table: str) -> Snapshot | None:
    """The table's current snapshot; None for a table that does not exist or was never written.

    Through Iceberg's table API, not the ``snapshots`` metadata table: no Spark job, the catalog read only.
    """
    if not table_exists(spark, table):
        return None
    jvm_table = spark.sparkContext._jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(
        spark._jsparkSession, table)
    jvm_table.refresh()
    snapshot = jvm_table.currentSnapshot()
    if snapshot is None:
        return None
    return Snapshot(snapshot.snapshotId(), snapshot.operation(), dict(snapshot.summary()))


def _column_ddl(field) -> str:
    return f"`{field.name}` {field.dataType.simpleString()}"


def create_table(spark: SparkSession, catalog: ProcessedCatalog, name: str, schema: StructType,
                 partitioned_by: str | None = None) -> None:
    """Create the table unless it exists, at ``<zone>/<name>``.

    Every column is nullable in Iceberg: the warehouse declares and enforces NOT NULL, and a MERGE's source
    columns come out of joins as nullable, which Iceberg would refuse to write into required fields.
    """
    table = catalog.table(name)
    if table_exists(spark, table):
        return
    properties = ", ".join(f"'{key}' = '{value}'" for key, value in TABLE_PROPERTIES.items())
    spark.sql(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(_column_ddl(f) for f in schema.fields)}) USING iceberg"
              + (f" PARTITIONED BY ({partitioned_by})" if partitioned_by else "")
              + f" LOCATION '{catalog.location(name)}' TBLPROPERTIES ({properties})")


def read_table(spark: SparkSession, table: str, schema: StructType, snapshot_id: int | None = None) -> DataFrame:
    """The table's rows (at ``snapshot_id``, or current) in ``schema``; empty when the table does not exist."""
    from totes.spark_frames import empty_frame

    if not table_exists(spark, table):
        return empty_frame(spark, schema)
    reader = spark.read.format("iceberg")
    if snapshot_id is not None:
        reader = reader.option("snapshot-id", str(snapshot_id))
    return reader.load(table).select(*schema.fieldNames())


def same_row(columns, left: str = "t", right: str = "s") -> str:
    """SQL: every column of two rows equal, NULLs equal to NULLs."""
    return " AND ".join(f"{left}.`{c}` <=> {right}.`{c}`" for c in columns)


def merge_into(spark: SparkSession, table: str, source_df: DataFrame, keys,
               update_when: str | None = None) -> Snapshot | None:
    """MERGE ``source_df`` into ``table`` on ``keys``: rows with a new key are inserted; with ``update_when``
    (SQL over ``t``, the table's row, and ``s``, the source's), a matched row meeting it is replaced.

    Returns the table's snapshot after the commit (tag it with :func:`commits_tagged`).
    """
    view = f"merge_source_{uuid.uuid4().hex}"
    source_df.createOrReplaceTempView(view)
    on = " AND ".join(f"t.`{key}` = s.`{key}`" for key in keys)
    matched = f"WHEN MATCHED AND ({update_when}) THEN UPDATE SET * " if update_when else ""
    try:
        spark.sql(f"MERGE INTO {table} t USING {view} s ON {on} {matched}WHEN NOT MATCHED THEN INSERT *")
    finally:
        spark.catalog.dropTempView(view)
    return current_snapshot(spark, table)


def replace_rows(spark: SparkSession, table: str, rows_df: DataFrame) -> Snapshot | None:
    """Replace every row of ``table`` with ``rows_df`` in one commit."""
    from pyspark.sql import functions as F

    rows_df.writeTo(table).overwrite(F.lit(True))
    return current_snapshot(spark, table)


def catalog_from_args(args: dict) -> ProcessedCatalog:
    """The processed catalog of a job's resolved arguments: ``--processed-catalog`` (``glue`` or
    ``jdbc:<secret id>``), ``--catalog-database`` (the namespace) and ``--processed-zone``."""
    kind, _, secret_id = (args.get("processed_catalog") or "glue").partition(":")
    namespace = args.get("catalog_database") or ""
    if not namespace:
        raise IcebergSetupError("--catalog-database (the processed zone's catalog database) is empty")
    if kind != "jdbc":
        return ProcessedCatalog(kind, namespace, args["processed_zone"])
    if not secret_id:
        raise IcebergSetupError("a jdbc processed catalog needs its database: --processed-catalog jdbc:<secret id>")
    from totes.secrets import get_database_credentials

    credentials = get_database_credentials(secret_id)
    return ProcessedCatalog(kind, namespace, args["processed_zone"], credentials.jdbc_url,
                            credentials.username, credentials.password)

"""The source is read in batches of JDBC_FETCH_SIZE rows, through Spark's JDBC reader and through the driver alone.

The batches are observed on the server: PostgreSQL's statement_timestamp() is "the time of receipt of the latest
command message from the client", and the driver fetches each batch of a cursor read with one Execute message,
so the rows of one batch share one statement_timestamp(), and a read without a cursor has one for all its rows.
"""

from collections import Counter

import pytest
from awsglue.context import GlueContext

from totes.ingest.run import SourceReader
from totes.settings import JDBC_FETCH_SIZE

ROWS = 2 * JDBC_FETCH_SIZE + JDBC_FETCH_SIZE // 2
BATCHED = [JDBC_FETCH_SIZE, JDBC_FETCH_SIZE, JDBC_FETCH_SIZE // 2]
PROBE = f"SELECT n, statement_timestamp()::text AS fetched_at FROM generate_series(1, {ROWS}) AS n WHERE TRUE"


def _batch_sizes(fetched_at: list[str]) -> list[int]:
    return [count for _, count in sorted(Counter(fetched_at).items())]


@pytest.fixture
def source_reader(spark, empty_source_db):
    _owner, reader = empty_source_db
    return SourceReader(GlueContext(spark.sparkContext), reader)


def test_a_read_bigger_than_the_fetch_size_arrives_in_batches_of_it(source_reader):
    rows = source_reader.query(PROBE, dbtable="currency").collect()

    assert len(rows) == ROWS
    assert _batch_sizes([row.fetched_at for row in rows]) == BATCHED


def test_each_parallel_read_arrives_in_batches_of_the_fetch_size(source_reader):
    frame = source_reader.query(PROBE, dbtable="currency", hash_column="n", partitions=2)

    per_partition = frame.rdd.glom().map(lambda rows: [row.fetched_at for row in rows]).collect()

    half = ROWS // 2
    assert sorted(_batch_sizes(fetched_at) for fetched_at in per_partition) == [
        [JDBC_FETCH_SIZE, half - JDBC_FETCH_SIZE]] * 2


def test_the_url_alone_does_not_make_sparks_reader_fetch_in_batches(source_reader, spark):
    """Why the reader also sends Spark's `fetchsize`: without it Spark leaves autocommit on and sets fetch size 0."""
    credentials = source_reader.credentials
    frame = GlueContext(spark.sparkContext).create_dynamic_frame.from_options(
        connection_type="postgresql",
        connection_options={"url": source_reader.jdbc_url, "user": credentials.username,
                            "password": credentials.password, "dbtable": "currency", "sampleQuery": PROBE})

    assert _batch_sizes([row.fetched_at for row in frame.toDF().collect()]) == [ROWS]


@pytest.mark.parametrize(("autocommit", "expected"), [(False, BATCHED), (True, [ROWS])])
def test_the_url_alone_makes_the_driver_fetch_in_batches_outside_autocommit(source_reader, spark, autocommit,
                                                                            expected):
    """Why the URL carries defaultRowFetchSize: a reader that sets no fetch size of its own still gets batches,
    as long as it reads inside a transaction (which no option of Glue's can ask for)."""
    jvm = spark.sparkContext._jvm
    driver = jvm.java.lang.Class.forName("org.postgresql.Driver", True,
                                         jvm.org.apache.spark.util.Utils.getContextOrSparkClassLoader())
    properties = jvm.java.util.Properties()
    properties.setProperty("user", source_reader.credentials.username)
    properties.setProperty("password", source_reader.credentials.password)
    connection = driver.getDeclaredConstructor(None).newInstance(None).connect(source_reader.jdbc_url, properties)
    try:
        connection.setAutoCommit(autocommit)
        statement = connection.prepareStatement(PROBE)
        assert statement.getFetchSize() == JDBC_FETCH_SIZE
        results = statement.executeQuery()
        fetched_at = []
        while results.next():
            fetched_at.append(results.getString("fetched_at"))
    finally:
        connection.close()

    assert _batch_sizes(fetched_at) == expected

"""The emulated GlueContext reads PostgreSQL over real JDBC, as Glue's ``postgresql`` connection type does."""

import pytest
from awsglue.context import GlueBookmarkNotEmulatedError, GlueContext
from awsglue.job import Job


@pytest.fixture
def glue_context(spark):
    return GlueContext(spark.sparkContext)


def _jdbc_options(credentials, **extra):
    return {"url": credentials.jdbc_url, "user": credentials.username, "password": credentials.password, **extra}


def test_sample_query_is_pushed_down_to_the_database(glue_context, empty_source_db):
    owner, reader = empty_source_db
    from totes.source.database import connect

    with connect(owner) as conn:
        conn.execute("INSERT INTO currency (currency_code, last_updated) VALUES ('GBP', now()), ('USD', now())")
    frame = glue_context.create_dynamic_frame.from_options(
        connection_type="postgresql",
        connection_options=_jdbc_options(reader, dbtable="currency",
                                         sampleQuery="SELECT currency_code FROM currency WHERE currency_code = 'USD'"),
    )
    df = frame.toDF()
    assert df.schema.simpleString() == "struct<currency_code:string>"
    assert [row.currency_code for row in df.collect()] == ["USD"]


def test_reading_a_whole_table_by_dbtable(glue_context, empty_source_db):
    _owner, reader = empty_source_db
    frame = glue_context.create_dynamic_frame.from_options(
        connection_type="postgresql", connection_options=_jdbc_options(reader, dbtable="department"))
    assert frame.count() == 0
    assert "department_name" in frame.toDF().columns


def test_glue_managed_bookmarks_are_refused_not_faked(glue_context, empty_source_db):
    _owner, reader = empty_source_db
    Job(glue_context).init("job", {"job_bookmark_option": "job-bookmark-enable"})
    with pytest.raises(GlueBookmarkNotEmulatedError, match="source_currency"):
        glue_context.create_dynamic_frame.from_options(
            connection_type="postgresql", connection_options=_jdbc_options(reader, dbtable="currency"),
            transformation_ctx="source_currency")


def test_an_unsupported_connection_type_is_named(glue_context):
    with pytest.raises(ValueError, match="dynamodb"):
        glue_context.create_dynamic_frame.from_options(connection_type="dynamodb", connection_options={})


def test_commit_before_init_is_an_error(glue_context):
    with pytest.raises(RuntimeError, match="before Job.init"):
        Job(glue_context).commit()


def test_partitioned_sample_query_reads_every_row_once_in_hashpartitions_queries(glue_context, empty_source_db):
    owner, reader = empty_source_db
    from totes.source.database import connect

    with connect(owner) as conn:
        conn.execute("INSERT INTO department (department_name, last_updated) "
                     "SELECT 'd' || n, now() FROM generate_series(1, 25) AS n")
    frame = glue_context.create_dynamic_frame.from_options(
        connection_type="postgresql",
        connection_options=_jdbc_options(
            reader, dbtable="department", enablePartitioningForSampleQuery="true", hashexpression='"department_id"',
            hashpartitions="3", sampleQuery="SELECT department_id FROM department WHERE department_id > 5 AND"),
    )
    df = frame.toDF()
    assert df.rdd.getNumPartitions() == 3
    ids_by_partition = df.rdd.glom().map(lambda rows: sorted(row.department_id for row in rows)).collect()
    assert sorted(i for ids in ids_by_partition for i in ids) == list(range(6, 26))
    assert all(len({i % 3 for i in ids}) == 1 for ids in ids_by_partition if ids)


def test_partitioned_sample_query_must_end_with_and_or_where(glue_context, empty_source_db):
    _owner, reader = empty_source_db
    with pytest.raises(ValueError, match="must end with AND"):
        glue_context.create_dynamic_frame.from_options(
            connection_type="postgresql",
            connection_options=_jdbc_options(reader, dbtable="department", enablePartitioningForSampleQuery="true",
                                             hashexpression="department_id", sampleQuery="SELECT * FROM department"))


def test_an_option_glue_does_not_document_is_passed_on_with_one_warning(glue_context, empty_source_db, caplog):
    _owner, reader = empty_source_db
    options = _jdbc_options(reader, dbtable="currency", sampleQuery="SELECT 1 AS one", fetchsize="100")

    with caplog.at_level("WARNING", logger="awsglue"):
        for _ in range(2):
            frame = glue_context.create_dynamic_frame.from_options(connection_type="postgresql",
                                                                   connection_options=options)
            assert frame.toDF().collect()[0].one == 1

    warnings = [record.getMessage() for record in caplog.records if record.name == "awsglue"]
    assert len(warnings) == 1
    assert "fetchsize" in warnings[0] and "not among the JDBC options Glue documents for postgresql" in warnings[0]


def test_documented_options_read_without_a_warning(glue_context, empty_source_db, caplog):
    _owner, reader = empty_source_db
    with caplog.at_level("WARNING", logger="awsglue"):
        glue_context.create_dynamic_frame.from_options(
            connection_type="postgresql", connection_options=_jdbc_options(reader, dbtable="department")).toDF()

    assert not [record for record in caplog.records if record.name == "awsglue"]

"""Bad input: a clear error naming what is wrong (never the password), a failed run, nothing lost."""

from __future__ import annotations

import dataclasses

import pytest
from awsglue.utils import GlueArgumentError

from tests.ingest.conftest import write_local_secret
from totes.ingest.errors import JobArgumentError, ZoneReadError
from totes.ingest.source_schema import SchemaDriftError
from totes.preflight import PreflightError
from totes.source.database import connect
from totes.source.simulator import simulate


@pytest.fixture
def ingested_once(seeded_ingestion):
    seeded_ingestion.run()
    return seeded_ingestion, seeded_ingestion.bookmark_text(), seeded_ingestion.data_files()


def _assert_nothing_changed(harness, bookmark, files):
    assert harness.bookmark_text() == bookmark
    assert harness.data_files() == files
    assert len(harness.manifests()) == 1


# The pre-flight (totes/preflight/) finds these before the job reads anything; its line keeps the driver's words.
def test_unreachable_database_names_host_and_port(ingested_once):
    harness, bookmark, files = ingested_once
    write_local_secret(harness.secrets_dir, "totesys/unreachable", dataclasses.replace(harness.reader, port=1))

    with pytest.raises(PreflightError, match="cannot read the source database .*127.0.0.1:1/") as raised:
        harness.run(secret_id="totesys/unreachable")

    assert harness.reader.password not in str(raised.value)
    _assert_nothing_changed(harness, bookmark, files)


def test_wrong_password_names_the_user_and_never_the_password(ingested_once, capfd):
    harness, bookmark, files = ingested_once
    wrong = dataclasses.replace(harness.reader, password="not-the-Password-42")
    write_local_secret(harness.secrets_dir, "totesys/wrong-password", wrong)

    with pytest.raises(PreflightError, match="password authentication failed") as raised:
        harness.run(secret_id="totesys/wrong-password")

    assert harness.reader.username in str(raised.value)
    captured = capfd.readouterr()
    for text in (str(raised.value), captured.out, captured.err):
        assert "not-the-Password-42" not in text
        assert harness.reader.password not in text
    _assert_nothing_changed(harness, bookmark, files)


def test_missing_secret_is_named(ingested_once):
    harness, bookmark, files = ingested_once

    with pytest.raises(PreflightError, match="secret 'totesys/nowhere' not found"):
        harness.run(secret_id="totesys/nowhere")
    _assert_nothing_changed(harness, bookmark, files)


def test_an_unreadable_file_of_the_previous_run_is_named_and_the_delta_waits_for_it(seeded_ingestion):
    seeded_ingestion.run()
    with connect(seeded_ingestion.owner) as conn:
        simulate(conn, seed=12, new_sales_orders=2, new_purchase_orders=1, payments_to_mark_paid=3)
    seeded_ingestion.run()  # its files are what the next window's overlap is checked against
    bookmark = seeded_ingestion.bookmark_text()
    broken = seeded_ingestion.manifests()[-1].tables["payment"].files[0]
    with open(seeded_ingestion.zone.uri_of(broken).removeprefix("file://"), "r+b") as damaged:
        damaged.truncate(100)

    with pytest.raises(ZoneReadError, match="cannot read what earlier runs wrote of payment") as raised:
        seeded_ingestion.run()

    assert broken in str(raised.value)  # the file is named
    assert seeded_ingestion.bookmark_text() == bookmark  # nothing moved: the next run re-reads the window
    assert len(seeded_ingestion.manifests()) == 2


def test_missing_table_is_named(ingested_once):
    harness, bookmark, files = ingested_once
    harness.sql("ALTER TABLE payment RENAME TO payment_old")

    with pytest.raises(SchemaDriftError, match="table payment is missing"):
        harness.run()
    _assert_nothing_changed(harness, bookmark, files)


def test_added_and_dropped_columns_are_listed(ingested_once):
    harness, bookmark, files = ingested_once
    harness.sql("ALTER TABLE staff ADD COLUMN nickname text")
    harness.sql("ALTER TABLE department DROP COLUMN manager")

    with pytest.raises(SchemaDriftError) as raised:
        harness.run()

    assert "staff.nickname is a new column" in str(raised.value)
    assert "department.manager is missing" in str(raised.value)
    _assert_nothing_changed(harness, bookmark, files)


def test_changed_column_type_is_named(ingested_once):
    harness, bookmark, files = ingested_once
    harness.sql("ALTER TABLE sales_order ALTER COLUMN unit_price TYPE numeric(12,4)")

    with pytest.raises(SchemaDriftError, match=r"sales_order.unit_price has type numeric\(12,4\)"):
        harness.run()
    _assert_nothing_changed(harness, bookmark, files)


@pytest.mark.parametrize(
    ("extra", "error", "message"),
    [
        (["--tables", "payment,invoices"], JobArgumentError, "unknown totesys table 'invoices'"),
        (["--overlap-seconds", "five"], JobArgumentError, "--overlap-seconds must be a number"),
        (["--overlap-seconds", "-1"], JobArgumentError, "must not be negative"),
    ],
)
def test_invalid_job_argument_is_named(ingested_once, extra, error, message):
    harness, bookmark, files = ingested_once
    with pytest.raises(error, match=message):
        harness.run("job-bookmark-enable", *extra)
    _assert_nothing_changed(harness, bookmark, files)


def test_invalid_bookmark_option_is_refused_before_anything_runs(ingested_once):
    harness, bookmark, files = ingested_once
    with pytest.raises(GlueArgumentError, match="invalid choice"):
        harness.run("job-bookmark-sometimes")
    _assert_nothing_changed(harness, bookmark, files)


def test_missing_required_argument_is_named(ingestion):
    with pytest.raises(GlueArgumentError, match="--ingestion-zone"):
        ingestion.job.main(["ingest_totesys.py", "--JOB_NAME", "totesys-ingest", "--source-secret-id", "x"])

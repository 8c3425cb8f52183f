"""A source role that cannot see other sessions in pg_stat_activity is refused: its read window's upper bound
would ignore open transactions and lose their rows (issue 16, item 4). Real roles on the local server."""

from __future__ import annotations

import pytest

from tests.ingest.conftest import write_local_secret
from totes.ingest.errors import SourceGrantError
from totes.ingest.run import SourceReader
from totes.ingest.window import blind_bound_message
from totes.preflight import PreflightError
from totes.source.database import connect
from totes.tables import SOURCE_TABLES

EVERY_TABLE = [table.name for table in SOURCE_TABLES]


def test_without_pg_read_all_stats_another_sessions_open_transaction_is_invisible(ingestion, make_source_role):
    blind = make_source_role(EVERY_TABLE)
    seeing = make_source_role(EVERY_TABLE, read_all_stats=True)
    with connect(ingestion.owner) as writer:
        writer.execute("SELECT 1")  # opens the writer's transaction
        writer_pid = writer.info.backend_pid
        query = "SELECT xact_start FROM pg_stat_activity WHERE pid = %s"
        with connect(blind) as conn:
            assert conn.execute(query, (writer_pid,)).fetchone() == (None,)  # what a blind bound would miss
        with connect(seeing) as conn:
            assert conn.execute(query, (writer_pid,)).fetchone()[0] is not None
        writer.rollback()


def test_the_clock_refuses_a_reader_without_the_grant_and_names_the_grant(ingestion, make_source_role):
    blind = make_source_role(EVERY_TABLE)

    with pytest.raises(SourceGrantError) as raised:
        SourceReader(None, blind).clock()

    message = str(raised.value)
    assert f'GRANT pg_read_all_stats TO "{blind.username}"' in message
    assert "\n" not in message
    assert blind.password not in message


def test_the_clock_of_a_reader_with_the_grant_sees_an_open_transaction(ingestion, make_source_role):
    seeing = make_source_role(EVERY_TABLE, read_all_stats=True)
    with connect(ingestion.owner) as writer:
        writer.execute("SELECT 1")
        clock = SourceReader(None, seeing).clock()
        writer.rollback()
    assert clock.oldest_open_transaction_start is not None
    # The local stack's own reader has the grant (scripts/local_pg.sh): its clock works as before.
    assert SourceReader(None, ingestion.reader).clock().now is not None


def test_an_ingestion_with_a_reader_without_the_grant_fails_and_writes_nothing(seeded_ingestion, make_source_role):
    harness = seeded_ingestion
    harness.run()
    bookmark, files, manifests = harness.bookmark_text(), harness.data_files(), harness.manifests()
    blind = make_source_role(EVERY_TABLE)
    write_local_secret(harness.secrets_dir, "totesys/blind-reader", blind)
    with connect(harness.owner) as conn:
        conn.execute("UPDATE payment SET paid = NOT paid, last_updated = now() WHERE payment_id = 1")

    # The job's pre-flight finds it first (the clock's refusal above stays as the guard of last resort).
    with pytest.raises(PreflightError) as raised:
        harness.run(secret_id="totesys/blind-reader")

    assert str(raised.value).splitlines() == [
        f"source database {blind.describe()}: {blind_bound_message(blind.username)}"]
    assert blind.password not in str(raised.value)
    assert harness.bookmark_text() == bookmark
    assert harness.data_files() == files
    assert [m.run_id for m in harness.manifests()] == [m.run_id for m in manifests]
    # The reader with the grant still ingests the change.
    assert {r.table: r.rows for r in harness.run().tables if r.rows} == {"payment": 1}

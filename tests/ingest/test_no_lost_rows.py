"""No committed row version is ever missed, although last_updated is shared and transactions commit late.

Glue's own JDBC bookmark keeps max(last_updated) and reads "greater than" it next time; the scenarios below are
the ones where that rule loses rows. See README, "The bookmark guarantee".
"""

from __future__ import annotations

import random
import re
import threading
import time

import psycopg
import pytest

from totes.source.database import connect

INSERT_ADDRESS = (
    "INSERT INTO address (address_line_1, city, postal_code, country, phone, created_at, last_updated) "
    "VALUES (%s, 'Leeds', 'LS1 1AA', 'United Kingdom', '0113 496 0000', now(), now()) RETURNING address_id"
)


def test_a_transaction_committing_after_a_run_with_an_earlier_timestamp_is_read_next_run(ingestion):
    ingestion.run("job-bookmark-enable", "--tables", "address")
    with connect(ingestion.owner) as late, connect(ingestion.owner) as prompt:
        late_id = late.execute(INSERT_ADDRESS, ("late",)).fetchone()[0]  # stamped now, not committed yet
        time.sleep(0.01)
        prompt_id = prompt.execute(INSERT_ADDRESS, ("prompt",)).fetchone()[0]
        prompt.commit()  # a later timestamp, committed first: Glue's max-key rule would now skip "late"

        while_open = ingestion.run("job-bookmark-enable", "--tables", "address")
        late.commit()
    after = ingestion.run("job-bookmark-enable", "--tables", "address")

    assert while_open.total_rows == 0  # the bound stayed below the open transaction
    assert after.total_rows == 2
    assert {key for key, _ in ingestion.ingested_versions("address")} == {late_id, prompt_id}


@pytest.fixture(params=["left out by the query", "dropped after the read"])
def overlap_deduplication(request, monkeypatch):
    """Both ways a delta drops the versions of its overlap already ingested: few are left out by the source
    query, more than MAX_VERSIONS_EXCLUDED_IN_QUERY by an anti-join in Spark (forced here with a limit of 0)."""
    from totes.ingest import run

    anti_joins, queries = [], []
    if request.param == "dropped after the read":
        monkeypatch.setattr(run, "MAX_VERSIONS_EXCLUDED_IN_QUERY", 0)
    drop = run.IngestionRun._drop_already_ingested
    monkeypatch.setattr(run.IngestionRun, "_drop_already_ingested",
                        lambda self, *args: anti_joins.append(args[0].name) or drop(self, *args))
    query = run.SourceReader.query
    monkeypatch.setattr(run.SourceReader, "query",
                        lambda self, sql, *args, **kwargs: queries.append(sql) or query(self, sql, *args, **kwargs))
    return request.param, anti_joins, queries


def test_rows_sharing_one_last_updated_are_read_together_even_across_commits(ingestion, overlap_deduplication):
    with connect(ingestion.owner) as conn:
        stamp = conn.execute("SELECT now()::timestamp(3)").fetchone()[0]
        conn.execute(
            "INSERT INTO address (address_line_1, city, postal_code, country, phone, created_at, last_updated) "
            "SELECT 'batch ' || n, 'Leeds', 'LS1', 'UK', '0', %s, %s FROM generate_series(1, 20) AS n",
            (stamp, stamp))
        conn.commit()
    ingestion.run("job-bookmark-enable", "--tables", "address")
    with connect(ingestion.owner) as conn:  # more rows of the same batch, same last_updated, committed later
        conn.execute(
            "INSERT INTO address (address_line_1, city, postal_code, country, phone, created_at, last_updated) "
            "SELECT 'late batch ' || n, 'Leeds', 'LS1', 'UK', '0', %s, %s FROM generate_series(1, 17) AS n",
            (stamp, stamp))
    ingestion.run("job-bookmark-enable", "--tables", "address")

    assert ingestion.ingested_versions("address") == ingestion.source_versions("address")
    assert len(ingestion.source_versions("address")) == 37
    way, anti_joins, queries = overlap_deduplication
    if way == "left out by the query":
        assert anti_joins == []
        # The 20 versions the first read took are left out by key and stamp; only the 17 new ones come back.
        assert len(re.findall(r"\((\d+), TIMESTAMP '", queries[-1])) == 20
    else:
        assert anti_joins == ["address"]
        assert "NOT IN" not in queries[-1]


def _writer(owner, writer_index: int, writers: int, stop: threading.Event, errors: list) -> None:
    """Inserts addresses and flips payments in transactions held open for a random while before commit."""
    rng = random.Random(writer_index)
    try:
        with connect(owner) as conn:
            while not stop.is_set():
                with conn.transaction():
                    for _ in range(rng.randint(1, 5)):
                        conn.execute(INSERT_ADDRESS, (f"writer {writer_index}",))
                    # Each writer owns its own payments, so writers never wait for each other's row locks.
                    conn.execute(
                        "UPDATE payment SET paid = NOT paid, last_updated = now() WHERE payment_id IN "
                        "(SELECT payment_id FROM payment WHERE payment_id %% %s = %s ORDER BY random() LIMIT 7)",
                        (writers, writer_index))
                    time.sleep(rng.uniform(0, 0.8))
    except psycopg.Error as error:  # reported by the test, which must not pass with a dead writer
        errors.append(error)


@pytest.mark.slow
def test_concurrent_writers_lose_no_row_version_and_duplicate_none(seeded_ingestion):
    harness = seeded_ingestion
    tables = ("--tables", "address,payment")
    harness.run("job-bookmark-enable", *tables)
    stop, errors, writers = threading.Event(), [], 3
    threads = [threading.Thread(target=_writer, args=(harness.owner, i, writers, stop, errors))
               for i in range(writers)]
    for thread in threads:
        thread.start()
    try:
        # At least 5 runs and 3 s of writing: a run that finds nothing new skips its reads and takes
        # milliseconds, so a fixed number of runs could all end before the first writer commits.
        runs_during_writes, started = [], time.monotonic()
        while len(runs_during_writes) < 5 or time.monotonic() - started < 3:
            runs_during_writes.append(harness.run("job-bookmark-enable", *tables))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    harness.run("job-bookmark-enable", *tables)

    assert errors == []
    assert sum(run.total_rows for run in runs_during_writes) > 0  # the runs really overlapped the writers
    assert harness.ingested_versions("address") == harness.source_versions("address")
    harness.assert_every_version_ingested_once(["address", "payment"])


def test_an_open_transaction_started_late_in_its_millisecond_holds_the_bound_below_its_stamp(ingestion):
    # Stamps truncate to the millisecond (the application's date_trunc); a start time 0.5 ms or more into its
    # millisecond once rounded up, so the bound admitted the open transaction's stamp, and without an overlap
    # the row was lost for good.
    ingestion.run("job-bookmark-enable", "--tables", "address", "--overlap-seconds", "0")
    with connect(ingestion.owner) as late:
        for _ in range(200):
            started = late.execute("SELECT extract(microseconds FROM now())::int % 1000").fetchone()[0]
            if started >= 500:
                break
            late.rollback()
        assert started >= 500
        late_id = late.execute(
            "INSERT INTO address (address_line_1, city, postal_code, country, phone, created_at, last_updated) "
            "VALUES ('late', 'Leeds', 'LS1', 'UK', '0', date_trunc('milliseconds', now()), "
            "date_trunc('milliseconds', now())) RETURNING address_id").fetchone()[0]
        ingestion.run("job-bookmark-enable", "--tables", "address", "--overlap-seconds", "0")
        late.commit()
    ingestion.run("job-bookmark-enable", "--tables", "address", "--overlap-seconds", "0")

    assert late_id in {key for key, _ in ingestion.ingested_versions("address")}

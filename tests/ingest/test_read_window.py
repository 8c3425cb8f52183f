"""The read window: an upper bound no committed row can fall under late, and an overlap for clock skew."""

import datetime as dt

from totes.ingest.window import (
    ReadWindow,
    SourceClock,
    WindowPolicy,
    next_window,
    upper_bound,
    window_query,
)
from totes.tables import PAYMENT, TRANSACTION

NOW = dt.datetime(2024, 11, 15, 14, 40, 10, 188000)
POLICY = WindowPolicy(read_lag=dt.timedelta(seconds=5), overlap=dt.timedelta(minutes=5),
                      max_transaction_wait=dt.timedelta(minutes=10))


def test_upper_bound_trails_the_database_clock_by_the_read_lag():
    bound, waited_too_long = upper_bound(SourceClock(NOW, None), POLICY)
    assert bound == NOW - dt.timedelta(seconds=5)
    assert waited_too_long is False


def test_upper_bound_stops_just_before_the_oldest_open_transaction():
    open_since = NOW - dt.timedelta(seconds=30)
    bound, _ = upper_bound(SourceClock(NOW, open_since), POLICY)
    # Rows that transaction writes are stamped at or after its start: the bound must stay strictly below it.
    assert bound == open_since - dt.timedelta(milliseconds=1)


def test_a_transaction_open_longer_than_the_wait_limit_is_not_waited_for_but_reported():
    open_since = NOW - dt.timedelta(minutes=11)
    bound, waited_too_long = upper_bound(SourceClock(NOW, open_since), POLICY)
    assert bound == NOW - dt.timedelta(seconds=5)
    assert waited_too_long is True


def test_first_window_reads_everything_up_to_the_bound():
    window = next_window(None, NOW, POLICY)
    assert window == ReadWindow(None, NOW)
    assert window.is_full


def test_next_window_reaches_back_by_the_overlap():
    previous = NOW - dt.timedelta(minutes=15)
    window = next_window(previous, NOW, POLICY)
    assert window.from_exclusive == previous - dt.timedelta(minutes=5)
    assert window.to_inclusive == NOW


def test_upper_bound_never_moves_backwards():
    previous = NOW + dt.timedelta(seconds=1)  # an old open transaction held this run's bound back
    assert next_window(previous, NOW, POLICY).to_inclusive == previous


def test_window_query_reads_declared_columns_with_enums_as_text_and_quotes_reserved_names():
    query = window_query(TRANSACTION, ReadWindow(NOW - dt.timedelta(minutes=1), NOW))
    assert 'FROM "transaction"' in query
    assert '"transaction_type"::text AS "transaction_type"' in query
    assert "last_updated > TIMESTAMP '2024-11-15 14:39:10.188'" in query
    assert "last_updated <= TIMESTAMP '2024-11-15 14:40:10.188'" in query


def test_full_window_query_has_only_an_upper_bound():
    query = window_query(PAYMENT, ReadWindow(None, NOW))
    assert "last_updated >" not in query
    assert query.count("last_updated <=") == 1


def test_window_query_leaves_out_the_versions_already_ingested_by_key_and_stamp():
    stamp = NOW - dt.timedelta(seconds=30)
    query = window_query(PAYMENT, ReadWindow(NOW - dt.timedelta(minutes=5), NOW), excluded=[(7, stamp), (9, NOW)])
    assert ("(\"payment_id\", last_updated) NOT IN (VALUES (7, TIMESTAMP '2024-11-15 14:39:40.188'), "
            "(9, TIMESTAMP '2024-11-15 14:40:10.188'))") in query
    assert "NOT IN" not in window_query(PAYMENT, ReadWindow(NOW - dt.timedelta(minutes=5), NOW), excluded=[])

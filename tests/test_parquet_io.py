"""Reading what a zone's parquet files hold on the driver, without a Spark job."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from totes.parquet_io import ParquetReadError, rows_stamped_after

T0 = dt.datetime(2026, 11, 25, 12, 0, 0, 123000)


def _write(path, keys, stamps, row_group_size, **options):
    table = pa.table({"payment_id": pa.array(keys, pa.int32()),
                      "last_updated": pa.array([s.replace(tzinfo=dt.timezone.utc) for s in stamps],
                                               pa.timestamp("us", tz="UTC"))})
    pq.write_table(table, path, row_group_size=row_group_size, **options)
    return path.as_uri()


def test_rows_stamped_after_a_moment_come_back_as_keys_and_naive_utc_stamps(tmp_path):
    stamps = [T0 + dt.timedelta(seconds=n) for n in range(6)]
    uri = _write(tmp_path / "a.parquet", list(range(1, 7)), stamps, row_group_size=2)

    found = rows_stamped_after([uri], ("payment_id", "last_updated"), "last_updated", stamps[3], limit=10)

    assert found == [(5, stamps[4]), (6, stamps[5])]  # strictly later; the moment itself is not "after"


def test_row_groups_ending_before_the_moment_are_not_read(tmp_path, monkeypatch):
    stamps = [T0 + dt.timedelta(seconds=n) for n in range(6)]
    uri = _write(tmp_path / "a.parquet", list(range(1, 7)), stamps, row_group_size=2)
    read_groups = []
    original = pq.ParquetFile.read_row_group
    monkeypatch.setattr(pq.ParquetFile, "read_row_group",
                        lambda self, group, **kwargs: read_groups.append(group) or original(self, group, **kwargs))

    found = rows_stamped_after([uri], ("payment_id",), "last_updated", stamps[2], limit=10)

    assert found == [(4,), (5,), (6,)]
    assert read_groups == [1, 2]  # group 0 ends at stamps[1]: its footer statistics rule it out


def test_more_rows_than_the_limit_give_none_and_none_found_an_empty_list(tmp_path):
    stamps = [T0 + dt.timedelta(seconds=n) for n in range(6)]
    uris = [_write(tmp_path / "a.parquet", [1, 2, 3], stamps[:3], 100),
            _write(tmp_path / "b.parquet", [4, 5, 6], stamps[3:], 100)]

    assert rows_stamped_after(uris, ("payment_id",), "last_updated", T0, limit=4) is None
    assert rows_stamped_after(uris, ("payment_id",), "last_updated", T0, limit=5) == [(n,) for n in range(2, 7)]
    assert rows_stamped_after(uris, ("payment_id",), "last_updated", stamps[-1], limit=5) == []


def test_int96_timestamps_without_statistics_are_read_and_compared_as_naive_utc(tmp_path):
    # Spark's legacy default: INT96 stamps, no min/max in the footer, read back as naive nanoseconds.
    stamps = [T0 + dt.timedelta(seconds=n) for n in range(4)]
    uri = _write(tmp_path / "a.parquet", [1, 2, 3, 4], stamps, row_group_size=2, use_deprecated_int96_timestamps=True)

    found = rows_stamped_after([uri], ("payment_id", "last_updated"), "last_updated", stamps[1], limit=10)

    assert found == [(3, stamps[2]), (4, stamps[3])]


def test_a_file_that_is_not_parquet_or_lacks_the_stamp_is_named(tmp_path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    no_stamp = tmp_path / "no_stamp.parquet"
    pq.write_table(pa.table({"payment_id": [1]}), no_stamp)

    for path in (broken, no_stamp):
        with pytest.raises(ParquetReadError, match=f"^{path.as_uri()}: "):
            rows_stamped_after([path.as_uri()], ("payment_id",), "last_updated", T0, limit=10)

"""Spark work in parallel threads (totes/spark_threads.py): each thread keeps Spark local properties of its own."""

from __future__ import annotations

import threading

import pytest

from totes.spark_threads import in_parallel


def test_each_parallel_task_has_spark_local_properties_of_its_own(spark):
    sc = spark.sparkContext
    sc.setLocalProperty("totes.test.caller", "the caller")
    everyone_has_set = threading.Barrier(3, timeout=30)

    def set_then_read(name: str) -> tuple[str, str]:
        # Spark SQL sets and removes its execution id in these properties around every query, as this does.
        sc.setLocalProperty("totes.test.task", name)
        everyone_has_set.wait()  # every task has written its own value before any reads
        return sc.getLocalProperty("totes.test.task"), sc.getLocalProperty("totes.test.caller")

    try:
        results = in_parallel(set_then_read, ["a", "b", "c"], max_workers=3, thread_name_prefix="test")
    finally:
        sc.setLocalProperty("totes.test.caller", None)
    assert results == [("a", "the caller"), ("b", "the caller"), ("c", "the caller")]


def test_parallel_tasks_return_in_order_and_raise_the_first_error(spark):
    assert in_parallel(lambda n: n * 2, [3, 1, 2], max_workers=2, thread_name_prefix="test") == [6, 2, 4]

    def fails_on_two(n: int) -> int:
        if n == 2:
            raise ValueError("two")
        return n

    with pytest.raises(ValueError, match="two"):
        in_parallel(fails_on_two, [1, 2, 3], max_workers=2, thread_name_prefix="test")

"""Spark work from several Python threads at once, each thread with Spark local properties of its own."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pyspark import inheritable_thread_target


def in_parallel(function, items, max_workers: int, thread_name_prefix: str) -> list:
    """``[function(item) for item in items]``, up to ``max_workers`` at a time, results in order; the first error
    is raised.

    Each task gets a copy of the calling thread's Spark local properties (its job group: a runner that cancels
    the job's group cancels this work too), a copy of its own: pyspark's ``inheritable_thread_target`` gives the
    one copy it takes to every call of the function it wraps, and Spark SQL keeps each query's execution id in
    those properties, so threads sharing them overwrite each other's ids (a MERGE failed with
    "NumberFormatException: Cannot parse null string" once in a few thousand in the year-of-runs benchmark).
    """
    items = list(items)
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=thread_name_prefix) as pool:
        futures = [pool.submit(inheritable_thread_target(function), item) for item in items]
        return [future.result() for future in futures]

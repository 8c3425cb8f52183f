"""Benchmarks of the totesys pipeline on this machine (issue 9): ``make bench`` / ``make bench-quick``.

Every figure comes from one run of :mod:`bench.run` against throwaway databases on the local PostgreSQL server
and a scratch zone folder; the databases ``make run`` uses are never touched. Each job and each peer runs in its
own process, so its wall time includes what a scheduler would pay (interpreter, JVM) and its peak memory is
the resident set of its whole process tree.
"""

"""Real faults for the fault injection test: a PostgreSQL server restarted under a running statement, and a
filesystem that is really full.

:class:`RestartUnderStatement` makes "the database restarted mid-run" deterministic without faking it: it
holds an ACCESS EXCLUSIVE lock on one table, so the job's next statement on that table waits; once PostgreSQL
shows that statement waiting, the whole server is restarted (``scripts/local_pg.sh restart``, a fast shutdown
that terminates every session, as an RDS reboot or failover does). The job's own connection is the one cut,
with its statement in flight; the lock is only the stopwatch. The source and the warehouse share one local
cluster, so either restart drops every session on it: the jobs open their connections per step, and the tests
run serially.

:class:`SmallDisk` is a tmpfs of a few MiB mounted on a zone folder: filling it with a ballast file makes the
next real write there fail with ENOSPC, and deleting the ballast frees it again.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from totes.secrets import DatabaseCredentials
from totes.settings import REPO_DIR

LOCAL_PG = REPO_DIR / "scripts" / "local_pg.sh"
# PostgreSQL's message (SQLSTATE 57P01) to the sessions a fast shutdown terminates.
TERMINATED_BY_SHUTDOWN = "terminating connection due to administrator command"
# What a restart says to a session: terminated (57P01); or, to a read of another table running beside the one
# the restart waited for, which can meet it first: refused while the server shuts down (57P03), or a new
# connection refused while it is down.
SERVER_RESTARTED = (TERMINATED_BY_SHUTDOWN, "the database system is shutting down", "Connection refused")


def restart_database_server() -> None:
    """Restart the local cluster; returns once it accepts connections again."""
    subprocess.run([str(LOCAL_PG), "restart"], check=True, capture_output=True, text=True, timeout=120)


def server_started_at(credentials: DatabaseCredentials) -> dt.datetime:
    with psycopg.connect(**credentials.libpq_kwargs(), connect_timeout=10) as conn:
        return conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]


@dataclass
class WaitingSession:
    pid: int
    user: str


# A session of another backend waiting for a lock on the table, in this database.
_WAITERS_SQL = """
SELECT l.pid, a.usename
FROM pg_locks l JOIN pg_stat_activity a USING (pid)
WHERE l.locktype = 'relation' AND NOT l.granted AND l.relation = to_regclass(quote_ident(%(table)s))
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.pid <> pg_backend_pid()
"""


class RestartUnderStatement:
    """Restart the server while another session's statement on ``table`` is running (waiting on our lock).

    ``arm()`` takes the lock and starts watching; call it right before the job issues its statement.
    ``finish()`` waits for the watcher and releases what is left; then ``restarted``, ``waiting`` and the
    server start times say what really happened.
    """

    def __init__(self, credentials: DatabaseCredentials, table: str, timeout_seconds: float = 30.0,
                 lock_mode: str = "ACCESS EXCLUSIVE"):
        self.credentials = credentials
        self.table = table
        # The weakest lock the awaited statement must wait for: one the job's own transaction may already hold a
        # weaker lock beside (a load counts a fact's rows before it inserts: SHARE waits for the insert only).
        self.lock_mode = lock_mode
        self.timeout_seconds = timeout_seconds
        self.waiting: WaitingSession | None = None
        self.restarted = False
        self.started_before: dt.datetime | None = None
        self.started_after: dt.datetime | None = None
        self.error: BaseException | None = None
        self._lock_conn: psycopg.Connection | None = None
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()

    def arm(self, waiter_user: str | None = None, waiter_pid: int | None = None) -> None:
        if self._watcher is not None:
            return
        self.started_before = server_started_at(self.credentials)
        self._lock_conn = psycopg.connect(**self.credentials.libpq_kwargs(), connect_timeout=10)
        self._lock_conn.execute(
            sql.SQL("LOCK TABLE {} IN {} MODE").format(sql.Identifier(self.table), sql.SQL(self.lock_mode)))
        self._watcher = threading.Thread(target=self._watch, args=(waiter_user, waiter_pid),
                                         name=f"restart-under-{self.table}", daemon=True)
        self._watcher.start()

    def _watch(self, waiter_user: str | None, waiter_pid: int | None) -> None:
        try:
            # A connection of its own, one transaction per look: a transaction keeps one pg_stat_activity.
            watch_kwargs = dict(self.credentials.libpq_kwargs(), autocommit=True, connect_timeout=10)
            with psycopg.connect(**watch_kwargs) as conn:
                deadline = time.monotonic() + self.timeout_seconds
                while time.monotonic() < deadline and not self._stop.is_set():
                    rows = conn.execute(_WAITERS_SQL, {"table": self.table}).fetchall()
                    waiters = [WaitingSession(pid, user) for pid, user in rows
                               if (waiter_user is None or user == waiter_user)
                               and (waiter_pid is None or pid == waiter_pid)]
                    if waiters:
                        self.waiting = waiters[0]
                        break
                    time.sleep(0.05)
            if self.waiting is None:
                self._lock_conn.close()  # nobody came: let the job go on, the test then fails on `restarted`
                return
            restart_database_server()
            self.restarted = True
            self.started_after = server_started_at(self.credentials)
        except BaseException as error:  # noqa: BLE001 - kept for finish(), which the test thread calls
            self.error = error
            self._lock_conn.close()

    def finish(self) -> None:
        """Stop watching; release the lock if no restart cut it. Raises what went wrong in the watcher."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(180)
        if self._lock_conn is not None:
            self._lock_conn.close()  # no restart: ends the transaction and its lock; after one: already gone
        if self.error is not None:
            raise self.error

    def describe(self) -> str:
        return (f"server restarted (postmaster start {self.started_before:%H:%M:%S.%f} -> "
                f"{self.started_after:%H:%M:%S.%f}) while session {self.waiting.pid} of {self.waiting.user} "
                f"ran a statement on {self.table}")


class MountRefused(Exception):
    """The machine refuses to mount a filesystem here (not root, or a container without CAP_SYS_ADMIN)."""


class SmallDisk:
    """A tmpfs of ``size_mib`` MiB mounted on an empty folder: a real filesystem that can really fill up."""

    BALLAST = ".ballast"

    def __init__(self, path: Path, size_mib: int = 32):
        path.mkdir(parents=True, exist_ok=True)
        if any(path.iterdir()):
            raise ValueError(f"{path} is not empty: mounting on it would hide its files")
        if os.geteuid() != 0:
            raise MountRefused(f"mount needs root; running as uid {os.geteuid()}")
        options = f"size={size_mib}m,mode=0755"
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise MountRefused(f"mount -t tmpfs failed: {result.stderr.strip()}")
        self.path = path
        self.size_mib = size_mib
        self.mounted = True

    def free_bytes(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def holds(self, path: Path) -> bool:
        """Whether ``path`` (an existing file or folder) lies on this filesystem."""
        return os.stat(path).st_dev == os.stat(self.path).st_dev

    def fill(self) -> int:
        """Write a ballast file until the filesystem refuses more (ENOSPC); returns the bytes it took."""
        written = 0
        with open(self.path / self.BALLAST, "wb") as ballast:
            for chunk in (b"\0" * (1 << 20), b"\0" * 4096):
                while True:
                    try:
                        written += os.write(ballast.fileno(), chunk)
                    except OSError as error:
                        if error.errno != errno.ENOSPC:
                            raise
                        break
        if self.free_bytes() != 0:
            raise AssertionError(f"{self.path} still has {self.free_bytes()} bytes free after the ballast")
        return written

    def free(self) -> None:
        (self.path / self.BALLAST).unlink(missing_ok=True)

    def unmount(self) -> None:
        if not self.mounted:
            return
        self.free()
        # Lazily when a file on it is still open (a JVM handle): the mount goes once that handle closes.
        if subprocess.run(["umount", str(self.path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(self.path)], check=True, capture_output=True)
        self.mounted = False

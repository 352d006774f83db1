"""Waiting for the database's locks: how long a write waits for SQLite's, a probe of it that
waits no longer than a health check may, and the file lock that makes one cron daemon the
leader."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

from jobctl.store.sqlite.files import lock_file_problem

if TYPE_CHECKING:
    from jobctl.store.sqlite.connection import SqliteBase

BUSY_TIMEOUT = 30.0
# SQLite waits for a lock this long at a time, and jobctl tries again until BUSY_TIMEOUT:
# signals are handled only between two waits (a Ctrl-C did nothing for 30 s), and a person
# can be told what the command waits for.
BUSY_SLICE = 0.5
BUSY_NOTE_AFTER = 2.0  # a wait longer than a large batch's write is worth a word
# A write transaction that waited at least this long for its lock counts its starts from the
# time it had the lock (see SqliteBase.lock_waited); a shorter wait is not told from the
# transaction's own time, which a clock given to a test must see as none.
UNCOUNTED_LOCK_WAIT = 0.005


def is_locked(exc: sqlite3.Error) -> bool:
    return "database is locked" in str(exc)


def write_lock_wait(store: SqliteBase, wait: float) -> float | None:
    """The seconds a write waited for the database's write lock without getting it, or None
    when it got it (or failed otherwise: a file this user may only read). The lock is given
    back at once and nothing is written, so that a health check costs the workers no more
    than one empty transaction and never waits past `wait`: reads go on while another
    process holds that lock, and only the writes (every enqueue, claim and heartbeat) wait
    up to BUSY_TIMEOUT and then fail."""
    conn = store._conn
    if conn.in_transaction:
        return None
    began = time.monotonic()
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
        try:
            conn.execute("BEGIN IMMEDIATE")
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_SLICE * 1000)}")
    except sqlite3.Error as exc:
        return time.monotonic() - began if is_locked(exc) else None
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")
    return None


# How often a standby daemon tries the leader lock (filelock polls a non-blocking flock): a
# takeover comes within this of the leader's death. At 50 ms a standby used 0.5% of a core
# while idle (1,800 system calls in 5 s), thirty times an idle `up`.
_STANDBY_POLL = 0.25


class FileLeaderLock:
    """An OS file lock: released by the kernel the instant its holder dies, so a standby
    daemon trying it takes over within _STANDBY_POLL."""

    def __init__(self, path: Path) -> None:
        from filelock import FileLock

        self._path = path
        self._lock = FileLock(str(path), mode=0o600)
        self._refused: str | None = None

    @property
    def waiting_for(self) -> str:
        if self._refused:
            return self._refused
        return "another daemon is the leader"

    def acquire(self, timeout: float) -> bool:
        from filelock import Timeout

        if not self._lock.is_locked:
            # A lock file another user planted is never taken: this daemon stands by, saying
            # why, until it is removed (a standby line, not a thread's traceback in `up`).
            self._refused = lock_file_problem(self._path, "the scheduler lock file")
            if self._refused:
                time.sleep(timeout)
                return False
        try:
            self._lock.acquire(timeout=timeout, poll_interval=_STANDBY_POLL)
        except Timeout:
            return False
        return True

    def held(self) -> bool:
        return bool(self._lock.is_locked)

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)

"""Checkpoints off a service's write path.

SQLite copies the -wal into the database (a checkpoint) inside the commit that takes the
-wal past 1,000 pages: that commit then waits for two fsyncs, some 6 ms here, once every
70 jobs a worker runs, which was a tenth of a busy worker's time per job. A worker, which
holds the database open for long and commits after every job, turns that off for its
connection and leaves the copying to a thread of its own, on a connection of its own: a
PASSIVE checkpoint waits for no one, and the fsyncs run while the GIL is free, so the
worker starts the next job meanwhile. Commands that run once, and the cron daemon, which
commits once a fire, keep SQLite's own."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from urllib.parse import quote

# How long a close waits for a checkpoint under way before leaving it to the process's end.
_CLOSE_WAIT = 5.0


class Checkpointer:
    """A daemon thread that runs a PASSIVE checkpoint each time it is asked to."""

    def __init__(self, path: Path, synchronous: str, size_limit: int) -> None:
        # mode=rw: the database exists (the service's own connection made it); a file gone
        # meanwhile is not made anew here.
        self._conn = sqlite3.connect(
            f"file:{quote(str(path))}?mode=rw",
            uri=True,
            timeout=0,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            self._conn.execute(f"PRAGMA synchronous = {synchronous}")
            self._conn.execute(f"PRAGMA journal_size_limit = {size_limit}")
        except sqlite3.Error:
            self._conn.close()
            raise
        self._asked = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="jobctl-checkpoint", daemon=True)
        try:
            self._thread.start()
        except RuntimeError:  # no thread to be had (a pids limit)
            self._conn.close()
            raise

    def ask(self) -> None:
        self._asked.set()

    def _run(self) -> None:
        while True:
            self._asked.wait()
            self._asked.clear()
            if self._closing:
                return
            # Busy (another process checkpoints, or holds the lock a reset needs): the next
            # request tries again. Any other failure shows in the service's own writes.
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def close(self, *, abandon: bool = False) -> None:
        """Stop the thread and close its connection. With `abandon` (the service's own
        connection is left unclosed: see SqliteBase._check_beside), or while a checkpoint is
        still under way, the connection is left to the process's end."""
        self._closing = True
        self._asked.set()
        self._thread.join(_CLOSE_WAIT)
        if not abandon and not self._thread.is_alive():
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()

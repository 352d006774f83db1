"""A service's store checkpoints on a thread of its own (checkpoints.py): its commits never
wait for the fsyncs of a checkpoint, and the -wal is still copied into the database."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from jobctl.models import NewJob
from jobctl.store.sqlite import SqliteStore
from jobctl.store.sqlite.connection import COMMITS_PER_CHECKPOINT

NOW = 1_700_000_000.0


def _jobs_in_the_file_alone(db: Path) -> int:
    """Jobs the database file holds without its -wal: what checkpoints copied into it."""
    uri = f"file:{quote(str(db))}?immutable=1"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
        except sqlite3.DatabaseError:  # the schema in the -wal still, or a copy half made
            return 0


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "jobctl-checkpoint"]


def _enqueue_one_by_one(store: SqliteStore, count: int) -> None:
    for n in range(count):
        store.enqueue([NewJob(job="j", payload={"n": n})], NOW)


def test_a_service_s_commits_are_checkpointed_by_its_thread(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    store = SqliteStore(db)
    try:
        store.as_service()
        assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        # Below SQLite's own 1,000 pages (some 8 a commit): only the thread copies these.
        _enqueue_one_by_one(store, COMMITS_PER_CHECKPOINT + 6)
        deadline = time.monotonic() + 10
        while _jobs_in_the_file_alone(db) < COMMITS_PER_CHECKPOINT:
            assert time.monotonic() < deadline, "no checkpoint came after the commits"
            time.sleep(0.01)
    finally:
        store.close()
    assert not _checkpoint_threads()


def test_a_command_s_store_keeps_sqlite_s_own_checkpoints(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    with SqliteStore(db) as store:
        assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        _enqueue_one_by_one(store, COMMITS_PER_CHECKPOINT + 6)
        assert not _checkpoint_threads()
        assert _jobs_in_the_file_alone(db) == 0  # all in the -wal: no thread copied them


def test_asking_twice_starts_one_thread_and_a_close_ends_it(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "q.db")
    store.as_service()
    store.as_service()
    assert len(_checkpoint_threads()) == 1
    store.close()
    assert not _checkpoint_threads()

"""A database put back from `jobctl backup`, the -wal's size over time, and what a command
says when it gives up on a lock: end to end on real SQLite files, with the real CLI."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from conftest import Env

from jobctl.store.sqlite.diagnose import store_error

CONFIG = '[jobs.ok]\ncommand = ["true"]\n'
WAL_SIZE_LIMIT = 16 << 20  # what the README says the -wal is cut back to


def _journal_mode(db: Path) -> str:
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])


@contextmanager
def _reading(db: Path) -> Iterator[None]:
    """Another process's read transaction held open: a `sqlite3` shell, a long report."""
    with closing(sqlite3.connect(db, isolation_level=None)) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM jobs").fetchone()
        try:
            yield
        finally:
            reader.execute("COMMIT")


def _put_back(env: Env, backup: Path) -> None:
    """As the README's Backups section says, with nothing running."""
    for suffix in ("-wal", "-shm"):
        Path(f"{env.db}{suffix}").unlink(missing_ok=True)
    shutil.copy2(backup, env.db)


def test_a_backup_put_back_is_switched_to_wal_at_its_first_write(env: Env) -> None:
    """Put back, it stayed in rollback-journal mode for good: while a `sqlite3` shell held a
    read transaction, every enqueue failed (exit 3) and workers logged store errors."""
    env.write_config(CONFIG)
    env.enqueue("ok")
    backup = env.root / "bk.db"
    env.run("backup", str(backup), check=True)
    assert _journal_mode(backup) == "delete"  # a file of its own, with no -wal to go with it
    _put_back(env, backup)
    env.run("list", check=True)  # a read leaves the file as it is (a backup looked into, too)
    assert _journal_mode(env.db) == "delete"
    assert env.enqueue("ok") == 2
    assert _journal_mode(env.db) == "wal"
    with _reading(env.db):
        began = time.monotonic()
        added = env.run("enqueue", "ok")
        assert (added.returncode, added.stdout, added.stderr) == (0, "3\n", "")
        assert time.monotonic() - began < 10  # no wait for the reader (it waits for none)


def test_a_commit_in_rollback_mode_waits_for_a_reader_and_the_next_write_switches(
    env: Env,
) -> None:
    """While a reader held the file at the first write, the switch cannot happen: the commit
    then gave up after half a second, saying "another process held it for over 30s"."""
    env.write_config(CONFIG)
    env.enqueue("ok")
    backup = env.root / "bk.db"
    env.run("backup", str(backup), check=True)
    _put_back(env, backup)
    with _reading(env.db):
        adding = env.start("enqueue", "ok")
        assert adding.stderr is not None
        assert adding.stderr.readline() == (
            f"jobctl: note: waiting for {env.db}: another process holds it locked (up to 30s;"
            " Ctrl-C gives up)\n"
        )
    out, err = adding.communicate(timeout=30)
    assert (adding.returncode, out, err) == (0, "2\n", "")
    assert _journal_mode(env.db) == "delete"  # the switch is left to the next write
    assert env.enqueue("ok") == 3
    assert _journal_mode(env.db) == "wal"


def test_a_lock_error_says_how_long_it_waited() -> None:
    locked = sqlite3.OperationalError("database is locked")
    db = Path("/srv/q.db")
    assert str(store_error(db, locked, 0.53)) == (
        "database /srv/q.db: database is locked (another process held it for over 0.5s)"
    )
    assert str(store_error(db, locked, 30.2)) == (
        "database /srv/q.db: database is locked (another process held it for over 30s)"
    )
    assert str(store_error(db, locked, None)) == (
        "database /srv/q.db: database is locked (another process holds it)"
    )


def test_the_wal_shrinks_after_a_large_batch_while_the_database_stays_open(env: Env) -> None:
    """It kept the size of the largest transaction ever written (122 MB after a batch of a
    million jobs) for as long as any process had the database open: through prune and
    VACUUM, for the months a worker runs."""
    env.write_config(CONFIG)
    env.enqueue("ok")
    wal = Path(f"{env.db}-wal")
    # A process that keeps the database open (as a worker does), reading nothing now.
    with closing(sqlite3.connect(env.db, isolation_level=None)) as holder:
        holder.execute("SELECT COUNT(*) FROM jobs").fetchone()
        line = json.dumps({"job": "ok", "payload": {"p": "x" * 2000}, "delay": "1d"}) + "\n"
        env.run("enqueue", "--batch", "-", input=line * 9_000, check=True)
        grown = wal.stat().st_size
        assert grown > WAL_SIZE_LIMIT
        env.enqueue("ok")  # the first write after the checkpoint that emptied it
        assert wal.stat().st_size <= WAL_SIZE_LIMIT  # cut, not removed: still open here

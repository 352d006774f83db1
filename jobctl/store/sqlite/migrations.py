"""The schema of a SQLite database: the numbered scripts of jobctl/store/schema, run in
order under a file lock, and the repair of files an early release of schema 1 made (its
script was edited after them). Imported only when a database needs upgrading."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from jobctl.errors import StoreError
from jobctl.store.sqlite.connection import (
    APPLICATION_ID,
    PAGE_SIZE,
    SCHEMA_VERSION,
    check_identity,
)
from jobctl.store.sqlite.files import lock_file_problem
from jobctl.store.sqlite.locks import BUSY_TIMEOUT


def scripts() -> list[tuple[int, str]]:
    from importlib import resources

    folder = resources.files("jobctl.store") / "schema"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def check_no_older_processes(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """Refuse to upgrade a database that workers or cron daemons of an older jobctl have open
    (a heartbeat within three of their intervals): the indexes their queries name change
    under them, and a cron daemon then fires nothing while it looks live. Only a command
    that works on an existing database refuses: one that starts a process (run-worker, up,
    schedule-daemon) or enqueues upgrades it, so a restart of the service is the way on."""
    import socket

    from jobctl.processes import process_exists

    cursor = conn.execute("SELECT * FROM workers")  # early schemas lack kind and interval
    names = [column[0] for column in cursor.description]
    host, now = socket.gethostname(), time.time()
    live: list[str] = []
    for row in cursor.fetchall():
        record = dict(zip(names, row, strict=True))
        if now - record["heartbeat_at"] > 3 * record.get("interval", 10.0):
            continue
        if record["host"] == host and not process_exists(record["pid"]):
            continue
        kind = "cron daemon" if record.get("kind") == "scheduler" else "worker"
        where = "" if record["host"] == host else f" on {record['host']}"
        live.append(f"{kind} pid {record['pid']}{where}")
    if live:
        shown = ", ".join(live[:3]) + (f" and {len(live) - 3} more" if len(live) > 3 else "")
        raise StoreError(
            f"database {path}: schema version {version} is in use by jobctl processes of an"
            f" older version ({shown}); restart them: the first to start upgrades it to"
            f" {SCHEMA_VERSION}"
        )


def migrate(conn: sqlite3.Connection, path: Path, *, in_use_refused: bool) -> int | None:
    """Bring the schema to SCHEMA_VERSION; the version the file had, if this call brought it
    up (0: it wrote the schema into an empty file), None when another process did meanwhile.
    Told under the lock: it is the one place where but one of the processes making a
    database at once finds it empty."""
    from filelock import FileLock, Timeout

    lock_path = path.with_name(path.name + ".lock")
    # A lock file that cannot be made at all (/proc, a read-only folder) is said now, not
    # after the timeout; one another user planted (and could hold) is refused.
    problem = lock_file_problem(lock_path, "its lock file")
    if problem:
        raise StoreError(f"database {path}: {problem}")
    try:
        lock = FileLock(str(lock_path), timeout=BUSY_TIMEOUT, mode=0o600)
        with lock:
            version = check_identity(conn, path)
            if version == SCHEMA_VERSION:
                return None
            if version and in_use_refused:  # told under the lock: not mid-way through another's
                check_no_older_processes(conn, path, version)
            if version == 0:
                conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # before anything is written
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"database {path}: cannot switch to WAL mode ({mode})")
            else:
                with _transaction(conn):
                    _repair(conn, version)
            # A new database gets its whole schema in one transaction: a disk that fills
            # midway leaves an empty file, not one of an early version, which the next
            # command "upgraded" with a note that no older jobctl could open it.
            steps = [(number, script) for number, script in scripts() if number > version]
            for batch in [steps] if version == 0 else [[step] for step in steps]:
                with _transaction(conn):
                    for number, script in batch:
                        for statement in statements(script):
                            conn.execute(statement)
                        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                        conn.execute(f"PRAGMA user_version = {number}")
            return version
    except Timeout:
        raise StoreError(
            f"database {path}: another process is creating or migrating it (lock {lock_path})"
        ) from None
    except OSError as exc:
        raise StoreError(f"database {path}: cannot lock {lock_path}: {exc.strerror}") from None


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # (SQLite rolled back itself on a full disk)
            conn.execute("ROLLBACK")
        raise


# What early databases of schema 1 had and 001 no longer makes: an index no query names, and
# the trigger that counted inserts, which the store counts itself now (it would count twice).
_OBSOLETE = (("index", "jobs_job"), ("trigger", "jobs_count_insert"))


def _repair(conn: sqlite3.Connection, version: int) -> None:
    """Bring a database to the schema that migrations 001 to `version` make, before the next
    ones run: 001 was edited after early releases had made databases with it (see 008), so
    a file marked version 1 may lack tables, columns, or have indexes and triggers of other
    definitions. Missing tables (with the rows the scripts put in them) and columns are added;
    indexes and triggers that differ are made again. A database made as its version says is
    left as it is."""
    reference = sqlite3.connect(":memory:")
    try:
        for number, script in scripts():
            if number <= version:
                for statement in statements(script):
                    reference.execute(statement)
        want = _schema_entries(reference)
        have = _schema_entries(conn)
        recount = False
        for kind, name in _OBSOLETE:
            if (kind, name) in have:
                conn.execute(f"DROP {kind.upper()} {name}")
                recount = recount or name == "jobs_count_insert"
        for (kind, name), sql in list(have.items()):
            if kind != "table" and (kind, name) in want and _words(want[kind, name]) != _words(sql):
                conn.execute(f"DROP {kind.upper()} {name}")
                del have[kind, name]  # made again below, once its table has every column
        for (kind, name), sql in want.items():
            if kind != "table":
                continue
            if (kind, name) not in have:
                conn.execute(sql)
                rows = reference.execute(f"SELECT * FROM {name}").fetchall()
                if rows:
                    marks = ", ".join("?" * len(rows[0]))
                    conn.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
                continue
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({name})")}
            for _, column, kind_of, not_null, default, _ in reference.execute(
                f"PRAGMA table_info({name})"
            ):
                if column not in present:
                    definition = f"{column} {kind_of}".strip()
                    if not_null:
                        definition += " NOT NULL"
                    if default is not None:
                        definition += f" DEFAULT {default}"
                    conn.execute(f"ALTER TABLE {name} ADD COLUMN {definition}")
        for (kind, name), sql in want.items():
            if kind != "table" and (kind, name) not in have:
                conn.execute(sql)
        if recount:
            # Counted twice since the store counts inserts too: counted again from the jobs.
            conn.execute("DELETE FROM job_counts")
            conn.execute(
                "INSERT INTO job_counts (queue, state, n)"
                " SELECT queue, state, count(*) FROM jobs GROUP BY queue, state"
            )
    finally:
        reference.close()


def _schema_entries(conn: sqlite3.Connection) -> dict[tuple[str, str], str]:
    """Each table, index and trigger of jobctl's: (type, name) -> its CREATE statement."""
    rows = conn.execute(
        "SELECT type, name, sql FROM sqlite_master"
        " WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return {(kind, name): sql for kind, name, sql in rows}


def _words(sql: str) -> str:
    return " ".join(sql.split())


def statements(script: str) -> list[str]:
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements

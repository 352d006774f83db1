"""Opening, creating and migrating the database file, and the transaction plumbing
every part of the store shares."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from jobctl.errors import StoreError
from jobctl.fsutil import private_dir
from jobctl.store.wake import Notifier, wake_dir_for

APPLICATION_ID = 0x4A4F4243  # "JOBC" in the database header marks a file as ours
BUSY_TIMEOUT = 30.0
SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL", "off": "OFF"}
SCHEMA_VERSION = 2


class SqliteBase:
    """A connection and its transactions; the store's parts are mixins over this."""

    def __init__(self, path: Path, *, durability: str = "full", create: bool = True) -> None:
        self.path = path
        self.location = str(path)
        self._conn = open_database(path, durability=durability, create=create)
        self._notifier = Notifier(wake_dir_for(path))

    def close(self) -> None:
        self._notifier.close()
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        try:
            yield conn
        except sqlite3.Error as exc:
            # After a full disk or an I/O error SQLite may have rolled back already.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise self._error(exc) from None
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise self._error(exc) from None

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc: sqlite3.Error) -> StoreError:
        return StoreError(f"database {self.path}: {describe(exc)}")


def _migrations() -> list[tuple[int, str]]:
    from importlib import resources

    folder = resources.files("jobctl.store") / "schema"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def describe(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "database is locked" in text or "database table is locked" in text:
        return f"database is locked (another process held it for over {BUSY_TIMEOUT:g}s)"
    if "file is not a database" in text:
        return "not a jobctl database (the file is not SQLite, or is corrupt)"
    if "disk image is malformed" in text:
        return "the database file is corrupt (disk image is malformed)"
    if "readonly database" in text:
        return "the database is read-only (check the file's and its directory's permissions)"
    if "unable to open" in text:
        return "cannot open the database file (check that its directory exists and is writable)"
    if "disk is full" in text or "database or disk is full" in text:
        return "the disk is full"
    return text


def open_database(path: Path, *, durability: str, create: bool) -> sqlite3.Connection:
    if "\0" in str(path):
        raise StoreError(f"database {str(path)!r}: a path cannot contain a NUL character")
    if path.is_dir():
        raise StoreError(f"database {path}: is a directory, not a database file")
    if not path.exists():
        if not create:
            raise StoreError(f"database {path}: does not exist (nothing was ever enqueued there)")
        _create_parent(path)
    try:
        conn = sqlite3.connect(
            str(path),
            timeout=BUSY_TIMEOUT,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
    except sqlite3.Error as exc:
        raise StoreError(f"database {path}: {describe(exc)}") from None
    try:
        version = _check_identity(conn, path)
        if version != SCHEMA_VERSION:
            if version and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
                raise StoreError(
                    f"database {path}: schema version {version} needs upgrading to"
                    f" {SCHEMA_VERSION}, which takes write access: run any jobctl command"
                    " on it once as its owner"
                )
            _migrate_locked(conn, path)
        conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS.get(durability, 'FULL')}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA temp_store = MEMORY")
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"database {path}: {describe(exc)}") from None
    except StoreError:
        conn.close()
        raise
    return conn


def _create_parent(path: Path) -> None:
    parent = path.parent
    if not parent.exists():
        try:
            private_dir(parent)
        except OSError as exc:
            raise StoreError(
                f"database {path}: cannot create directory {parent}: {exc.strerror}"
            ) from None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"database {path}: cannot create: {exc.strerror}") from None
    os.close(fd)


def _check_identity(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of an existing jobctl database; 0 for an empty new file."""
    # One statement, one snapshot: another process may be creating the file right now.
    app_id, version, tables = conn.execute(
        "SELECT a.application_id, v.user_version, (SELECT count(*) FROM sqlite_master)"
        " FROM pragma_application_id() AS a, pragma_user_version() AS v"
    ).fetchone()
    if app_id == APPLICATION_ID:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"database {path}: schema version {version} is newer than this jobctl "
                f"understands ({SCHEMA_VERSION}); upgrade jobctl"
            )
        return int(version)
    if app_id == 0 and version == 0 and tables == 0:
        return 0
    raise StoreError(f"database {path}: not a jobctl database (it belongs to another program)")


def _migrate_locked(conn: sqlite3.Connection, path: Path) -> None:
    from filelock import FileLock, Timeout

    lock_path = path.with_name(path.name + ".lock")
    try:  # a lock file that cannot be made at all (/proc, a read-only folder): say so now,
        os.close(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600))  # not after the timeout
    except OSError as exc:
        raise StoreError(
            f"database {path}: cannot create its lock file {lock_path}: {exc.strerror}"
        ) from None
    try:
        lock = FileLock(str(lock_path), timeout=BUSY_TIMEOUT, mode=0o600)
        with lock:
            version = _check_identity(conn, path)
            if version == SCHEMA_VERSION:
                return
            if version == 0:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"database {path}: cannot switch to WAL mode ({mode})")
            for number, script in _migrations():
                if number <= version:
                    continue
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _statements(script):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    conn.execute(f"PRAGMA user_version = {number}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
    except Timeout:
        raise StoreError(
            f"database {path}: another process is creating or migrating it (lock {lock_path})"
        ) from None
    except OSError as exc:
        raise StoreError(f"database {path}: cannot lock {lock_path}: {exc.strerror}") from None


def _statements(script: str) -> list[str]:
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


class FileLeaderLock:
    """An OS file lock: released by the kernel the instant its holder dies, so a standby
    daemon blocked on it takes over at once."""

    def __init__(self, path: Path) -> None:
        from filelock import FileLock

        self._lock = FileLock(str(path), mode=0o600)

    @property
    def waiting_for(self) -> str:
        return "another daemon is the leader"

    def acquire(self, timeout: float) -> bool:
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=timeout, poll_interval=0.05)
        except Timeout:
            return False
        return True

    def held(self) -> bool:
        return bool(self._lock.is_locked)

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)

"""Opening, creating and migrating the database file, and the transaction plumbing
every part of the store shares."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobctl.errors import StoreError, StoreMissing, UsageError
from jobctl.store.inflight import in_flight
from jobctl.store.sqlite.diagnose import DISK_FULL, describe, store_error
from jobctl.store.sqlite.files import (
    Checked,
    check_files,
    check_orphan_wal,
    create_database_file,
    lock_file_problem,
    mend,
    mend_checked,
    wal_size,
)
from jobctl.store.sqlite.locks import (
    BUSY_NOTE_AFTER,
    BUSY_SLICE,
    BUSY_TIMEOUT,
    UNCOUNTED_LOCK_WAIT,
    is_locked,
)
from jobctl.store.wake import Notifier, wake_dir_for

if TYPE_CHECKING:
    from jobctl.store.sqlite.checkpoints import Checkpointer

APPLICATION_ID = 0x4A4F4243  # "JOBC" in the database header marks a file as ours
SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL", "off": "OFF"}
# What the -wal is cut back to at the first commit after a checkpoint emptied it. Without a
# limit it keeps the size of the largest transaction ever written (a batch of a million
# jobs: 122 MB) for as long as any process has the database open, a worker for months. Four
# times what it holds between two of SQLite's automatic checkpoints (1,000 pages: 4 MiB of
# 4 KiB pages, a quarter of that with the PAGE_SIZE of new databases), so that busy times,
# when readers hold a checkpoint back, do not cut it only to grow it again.
WAL_SIZE_LIMIT = 16 << 20
# A service's commits between two checkpoints (see checkpoints.py): a worker's
# finish-and-claim writes some 13 pages, so 64 of them come near SQLite's own 1,000-page
# mark. A larger write (a prune) checkpoints by itself.
COMMITS_PER_CHECKPOINT = 64
SCHEMA_VERSION = 10
# The page size of new databases. A worker's finish-and-claim changes a row or two in each of
# some 13 tables and indexes, and its commit writes each of those pages whole to the -wal:
# with SQLite's default of 4 KiB, most of what it wrote was bytes nobody changed. Measured
# here against 4 KiB: claim + complete 868 -> 623 us a job (on 1,000,000 queued, the same
# on 1,000), a drain of 5,000 x true 7.3 -> 6.7 s, batch enqueue no slower. A database
# keeps the page size it was made with.
PAGE_SIZE = 1024
# Indexes an older jobctl neither needs nor minds, added without a new schema version: its
# workers and cron daemons running beside go on (a version of their own stopped them all at
# the first enqueue of the new jobctl, killing their running jobs after their shutdown
# timeout), and a backup stays one it opens. The first writer that finds one missing makes
# it; a read does without.
EXTRA_INDEXES = {
    # `stats` reads the attempts of its window alone (the table's key is (job_id, run), and
    # `stats --since 1h` read all 200,000 attempts kept for a few hundred in the hour).
    "attempts_started": "CREATE INDEX IF NOT EXISTS attempts_started ON attempts (started_at)",
}
# Connections whose -wal or -shm was deleted under them: never closed (see _check_beside).
_ABANDONED: list[sqlite3.Connection] = []


def abandoned_connections() -> bool:
    """Whether this process must end without closing its connections (os._exit): Python's
    exit closes them, and a close checkpoints the database with a view that is no longer the
    file's (see SqliteBase._check_beside)."""
    return bool(_ABANDONED)


class SqliteBase:
    """A connection and its transactions; the store's parts are mixins over this."""

    def __init__(
        self, path: Path, *, durability: str = "full", create: bool = True, at_rest: bool = False
    ) -> None:
        self.path = path
        self.location = str(path)
        # Seconds the last write transaction waited for its lock (0 under
        # UNCOUNTED_LOCK_WAIT): its `now`, read before the wait, is that much behind.
        self.lock_waited = 0.0
        self._conn, self.created, self.upgraded_from = open_database(
            path, durability=durability, create=create, at_rest=at_rest
        )
        self._notifier = Notifier(wake_dir_for(path))
        try:
            self._identity: tuple[int, int] | None = _identity(path)
        except FileNotFoundError:
            # Deleted since SQLite opened it (`rm q.db*` as the command starts): no file has
            # this identity, so the next look says so, where None ("cannot tell") left a
            # wait on the deleted file waiting for good.
            self._identity = _NO_FILE
        except OSError:
            self._identity = None
        # The -wal and -shm as this connection has them open (see _beside_gone).
        self._beside: dict[str, tuple[int, int]] | None = None
        self._beside_gone: str | None = None
        self._beside_paths = tuple((suffix, f"{path}{suffix}") for suffix in ("-wal", "-shm"))
        # Whether a write is to switch the database to WAL first (None: not looked at yet;
        # see _switch_to_wal).
        self._to_wal: bool | None = None
        self._durability = durability
        # Whether a process that keeps the store open writes (see as_service); its
        # checkpoint thread, and its commits since that last ran.
        self._service = False
        self._checkpointer: Checkpointer | None = None
        self._commits_unchecked = 0

    def as_service(self) -> None:
        """Checkpoints move to a thread of their own (see checkpoints.py)."""
        self._service = True
        if self._checkpointer is not None:
            return
        from jobctl.store.sqlite.checkpoints import Checkpointer

        synchronous = SYNCHRONOUS.get(self._durability, "FULL")
        try:
            self._checkpointer = Checkpointer(self.path, synchronous, WAL_SIZE_LIMIT)
        except (sqlite3.Error, RuntimeError):  # (no thread to be had: a pids limit)
            return  # SQLite's own checkpoints go on: slower, never wrong
        try:
            self._conn.execute("PRAGMA wal_autocheckpoint = 0")
        except sqlite3.Error:
            self._checkpointer.close()
            self._checkpointer = None

    def replaced(self) -> str | None:
        if self._identity is None:
            return None
        try:
            now = _identity(self.path)
        except FileNotFoundError:
            return f"database {self.path}: deleted while in use"
        except OSError:
            return None  # cannot tell: the next write says what is wrong
        if now != self._identity:
            return f"database {self.path}: replaced by another file while in use"
        return self._check_beside() or self._check_schema()

    def _check_schema(self) -> str | None:
        """A newer jobctl upgraded the database while this process had it open: the indexes
        its queries name may be gone, so that every claim or tick fails while its heartbeat
        says all is well. It stops instead, for its supervisor to start the new version."""
        try:
            version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.Error:
            return None  # cannot tell: the next write says what is wrong
        if version <= SCHEMA_VERSION:
            return None
        return (
            f"database {self.path}: upgraded to schema version {version} by a newer jobctl"
            f" while in use (this one knows {SCHEMA_VERSION})"
        )

    def _check_beside(self) -> str | None:
        """SQLite keeps the -wal and -shm while a connection is open. One deleted (a cleanup
        of `q.db-*`) leaves this process on the old file and every new one on another: what
        either writes then can overwrite what the other wrote, and no command works while
        the -wal is missing ("disk I/O error"). So this connection writes no more. Closing
        it checkpoints: that saves what a deleted -wal held (open here still), but with
        another -shm it would drop what the other processes wrote since, so then it is left
        unclosed (see abandoned_connections)."""
        if self._beside_gone is not None:
            return self._beside_gone
        found: dict[str, tuple[int, int]] = {}
        for suffix, beside in self._beside_paths:  # (made once: this runs before every write)
            try:
                found[suffix] = _identity(beside)
            except FileNotFoundError:
                pass
            except OSError:
                return None  # cannot tell
        if self._beside is None:
            if len(found) == 2:
                self._beside = found
            return None
        for suffix, identity in self._beside.items():
            if found.get(suffix) != identity:
                since = "" if suffix not in found else " (new processes use a new one)"
                self._beside_gone = (
                    f"database {self.path}: its {suffix} file was deleted while in use{since}"
                )
                if found.get("-shm") != self._beside["-shm"]:
                    _ABANDONED.append(self._conn)
                return self._beside_gone
        return None

    on_lock_wait: Callable[[], None] | None = None  # see Store; called after BUSY_NOTE_AFTER
    while_waiting: Callable[[], None] | None = None  # see Store; called every BUSY_SLICE

    def _waited(self, since: float | None) -> float:
        """After a lock wait of BUSY_SLICE: when the wait began; raises once it has lasted
        BUSY_TIMEOUT, as one long wait did."""
        if self.while_waiting is not None:
            self.while_waiting()
        now = time.monotonic()
        if since is None:
            return now - BUSY_SLICE
        if now - since >= BUSY_TIMEOUT:
            raise StoreError(f"database {self.path}: {describe(_LOCKED, self.path, now - since)}")
        if now - since >= BUSY_NOTE_AFTER and self.on_lock_wait is not None:
            told, self.on_lock_wait = self.on_lock_wait, None
            told()
        return since

    def backup(self, target: str) -> int:
        """SQLite's online backup, in one step: one read snapshot, so the copy is the
        database at one instant, whatever workers commit meanwhile (a `cp` of the file
        misses what its -wal holds, and may copy half a checkpoint). Written under a name of
        its own beside `target`, then linked to it: a backup killed midway leaves no file at
        `target` that passes for a database (an empty one, all its pages in a journal)."""
        if os.path.lexists(target):
            raise StoreError(f"backup {target}: exists already (choose a new file)")
        folder, name = os.path.split(os.path.abspath(target))
        # Its own name (a process id alone is another container's too, in a shared folder).
        part = os.path.join(folder, f".{name}.part-{os.getpid()}-{os.urandom(4).hex()}")
        # SIGTERM (a cron line's `timeout`, a cancelled CI job) and SIGHUP end the copy as
        # Ctrl-C does, through the `finally` that removes the part, then the process as their
        # own action would: it died at once, and left a hidden copy of the whole database.
        import signal

        from jobctl.stopsignals import handlers_replaced

        came: list[int] = []

        def stop(signum: int, _frame: object) -> None:
            came.append(signum)
            raise KeyboardInterrupt

        try:
            with handlers_replaced(stop, takes=lambda old: old == signal.SIG_DFL):
                self._copy(target, part)
        except KeyboardInterrupt:
            if came:
                signal.raise_signal(came[0])
            raise
        return os.stat(target).st_size

    def _copy(self, target: str, part: str) -> None:
        """The copy made at `part`, then linked to `target`; the part removed whatever
        happens."""
        # The part is made inside the `try` whose `finally` removes it: an interrupt right
        # after its making (a signal sent as soon as the part shows) left it behind. A file
        # found under its name is not this run's, and stays.
        made = True
        try:
            try:
                fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                made = False
                # A folder that is missing or closed to this user is the caller's mistake,
                # not a database that cannot be used (exit 3, which a cron line takes for a
                # broken queue).
                raise UsageError(
                    f"backup {target}: cannot create its part {part}: {exc.strerror}"
                ) from None
            os.close(fd)
            copy = sqlite3.connect(part, isolation_level=None)
            try:
                self._conn.backup(copy)
                # A file of its own: no -wal beside it to go with it.
                copy.execute("PRAGMA journal_mode = DELETE")
            finally:
                copy.close()
            try:
                os.link(part, target)  # fails, rather than replace, if one was made meanwhile
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
                os.rename(part, target)  # a file system without hard links
        except sqlite3.Error as exc:
            what = describe(exc, Path(part))
            if what == DISK_FULL:  # the target's disk: the database is fine (exit 2, not 3)
                full = f"backup {target}: {DISK_FULL} (no room for the copy)"
                raise UsageError(full) from None
            raise StoreError(f"backup {target}: {what}") from None
        except FileExistsError:
            raise StoreError(f"backup {target}: exists already (choose a new file)") from None
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                full = f"backup {target}: {DISK_FULL} (no room for the copy)"
                raise UsageError(full) from None
            raise StoreError(f"backup {target}: {exc.strerror}") from None
        finally:
            # (A copy of a database in WAL mode is one too until its journal_mode is set: a
            # backup that failed midway leaves a -wal and -shm beside its part.)
            suffixes = ("", "-journal", "-wal", "-shm") if made else ()
            for leftover in (part + suffix for suffix in suffixes):
                with contextlib.suppress(OSError):
                    os.unlink(leftover)  # nothing half-written is left

    def close(self) -> None:
        self._notifier.close()
        abandoned = self._conn in _ABANDONED
        if self._checkpointer is not None:
            self._checkpointer.close(abandon=abandoned)
            self._checkpointer = None
        if abandoned:
            return  # see _check_beside
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        gone = self._check_beside()  # two stat calls: a write is a hundred times that
        if gone is not None:
            raise StoreError(gone)
        if self._to_wal is not False:
            self._to_wal = _switch_to_wal(conn)
        since = None
        asked = time.monotonic()
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                waited = time.monotonic() - asked
                self.lock_waited = waited if waited >= UNCOUNTED_LOCK_WAIT else 0.0
                break
            except sqlite3.OperationalError as exc:
                if not is_locked(exc):
                    raise self._error(exc, None) from None
                since = self._waited(since)
            except (sqlite3.Error, UnicodeDecodeError) as exc:
                raise self._error(exc, None) from None
        try:
            yield conn
            if not self._service:
                # A one-shot command's: a stop signal that came while the commit was made
                # is acted on once the command has said what it changed (store.inflight).
                with in_flight(None):
                    self._commit(conn)
            else:  # a service's, whose signals stop it between its writes, not inside one
                self._commit(conn)
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            # After a full disk or an I/O error SQLite may have rolled back already.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise self._error(exc, None) from None
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    def _commit(self, conn: sqlite3.Connection) -> None:
        """COMMIT (a service asks its thread for a checkpoint every COMMITS_PER_CHECKPOINT),
        waiting for a lock as BEGIN IMMEDIATE does (up to BUSY_TIMEOUT). In
        rollback-journal mode (until _switch_to_wal succeeds) a commit waits for every reader
        to finish: after SQLite's BUSY_SLICE alone, an enqueue failed beside any read
        transaction."""
        since = None
        while True:
            try:
                conn.execute("COMMIT")
                if self._checkpointer is not None:
                    self._commits_unchecked += 1
                    if self._commits_unchecked >= COMMITS_PER_CHECKPOINT:
                        self._commits_unchecked = 0
                        self._checkpointer.ask()
                return
            except sqlite3.OperationalError as exc:
                if not is_locked(exc) or not conn.in_transaction:
                    raise
                since = self._waited(since)

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        since = None
        while True:
            began = time.monotonic()
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if not is_locked(exc) or self._conn.in_transaction:
                    raise self._error(exc, time.monotonic() - began) from None
                since = self._waited(since)
            except (sqlite3.Error, UnicodeDecodeError) as exc:
                raise self._error(exc, None) from None

    def _error(self, exc: sqlite3.Error | UnicodeDecodeError, waited: float | None) -> StoreError:
        return store_error(self.path, exc, waited)


_LOCKED = sqlite3.OperationalError("database is locked")


_NO_FILE = (-1, -1)  # the identity of a file deleted before it could be read


def _identity(path: Path | str) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def open_database(
    path: Path, *, durability: str, create: bool, at_rest: bool = False
) -> tuple[sqlite3.Connection, bool, int | None]:
    """A connection to the database at `path`, whether this call made the database (wrote
    the schema into a new or empty file: of processes making one at once, only the one
    that did), and the schema version it upgraded the file from (None: none). `at_rest`:
    read the file as it is, no -shm made (on a full disk, when no process has it open)."""
    if "\0" in str(path):
        raise StoreError(f"database {str(path)!r}: a path cannot contain a NUL character")
    found = check_files(path)
    if not isinstance(found, Checked):
        if not create:
            check_orphan_wal(path)  # its jobs are there: not "nothing was ever enqueued"
            raise StoreMissing(f"database {path}: does not exist (nothing was ever enqueued there)")
        create_database_file(path, through_link=found == "link")
    elif not create and found.info.st_size == 0 and _still_empty(path):
        # A reader would make it a new, empty queue, and report all well: a database cut to
        # nothing (a failed copy, a stray `>`) must not pass for one that never held a job.
        raise StoreError(
            f"database {path}: is empty (0 bytes): no jobctl database, or one cut to nothing"
        )
    # Modes are mended only on a file known to be jobctl's: a `--db ~/.bashrc` or another
    # program's database is refused as it was, not made private. One whose header says so is
    # mended now, so that the -wal and -shm SQLite makes with its mode are private too; any
    # other once SQLite has read its schema (see mend_checked).
    unmended = found if isinstance(found, Checked) and found.fixes else None
    if unmended is not None and _marked_ours(unmended.real, unmended.info):
        mend(unmended.fixes)
        unmended = None
    # On a read-only file system (a snapshot, a disk remounted read-only after errors) no
    # -shm can be made, so even a read failed: a reader opens the file as it is on disk, when
    # no -wal holds changes that are not in it.
    snapshot = not create and (at_rest or _read_only_mount(path)) and not wal_size(path)
    if at_rest and not snapshot:
        raise StoreError(f"database {path}: in use (its -wal holds changes): not at rest")
    target = str(path)
    if snapshot:
        from urllib.parse import quote  # (only then: every enqueue opens a database)

        target = f"file:{quote(target)}?immutable=1"
    try:
        conn = sqlite3.connect(
            target,
            timeout=BUSY_TIMEOUT,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
            uri=snapshot,
        )
    except sqlite3.Error as exc:
        raise store_error(path, exc) from None
    try:
        version = check_identity(conn, path)
        if unmended is not None:
            mend_checked(path, unmended)
        migrated_from = None
        if version != SCHEMA_VERSION:
            if version and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
                raise StoreError(
                    f"database {path}: schema version {version} needs upgrading to"
                    f" {SCHEMA_VERSION}, which takes write access: run any jobctl command"
                    " on it once as its owner"
                )
            from jobctl.store.sqlite import migrations  # (only then: every enqueue opens one)

            migrated_from = migrations.migrate(conn, path, in_use_refused=not create)
        conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS.get(durability, 'FULL')}")
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_SLICE * 1000)}")  # see _waited
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA temp_store = MEMORY")
        if create and not snapshot:
            # After the busy timeout's slice: a lock held now is waited for no longer than
            # that (a Ctrl-C was not heard for the 30 s of the connection's own wait).
            _add_extra_indexes(conn)
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        conn.close()
        raise store_error(path, exc) from None
    except StoreError:
        conn.close()
        raise
    return conn, migrated_from == 0, migrated_from or None


def _add_extra_indexes(conn: sqlite3.Connection) -> None:
    """Make the EXTRA_INDEXES a database lacks (one look at the schema when it has them)."""
    names = tuple(EXTRA_INDEXES)
    marks = ", ".join("?" * len(names))
    have = {
        row[0]
        for row in conn.execute(
            f"SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ({marks})", names
        )
    }
    for name, sql in EXTRA_INDEXES.items():
        if name not in have:
            # A file this user may only read, or a lock held now: the next writer makes it.
            with contextlib.suppress(sqlite3.Error):
                conn.execute(sql)


def _switch_to_wal(conn: sqlite3.Connection) -> bool:
    """A database in another journal mode is switched to WAL, as new ones are made, before
    its first write (a backup put back: `backup` writes its copy as a file of its own, with
    no -wal): in rollback-journal mode each commit waits for every reader to finish, so one
    holding a read transaction (a `sqlite3` shell, a long `list`) stops all writes. The
    switch takes SQLite's exclusive lock, so it happens at an instant no connection reads
    (those of other processes follow by themselves). It waits for none: while one reads, the
    next write tries again (True: it is to)."""
    try:
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]) == "wal":
            return False
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_SLICE * 1000)}")
    except sqlite3.Error as exc:
        return is_locked(exc)  # else (a read-only file, say) the write says what is wrong
    return False


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _marked_ours(real: Path, info: os.stat_result) -> bool:
    """Whether the database header of the file that was checked carries jobctl's application
    id (read as SQLite would, without SQLite: it makes a -wal and -shm beside a WAL file)."""
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        now = os.fstat(fd)
        header = os.read(fd, 72) if (now.st_dev, now.st_ino) == (info.st_dev, info.st_ino) else b""
    except OSError:
        return False
    finally:
        os.close(fd)
    return (
        len(header) == 72
        and header.startswith(b"SQLite format 3\0")
        and int.from_bytes(header[68:72], "big") == APPLICATION_ID
    )


def _still_empty(path: Path) -> bool:
    """Whether an empty database file stays empty: not one a maker is writing its schema
    into. A reader opens none of those: a database cut to nothing (a failed copy, a stray
    `>`) must not pass for an empty queue, nor get a schema written into it."""
    from filelock import FileLock, Timeout

    lock_path = path.with_name(path.name + ".lock")
    if os.path.lexists(lock_path) and lock_file_problem(lock_path, "its lock file"):
        return True  # refused just after, as every command refuses it
    # Its maker may be between making the file, its lock file, and taking that: a second's
    # grace, then the schema it writes under that lock is there, or nothing is coming.
    for _ in range(20):
        try:
            if os.path.lexists(lock_path):
                with FileLock(str(lock_path), timeout=BUSY_TIMEOUT, mode=0o600):
                    if os.stat(path).st_size > 0:
                        return False
            elif os.stat(path).st_size > 0:
                return False
        except (Timeout, OSError):
            return True
        time.sleep(0.05)
    return True


def check_identity(conn: sqlite3.Connection, path: Path) -> int:
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

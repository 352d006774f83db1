"""Opening, creating and migrating the database file, and the transaction plumbing
every part of the store shares."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

from jobctl.errors import StoreError, StoreFull, StoreMissing, UsageError
from jobctl.fsutil import login_name, not_private, private_dir, user_name
from jobctl.store.wake import Notifier, wake_dir_for

APPLICATION_ID = 0x4A4F4243  # "JOBC" in the database header marks a file as ours
BUSY_TIMEOUT = 30.0
# SQLite waits for a lock this long at a time, and jobctl tries again until BUSY_TIMEOUT:
# signals are handled only between two waits (a Ctrl-C did nothing for 30 s), and a person
# can be told what the command waits for.
BUSY_SLICE = 0.5
BUSY_NOTE_AFTER = 2.0  # a wait longer than a large batch's write is worth a word
SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL", "off": "OFF"}
# What the -wal is cut back to at the first commit after a checkpoint emptied it. Without a
# limit it keeps the size of the largest transaction ever written (a batch of a million
# jobs: 122 MB) for as long as any process has the database open, a worker for months. Four
# times what it holds between two of SQLite's automatic checkpoints (1,000 pages: 4 MiB), so
# that busy times, when readers hold a checkpoint back, do not cut it only to grow it again.
WAL_SIZE_LIMIT = 16 << 20
SCHEMA_VERSION = 9
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
        self._conn, self.created, self.upgraded_from = open_database(
            path, durability=durability, create=create, at_rest=at_rest
        )
        self._notifier = Notifier(wake_dir_for(path))
        try:
            self._identity: tuple[int, int] | None = _identity(path)
        except OSError:
            self._identity = None
        # The -wal and -shm as this connection has them open (see _beside_gone).
        self._beside: dict[str, tuple[int, int]] | None = None
        self._beside_gone: str | None = None
        self._beside_paths = tuple((suffix, f"{path}{suffix}") for suffix in ("-wal", "-shm"))
        # Whether a write is to switch the database to WAL first (None: not looked at yet;
        # see _switch_to_wal).
        self._to_wal: bool | None = None

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
        part = os.path.join(folder, f".{name}.part-{os.getpid()}")
        # SIGTERM (a cron line's `timeout`, a cancelled CI job) and SIGHUP end the copy as
        # Ctrl-C does, through the `finally` that removes the part, then the process as their
        # own action would: it died at once, and left a hidden copy of the whole database.
        import signal
        import threading

        came: list[int] = []

        def stop(signum: int, _frame: object) -> None:
            came.append(signum)
            raise KeyboardInterrupt

        previous = {}
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGTERM, signal.SIGHUP):
                if signal.getsignal(number) == signal.SIG_DFL:
                    previous[number] = signal.signal(number, stop)
        try:
            try:
                fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                # A folder that is missing or closed to this user is the caller's mistake, not a
                # database that cannot be used (exit 3, which a cron line takes for a broken queue).
                raise UsageError(f"backup {target}: cannot create: {exc.strerror}") from None
            os.close(fd)
            try:
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
                if what == _DISK_FULL:  # the target's disk: the database is fine (exit 2, not 3)
                    full = f"backup {target}: {_DISK_FULL} (no room for the copy)"
                    raise UsageError(full) from None
                raise StoreError(f"backup {target}: {what}") from None
            except FileExistsError:
                raise StoreError(f"backup {target}: exists already (choose a new file)") from None
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    full = f"backup {target}: {_DISK_FULL} (no room for the copy)"
                    raise UsageError(full) from None
                raise StoreError(f"backup {target}: {exc.strerror}") from None
            finally:
                for leftover in (part, part + "-journal"):
                    with contextlib.suppress(OSError):
                        os.unlink(leftover)  # nothing half-written is left
        except KeyboardInterrupt:
            for number, handler in previous.items():
                signal.signal(number, handler)
            if came:
                signal.raise_signal(came[0])
            raise
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        return os.stat(target).st_size

    def close(self) -> None:
        self._notifier.close()
        if self._conn in _ABANDONED:
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
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc):
                    raise self._error(exc, None) from None
                since = self._waited(since)
            except (sqlite3.Error, UnicodeDecodeError) as exc:
                raise self._error(exc, None) from None
        try:
            yield conn
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
        """COMMIT, waiting for a lock as BEGIN IMMEDIATE does (up to BUSY_TIMEOUT). In
        rollback-journal mode (until _switch_to_wal succeeds) a commit waits for every reader
        to finish: after SQLite's BUSY_SLICE alone, an enqueue failed beside any read
        transaction."""
        since = None
        while True:
            try:
                conn.execute("COMMIT")
                return
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc) or not conn.in_transaction:
                    raise
                since = self._waited(since)

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        since = None
        while True:
            began = time.monotonic()
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc) or self._conn.in_transaction:
                    raise self._error(exc, time.monotonic() - began) from None
                since = self._waited(since)
            except (sqlite3.Error, UnicodeDecodeError) as exc:
                raise self._error(exc, None) from None

    def _error(self, exc: sqlite3.Error | UnicodeDecodeError, waited: float | None) -> StoreError:
        return store_error(self.path, exc, waited)


_DISK_FULL = "the disk is full"


def store_error(
    path: Path, exc: sqlite3.Error | UnicodeDecodeError, waited: float | None = BUSY_TIMEOUT
) -> StoreError:
    """The one line for a failed operation on the database at `path`: a StoreFull when the
    disk is full, which a caller may act on (see retention). `waited`: how long a "locked"
    failure waited for the lock (None: not known)."""
    what = describe(exc, path, waited)
    kind = StoreFull if what == _DISK_FULL else StoreError
    return kind(f"database {path}: {what}")


_LOCKED = sqlite3.OperationalError("database is locked")


def _is_locked(exc: sqlite3.Error) -> bool:
    return "database is locked" in str(exc)


def describe(
    exc: sqlite3.Error | UnicodeDecodeError,
    path: Path | None = None,
    waited: float | None = BUSY_TIMEOUT,
) -> str:
    """What went wrong, in a few words. `waited`: how long a "locked" failure waited for the
    lock: SQLite's own wait at an open, BUSY_TIMEOUT; None where it is not known."""
    if isinstance(exc, UnicodeDecodeError):
        # SQLite's own message quotes the damaged schema, which is not even valid text.
        return "the database file is corrupt (its schema or data is not valid UTF-8 text)"
    text = str(exc)
    if "database is locked" in text or "database table is locked" in text:
        return _locked(waited)
    if "file is not a database" in text:
        return "not a jobctl database (the file is not SQLite, or is corrupt)"
    if "disk image is malformed" in text:
        return "the database file is corrupt (disk image is malformed)"
    if "readonly database" in text:
        return _file_system_problem(path) or _read_only(path)
    if "unable to open" in text:
        if path is not None and os.path.exists(path) and not os.access(path, os.R_OK):
            return "cannot open the database file (it is not readable by this user)"
        return _file_system_problem(path) or (
            "cannot open the database file (check that its directory exists and is writable)"
        )
    if "disk is full" in text or "database or disk is full" in text:
        return _DISK_FULL
    if "disk I/O error" in text:  # SQLite could not make its -shm on a full disk, say
        return _file_system_problem(path) or _wal_gone(path) or _size_limit() or text
    return text


def _locked(waited: float | None) -> str:
    """The wait as it was: a commit that gave up after half a second said "held it for over
    30s"."""
    if waited is None or waited < 0.1:  # (SQLite gives up at once where two would deadlock)
        return "database is locked (another process holds it)"
    shown = BUSY_TIMEOUT if waited >= BUSY_TIMEOUT else int(waited * 10) / 10
    return f"database is locked (another process held it for over {shown:g}s)"


def free_space(path: Path) -> int | None:
    """The bytes this user may still write on the file system holding the database at `path`
    (root: those kept for root too); None when it cannot be told."""
    try:
        info = os.statvfs(path)  # the file's own: a link to one on another disk is followed
    except OSError:
        return None
    return (info.f_bfree if os.geteuid() == 0 else info.f_bavail) * info.f_frsize


def _size_limit() -> str | None:
    """A file size limit (`ulimit -f`, systemd's LimitFSIZE=) that SQLite's files ran into:
    their writes fail as on a broken disk."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft == resource.RLIM_INFINITY:
        return None
    return f"disk I/O error: this process may write files of at most {soft:,} bytes (ulimit -f)"


def _wal_gone(path: Path | None) -> str | None:
    """The I/O error SQLite gives while the -wal is deleted and another process still has
    the database open: its -shm says the -wal holds frames that are not there."""
    import struct

    if path is None:
        return None
    try:
        with open(f"{path}-shm", "rb") as shm:
            header = shm.read(20)
    except OSError:
        return None
    wal = _wal_size(path)
    if len(header) < 20:
        return None
    # The WAL index header, in this machine's byte order: its page size, and the last
    # frame of the log (each frame a page and 24 bytes, after 32 bytes of the file's own).
    (size,), (frames,) = struct.unpack_from("=H", header, 14), struct.unpack_from("=I", header, 16)
    page = 65536 if size == 1 else size
    if frames == 0 or wal >= 32 + frames * (page + 24):
        return None
    return (
        "disk I/O error: its -wal file was deleted while another process had the database"
        " open; once that process ends (jobctl workers and cron daemons stop by themselves at"
        " their next heartbeat), the database works again, with what that file held"
    )


def _file_system_problem(path: Path | None) -> str | None:
    """A read-only mount or a full disk, which permissions or a failing disk would otherwise
    be blamed for."""
    if path is None:
        return None
    try:
        info = os.statvfs(path.parent)
    except OSError:
        return None
    if info.f_flag & os.ST_RDONLY:
        return f"the file system holding {path.parent} is mounted read-only"
    free = info.f_bfree if os.geteuid() == 0 else info.f_bavail
    if free == 0:
        return _DISK_FULL
    if info.f_files and (info.f_ffree if os.geteuid() == 0 else info.f_favail) == 0:
        return f"the file system holding {path.parent} has no free inodes left (df -i)"
    if refuses_writes(path):
        return f"the file system holding {path.parent} is read-only (a disk error? see dmesg)"
    return None


def refuses_writes(path: Path) -> bool:
    """Whether the file system refuses a new file beside the database with EROFS while its
    mount says read-write: ext4's errors=remount-ro after an error ("emergency_ro") sets no
    read-only flag that statvfs shows, and every write failed as if permissions did."""
    probe = path.parent / f".{path.name}.probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        return exc.errno == errno.EROFS
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return False


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
        return time.monotonic() - began if _is_locked(exc) else None
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")
    return None


def _read_only(path: Path | None) -> str:
    """Which of the files is read-only, when one is: a -wal or -shm left read-only by an
    earlier reader keeps the database read-only after the file itself is made writable."""
    stuck: list[str] = []
    if path is not None:
        for name in (str(path), f"{path}-wal", f"{path}-shm"):
            if os.path.lexists(name) and not os.access(name, os.W_OK):
                stuck.append(os.path.basename(name))
        if not os.access(path.parent, os.W_OK):  # where SQLite makes the -wal and -shm
            stuck.append(f"its folder {path.parent}")
    if not stuck:
        return "the database is read-only (check the file's and its directory's permissions)"
    which = " and ".join(stuck)
    verb = "are" if len(stuck) > 1 else "is"
    return f"the database is read-only: {which} {verb} not writable by this user"


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
    found = _check_files(path)
    if not isinstance(found, _Checked):
        if not create:
            _check_orphan_wal(path)  # its jobs are there: not "nothing was ever enqueued"
            raise StoreMissing(f"database {path}: does not exist (nothing was ever enqueued there)")
        _create(path, through_link=found == "link")
    elif not create and found.info.st_size == 0 and _still_empty(path):
        # A reader would make it a new, empty queue, and report all well: a database cut to
        # nothing (a failed copy, a stray `>`) must not pass for one that never held a job.
        raise StoreError(
            f"database {path}: is empty (0 bytes): no jobctl database, or one cut to nothing"
        )
    # Modes are mended only on a file known to be jobctl's: a `--db ~/.bashrc` or another
    # program's database is refused as it was, not made private. One whose header says so is
    # mended now, so that the -wal and -shm SQLite makes with its mode are private too; any
    # other once SQLite has read its schema (see _mend_checked).
    unmended = found if isinstance(found, _Checked) and found.fixes else None
    if unmended is not None and _marked_ours(unmended.real, unmended.info):
        _mend(unmended.fixes)
        unmended = None
    # On a read-only file system (a snapshot, a disk remounted read-only after errors) no
    # -shm can be made, so even a read failed: a reader opens the file as it is on disk, when
    # no -wal holds changes that are not in it.
    snapshot = not create and (at_rest or _read_only_mount(path)) and not _wal_size(path)
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
            _mend_checked(path, unmended)
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
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        conn.close()
        raise store_error(path, exc) from None
    except StoreError:
        conn.close()
        raise
    return conn, migrated_from == 0, migrated_from or None


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
        return _is_locked(exc)  # else (a read-only file, say) the write says what is wrong
    return False


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _wal_size(path: Path) -> int:
    """The bytes of the -wal beside `path` (not followed if a link); 0 for none."""
    try:
        return os.lstat(f"{path}-wal").st_size
    except OSError:
        return 0


# -- files another user may have planted ----------------------------------------------------
#
# In a folder others can write to (/tmp, a shared folder), another user can make the database
# file, its -wal or -shm, its lock file or its wake folder before jobctl does, writable by
# them: they would then read every payload, and hand whoever runs the worker (root, say)
# their own jobs. So each must be this user's and closed to writes by group and others. The
# database file is looked at with the one lstat() that used to be two stat()s; the files
# beside it cost one lstat() each, most of them of a name that does not exist.

_PLANTED = "refused, as another user may have planted it or may change it"


class _Fix(NamedTuple):
    """A mode to give a file of this user's, once it is known to belong to a jobctl
    database: the very file that was looked at (`info`), not whatever has its name since."""

    path: Path
    info: os.stat_result
    mode: int


class _Checked(NamedTuple):
    """A database file that exists and can be trusted, with the files beside it: its real
    path (a link's target), its stat, and the modes to mend once it is known to be jobctl's."""

    real: Path
    info: os.stat_result
    fixes: list[_Fix]


def _check_files(path: Path) -> _Checked | Literal[False, "link"]:
    """The database file when it exists and it and the files beside it can be trusted;
    False, or "link" (a link to a file still to be made), when it does not exist yet.
    StoreError for one that cannot be trusted."""
    _check_linked_folders(path)
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise StoreError(f"database {path}: {_os_reason(exc)}") from None
    real = path
    if stat.S_ISLNK(info.st_mode):
        # A link is followed only when it is this user's or root's: another user's could be
        # pointed at a file of theirs between the check and the open.
        if info.st_uid not in (os.geteuid(), 0):
            raise StoreError(
                f"database {path}: is a symbolic link owned by {user_name(info.st_uid)}; {_PLANTED}"
            )
        try:
            info = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return "link"
        except OSError as exc:
            raise StoreError(f"database {path}: {_os_reason(exc)}") from None
        real = Path(os.path.realpath(path))
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(f"database {path}: is {_file_kind(info.st_mode)}, not a database file")
    fixes = _check_database_file(path, real, info)
    _check_folder(path, path.parent, info.st_uid)
    if real is not path:
        _check_folder(path, real.parent, info.st_uid)
    fixes += _check_beside(path, real, info)
    return _Checked(real, info, fixes)


def _check_linked_folders(path: Path) -> None:
    """No folder on the way to the database is another user's symbolic link: as with the
    file itself, they could point it at any database of this user's (or a folder to make
    one in) between any check and the open, and every command would then act on that one."""
    mine = (os.geteuid(), 0)
    for folder in path.absolute().parents:
        try:
            info = os.lstat(folder)
        except OSError:
            return  # missing or closed: the open says so
        if stat.S_ISLNK(info.st_mode) and info.st_uid not in mine:
            raise StoreError(
                f"database {path}: its folder {folder} is a symbolic link owned by"
                f" {user_name(info.st_uid)}; {_PLANTED}"
            )


def _check_folder(path: Path, folder: Path, owner: int | None) -> None:
    """The folder that holds the database (or would): only this user, root or the
    database's owner may make files in it. SQLite reads what it finds beside a database as
    part of it: a `-journal` another user made there is rolled into the database at its
    next open, their jobs with it. No check of such a file can close that, as they may make
    it between any check and SQLite's open, in a sticky folder such as /tmp too."""
    try:
        info = os.stat(folder)
    except OSError:
        return  # missing (made private by _create) or closed: the open says so
    problem = not_private(info, owner=0 if info.st_uid == 0 else owner)
    if problem:
        raise StoreError(
            f"database {path}: its folder {folder} {problem}; others could put files beside"
            " the database that SQLite would read into it: keep it in a folder of your own"
            " (mkdir -m 700 FOLDER)"
        )


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "no regular file"


def _check_database_file(path: Path, real: Path, info: os.stat_result) -> list[_Fix]:
    """The database file: this user's, or - for reading only - that of another user who
    keeps it closed to writes by group and others. Root uses no other user's file at all:
    that user could hand root their jobs. A file of this user's that others can read (made
    by `touch`, say) is to be made private, as jobctl would have made it: the fix, which
    waits until the file is known to be a jobctl database."""
    euid = os.geteuid()
    problem = not_private(info, owner=None if euid == 0 else info.st_uid)
    if problem:
        if info.st_uid == euid:  # writable by others: they may have changed it, or hold it open
            raise StoreError(
                f"database {path}: {problem}; refused, as others may have changed it"
                " (chmod 600 it if nobody has)"
            )
        owner = login_name(info.st_uid) or f"#{info.st_uid}"  # sudo -u takes a bare uid so
        hint = f" (run jobctl as its owner: sudo -u {owner} jobctl ...)" if euid == 0 else ""
        raise StoreError(f"database {path}: {problem}; {_PLANTED}{hint}")
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid == euid and mode & 0o077:
        return [_Fix(real, info, mode & 0o700)]
    return []


def _check_beside(path: Path, real: Path, db: os.stat_result) -> list[_Fix]:
    """The -wal, -shm and -journal (beside the real file, where SQLite makes them), the lock
    files and the wake folder: this user's or the database owner's, closed to writes by
    group and others. The modes to mend among those of this user's (see _mend)."""
    euid = os.geteuid()
    fixes: list[_Fix] = []
    real_name = str(real)
    # The lock files too: one that another user holds (or can replace) stops migrations, or
    # keeps every cron daemon standing by for good while it looks healthy.
    locks = (f"{path}.lock", real_name + ".scheduler.lock")
    for name in (real_name + "-wal", real_name + "-shm", real_name + "-journal", *locks):
        try:
            info = os.lstat(name)
        except OSError:
            continue  # none yet (SQLite makes it), or an error SQLite reports itself
        if stat.S_ISLNK(info.st_mode):
            problem: str | None = "is a symbolic link"
        else:
            problem = not_private(info, owner=db.st_uid)
        if problem:
            what = f"its lock file {name}" if name in locks else name
            raise StoreError(f"database {path}: {what} {problem}; {_PLANTED}")
        if info.st_uid == euid == db.st_uid:
            # As SQLite makes them: the database file's mode. One left read-only by an
            # earlier reader of a read-only file would keep a writable file read-only.
            want = stat.S_IMODE(info.st_mode) & 0o700
            if db.st_mode & stat.S_IWUSR:
                want |= 0o600
            if want != stat.S_IMODE(info.st_mode):
                fixes.append(_Fix(Path(name), info, want))
    wake = real_name + ".wake"  # wake_dir_for(path), without pathlib's cost on every command
    try:
        info = os.lstat(wake)
    except OSError:
        return fixes  # no worker ever listened here
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a folder"
    else:
        problem = not_private(info, owner=db.st_uid)
    if problem:
        raise StoreError(f"database {path}: its wake folder {wake} {problem}; {_PLANTED}")
    return fixes


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


def _mend_checked(path: Path, checked: _Checked) -> None:
    """Mend the modes of a database file SQLite has just found to be jobctl's (or an empty
    one it is to make so), and those of the -wal and -shm that SQLite may have made since
    with the file's old mode."""
    _mend(checked.fixes)
    _mend(_check_beside(path, checked.real, checked.info))


def _mend(fixes: list[_Fix]) -> None:
    for fix in fixes:
        _make_private(fix.path, fix.info, fix.mode)


def _make_private(path: Path, info: os.stat_result, mode: int) -> None:
    """chmod through a descriptor of the very file that was checked, never through a path
    that could have been swapped for a link since. Best effort (a read-only file system)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) == (info.st_dev, info.st_ino):
            os.fchmod(fd, mode)
    except OSError:
        pass
    finally:
        os.close(fd)


def _os_reason(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (a folder on its path is closed to this user)"
    return (exc.strerror or str(exc)).lower()


def _create(path: Path, *, through_link: bool) -> None:
    """Make the database file (and its folder, if missing): 0600, this user's."""
    _create_parent(path)
    _check_folder(path, path.parent, None)
    _check_orphan_wal(path)
    if through_link:
        _check_folder(path, Path(os.path.realpath(path)).parent, None)
    # O_NOFOLLOW: a link planted since the check is never followed (only one that was
    # checked as this user's or root's, and points to a file still to be made).
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | (0 if through_link else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not through_link:
            raise StoreError(f"database {path}: is a symbolic link; {_PLANTED}") from None
        raise StoreError(f"database {path}: cannot create: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        # Another process may have made it meanwhile: checked as a file found there is.
        problem = not_private(info)
        if problem:
            raise StoreError(f"database {path}: {problem}; {_PLANTED}")
        if stat.S_IMODE(info.st_mode) & 0o077:
            with contextlib.suppress(OSError):
                os.fchmod(fd, stat.S_IMODE(info.st_mode) & 0o700)
    finally:
        os.close(fd)
    real = Path(os.path.realpath(path)) if through_link else path
    _mend(_check_beside(path, real, info))  # a -wal or -shm planted before the file was


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


def _check_orphan_wal(path: Path) -> None:
    """A -wal with content and no database is what a database moved or deleted while in use
    leaves: its last changes (jobs enqueued, results) are there alone. A new database there
    would reset it and remove it."""
    size = _wal_size(path)
    # The -wal first, then the file: a database made meanwhile by another process has its
    # file before its -wal, so it is seen here.
    if size > 0 and not os.path.lexists(path):
        raise StoreError(
            f"database {path}: {path}-wal holds {size:,} bytes of changes of a database that"
            " was moved or deleted while in use; put it back beside that database (as"
            f" {path.name}-wal) and open it there, or remove it to start a new one"
        )


def _create_parent(path: Path) -> None:
    parent = path.parent
    if not os.path.lexists(parent):
        try:
            private_dir(parent)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise StoreError(
                f"database {path}: cannot create directory {parent}: {reason}"
            ) from None


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


def lock_file_problem(lock_path: Path, label: str) -> str | None:
    """Make the lock file (0600) if missing, and say what is wrong with it, if anything: it
    cannot be made, or it is a link or a file another user may have planted (and could hold
    locked, or swap)."""
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{label} {lock_path} is a symbolic link; {_PLANTED}"
        return f"cannot create {label} {lock_path}: {exc.strerror}"
    try:
        problem = not_private(os.fstat(fd))
    finally:
        os.close(fd)
    return f"{label} {lock_path} {problem}; {_PLANTED}" if problem else None


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

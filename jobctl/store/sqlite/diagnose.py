"""What a failed operation on the database means, in the one line a person can act on: a
lock held too long, a full disk or inode table, a read-only mount or file, a size limit, a
-wal deleted under another process."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
from pathlib import Path

from jobctl.errors import EXIT_FAILED, StoreError, StoreFull
from jobctl.store.sqlite.files import file_kind, wal_size
from jobctl.store.sqlite.locks import BUSY_TIMEOUT

DISK_FULL = "the disk is full"


def store_error(
    path: Path, exc: sqlite3.Error | UnicodeDecodeError, waited: float | None = BUSY_TIMEOUT
) -> StoreError:
    """The one line for a failed operation on the database at `path`: a StoreFull when the
    disk is full, which a caller may act on (see retention). `waited`: how long a "locked"
    failure waited for the lock (None: not known)."""
    what = describe(exc, path, waited)
    kind = StoreFull if what == DISK_FULL else StoreError
    if what.startswith(_NO_DESCRIPTOR):
        kind = OutOfDescriptors
    return kind(f"database {path}: {what}")


class OutOfDescriptors(StoreError):
    """The database could not be opened for want of a file descriptor: the file is fine,
    the process's limit is not, so the exit code is a worker's that can start no job."""

    exit_code = EXIT_FAILED


_NO_DESCRIPTOR = "cannot open the database file: the "
# Descriptors SQLite may need at once to open a database in WAL mode: the file, its -wal and
# -shm, and its directory's (to sync a new -wal).
_OPEN_NEEDS = 4


def _out_of_descriptors() -> str | None:
    """The open files limit an open just failed at (EMFILE: this process's, ENFILE: the
    host's), which SQLite reports only as "unable to open", as it would a missing folder."""
    opened: list[int] = []
    failed = None
    try:
        for _ in range(_OPEN_NEEDS):
            opened.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
    except OSError as exc:
        failed = exc.errno
    finally:
        for fd in opened:
            os.close(fd)
    if failed == errno.EMFILE:
        import resource  # (only now: its import needs a descriptor too)

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return (
            f"{_NO_DESCRIPTOR}open files limit ({soft}) is reached (raise ulimit -n or"
            " LimitNOFILE=)"
        )
    if failed == errno.ENFILE:
        return (
            f"{_NO_DESCRIPTOR}host's open files limit (fs.file-max) is reached: other"
            " processes hold every file the kernel allows open"
        )
    return None


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
        out_of_descriptors = _out_of_descriptors()
        if out_of_descriptors is not None:
            return out_of_descriptors
        if path is not None and os.path.exists(path) and not os.access(path, os.R_OK):
            return "cannot open the database file (it is not readable by this user)"
        return _file_system_problem(path) or (
            "cannot open the database file (check that its directory exists and is writable)"
        )
    if "disk is full" in text or "database or disk is full" in text:
        return DISK_FULL
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
    wal = wal_size(path)
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
        return DISK_FULL
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


def not_a_jobctl_database(path: Path) -> str | None:
    """Why the existing file at `path` is no database a worker would open, in the words the
    worker refuses it with: no regular file (told by stat alone, so a FIFO is never opened),
    not SQLite, another program's, or of a newer schema (check_identity). Read as the file
    is on disk (immutable): nothing opened for writing, no -wal or -shm made. None for a
    file a worker takes (an empty one gets the schema), for one whose -wal holds changes,
    which the file alone does not show, and for a missing one (the worker makes it)."""
    from urllib.parse import quote

    from jobctl.store.sqlite.connection import check_identity  # (it imports this module)

    try:
        info = os.stat(path)
    except OSError:
        return None  # made by the worker, or refused by it in its own words
    if not stat.S_ISREG(info.st_mode):
        return f"database {path}: is {file_kind(info.st_mode)}, not a database file"
    if info.st_size == 0 or wal_size(path):
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error:
        return None
    try:
        check_identity(conn, path)
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorcode != sqlite3.SQLITE_NOTADB:
            return None  # unreadable, say: the worker's open says why
        return f"database {path}: {describe(exc)}"
    except StoreError as exc:
        return str(exc)
    finally:
        conn.close()
    return None

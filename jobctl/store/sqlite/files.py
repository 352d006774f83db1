"""The database's files on disk: made private to their user, and refused when another user
may have planted or may change them."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import Literal, NamedTuple

from jobctl.errors import StoreError
from jobctl.fsutil import login_name, not_private, private_dir, user_name


def wal_size(path: Path) -> int:
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
# their own jobs. So each must be this user's and closed to writes by group and others, by
# its mode and by any POSIX ACL (one that lets nobody write shows as mode 0660). The
# database file is looked at with the one lstat() that used to be two stat()s; the files
# beside it cost one lstat() each, most of them of a name that does not exist.

_PLANTED = "refused, as another user may have planted it or may change it"


class _Fix(NamedTuple):
    """A mode to give a file of this user's, once it is known to belong to a jobctl
    database: the very file that was looked at (`info`), not whatever has its name since."""

    path: Path
    info: os.stat_result
    mode: int


class Checked(NamedTuple):
    """A database file that exists and can be trusted, with the files beside it: its real
    path (a link's target), its stat, and the modes to mend once it is known to be jobctl's."""

    real: Path
    info: os.stat_result
    fixes: list[_Fix]


def check_files(path: Path) -> Checked | Literal[False, "link"]:
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
        raise StoreError(f"database {path}: is {file_kind(info.st_mode)}, not a database file")
    fixes = _check_database_file(path, real, info)
    _check_folder(path, path.parent, info.st_uid)
    if real is not path:
        _check_folder(path, real.parent, info.st_uid)
    fixes += _check_beside_files(path, real, info)
    return Checked(real, info, fixes)


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
        return  # missing (made private by create_database_file) or closed: the open says so
    problem = not_private(info, owner=0 if info.st_uid == 0 else owner, where=str(folder))
    if problem:
        raise StoreError(
            f"database {path}: its folder {folder} {problem}; others could put files beside"
            " the database that SQLite would read into it: keep it in a folder of your own"
            " (mkdir -m 700 FOLDER)"
        )


def file_kind(mode: int) -> str:
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
    problem = not_private(info, owner=None if euid == 0 else info.st_uid, where=str(real))
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


def _check_beside_files(path: Path, real: Path, db: os.stat_result) -> list[_Fix]:
    """The -wal, -shm and -journal (beside the real file, where SQLite makes them), the lock
    files and the wake folder: this user's or the database owner's, closed to writes by
    group and others. The modes to mend among those of this user's (see mend)."""
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
            problem = not_private(info, owner=db.st_uid, where=name)
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
        problem = not_private(info, owner=db.st_uid, where=wake)
    if problem:
        raise StoreError(f"database {path}: its wake folder {wake} {problem}; {_PLANTED}")
    return fixes


def mend_checked(path: Path, checked: Checked) -> None:
    """Mend the modes of a database file SQLite has just found to be jobctl's (or an empty
    one it is to make so), and those of the -wal and -shm that SQLite may have made since
    with the file's old mode."""
    mend(checked.fixes)
    mend(_check_beside_files(path, checked.real, checked.info))


def mend(fixes: list[_Fix]) -> None:
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


def missing_link_target_folder(path: Path) -> str | None:
    """Why a database that is a link to a file not made yet cannot be made: the folder the
    link points into is missing (a link's target folder is never made, as a typo there would
    make one elsewhere). None for anything else."""
    if not os.path.islink(path) or os.path.exists(path):
        return None
    target = Path(os.path.realpath(path))
    if os.path.lexists(target.parent):
        return None
    return (
        f"database {path}: a link to {target}, whose folder {target.parent} does not exist:"
        f" make the folder first (mkdir -p -m 700 {target.parent})"
    )


def create_database_file(path: Path, *, through_link: bool) -> None:
    """Make the database file (and its folder, if missing): 0600, this user's."""
    _create_parent(path)
    _check_folder(path, path.parent, None)
    check_orphan_wal(path)
    if through_link:
        problem = missing_link_target_folder(path)
        if problem:
            raise StoreError(problem)
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
        problem = not_private(info, where=fd)
        if problem:
            raise StoreError(f"database {path}: {problem}; {_PLANTED}")
        if stat.S_IMODE(info.st_mode) & 0o077:
            with contextlib.suppress(OSError):
                os.fchmod(fd, stat.S_IMODE(info.st_mode) & 0o700)
    finally:
        os.close(fd)
    real = Path(os.path.realpath(path)) if through_link else path
    mend(_check_beside_files(path, real, info))  # a -wal or -shm planted before the file was


def check_orphan_wal(path: Path) -> None:
    """A -wal with content and no database is what a database moved or deleted while in use
    leaves: its last changes (jobs enqueued, results) are there alone. A new database there
    would reset it and remove it."""
    size = wal_size(path)
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
        problem = not_private(os.fstat(fd), where=fd)
    finally:
        os.close(fd)
    return f"{label} {lock_path} {problem}; {_PLANTED}" if problem else None

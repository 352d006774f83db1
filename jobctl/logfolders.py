"""Log folders and files, opened only through folders checked once and held open.

A log lives at `<root>/<folder>/<name>` (see logfiles.py for the paths). The root and the
folder must each be a real folder (not a link) of the effective uid's, closed to writes by
group and others, or another user could move what the worker writes there, or read it.
Each is checked once, through a descriptor kept open, and logs are made relative to that
descriptor: a folder swapped for another (or for a link) after its check does not move an
open descriptor, so the worker writes into the folder it checked or nowhere. A folder
removed since (a prune that emptied it, or by hand) is noticed at the next log made in it,
and made again. Descriptors are used under one lock (hooks start attempts from their own
threads), so none is closed while another thread uses it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import threading

from jobctl.fsutil import not_private, open_private_dir

_LOG_LOCK = threading.Lock()
_LOG_ROOTS: dict[str, int] = {}  # checked roots: path -> descriptor
_LOG_DIRS: dict[str, int] = {}  # checked folders: path -> descriptor, the newest last
_LOG_GROUPS: dict[str, int] = {}  # folders shared with a group (see _shared_group) -> its gid
_MAX_LOG_DIRS = 16  # a folder holds a thousand jobs' logs: a few cover the running ones
_MAX_LOG_ROOTS = 4


def check_log_root(root: str) -> None:
    """PermissionError, saying why, when a log root is not a private folder of this user's
    (made if missing, unless it is a link or its parent is missing too: see _placed and
    _open_root): a worker checks it at its start, rather than fail every job on it."""
    with _LOG_LOCK:
        if root not in _LOG_ROOTS:
            _remember(_LOG_ROOTS, root, _open_root(root), _MAX_LOG_ROOTS)


def log_root_problem(root: str, beside_database: bool = False) -> str | None:
    """Why check_log_root would refuse this log root, found without making anything (for
    `validate`): a link to nothing or of another user's, a file, a folder others can write
    to, a missing folder whose parent is missing too, or a file where a missing folder would
    be made. None when a worker would take it.

    `beside_database`: the root is a database's default `<db>.logs`, whose parent, the
    database's folder, the store makes with the database before a worker makes its logs."""
    try:
        target = _placed(root)
    except FileNotFoundError as exc:  # a link to a folder that is not there
        return exc.strerror
    try:
        info = os.lstat(target)
    except FileNotFoundError:  # the worker makes it (and the folders above a default one)
        missing = None if beside_database else _missing_parent(root, target)
        if missing is not None:
            return missing
        above = os.path.dirname(target)
        while above and not os.path.lexists(above) and above != os.path.dirname(above):
            above = os.path.dirname(above)
        if above and not os.path.isdir(above):
            return f"log folder {root} cannot be made: {above} is not a folder"
        return None
    except OSError as exc:
        return f"log folder {root}: {exc.strerror}"
    if stat.S_ISLNK(info.st_mode):  # one _placed does not follow: of another user's
        return f"log folder {root} is a symbolic link of another user's"
    if not stat.S_ISDIR(info.st_mode):
        return f"log folder {root} is not a folder"
    problem = not_private(info, where=target)
    return f"log folder {root} {problem}" if problem else None


def remove_log(path: str) -> None:
    """Remove a log file, if there is one, through its checked folder (made private if
    missing; PermissionError, saying why, if it or its root is not a real folder private to
    this user): never through the path, which a link could send elsewhere."""
    directory, name = os.path.split(path)
    with _LOG_LOCK:
        folder = _log_dir_fd(directory)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=folder)


def remove_log_folder(directory: str) -> bool:
    """Remove a log folder if it is empty, through its checked root (never through the
    path, which a link could send elsewhere); whether it went. Its descriptor held here is
    closed; a worker that held one makes the folder again at its next log there."""
    root, name = os.path.split(directory)
    with _LOG_LOCK:
        for again in (False, True):
            root_fd = _LOG_ROOTS.get(root)
            if root_fd is None:
                if not os.path.isdir(root):
                    return False  # (a root is never made for this)
                try:
                    root_fd = open_private_dir(_placed(root), what="log folder", shown=root)
                except OSError:
                    return False
                _remember(_LOG_ROOTS, root, root_fd, _MAX_LOG_ROOTS)
            try:
                os.rmdir(name, dir_fd=root_fd)
                break
            except FileNotFoundError:
                if again:
                    return False
                _forget(_LOG_ROOTS, root)  # gone, or its root was removed since its check
            except OSError:
                return False  # not empty: a log made meanwhile, or another database's
        _forget(_LOG_DIRS, directory)
        _LOG_GROUPS.pop(directory, None)
    return True


def _log_dir_fd(directory: str) -> int:
    """The descriptor of a checked log folder (the caller holds _LOG_LOCK)."""
    known = _LOG_DIRS.get(directory)
    if known is not None:
        return known
    root, name = os.path.split(directory)
    for again in (False, True):
        root_fd = _LOG_ROOTS.get(root)
        if root_fd is None:
            root_fd = _open_root(root)
            _remember(_LOG_ROOTS, root, root_fd, _MAX_LOG_ROOTS)
        shared = _shared_group(root_fd)
        mode = 0o700 if shared is None else 0o2750
        try:
            fd = open_private_dir(
                name, dir_fd=root_fd, what="log folder", shown=directory, mode=mode
            )
            break
        except FileNotFoundError:
            if again:
                raise
            _forget(_LOG_ROOTS, root)  # the root was removed since its check: made again
    _remember(_LOG_DIRS, directory, fd, _MAX_LOG_DIRS)
    shared = _shared_group(fd)
    if shared is None:
        _LOG_GROUPS.pop(directory, None)
    else:
        _LOG_GROUPS[directory] = shared
    return fd


def _open_root(root: str) -> int:
    """The descriptor of a log root, checked (see open_private_dir), made if missing while
    its parent is there: FileNotFoundError, saying so, when it is not."""
    target = _placed(root)
    if not os.path.lexists(target):
        missing = _missing_parent(root, target)
        if missing is not None:
            raise FileNotFoundError(errno.ENOENT, missing)
    return open_private_dir(target, what="log folder", shown=root)


def _missing_parent(root: str, target: str) -> str | None:
    """Why a missing log root is not made: the folder it would be made in is missing too. A
    `log_dir` on a disk that is not mounted, or with a typo in it, made with all its
    parents, would fill the root file system unseen. The folders above a server's default
    log folder (`$XDG_STATE_HOME/jobctl/logs/`) are made; a database's `<db>.logs` is beside
    the database, whose folder is there."""
    parent = os.path.dirname(target)
    if not parent or os.path.lexists(parent):
        return None
    from pathlib import Path

    from jobctl.fsutil import xdg_base

    server_logs = Path(xdg_base("XDG_STATE_HOME", ".local/state")) / "jobctl" / "logs"
    if os.path.dirname(root) == str(server_logs):
        return None
    return (
        f"log folder {root} cannot be made: its parent {parent} does not exist (jobctl makes"
        " the log folder, never the folders above it)"
    )


def _shared_group(folder: int) -> int | None:
    """The group a log folder shares its logs with, or None for a private one: a folder
    its group may read and search, and set-group-ID, so that what is made in it is that
    group's (an admin's `chgrp adm DIR && chmod 2750 DIR`). Logs and folders made in it
    are then readable by that group too, never writable; one of another group stays
    private."""
    info = os.fstat(folder)
    if info.st_mode & stat.S_ISGID and info.st_mode & 0o050 == 0o050:
        return info.st_gid
    return None


def _placed(root: str) -> str:
    """Where a log root that is a symbolic link points, when the link is this user's or
    root's: an admin who keeps logs on another disk. A link of anyone else's is refused
    when opened (they could point the worker's output at their own folder). A link to
    nothing is FileNotFoundError: its disk may not be mounted."""
    try:
        info = os.lstat(root)
    except OSError:
        return root
    if stat.S_ISLNK(info.st_mode) and info.st_uid in (os.geteuid(), 0):
        target = os.path.realpath(root)
        if not os.path.lexists(target):
            # Made here, it would sit below a mount point and fill that disk instead.
            raise FileNotFoundError(
                errno.ENOENT,
                f"log folder {root} is a link to {target}, which does not exist (a disk that"
                " is not mounted?); a linked log folder is never made",
            )
        return target
    return root


def _remember(cache: dict[str, int], key: str, fd: int, limit: int) -> None:
    while len(cache) >= limit:
        os.close(cache.pop(next(iter(cache))))
    cache[key] = fd


def _forget(cache: dict[str, int], key: str) -> None:
    fd = cache.pop(key, None)
    if fd is not None:
        os.close(fd)


def log_exists(path: str) -> bool:
    """Whether anything (a link too) is at the log's name in its checked folder."""
    directory, name = os.path.split(path)
    with _LOG_LOCK:
        folder = _log_dir_fd(directory)
        try:
            os.lstat(name, dir_fd=folder)
        except FileNotFoundError:
            return False
    return True


def open_log(path: str, *, truncate: bool = False) -> int:
    """Open (or make, 0600) a log in its checked folder, never through a link. A file that
    is not a plain file of this user's with no other name (a hard link would have the
    attempt's output truncate and overwrite another file) is refused with PermissionError
    before anything is written to it."""
    directory, name = os.path.split(path)
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    with _LOG_LOCK:
        for again in (False, True):
            folder = _log_dir_fd(directory)
            try:
                fd = os.open(name, flags, 0o600, dir_fd=folder)
                break
            except FileNotFoundError:
                if again:
                    raise
                _forget(_LOG_DIRS, directory)  # the folder was removed since: made again
                _forget(_LOG_ROOTS, os.path.dirname(directory))
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise PermissionError(f"log file {path} is a symbolic link") from None
                raise
    try:
        info = os.fstat(fd)  # one per log made: its folder needs none
        problem = None
        if not stat.S_ISREG(info.st_mode):
            problem = "is not a plain file"
        elif info.st_nlink > 1:
            problem = f"has {info.st_nlink - 1} other hard link(s)"
        else:
            problem = not_private(info)
        if problem:
            raise PermissionError(f"log file {path} {problem}")
        # Readable by the folder's group when the folder is shared and the file is that
        # group's (see _shared_group); else private, whatever an earlier version made it.
        want = 0o640 if _LOG_GROUPS.get(directory) == info.st_gid else 0o600
        if stat.S_IMODE(info.st_mode) != want:
            os.fchmod(fd, want)
        if truncate:  # only now: a file refused above is never emptied
            os.ftruncate(fd, 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_all(fd: int, data: bytes) -> OSError | None:
    """Write all of `data`; the error that stopped it, if one did. A full disk must not kill
    the attempt: what did not fit is lost, and the attempt says so (executor's _lost_note)."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except OSError as exc:
            return exc
        view = view[written:]
    return None


def write_counted(fd: int, data: bytes) -> tuple[int, OSError | None]:
    """Write all of `data`: how much was written, and the error that stopped it, if one
    did (what did not fit is lost: see the executor's LOST line)."""
    view = memoryview(data)
    written = 0
    while written < len(data):
        try:
            written += os.write(fd, view[written:])
        except OSError as exc:
            return written, exc
    return written, None


def os_reason(exc: OSError) -> str:
    """An OSError as the end of a sentence: "No space left on device" reads "no space left
    on device"; a message of jobctl's own (with paths) is left as it is."""
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def trim_log(fd: int, keep: int, above: int, cut: tuple[int, int]) -> tuple[int, int]:
    """Cut the log to its last `keep` bytes once it is over `above`, at once (see LogCut,
    which does it a slice at a time); the new (bytes dropped, line length) pair."""
    return LogCut(fd, keep, above, cut).finish()


class LogCut:
    """A cut of the log to its last `keep` bytes once it is over `above`, dropping the head,
    done a slice at a time: each `step()` copies at most _SLICE bytes, and says whether the
    cut is done. A cut copies the kept bytes twice, and a worker's loop that did all of it at
    once (6.6 s for a 1 GiB log_max_bytes) renewed no lease meanwhile: the other jobs' leases
    ran out, and other workers took them and ran them again. The owner writes nothing to the
    log until `step()` says it is done (its job waits on its pipe meanwhile). Through the open
    descriptor, never the path, which someone could have swapped.

    A cut log starts with a line that says how many bytes of the job's output were dropped
    in all (TRIMMED): `logs --follow` reads from it where in the output the kept bytes
    start, so that it shows none twice. `cut` is (bytes dropped so far, length of that
    line), (0, 0) before the first cut; `result` is the new pair once done (the old one when
    there was nothing to cut, or the cut failed before it emptied the log)."""

    def __init__(self, fd: int, keep: int, above: int, cut: tuple[int, int]) -> None:
        self.result = cut
        self._fd = fd
        self._spare = -1  # the kept bytes, copied out before the log is emptied
        self._head = b""
        self._start = self._end = 0  # the kept bytes' offsets in the log
        self._copied = 0  # of them, copied out, then (once the log is emptied) back
        self._emptied = False
        dropped, line = cut
        self._dropped = dropped
        try:
            size = os.fstat(fd).st_size
            if size <= above:
                return
            start = max(size - keep, line)  # never the line of an earlier cut
            if start == line:
                return  # nothing to drop (a log cut to `keep` just before it ended)
            start += continuation_bytes(os.pread(fd, 3, start))
            self._head = TRIMMED % (dropped + start - line, os.fstat(fd).st_ino)
            self._dropped = dropped + start - line
            self._start, self._end = start, size
            # The kept bytes go through a file of their own: a worker that held them
            # (log_max_bytes of them, and a copy) grew by hundreds of megabytes.
            spare = _spare_file(fd)
        except OSError:
            return
        if spare is None:  # (no room for one): they are held in memory instead
            self._in_memory()
        else:
            self._spare = spare

    def step(self) -> bool:
        """Copy the next slice; whether the cut is done."""
        if self._spare < 0:
            return True
        try:
            if not self._emptied:
                upto = min(self._start + self._copied + _SLICE, self._end)
                at = self._copied
                if not _copy_range(self._fd, self._start + at, upto, self._spare, at):
                    raise OSError(errno.EIO, "short copy")
                self._copied = upto - self._start
                if upto < self._end:
                    return False
                self._emptied = True
                self._copied = 0
                os.ftruncate(self._fd, 0)
                if write_all(self._fd, self._head) is not None:  # O_APPEND: at the start
                    return self._close()
                return False
            length = self._end - self._start
            upto = min(self._copied + _SLICE, length)
            if not _copy_range(self._spare, self._copied, upto, self._fd, None):
                return self._close()  # a full disk: what did not fit is lost
            self._copied = upto
            return upto >= length and self._close()
        except OSError:
            if self._emptied:
                return self._close()
            os.close(self._spare)
            self._spare = -1
            self._in_memory()  # (no room for the copy: a full disk)
            return True

    def finish(self) -> tuple[int, int]:
        """Do what is left at once (the attempt is being closed); the new pair."""
        while not self.step():
            pass
        return self.result

    def _in_memory(self) -> None:
        try:
            tail = os.pread(self._fd, self._end - self._start, self._start)
            os.ftruncate(self._fd, 0)
            write_all(self._fd, self._head + tail)  # O_APPEND: at the start
        except OSError:
            return
        self.result = (self._dropped, len(self._head))

    def _close(self) -> bool:
        os.close(self._spare)
        self._spare = -1
        self.result = (self._dropped, len(self._head))
        return True


def continuation_bytes(head: bytes) -> int:
    """How many of `head`'s first bytes (3 at most) are UTF-8 continuation bytes: output cut
    just before them would start with half a character, so a cut moves past them. Binary
    output, with such bytes anywhere, loses no more than these 3."""
    count = 0
    for byte in head[:3]:
        if not 0x80 <= byte <= 0xBF:
            break
        count += 1
    return count


_CHUNK = 1 << 20
_SLICE = 8 << 20  # bytes a cut copies per step: some milliseconds


def _spare_file(fd: int) -> int | None:
    """An unnamed file (O_TMPFILE) in the log's own folder, private, gone when closed; None
    where there is none to be had (a full disk, a file system without O_TMPFILE)."""
    try:
        folder = os.path.dirname(os.readlink(f"/proc/self/fd/{fd}"))
        return os.open(folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except (OSError, AttributeError):
        return None


def _copy_range(src: int, start: int, end: int, dst: int, at: int | None) -> bool:
    """Copy bytes start..end of `src` to `dst`: from offset `at`, or appended (None).
    False when a write fell short (a full disk: what did not fit is lost)."""
    while start < end:
        chunk = os.pread(src, min(_CHUNK, end - start), start)
        if not chunk:
            break
        if at is None:
            if write_all(dst, chunk) is not None:
                return False
        else:
            view = memoryview(chunk)
            while view:
                written = os.pwrite(dst, view, at)
                view, at = view[written:], at + written
        start += len(chunk)
    return True


# The line that starts a cut log names the file it starts (by its inode): a job whose output
# starts with such a line of another log (`cat` of one, `jobctl logs` of another job) is not
# taken for cut, its first line hidden from `logs --follow`.
TRIMMED = b"[... %d bytes of earlier output dropped (log file %d) ...]\n"
# The line where output that could not be written is missing from a log (a full disk).
LOST = b"[... %d bytes of output lost (%s) ...]\n"
_TRIMMED = re.compile(
    rb"\[\.\.\. (\d{1,20}) bytes of earlier output dropped \(log file (\d{1,20})\) \.\.\.\]\n"
)


def kept_from(fd: int) -> tuple[int, int] | None:
    """Where a log's bytes start in the job's output, and at which offset of the file:
    (0, 0) for a log never cut; (bytes dropped, length of the TRIMMED line) for one cut.
    None for an empty file: the worker is between the two steps of a cut (or the log was
    just made)."""
    head = os.pread(fd, 128, 0)
    if not head:
        return None
    found = _TRIMMED.match(head)
    if found is None or int(found.group(2)) != os.fstat(fd).st_ino:
        return (0, 0)
    return int(found.group(1)), found.end()

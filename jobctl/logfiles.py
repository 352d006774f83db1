"""Where attempt output is kept: `<log_dir>/NNNNN/ID.RUN.log`, private to the user.

Paths are absolute, so `logs` and `dead show` find them from any working directory.
"""

from __future__ import annotations

import os
from collections.abc import Container
from pathlib import Path

from jobctl.config import Config


def log_dir(config: Config, store_location: str) -> Path:
    """`[settings] log_dir` (relative to the config file), else `<database>.logs/` (beside
    the file a link to the database leads to, so that every path to it shares one); for a
    server (redis://), `$XDG_STATE_HOME/jobctl/logs/<server>/` on the host that runs the job.

    The server's folder is named after its location as shown (`user:***@host:port/db
    ?namespace=NS`), every run of other characters than letters, digits, `.` and `-` made one
    `_`: `host_6379_0_namespace_prod`. Where that loses something that tells two locations
    apart (`prod` and `prod:`, `a/b` and `a b`, any two non-ASCII names, an IPv6 address), a
    digest of the exact location follows a `+`, which no plain name holds: their jobs share
    ids, and a new attempt empties the file it finds at its log's path."""
    if config.settings.log_dir:
        path = Path(config.settings.log_dir).expanduser()
        return (path if path.is_absolute() else config.base_dir / path).absolute()
    if "://" in store_location:
        import re

        where = store_location.split("://", 1)[1]
        name = re.sub(r"[^A-Za-z0-9.-]+", "_", where).strip("_")
        # Plain: every part made of kept characters, so that the name reads back as the
        # location (a host not all digits: `u:***@6379/0` would read as `u:6379/0`), and
        # short enough for a file name (a longer one never worked: it is shortened).
        word = r"[A-Za-z0-9.-]+"
        host = r"[A-Za-z0-9.-]*[A-Za-z.-][A-Za-z0-9.-]*"
        plain = rf"(?:(?:{word})?:\*\*\*@)?{host}(?::\d+)?/\d+(?:\?namespace={word})?"
        if not re.fullmatch(plain, where) or len(name) > 255:
            import zlib  # not hashlib: it loads OpenSSL, megabytes of a worker's memory

            data = where.encode("utf-8", "surrogateescape")
            name = f"{name[:100]}+{zlib.crc32(data):08x}{zlib.adler32(data):08x}"
        return (server_log_root() / name).absolute()
    return Path(os.path.realpath(Path(store_location).expanduser()) + ".logs")


def server_log_root() -> Path:
    """`$XDG_STATE_HOME/jobctl/logs/`, which holds this user's log folder of each server, one
    for each spelling of its location (`localhost` or `127.0.0.1`, a user name or none)."""
    from jobctl.fsutil import xdg_base

    return Path(xdg_base("XDG_STATE_HOME", ".local/state")) / "jobctl" / "logs"


def hook_log_path(directory: Path | str, job_id: int, run: int, event: str) -> str:
    """A notification hook's output: `<log_dir>/hooks/ID.RUN.EVENT.log`, named by run as
    an attempt's log is. Its attempt would not do: a dead retry counts attempts from 1
    again, and the second life's hook wrote over the first one's output."""
    return f"{directory}/hooks/{job_id}.{run}.{event}.log"


def log_folder_of(attempt_log: str) -> str:
    """The log folder an attempt's log is in (`<log_dir>/NNNNN/ID.RUN.log`), whose `hooks/`
    holds the logs of that attempt's hooks: where its worker put them, whatever log_dir the
    config of a reader (or none, with --db alone) names."""
    return os.path.dirname(os.path.dirname(attempt_log))


def hook_logs_of(directory: Path | str, job_ids: set[int]) -> list[str]:
    """The hook logs of these jobs (read from one listing of the hooks folder), whichever
    their names: `ID.RUN.EVENT.log`, or `ID.ATTEMPT.EVENT.log` as older versions named them."""
    folder = f"{directory}/hooks"
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [
        f"{folder}/{n}"
        for n in names
        if n.split(".", 1)[0].isdigit() and int(n.split(".", 1)[0]) in job_ids
    ]


def attempt_log_path(directory: Path | str, job_id: int, run: int) -> str:
    """A thousand jobs per folder keeps folders small at millions of jobs. A string: the
    worker names one per attempt, and pathlib would cost it more than the rest of it."""
    return f"{attempt_folder(directory, job_id)}/{job_id}.{run}.log"


def attempt_folder(directory: Path | str, job_id: int) -> str:
    """The folder of a job's attempt logs, which a prune removes once it is empty."""
    return f"{directory}/{job_id // 1000:05d}"


def attempt_of(path: str) -> tuple[int, int] | None:
    """The (job id, run) a path names when it has the shape of an attempt's log,
    `.../NNNNN/ID.RUN.log`; None otherwise."""
    folder, name = os.path.split(path)
    parts = name.split(".")
    if len(parts) != 3 or parts[2] != "log" or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    job_id, run = int(parts[0]), int(parts[1])
    if os.path.basename(folder) != f"{job_id // 1000:05d}" or name != f"{job_id}.{run}.log":
        return None  # (also refuses digits other than ASCII ones, and leading zeros)
    return job_id, run


def trusted(path: str, job_ids: Container[int], directory: Path | str | None, shared: bool) -> bool:
    """Whether a log path read from the store may be read or removed: one of these jobs'
    attempt logs by its shape, and, from a shared store (whose records whoever holds its
    password writes), below this host's log folder or another server folder of this user's
    (server_log_root): a worker given another spelling of the store's location wrote there.
    A path of any other shape was never written by a worker: acting on it would read or
    delete any file as the caller."""
    named = attempt_of(path)
    if named is None or named[0] not in job_ids:
        return False
    if not shared or directory is None:
        return True
    folder = log_folder_of(path)
    if folder == os.fspath(directory):
        return True
    from jobctl.errors import UsageError

    try:
        root = os.fspath(server_log_root().absolute())
    except UsageError:  # no home to hold one (a log_dir of the config's is all there is)
        return False
    parent, name = os.path.split(folder)
    return name not in ("", ".", "..") and parent == root


def locate(path: str, directory: Path | str | None) -> str:
    """An attempt's log where it is below `directory`, the folder this config names (the
    same `NNNNN/ID.RUN.log`), else as recorded at its start: a log folder moved or renamed
    since (a project folder moved, a disk changed) is read where it is now, and a copy of
    the database with its logs (a project folder copied) reads its own, not the
    original's."""
    if directory is None:
        return path
    folder, name = os.path.split(path)
    here = os.path.join(directory, os.path.basename(folder), name)
    return here if name.endswith(".log") and os.path.lexists(here) else path


def of_another_database(folder: str, database: str) -> bool:
    """Whether a log folder is the default one of another SQLite database than `database`
    (`<other>.logs`, beside an existing file `<other>`): a copy of a database (a backup, a
    project folder copied) records its jobs' logs where the original's workers wrote them,
    and its prune must leave the original's alone."""
    if not folder.endswith(".logs"):
        return False
    try:
        return not os.path.samefile(folder[: -len(".logs")], database)
    except OSError:
        return False  # no database there (moved, deleted): the logs are nobody else's


def open_log(path: str) -> int:
    """A descriptor of the log file at `path` for reading (OSError when it cannot be had).
    jobctl never makes a log that is a link, or a FIFO (which would block the open): one
    found there was planted, and is not read through."""
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)


def read_tail(path: str | None, limit: int) -> bytes | None:
    """The last `limit` bytes of a log file (an attempt's or a hook's); None when there is
    no path or no file to read."""
    if not path:
        return None
    try:
        fd = open_log(path)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        return os.pread(fd, limit, max(0, size - limit))
    except OSError:
        return None
    finally:
        os.close(fd)


def tail_from_line_start(path: str | None, limit: int) -> bytes:
    """At most the last `limit` bytes of a log file (b"" for none), from the first line that
    starts within them, as read_last_lines gives only whole lines: a tail cut mid-line (a
    shared store's copy) passed the end of a line for all of it. When they hold no line
    start (one line longer), they follow the line a log's own cut starts with (TRIMMED),
    from a UTF-8 character, so that the cut is said as a cut log file says it."""
    from jobctl.logfolders import TRIMMED, kept_from

    if not path:
        return b""
    try:
        fd = open_log(path)
    except OSError:
        return b""
    try:
        status = os.fstat(fd)
        start = max(0, status.st_size - limit - 1)  # a byte more: is the first one cut?
        data = os.pread(fd, limit + 1, start)
        dropped, head = kept_from(fd) or (0, 0)  # a log cut already: what it dropped too
    except OSError:
        return b""
    finally:
        os.close(fd)
    if len(data) <= limit:
        return data  # the whole file
    newline = data.find(b"\n", 0, len(data) - 1)  # (a last line's own newline starts none)
    if newline >= 0:
        return data[newline + 1 :]
    kept = data[1:]
    for _ in range(3):  # a cut inside a character moves past its last bytes
        if kept[:1] and kept[0] & 0xC0 == 0x80:
            kept = kept[1:]
    cut_at = start + len(data) - len(kept)
    return TRIMMED % (dropped + cut_at - head, status.st_ino) + kept

"""`jobctl health`: checks a monitor, a systemd ExecStartPre or a CI step can act on.

The database check reads a bounded sample of what the queue's work touches, not only the
counters: a damaged page there fails `health` (exit 3, as it fails `list` and `enqueue`)
in the same few milliseconds on a million jobs as on fifty. It is no integrity check of
the whole file: a damaged page elsewhere (old jobs in the middle of the table, the attempts
of those, an index entry no read here reaches) shows only when something reads it. It also
fails when the disk under a SQLite database has too little room left for a write, or is
mounted read-only, or its file (its -wal, its -shm) is not writable by this user: every
enqueue and claim then fails ("the disk is full", "mounted read-only", "the database is
read-only") while every read still works, and when another process holds its write lock
(a transaction left open): every write then waits 30 s and fails "database is locked". On
Redis it writes a scratch key, waiting at most 1 s: a server may refuse every write
(NOREPLICAS, MISCONF, a replica's READONLY) or hold it (CLIENT PAUSE WRITE, a stall) while
every read still works, and one busy running another client's script answers nothing. The
logs check does the same for the folder the jobs' output goes to, where a full disk loses
every job's output while the jobs still run, and fails for a hooks folder workers refuse,
found by them only when an alert is due.
The config check reads the config file as `validate` does: a running worker or cron daemon
that finds it broken keeps the config it had, and says so only in its log, while the next
start fails.
"""

from __future__ import annotations

import os
import socket
import stat
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from jobctl.durations import format_short
from jobctl.errors import ConfigError, StoreError
from jobctl.fsutil import not_private
from jobctl.models import FINAL_STATES, JobFilter, State
from jobctl.observe.serving import unserved_queues
from jobctl.store import Store

# Imported here, not when first checked: /healthz answers in a process that may be out of
# descriptors by then, and an import opens files.
from jobctl.store.sqlite.connection import SqliteBase
from jobctl.store.sqlite.diagnose import free_space, refuses_writes
from jobctl.store.sqlite.locks import write_lock_wait

if TYPE_CHECKING:
    from pathlib import Path

# Jobs read at each end of the jobs table: more than a default `jobctl list` shows (50), so a
# page that breaks `list` breaks `health` too; a fixed number, so the cost stays flat.
SAMPLE_JOBS = 100
# The room a SQLite database's writes need on its file system: the -wal grows by up to 1,000
# pages (4 MiB) between two automatic checkpoints, and a checkpoint grows the database file
# by as much. With less free, writes start failing in the next few thousand jobs, if not at
# the next one.
WRITE_ROOM = 4 << 20
# The room the jobs' output needs on the log folder's file system, in bytes and in files:
# with less, a job's output is lost ("output lost (no space left on device)") at its next
# write, and every job that starts makes a log file (and every thousandth job a folder).
LOG_ROOM = 1 << 20
LOG_FILES = 1000
# How long the database check waits for the write lock: longer than a worker's commit or a
# batch of a few thousand jobs holds it, far under the 30 s after which every write fails.
LOCK_WAIT = 1.0
LOCKED = "locked by another process"
# How long `health` waits for a Redis server, to connect and for each answer: a server
# stopped dead or paused (CLIENT PAUSE ALL) fails the check within seconds, where a
# command's 60 s outlasted a probe's own timeout, and a pause shorter than that then read as
# healthy once it was over. Its reads are a few counts, far under it on a live server.
ANSWER_WAIT = 5.0
# What a Redis server's failed write probe (bounded by LOCK_WAIT too) is said to be.
REFUSED = "the server takes no write"


@dataclass(frozen=True)
class Limits:
    max_ready: int | None = None
    max_age: float | None = None
    max_dead: int | None = None
    require_worker: bool = False
    require_scheduler: bool = False
    # The queues --max-ready, --max-age, --max-dead and --require-worker's per-queue check
    # look at; empty for every queue.
    queues: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    value: float | int | None
    limit: float | int | None
    message: str
    # Not made here, and said so: a Redis store's logs check on a host running no worker.
    skipped: bool = False


def check(
    store: Store,
    limits: Limits,
    now: float,
    *,
    log_folder: Path | None = None,
    config: Check | None = None,
) -> list[Check]:
    """Every check asked for, passing or not; the database being readable is always one,
    and the log folder's room and the config file's check follow when given."""
    # A Redis server's write probe first: one that takes no write in time (paused, stalled)
    # holds the reads' scripts as long, and its check is then the one to make.
    probed = None if isinstance(store, SqliteBase) else database_check(store)
    try:
        if probed is not None and probed.value is not None:
            return _only_database(probed, log_folder, config)
        queues = store.queue_counts(now)  # the counters, and the ready and due indexes
        read_sample(store, now)
    except StoreError as exc:
        if not _busy(store, exc):
            raise
        # Sound, but answering nothing until another client's script ends: a failed check.
        busy = Check("database", False, None, None, f"database {exc}")
        return _only_database(busy, log_folder, config)
    database = probed or database_check(store)
    checks = [database]
    for loss in store.losses():  # a server that deletes jobs by itself is no healthy queue
        checks.append(Check("store", False, None, None, loss))
    chosen = [q for q in queues if not limits.queues or q.queue in limits.queues]
    # A queue paused on purpose is no outage: its jobs wait as asked.
    taking = [q for q in chosen if not q.paused]
    held = sum(q.ready for q in chosen if q.paused)
    held_in = sum(1 for q in chosen if q.paused and q.ready)
    left_out = (
        f"; {held} ready in {held_in} paused queue{'' if held_in == 1 else 's'} left out"
        if held
        else ""
    )
    if limits.max_ready is not None:
        ready = sum(q.ready for q in taking)
        checks.append(
            Check(
                "max_ready",
                ready <= limits.max_ready,
                ready,
                limits.max_ready,
                f"{ready} jobs ready to run (limit {limits.max_ready}{left_out})",
            )
        )
    if limits.max_age is not None:
        oldest = [q.oldest_ready_at for q in taking if q.oldest_ready_at is not None]
        age = max(0.0, now - min(oldest)) if oldest else 0.0
        checks.append(
            Check(
                "max_age",
                age <= limits.max_age,
                round(age, 3),
                limits.max_age,
                f"oldest ready job waited {format_short(age)}"
                f" (limit {format_short(limits.max_age)}{left_out})",
            )
        )
    if limits.max_dead is not None:
        dead = sum(q.counts.get(State.DEAD, 0) for q in chosen)
        checks.append(
            Check(
                "max_dead",
                dead <= limits.max_dead,
                dead,
                limits.max_dead,
                f"{dead} dead jobs (limit {limits.max_dead})",
            )
        )
    if limits.require_worker or limits.require_scheduler:
        live = [w for w in store.workers() if w.alive(now)]
        for kind, wanted in (
            ("worker", limits.require_worker),
            ("scheduler", limits.require_scheduler),
        ):
            if not wanted:
                continue
            # A worker draining after a stop signal takes no job: it is not one required.
            n = sum(1 for w in live if w.kind == kind and w.stopping_until is None)
            draining = sum(1 for w in live if w.kind == kind and w.stopping_until is not None)
            what = "worker" if kind == "worker" else "cron daemon"
            also = f"; {draining} stopping" if draining else ""
            if n == 0 and not database.ok and LOCKED in database.message:
                also += "; the database is locked: no heartbeat can be written"
            elif n == 0 and not database.ok and REFUSED in database.message:
                also += "; the server takes no write: no heartbeat can be written"
            # Live workers that serve other queues than those holding ready jobs run none.
            unserved = {}
            if kind == "worker" and n > 0:
                unserved = unserved_queues(live, [q.queue for q in taking if q.ready])
            ready_in = {q.queue: q.ready for q in taking}
            said = "".join(
                f"; {why} ({ready_in[queue]} ready job{'' if ready_in[queue] == 1 else 's'})"
                for queue, why in unserved.items()
            )
            checks.append(
                Check(
                    f"require_{kind}",
                    n > 0 and not unserved,
                    n,
                    1,
                    f"{n} live {what}{'' if n == 1 else 's'} (heartbeat within three"
                    f" intervals{also}){said}",
                )
            )
    # Last, so that the checks before them keep their places in --json.
    if log_folder is not None:
        skipped = _logs_elsewhere(store, log_folder)
        checks.append(logs_check(log_folder) if skipped is None else skipped)
    if config is not None:
        checks.append(config)
    return checks


def database_check(store: Store) -> Check:
    """Readable (read_sample has read it), writable by this user, on a file system mounted
    for writing, with its write lock free to take within LOCK_WAIT, and with room to write
    on its disk: the value is the bytes free there, for a SQLite file (the seconds waited,
    for a lock not had)."""
    readable = f"database {store.location} is readable"
    if isinstance(store, SqliteBase):
        mounted_read_only = _read_only_mount(store.path)
        if mounted_read_only is not None:
            return Check(
                "database",
                False,
                None,
                None,
                f"database {store.location}: the file system holding {mounted_read_only}"
                " is mounted read-only",
            )
        if refuses_writes(store.path):  # read-only after a disk error, its mount flag unset
            return Check(
                "database",
                False,
                None,
                None,
                f"database {store.location}: the file system holding {store.path.parent} is"
                " read-only (a disk error? see dmesg)",
            )
        stuck = _not_writable(store.path)
        if stuck is not None:
            return Check(
                "database",
                False,
                None,
                None,
                f"database {store.location}: the database is read-only: {stuck} by this user"
                " (enqueues, claims and heartbeats fail)",
            )
        waited = write_lock_wait(store, LOCK_WAIT)
        if waited is not None:
            # The wait as asked, not as a loaded machine's scheduler stretched it (1.1s).
            shown = LOCK_WAIT if waited >= LOCK_WAIT else int(waited * 10) / 10
            return Check(
                "database",
                False,
                round(waited, 3),
                LOCK_WAIT,
                f"database {store.location}: {LOCKED}: a write waited {shown:.1f}s for its"
                " lock (enqueues, claims and heartbeats wait 30s, then fail)",
            )
    else:
        began = time.monotonic()
        refusal = _write_refusal(store)
        if refusal is not None:
            waited = time.monotonic() - began
            return Check(
                "database",
                False,
                round(waited, 3) if waited >= LOCK_WAIT else None,  # as a lock not had
                LOCK_WAIT,
                f"database {store.location}: {REFUSED}: {refusal} (enqueues, claims and"
                " heartbeats fail)",
            )
    free = free_space(store.path) if isinstance(store, SqliteBase) else None
    if free is None:
        return Check("database", True, None, None, readable)
    if free < WRITE_ROOM:
        return Check(
            "database",
            False,
            free,
            WRITE_ROOM,
            f"database {store.location}: the disk is full ({free:,} bytes free on its file"
            f" system, under the {WRITE_ROOM >> 20} MiB a write may need)",
        )
    return Check("database", True, free, WRITE_ROOM, readable)


def _only_database(database: Check, log_folder: Path | None, config: Check | None) -> list[Check]:
    """The checks of a server that cannot be read now: the database's, the log folder's and
    the config's (the others need the reads)."""
    checks = [database]
    if log_folder is not None:
        checks.append(logs_check(log_folder))
    if config is not None:
        checks.append(config)
    return checks


def _write_refusal(store: Store) -> str | None:
    """Why a store kept by a server (Redis) takes no write within LOCK_WAIT, or None."""
    probe = getattr(store, "write_refusal", None)
    return None if probe is None else cast("str | None", probe(LOCK_WAIT))


def _busy(store: Store, exc: StoreError) -> bool:
    """Whether a Redis server answered BUSY: running another client's long script. (Its
    module is loaded already: the store is one of its classes.)"""
    if isinstance(store, SqliteBase):
        return False
    from jobctl.store.redis.base import ServerBusy

    return isinstance(exc, ServerBusy)


def _read_only_mount(path: Path) -> Path | None:
    """The folder of the database (where its -wal and -shm are made) or the file itself, when
    either is on a read-only mount (a snapshot, a disk remounted read-only after errors):
    the folder named as a write's error names it."""
    for where, named in ((path.parent, path.parent), (path, path.parent)):
        try:
            if os.statvfs(where).f_flag & os.ST_RDONLY:
                return named
        except OSError:
            continue
    return None


def _not_writable(path: Path) -> str | None:
    """Which of the database file, its -wal and its -shm (those that exist) this user cannot
    write, as "q.db is not writable", or None. SQLite opens such a database read-only without
    a word, and its write lock is still taken (BEGIN IMMEDIATE writes nothing), so only its
    first write fails: a 0400 file restored by `cp -p`, or a -wal an earlier reader left."""
    real = os.path.realpath(path)  # SQLite makes the -wal and -shm beside the link's target
    stuck = [
        os.path.basename(name)
        for name in (real, f"{real}-wal", f"{real}-shm")
        if os.path.lexists(name) and not os.access(name, os.W_OK)
    ]
    if not stuck:
        return None
    verb = "are" if len(stuck) > 1 else "is"
    return f"{' and '.join(stuck)} {verb} not writable"


def logs_check(folder: Path) -> Check:
    """The log folder (or, until a worker makes it, the nearest folder above it) writable,
    on a file system mounted for writing, with LOG_ROOM bytes and LOG_FILES files free for
    this user: the value is the bytes free, or the files free when those run short."""
    hooks_refused = _hooks_folder_refused(folder / "hooks")
    if hooks_refused is not None:
        return Check("logs", False, None, None, hooks_refused)
    existing = folder
    while not existing.is_dir() and existing != existing.parent:
        existing = existing.parent
    try:
        info = os.statvfs(existing)
    except OSError as exc:
        return Check("logs", False, None, None, f"log folder {folder}: {exc.strerror}")
    if info.f_flag & os.ST_RDONLY:
        return Check(
            "logs",
            False,
            None,
            None,
            f"log folder {folder}: the file system holding {existing} is mounted read-only"
            " (every job's output is lost)",
        )
    if refuses_writes(existing / "health"):  # read-only after a disk error, no flag set
        return Check(
            "logs",
            False,
            None,
            None,
            f"log folder {folder}: the file system holding {existing} is read-only (a disk"
            " error? see dmesg; every job's output is lost)",
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        return Check(
            "logs",
            False,
            None,
            None,
            f"log folder {folder}: {existing} is not writable by this user (every job's"
            " output is lost)",
        )
    root = os.geteuid() == 0
    free = (info.f_bfree if root else info.f_bavail) * info.f_frsize
    if free < LOG_ROOM:
        return Check(
            "logs",
            False,
            free,
            LOG_ROOM,
            f"log folder {folder}: the disk is full ({free:,} bytes free on its file system,"
            f" under the {LOG_ROOM >> 20} MiB the jobs' output needs)",
        )
    files = info.f_ffree if root else info.f_favail
    if info.f_files and files < LOG_FILES:  # f_files 0: a file system without a file count
        return Check(
            "logs",
            False,
            files,
            LOG_FILES,
            f"log folder {folder}: its file system is out of inodes ({files:,} files free,"
            f" under the {LOG_FILES:,} the jobs' logs need)",
        )
    return Check("logs", True, free, LOG_ROOM, f"log folder {folder} is writable")


def _logs_elsewhere(store: Store, folder: Path) -> Check | None:
    """The logs check, skipped, for a store shared by hosts (Redis) of which no worker runs
    on this one: each worker writes its jobs' output on its own host, and a monitoring host
    or a probe's container with a read-only root failed every `health` for a folder that no
    job writes to. None: the check is to be made here."""
    if not store.shared:
        return None
    host = socket.gethostname()
    if any(w.host == host and w.kind == "worker" for w in store.workers()):
        return None
    return Check(
        "logs",
        True,
        None,
        None,
        f"no worker of this host ({host}) is registered in {store.location}; each"
        f" worker's jobs write their output on its own host (here: {folder})",
        skipped=True,
    )


def _hooks_folder_refused(hooks: Path) -> str | None:
    """Why workers refuse the hooks folder, as they refuse a log folder (a link, not a
    folder, another user's, or writable by group or others, by its mode or an ACL), found
    only when an alert was due: each hook then runs with its output lost. None when it is
    fine or not made yet."""
    try:
        info = os.lstat(hooks)
    except OSError:
        return None
    if stat.S_ISLNK(info.st_mode):
        problem, fix = "is a symbolic link", "a real folder there"
    elif not stat.S_ISDIR(info.st_mode):
        problem, fix = "is not a folder", "a real folder there"
    else:
        # By the rule workers open it with: writable by the owner's own private group
        # passes, a POSIX ACL that lets another user write does not.
        found = not_private(info, where=str(hooks))
        if found is None:
            return None
        mine = info.st_uid == os.geteuid()
        problem, fix = found, f"chmod go-w {hooks}" if mine else "a folder of your own there"
    return f"hooks folder {hooks} {problem}: workers keep no hook's output ({fix})"


def config_check(path: Path) -> Check:
    """The config file read and checked as `validate` and every start read it. Running
    workers and cron daemons that find it broken keep the one they loaded and log it, so
    nothing else shows that the next start (a reboot's) will fail."""
    from jobctl.config import check_schedules, load_config_file

    try:
        # As a reload reads it: a file caught half saved is read again once written.
        check_schedules(load_config_file(path, settle=True))
    except ConfigError as exc:
        return Check(
            "config",
            False,
            None,
            None,
            f"{exc} (running workers and cron daemons keep the config they loaded; the next"
            " start fails)",
        )
    return Check("config", True, None, None, f"config {path} is valid")


def read_sample(store: Store, now: float) -> None:
    """Read, a bounded amount of each, the data work depends on: the newest jobs (where
    `list` reads and enqueue writes) and the oldest (next in line for claims and pruning),
    the newest job's attempts, the newest finished job of each final state (the index
    `dead list` and prune use), the next delayed job (the index workers promote from), this
    hour's statistics and the histograms (written by every enqueue and attempt), the
    workers and the paused schedules. The statistics are read a few rows at each end:
    read whole, they grow as queues x job types, and 950,000 such pairs took 6.7 s.

    A damaged page among them raises the store's error. A row whose bytes were damaged but
    still form a valid page decodes to nonsense instead (a state that is none, a payload
    that is no JSON): that is the same corruption, reported the same way."""
    try:
        newest = store.list_jobs(JobFilter(limit=SAMPLE_JOBS, newest_first=True))
        store.list_jobs(JobFilter(limit=SAMPLE_JOBS, newest_first=False))
        if newest:
            store.attempts(newest[0].id)
        for state in FINAL_STATES:
            store.finished_jobs([state], limit=1)
        store.next_due(None)
        store.sample_statistics(now, SAMPLE_JOBS)
        store.workers()
        store.paused_schedules()
    except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        raise StoreError(
            f"database {store.location}: the database file is corrupt (a stored row cannot be"
            f" read: {type(exc).__name__})"
        ) from None

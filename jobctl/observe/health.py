"""`jobctl health`: checks a monitor, a systemd ExecStartPre or a CI step can act on.

The database check reads a bounded sample of what the queue's work touches, not only the
counters: a damaged page there fails `health` (exit 3, as it fails `list` and `enqueue`)
in the same few milliseconds on a million jobs as on fifty. It is no integrity check of
the whole file: a damaged page elsewhere (old jobs in the middle of the table, the attempts
of those, an index entry no read here reaches) shows only when something reads it. It also
fails when the disk under a SQLite database has too little room left for a write, or is
mounted read-only: every enqueue and claim then fails ("the disk is full", "mounted
read-only") while every read still works.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobctl.durations import format_short
from jobctl.errors import StoreError
from jobctl.models import FINAL_STATES, JobFilter, State
from jobctl.store import Store

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


@dataclass(frozen=True)
class Limits:
    max_ready: int | None = None
    max_age: float | None = None
    max_dead: int | None = None
    require_worker: bool = False
    require_scheduler: bool = False


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    value: float | int | None
    limit: float | int | None
    message: str


def check(store: Store, limits: Limits, now: float) -> list[Check]:
    """Every check asked for, passing or not; the database being readable is always one."""
    queues = store.queue_counts(now)  # the counters, and the ready and due indexes
    read_sample(store, now)
    checks = [database_check(store)]
    for loss in store.losses():  # a server that deletes jobs by itself is no healthy queue
        checks.append(Check("store", False, None, None, loss))
    ready = sum(q.ready for q in queues)
    if limits.max_ready is not None:
        checks.append(
            Check(
                "max_ready",
                ready <= limits.max_ready,
                ready,
                limits.max_ready,
                f"{ready} jobs ready to run (limit {limits.max_ready})",
            )
        )
    if limits.max_age is not None:
        oldest = [q.oldest_ready_at for q in queues if q.oldest_ready_at is not None]
        age = max(0.0, now - min(oldest)) if oldest else 0.0
        checks.append(
            Check(
                "max_age",
                age <= limits.max_age,
                round(age, 3),
                limits.max_age,
                f"oldest ready job waited {format_short(age)}"
                f" (limit {format_short(limits.max_age)})",
            )
        )
    if limits.max_dead is not None:
        dead = sum(q.counts.get(State.DEAD, 0) for q in queues)
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
            n = sum(1 for w in live if w.kind == kind)
            what = "worker" if kind == "worker" else "cron daemon"
            checks.append(
                Check(
                    f"require_{kind}",
                    n > 0,
                    n,
                    1,
                    f"{n} live {what}{'' if n == 1 else 's'} (heartbeat within three intervals)",
                )
            )
    return checks


def database_check(store: Store) -> Check:
    """Readable (read_sample has read it), on a file system mounted for writing, and with
    room to write on its disk: the value is the bytes free there, for a SQLite file."""
    from jobctl.store.sqlite.connection import SqliteBase, free_space

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

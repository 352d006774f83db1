"""Deleting finished jobs and their logs: `jobctl prune`, `jobctl dead purge`, and the
workers' own pruning under `[settings] keep_succeeded` / `keep_dead` / `keep_cancelled`
(which forgets cron fire records as old as the longest of them, too).

The store deletes rows; this module decides what to delete and removes the log files, which
live outside any store, and the log folders a prune empties. Each batch is its own
transaction, and a prune rests between batches (a worker's between slices of its loop), so
that a large prune never holds the write lock long enough to stall workers.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from jobctl.batches import BATCH, run_batches
from jobctl.clock import Clock
from jobctl.config import Config, shared_store
from jobctl.errors import StoreError, StoreFull
from jobctl.logfiles import (
    attempt_folder,
    attempt_of,
    hook_logs_of,
    locate,
    log_folder_of,
    of_another_database,
    trusted,
)
from jobctl.logfolders import remove_log_folder
from jobctl.models import JobFilter, State
from jobctl.store import Store

AUTO_PRUNE_EVERY = 60.0  # seconds between the starts of a worker's own prunes
# A worker's own prune deletes for about SLICE seconds at a turn of its loop, then leaves
# it SLICE_REST seconds to its jobs (leases, timeouts, signals, claims): done in one go,
# the first prune of a long history froze it for minutes, and other workers took its
# running jobs for lost.
SLICE = 0.1
SLICE_REST = 0.3
# Hourly counts kept by the hour, for `stats --since`: older ones are summed into one total
# (see Store.compact_counts), once an hour, by any worker and by `jobctl prune`.
COUNTS_BY_THE_HOUR = 35 * 86400.0
COMPACT_EVERY = 3600.0
# A worker's retention follows its wall clock ahead of the time that passed (a clock set
# right after a boot that had it behind) only once it has held there this long: a clock set
# a month ahead for a few seconds deleted every job kept for less than a month.
TRUST_STEP_AFTER = 3600.0
STEP_SLACK = 1.0  # what a wall clock may gain on the boot clock and still be the same step
_PROBE = 100  # ids looked up at once for a job left in a log folder's range


@dataclass(frozen=True)
class Pruned:
    """What a prune deleted: the jobs, and how many of their log files were removed.
    `logs_kept`: log files of deleted jobs that could not be removed (a read-only or busy
    folder), why in `kept_because`: no later prune finds them again, so they are said.
    `stopped`: the store error that ended a prune after it had deleted `ids` already."""

    ids: list[int]
    logs_removed: int
    logs_kept: int = 0
    kept_because: str | None = None
    stopped: StoreError | None = None


class _Sweep:
    """One prune's targets, deleted a batch at a time, which a worker spreads over turns."""

    def __init__(
        self,
        store: Store,
        states: Sequence[State],
        *,
        ids: Sequence[int] | None,
        finished_before: float | None,
        job: str | None,
        log_dir: str | None,
    ) -> None:
        self.states = list(states)
        self.finished_before = finished_before
        self.job = job
        self.log_dir = log_dir
        self.targets = store.finished_ids(states, ids=ids, finished_before=finished_before, job=job)
        self._next = 0
        # From a batch's commit until its log files are removed: no interrupt may come
        # between the two (see jobctl.batches).
        self.committed = False
        # Log folders are removed only where every id of theirs was handed out already
        # (the newest folder is where the next jobs' logs go): below this one.
        self._allocated = max(self.targets, default=0)
        if self.targets and log_dir is not None:
            newest = store.list_jobs(JobFilter(limit=1))
            self._allocated = max([self._allocated, *(j.id for j in newest)])

    @property
    def done(self) -> bool:
        return self._next >= len(self.targets)

    def step(self, store: Store, batch: int, *, recheck: bool) -> Pruned:
        """Delete the next batch, under the lock of _alone. `recheck`: the lock was let go
        since the targets were read, and the jobs another prune deleted meanwhile, gone
        afterwards too, are not this one's to count: they are looked up first."""
        chunk = self.targets[self._next : self._next + batch]
        self._next += len(chunk)
        if recheck:
            there = store.get_many(chunk)
            chunk = [i for i in chunk if i in there]
        return self._delete(store, chunk) if chunk else Pruned(ids=[], logs_removed=0)

    def _delete(self, store: Store, chunk: list[int]) -> Pruned:
        states, before, job, log_dir = self.states, self.finished_before, self.job, self.log_dir
        removed = 0
        try:
            paths = store.delete_jobs(states=states, ids=chunk, finished_before=before, job=job)
        except StoreFull:
            # A full disk (the logs beside the database fill it): the delete cannot be
            # written, but the logs of the jobs it was to delete can go first, and free it.
            freed = _remove_logs_first(store, chunk, states, before, log_dir)
            if not freed:
                raise
            removed += freed
            paths = store.delete_jobs(states=states, ids=chunk, finished_before=before, job=job)
        self.committed = True
        try:
            return self._remove_logs(store, chunk, paths, removed)
        finally:
            self.committed = False

    def _remove_logs(
        self, store: Store, chunk: list[int], paths: list[str], removed: int
    ) -> Pruned:
        """Remove the log files of the jobs of `chunk` a delete just committed (`paths`:
        those it recorded), and the log folders it emptied."""
        log_dir = self.log_dir
        # A member of the chunk that is gone is one this call deleted: ids are never
        # reused, and no other prune deletes meanwhile (a job that left the states, e.g. by
        # dead retry, is still there).
        survivors = store.get_many(chunk)
        gone = [i for i in chunk if i not in survivors]
        found = _own_logs(store, [locate(p, log_dir) for p in paths])
        paths = [p for p in found if trusted(p, set(gone), log_dir, shared_store(store.location))]
        refused = _refused(found, paths, set(gone))
        log_folders = {log_folder_of(p) for p in paths}
        if gone:
            paths = [*paths, *_hook_logs(log_dir, paths, set(gone))]
        unlinked = _unlink_all(paths)
        if log_dir is not None:
            self._remove_emptied_folders(store, [log_dir, *sorted(log_folders - {log_dir})], gone)
        because = unlinked.kept_because
        if refused and because is None:
            because = (
                f"{refused[0]} is outside this host's log folders, where a path a shared"
                " store recorded is not removed"
            )
        return Pruned(
            ids=gone,
            logs_removed=removed + unlinked.logs_removed,
            logs_kept=unlinked.logs_kept + len(refused),
            kept_because=because,
        )

    def _remove_emptied_folders(self, store: Store, log_dirs: list[str], gone: list[int]) -> None:
        """Remove the log folders of these jobs that hold no file and whose whole range of a
        thousand ids is gone from the store: no job will ever write there again, so no
        worker is about to make a log in one (a folder of a job queued or running stays,
        however empty). One removed all the same is made again by the next log in it.
        `log_dirs`: this prune's, and those its jobs' logs were found in (written by a
        worker given another spelling of the store's location)."""
        for first in sorted({i - i % 1000 for i in gone}):
            last = first + 999
            if last > self._allocated:
                continue
            folders = [attempt_folder(d, first) for d in log_dirs]
            folders = [f for f in folders if _empty(f)]
            if not folders:
                continue
            if any(
                store.get_many(range(start, min(start + _PROBE, last + 1)))
                for start in range(first, last + 1, _PROBE)
            ):
                continue
            for folder in folders:
                remove_log_folder(folder)


@contextlib.contextmanager
def _alone(log_dir: str | None, *, wait: bool) -> Iterator[bool]:
    """Whether this process may delete now: a lock on the log folder, which every prune,
    purge and worker retention of that folder takes (`prune` for its run, a worker for a
    batch), so that no two delete at once, and each counts only the jobs it deleted (two
    workers pruning together each reported every job). `wait` False: False at once when
    another holds it. Without a log folder yet, or where its file system refuses locks,
    none is taken."""
    if log_dir is None:
        yield True
        return
    try:
        fd = os.open(log_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        except OSError:
            pass  # (an NFS mount may refuse a lock through a folder)
        yield True
    finally:
        os.close(fd)


def _empty(folder: str) -> bool:
    """Whether a folder is there, and empty (False when it cannot be read)."""
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except OSError:
        return False


def prune(
    store: Store,
    states: Sequence[State],
    *,
    ids: Sequence[int] | None = None,
    finished_before: float | None = None,
    job: str | None = None,
    batch: int = BATCH,
    log_dir: str | None = None,
) -> Pruned:
    """Delete the finished jobs asked for, with their attempt logs and their notification
    hooks' logs, and with `log_dir` the log folders emptied; resting after each batch
    (see jobctl.batches). A store error in a batch after others deleted jobs (a full disk)
    ends it with what it deleted so far and that error in `stopped`: raised, those jobs
    would go unreported."""
    deleted: list[int] = []
    removed = kept = 0
    because: str | None = None
    # Held throughout (the workers' retention pauses meanwhile): the targets it reads stay
    # its own to delete.
    with _alone(log_dir, wait=True):
        sweep = _Sweep(
            store, states, ids=ids, finished_before=finished_before, job=job, log_dir=log_dir
        )
        stopped: StoreError | None = None

        def step() -> bool:
            nonlocal removed, kept, because, stopped
            try:
                pruned = sweep.step(store, batch, recheck=False)
            except StoreError as exc:
                if not deleted:
                    raise
                stopped = exc
                return False
            deleted.extend(pruned.ids)
            removed += pruned.logs_removed
            kept += pruned.logs_kept
            because = because or pruned.kept_because
            return not sweep.done

        if not sweep.done:
            run_batches(
                store,
                step,
                doing="deleting",
                done="deleted",
                changed=lambda: len(deleted),
                # A batch that committed its rows removes its log files before it ends.
                wait_may_end=lambda: not sweep.committed,
            )
    return Pruned(deleted, removed, kept, because, stopped=stopped)


def end_of_prune(pruned: Pruned) -> None:
    """End `prune` or `dead purge` once its document is printed: a prune a store error
    stopped says how many jobs it deleted first and exits with that error (3), and log
    files that could not be removed are an error (1), their jobs' records gone for good."""
    from jobctl.errors import OperationFailed
    from jobctl.text import say

    if pruned.stopped is not None:
        when = "the disk filled" if isinstance(pruned.stopped, StoreFull) else "the store failed"
        say(f"jobctl: deleted {len(pruned.ids)} job(s) before {when}")
    if pruned.logs_kept:
        line = (
            f"could not remove {pruned.logs_kept} log file(s) of the jobs deleted"
            f" ({pruned.kept_because})"
        )
        if pruned.stopped is None:
            raise OperationFailed(line)
        say(f"jobctl: {line}")
    if pruned.stopped is not None:
        raise pruned.stopped


def _remove_logs_first(
    store: Store,
    job_ids: Sequence[int],
    states: Sequence[State],
    finished_before: float | None,
    log_dir: str | None,
) -> int:
    """Remove the log files of the jobs to delete before their rows: of those still in
    `states` and ended before `finished_before` (one retried since keeps its logs); how many
    were removed."""
    jobs = store.get_many(job_ids).values()
    doomed = {
        j.id
        for j in jobs
        if j.state in states
        and j.worker is None  # (a cancelled job still stopping writes its log yet)
        and (
            finished_before is None
            or (j.finished_at is not None and j.finished_at < finished_before)
        )
    }
    shared = shared_store(store.location)
    recorded = [a.log_path for i in sorted(doomed) for a in store.attempts(i) if a.log_path]
    paths = _own_logs(store, [locate(p, log_dir) for p in recorded])
    paths = [p for p in paths if trusted(p, doomed, log_dir, shared)]
    paths += _hook_logs(log_dir, paths, doomed)
    # (One that cannot go now is tried again, and counted, when its job's row is deleted.)
    return _unlink_all(paths).logs_removed


def _own_logs(store: Store, paths: list[str]) -> list[str]:
    """The logs among `paths` that are this database's: a copy of one (a backup looked
    into, a project folder copied) records the logs of the original's workers, beside the
    original, which a prune of the copy removed from under it."""
    if shared_store(store.location):
        return paths  # (trusted() keeps a shared store's to this host's folders)
    return [p for p in paths if not of_another_database(log_folder_of(p), store.location)]


def _refused(found: Sequence[str], allowed: Sequence[str], job_ids: set[int]) -> list[str]:
    """The logs of these jobs, by their shape, that are on this host but that `trusted`
    keeps a prune from removing (recorded by a worker whose log folder is not this host's,
    as a shared store's records say): kept, and counted so, not dropped in silence."""
    refused = []
    trusted_paths = set(allowed)
    for path in found:
        named = attempt_of(path)
        if path in trusted_paths or named is None or named[0] not in job_ids:
            continue
        if os.path.lexists(path):
            refused.append(path)
    return refused


def _hook_logs(log_dir: str | None, attempt_logs: Sequence[str], job_ids: set[int]) -> list[str]:
    """The hook logs of these jobs, in the hooks folder beside each folder their attempt
    logs are in, as recorded, and in `log_dir`'s: a prune with --db alone, or with another
    log_dir, removes them where their worker put them (one listing a folder, not a stat a
    job). A job whose attempts all wrote nothing recorded no folder: only `log_dir` is seen."""
    folders = {log_folder_of(p) for p in attempt_logs}
    if log_dir is not None:
        folders.add(log_dir)
    return [path for folder in sorted(folders) for path in hook_logs_of(folder, job_ids)]


def _unlink_all(paths: Sequence[str]) -> Pruned:
    """Remove these log files: how many went, and how many could not, with why (one
    already gone is neither)."""
    removed = kept = 0
    because: str | None = None
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            kept += 1
            because = because or os.strerror(exc.errno or errno.EIO).lower()
            continue
        removed += 1
    return Pruned(ids=[], logs_removed=removed, logs_kept=kept, kept_because=because)


def remove_logs_at_rest(
    location: str, states: Sequence[State], finished_before: float, config: Config
) -> int:
    """The logs of the jobs a prune is to delete, removed through a read of the database as
    it is on disk: on a full disk with no process holding it open, no read can otherwise
    start. How many went (0 where that read cannot be had)."""
    from jobctl.logfiles import log_dir
    from jobctl.store import open_store

    try:
        with open_store(location, create=False, at_rest=True) as store:
            targets = store.finished_ids(states, finished_before=finished_before)
            logs = str(log_dir(config, store.location))
            return _remove_logs_first(store, targets, states, finished_before, logs)
    except StoreError:
        return 0


class RetentionClock:
    """The time a worker's retention prunes by: its wall clock, but never further ahead than
    the time that really passed (the boot clock, a suspend included) since the worker
    started, until a step ahead has held for TRUST_STEP_AFTER. A step back is followed at
    once: it prunes less, never more. `last_written`: when a worker last ended a job (a
    time only a worker writes, never a producer under the same wrong clock); a clock more
    than TRUST_STEP_AFTER ahead of it at the start (a host that booted with its clock ahead,
    or a queue idle since) is such a step too."""

    def __init__(self, clock: Clock, last_written: float | None = None) -> None:
        self._clock = clock
        wall, boot = clock.now(), clock.boottime()
        self._step = wall - boot  # the wall clock's latest step ahead, not yet trusted
        self._step_at = boot
        trusted = wall
        if last_written is not None and wall - last_written > TRUST_STEP_AFTER:
            trusted = last_written
        self._offset = trusted - boot  # the wall clock as trusted, less the boot clock

    def now(self) -> float:
        wall, boot = self._clock.now(), self._clock.boottime()
        offset = wall - boot
        if offset <= self._offset:
            self._offset = self._step = offset
            self._step_at = boot
        elif abs(offset - self._step) > STEP_SLACK:
            self._step, self._step_at = offset, boot
        elif boot - self._step_at >= TRUST_STEP_AFTER:
            self._offset = offset
        return boot + self._offset


class AutoPruner:
    """A worker's retention: prune each state past its period, starting at most once a
    minute, a slice at a time (see SLICE)."""

    def __init__(self, keep: Mapping[State, float | None], log_dir: str | None = None) -> None:
        self.keep = dict(keep)
        self.log_dir = log_dir
        self._next = 0.0
        self._next_compact = 0.0
        self._sweeps: list[_Sweep] = []  # the prune under way, a state each
        self._fires_before = 0.0  # what it forgets of the fire records once done
        self._ids: list[int] = []  # what it deleted so far
        self._removed = 0
        self._kept = 0  # log files of deleted jobs it could not remove, and why
        self._kept_because: str | None = None

    def due(self, now: float) -> bool:
        return now >= self._next and any(v is not None for v in self.keep.values())

    @property
    def busy(self) -> bool:
        """Whether a prune is under way, for a worker to come back to soon."""
        return bool(self._sweeps)

    def run(self, store: Store, now: float, budget: float | None = None) -> Pruned | None:
        """Start a prune if one is due, and carry on with the one under way for about
        `budget` seconds (None: to its end). What it deleted once it ends; None before,
        and when none was due."""
        if now >= self._next_compact:
            self._next_compact = now + COMPACT_EVERY
            store.compact_counts(now - COUNTS_BY_THE_HOUR)
        periods = [p for p in self.keep.values() if p is not None]
        if not periods:
            self._sweeps, self._ids, self._removed, self._kept = [], [], 0, 0  # off by a reload
            return None
        if not self._sweeps:
            if not self.due(now):
                return None
            self._next = now + AUTO_PRUNE_EVERY
            self._fires_before = now - max(periods)
            self._sweeps = [
                _Sweep(
                    store,
                    [state],
                    ids=None,
                    finished_before=now - period,
                    job=None,
                    log_dir=self.log_dir,
                )
                for state, period in self.keep.items()
                if period is not None
            ]
        deadline = None if budget is None else time.monotonic() + budget
        stepped = False  # (a batch at least per call, however long the targets' read took)
        while self._sweeps:
            sweep = self._sweeps[0]
            if sweep.done:
                self._sweeps.pop(0)
                continue
            if stepped and deadline is not None and time.monotonic() >= deadline:
                return None
            # A batch at a time, never waiting for another process's: a worker has its jobs
            # to serve. Another prune running now is left to it; this one goes on later.
            with _alone(self.log_dir, wait=budget is None) as alone:
                if not alone:
                    return None
                pruned = sweep.step(store, BATCH, recheck=True)
            stepped = True
            self._ids.extend(pruned.ids)
            self._removed += pruned.logs_removed
            self._kept += pruned.logs_kept
            self._kept_because = self._kept_because or pruned.kept_because
        store.prune_fires(self._fires_before)  # the fire records outlive no kept job
        done = Pruned(
            ids=self._ids,
            logs_removed=self._removed,
            logs_kept=self._kept,
            kept_because=self._kept_because,
        )
        self._ids, self._removed, self._kept, self._kept_because = [], 0, 0, None
        return done

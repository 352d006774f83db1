"""Deleting finished jobs and their logs: `jobctl prune`, `jobctl dead purge`, and the
workers' own pruning under `[settings] keep_succeeded` / `keep_dead` / `keep_cancelled`
(which forgets cron fire records as old as the longest of them, too).

The store deletes rows; this module decides what to delete and removes the log files, which
live outside any store. Each batch is its own transaction, so a large prune never holds the
write lock long enough to stall workers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from jobctl.config import Config, shared_store
from jobctl.errors import StoreError, StoreFull
from jobctl.logfiles import hook_logs_of, locate, trusted
from jobctl.models import State
from jobctl.store import Store

BATCH = 500
AUTO_PRUNE_EVERY = 60.0  # seconds between a worker's own prunes
# Hourly counts kept by the hour, for `stats --since`: older ones are summed into one total
# (see Store.compact_counts), once an hour, by any worker and by `jobctl prune`.
COUNTS_BY_THE_HOUR = 35 * 86400.0
COMPACT_EVERY = 3600.0


@dataclass(frozen=True)
class Pruned:
    """What a prune deleted: the jobs, and how many of their log files were removed."""

    ids: list[int]
    logs_removed: int


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
    """Delete the finished jobs asked for, with their attempt logs, and with `log_dir` their
    notification hooks' logs too."""
    targets = store.finished_ids(states, ids=ids, finished_before=finished_before, job=job)
    deleted: list[int] = []
    removed = 0
    for start in range(0, len(targets), batch):
        chunk = targets[start : start + batch]
        try:
            paths = store.delete_jobs(
                states=states, ids=chunk, finished_before=finished_before, job=job
            )
        except StoreFull:
            # A full disk (the logs beside the database fill it): the delete cannot be
            # written, but the logs of the jobs it was to delete can go first, and free it.
            freed = _remove_logs_first(store, chunk, states, finished_before, log_dir)
            if not freed:
                raise
            removed += freed
            paths = store.delete_jobs(
                states=states, ids=chunk, finished_before=finished_before, job=job
            )
        # Ids are never reused, so a member of the chunk that is gone is one this call
        # deleted (a job that left the states meanwhile, e.g. by dead retry, is still there).
        survivors = store.get_many(chunk)
        gone = [i for i in chunk if i not in survivors]
        deleted.extend(gone)
        shared = shared_store(store.location)
        paths = [locate(p, log_dir) for p in paths]
        paths = [p for p in paths if trusted(p, set(gone), log_dir, shared)]
        if log_dir is not None and gone:
            paths = [*paths, *hook_logs_of(log_dir, set(gone))]
        for path in paths:
            try:
                os.unlink(path)
            except OSError:
                continue  # already gone, or busy: the job is gone, a stray log is harmless
            removed += 1
    return Pruned(ids=deleted, logs_removed=removed)


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
    removed = 0
    shared = shared_store(store.location)
    recorded = [a.log_path for i in sorted(doomed) for a in store.attempts(i) if a.log_path]
    paths = [locate(p, log_dir) for p in recorded]
    paths = [p for p in paths if trusted(p, doomed, log_dir, shared)]
    if log_dir is not None:
        paths += hook_logs_of(log_dir, doomed)
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            continue
        removed += 1
    return removed


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


class AutoPruner:
    """A worker's retention: prune each state past its period, at most once a minute."""

    def __init__(self, keep: Mapping[State, float | None], log_dir: str | None = None) -> None:
        self.keep = dict(keep)
        self.log_dir = log_dir
        self._next = 0.0
        self._next_compact = 0.0

    def due(self, now: float) -> bool:
        return now >= self._next and any(v is not None for v in self.keep.values())

    def run(self, store: Store, now: float) -> Pruned | None:
        """Prune if due; None when not."""
        if now >= self._next_compact:
            self._next_compact = now + COMPACT_EVERY
            store.compact_counts(now - COUNTS_BY_THE_HOUR)
        if not self.due(now):
            return None
        self._next = now + AUTO_PRUNE_EVERY
        ids: list[int] = []
        removed = 0
        for state, period in self.keep.items():
            if period is not None:
                pruned = prune(store, [state], finished_before=now - period, log_dir=self.log_dir)
                ids.extend(pruned.ids)
                removed += pruned.logs_removed
        periods = [p for p in self.keep.values() if p is not None]
        store.prune_fires(now - max(periods))  # the fire records outlive no kept job
        return Pruned(ids=ids, logs_removed=removed)

"""Why no worker would take some jobs: said where a job waits with nobody to run it (`wait`,
`enqueue --wait`, and `enqueue` at a terminal), kept apart from jobctl.cli.observe so that a
plain enqueue need not import typer to say it."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobctl.models import Job
    from jobctl.records import WorkerInfo
    from jobctl.store import Store


def why_nobody_runs(store: Store, job_ids: Sequence[int]) -> list[str]:
    """Why no live worker would take the jobs waited for, one reason per queue: none serves
    it, or it is paused. Empty when some worker would (or the store cannot say)."""
    from jobctl.errors import StoreError
    from jobctl.models import State
    from jobctl.observe.serving import unserved_queues

    try:
        # Read a page at a time, the queued and scheduled kept as their queues alone: a
        # wait on a million jobs held every one of them (a GB) to name a queue or two.
        jobs: dict[int, Job] = {}
        waiting: set[str] = set()
        for start in range(0, len(job_ids), _READ_AT_ONCE):
            for job in store.get_many(job_ids[start : start + _READ_AT_ONCE]).values():
                if job.state in (State.QUEUED, State.SCHEDULED):
                    waiting.add(job.queue)
                elif not job.over():  # waiting on others, running, or stopping
                    jobs[job.id] = job
        jobs.update(_held_by(store, jobs))
        waiting |= {j.queue for j in jobs.values() if j.state in (State.QUEUED, State.SCHEDULED)}
        # A cancelled job still leased waits for its worker to see its processes end.
        running = [
            j
            for j in jobs.values()
            if j.state == State.RUNNING or (j.state == State.CANCELLED and not j.over())
        ]
        if not waiting and not running:
            return []
        now = time.time()
        workers = store.workers()
        paused = {q.queue for q in store.queue_counts(now) if q.paused}
    except StoreError:  # only a note: the wait itself rides out an outage
        return []
    alive = {w.id for w in workers if w.alive(now)}
    reasons = []
    # Running for a worker that is gone (kill -9, a crashed host): it runs again once its
    # lease runs out, on a worker of its queue, if any serves it.
    for job in running:
        if job.worker not in alive and job.state == State.CANCELLED:
            reasons.append(
                f"job {job.id} was cancelled, and its worker {job.worker} is gone: a worker of"
                " its queue stops its processes once its lease runs out"
            )
            waiting.add(job.queue)
        elif job.worker not in alive:
            reasons.append(
                f"job {job.id}'s worker {job.worker} is gone: it runs again once its lease runs out"
            )
            waiting.add(job.queue)
    unserved = unserved_queues([w for w in workers if w.id in alive], waiting - paused)
    served = waiting - paused - unserved.keys()
    for queue in sorted(waiting):
        if queue in paused:
            reasons.append(f"queue {queue!r} is paused until jobctl resume {queue}")
        elif queue in unserved:
            reasons.append(unserved[queue])
    inside = os.environ.get("JOBCTL_JOB_ID")
    taking = {w.id for w in workers if w.id in alive and w.stopping_until is None}
    if inside and served:
        reasons += _all_slots_busy(store, workers, taking, served, inside)
    return reasons


_READ_AT_ONCE = 2000  # jobs why_nobody_runs reads at once
_CHAIN_MOST = 1000  # jobs read up the `after` chains of the jobs waited for


def _held_by(store: Store, jobs: dict[int, Job]) -> dict[int, Job]:
    """The jobs that waiting jobs wait for, up their chains (a job after one that waits
    after another): a wait on the last step of a pipeline whose first step sits in a paused
    queue says why, not only that it waits for the step before."""
    from jobctl.models import State

    found: dict[int, Job] = {}
    ahead = {i for j in jobs.values() if j.state == State.WAITING for i in j.after} - set(jobs)
    while ahead and len(found) < _CHAIN_MOST:
        batch = sorted(ahead)[: _CHAIN_MOST - len(found)]
        read = store.get_many(batch)
        found.update(read)
        known = jobs.keys() | found.keys()
        ahead = {i for j in read.values() if j.state == State.WAITING for i in j.after} - known
    return found


def _all_slots_busy(
    store: Store, workers: Sequence[WorkerInfo], alive: set[str], queues: set[str], inside: str
) -> list[str]:
    """For a wait that runs inside a job (a chain: `jobctl enqueue next --wait` in a job's
    command): the queues whose every live worker is full, one slot held by this very job
    or its like. The job waited for starts only when another ends, and a pool full of such
    waiters waits for good."""
    from collections import Counter

    from jobctl.errors import StoreError
    from jobctl.models import JobFilter, State

    try:
        running = store.list_jobs(JobFilter(states=(State.RUNNING,), limit=None))
    except StoreError:
        return []
    busy = Counter(job.worker for job in running)
    reasons = []
    for queue in sorted(queues):
        serving = [
            w
            for w in workers
            if w.kind == "worker" and w.id in alive and ("*" in w.queues or queue in w.queues)
        ]
        if serving and all(busy[w.id] >= w.concurrency for w in serving):
            reasons.append(
                f"every worker that serves queue {queue!r} is busy, one slot with job {inside}"
                " whose command runs this wait: the job waited for starts only when another"
                " ends (more --concurrency, or a queue of its own, keeps a chain from waiting"
                " on itself)"
            )
    return reasons

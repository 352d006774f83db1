"""Which queues no live worker takes jobs from: said by `wait` and `enqueue --wait` for the
jobs they wait on, and failed by `health --require-worker` for a queue holding ready jobs.
Kept apart from both so that a plain enqueue imports neither typer nor the health checks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobctl.records import WorkerInfo


def unserved_queues(live: Iterable[WorkerInfo], queues: Iterable[str]) -> dict[str, str]:
    """Each of the queues given that no live worker takes jobs from, with why, as `wait`
    says it. A worker draining after a stop signal is alive (its running jobs are not lost)
    but takes no job: it serves no queue. `live` is the workers whose heartbeat is fresh."""
    wanted = set(queues)
    served: set[str] = set()
    draining: set[str] = set()
    for worker in live:
        if worker.kind != "worker":
            continue
        mine = _taken_by(worker, wanted)
        if worker.stopping_until is None:
            served |= mine
        else:
            draining |= mine
    reasons = {}
    for queue in sorted(wanted - served):
        reasons[queue] = f"no live worker serves queue {queue!r} yet" + (
            ": those that did are stopping" if queue in draining else ""
        )
    return reasons


def serving_counts(live: Iterable[WorkerInfo], queues: Iterable[str]) -> dict[str, int]:
    """How many live workers take jobs from each of the queues given (one serving every
    queue counts for each; a draining one for none), for the metrics: an alert on 0 for a
    queue holding jobs says what `wait` says of it."""
    counts = dict.fromkeys(queues, 0)
    wanted = set(counts)
    for worker in live:
        if worker.kind == "worker" and worker.stopping_until is None:
            for queue in _taken_by(worker, wanted):
                counts[queue] += 1
    return counts


def _taken_by(worker: WorkerInfo, queues: set[str]) -> set[str]:
    """Those of `queues` the worker takes jobs from."""
    return queues if "*" in worker.queues else queues & set(worker.queues)

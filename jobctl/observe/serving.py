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
        mine = wanted if "*" in worker.queues else wanted & set(worker.queues)
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

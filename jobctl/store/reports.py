"""What the store reports about its queues: counts per state, and run and wait times.

Status, stats and the metrics read these; `jobctl enqueue` does not, so they live apart from
jobctl.store.base, which still offers them (loaded on first use).
"""

from __future__ import annotations

from dataclasses import dataclass

from jobctl.models import State


@dataclass(frozen=True)
class QueueCounts:
    """The jobs of one queue by state, for status and the metrics."""

    queue: str
    counts: dict[State, int]
    paused: bool
    oldest_ready_at: float | None
    # Scheduled jobs already due (a worker promotes them to queued when it claims): ready too.
    due: int = 0

    @property
    def ready(self) -> int:
        return self.counts.get(State.QUEUED, 0) + self.due


@dataclass(frozen=True)
class Histogram:
    """Run or wait times of one queue and job type, in the buckets of the store's bounds."""

    kind: str  # "run" or "wait"
    queue: str
    job: str
    buckets: tuple[tuple[float, int], ...]  # (upper bound, count in that bucket), ascending
    count: int
    sum: float

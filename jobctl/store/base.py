"""The storage interface: the only way the worker, the scheduler and the CLI reach the queue.

Every state change is one guarded, atomic operation that names the state (and for running
jobs, the lease token) it expects to leave; a call whose expectation no longer holds changes
nothing and says so. A contract test suite runs against every implementation.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from jobctl.models import (
    Attempt,
    AttemptResult,
    Claim,
    EnqueueResult,
    Job,
    JobFilter,
    NewJob,
    State,
    WorkerInfo,
)


class WakeListener(Protocol):
    """Something a worker can select() on to learn that new work may be ready."""

    def fileno(self) -> int: ...

    def drain(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Finish:
    """The end of one claimed attempt, as the worker reports it."""

    claim: Claim
    result: AttemptResult
    # For a failure: when to run again, or None when no attempt is left (the job dies).
    retry_at: float | None = None


@dataclass(frozen=True)
class QueueCounts:
    queue: str
    counts: dict[State, int]
    paused: bool
    oldest_ready_at: float | None


class Store(abc.ABC):
    """A durable queue. Implementations must be safe for many processes at once."""

    location: str

    # -- life cycle ------------------------------------------------------------------------

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- producing -------------------------------------------------------------------------

    @abc.abstractmethod
    def enqueue(self, jobs: Sequence[NewJob], now: float) -> list[EnqueueResult]:
        """Store all jobs or none. A job whose key matches an active job is not stored;
        its result carries the existing id with created=False."""

    # -- consuming -------------------------------------------------------------------------

    @abc.abstractmethod
    def claim(
        self,
        worker: str,
        queues: Sequence[str] | None,
        now: float,
        lease: float,
        limit: int = 1,
    ) -> list[Claim]:
        """Atomically take up to `limit` ready jobs (highest priority, then earliest run_at,
        then first in), promoting scheduled jobs whose time has come. Paused queues are
        skipped. `queues=None` means every queue."""

    @abc.abstractmethod
    def renew(self, claims: Sequence[Claim], until: float) -> set[int]:
        """Extend the leases; returns the ids still held (a cancelled or reclaimed job is not)."""

    @abc.abstractmethod
    def finish(self, items: Sequence[Finish], now: float) -> list[State | None]:
        """Record attempt results: succeeded, scheduled for retry, dead, or cancelled when a
        cancel arrived during the attempt. None for a claim no longer held."""

    @abc.abstractmethod
    def release(self, claims: Sequence[Claim], now: float, reason: str) -> int:
        """Give jobs back (graceful shutdown): queued again, the attempt not counted."""

    @abc.abstractmethod
    def rescue_expired(self, now: float) -> list[Job]:
        """Requeue running jobs whose lease expired (their worker died); the attempt counts,
        so a job with none left goes dead. Returns the jobs changed."""

    @abc.abstractmethod
    def next_due(self, queues: Sequence[str] | None) -> float | None:
        """The earliest run_at among scheduled jobs, to know how long a worker may sleep."""

    @abc.abstractmethod
    def open_listener(self, worker: str) -> WakeListener | None:
        """A wake-up channel for an idle worker, or None to poll."""

    # -- inspecting ------------------------------------------------------------------------

    @abc.abstractmethod
    def get(self, job_id: int) -> Job | None: ...

    @abc.abstractmethod
    def attempts(self, job_id: int) -> list[Attempt]: ...

    @abc.abstractmethod
    def list_jobs(self, where: JobFilter) -> list[Job]: ...

    @abc.abstractmethod
    def get_many(self, job_ids: Sequence[int]) -> dict[int, Job]: ...

    @abc.abstractmethod
    def queue_counts(self, now: float) -> list[QueueCounts]: ...

    # -- controlling -----------------------------------------------------------------------

    @abc.abstractmethod
    def cancel(self, job_ids: Sequence[int], now: float) -> dict[int, State | None]:
        """Cancel active jobs; returns each id's state before (None: unknown id).
        A running job's worker learns it at its next lease renewal and kills the attempt."""

    @abc.abstractmethod
    def set_paused(self, queue: str, paused: bool) -> None: ...

    # -- workers ---------------------------------------------------------------------------

    @abc.abstractmethod
    def register_worker(self, info: WorkerInfo) -> None: ...

    @abc.abstractmethod
    def heartbeat(self, worker: str, now: float) -> None: ...

    @abc.abstractmethod
    def unregister_worker(self, worker: str) -> None: ...

    @abc.abstractmethod
    def workers(self) -> list[WorkerInfo]: ...

"""Jobs, attempts and the states a job moves through.

The allowed transitions (the life cycle promised in the README):

    (new)      -> queued | scheduled          enqueue (due now / later)
    scheduled  -> queued                      run_at reached
    queued     -> running                     claimed by a worker (takes a lease)
    running    -> succeeded                   exit 0
    running    -> scheduled                   failure with attempts left (after backoff)
    running    -> dead                        failure with no attempts left
    running    -> queued                      lease expired (attempt counts) or
                                              graceful shutdown (attempt does not count)
    queued | scheduled | running -> cancelled cancel
    dead       -> queued                      dead retry (attempts reset, history kept)

Every store implements each transition as one guarded write that names the state (and,
for running jobs, the lease) it expects to leave, so a late writer changes nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, NamedTuple


class State(enum.StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"


ACTIVE_STATES = (State.QUEUED, State.SCHEDULED, State.RUNNING)
FINAL_STATES = (State.SUCCEEDED, State.DEAD, State.CANCELLED)
ALL_STATES = tuple(State)


class Outcome(enum.StrEnum):
    """How one attempt ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # non-zero exit or a signal
    TIMEOUT = "timeout"
    LOST = "lost"  # the worker died; its lease expired
    INTERRUPTED = "interrupted"  # graceful shutdown ran out of time; does not count
    CANCELLED = "cancelled"
    ERROR = "error"  # the command could not be started


@dataclass(slots=True)
class NewJob:
    """Everything needed to store one job; produced by enqueue, the batch reader and cron.

    Not frozen: batches build a hundred thousand of these, and a frozen dataclass costs
    five times as much to create. Treat it as immutable all the same."""

    job: str
    payload: dict[str, Any]
    queue: str = "default"
    priority: int = 0
    max_attempts: int = 3
    run_at: float | None = None  # None: due now
    key: str | None = None
    # Ad-hoc jobs carry their own argv; job types take theirs from the config.
    command: list[str] | None = None
    cwd: str | None = None
    schedule: str | None = None  # the cron schedule that fired it, if any
    fire_time: float | None = None
    payload_json: str | None = None  # the payload already encoded (saves encoding it twice)


class EnqueueResult(NamedTuple):
    """A tuple, not a dataclass: a batch makes one per job, and tuples are cheap."""

    id: int
    created: bool  # False when a unique key matched an existing active job


@dataclass(frozen=True)
class Job:
    id: int
    job: str
    queue: str
    state: State
    priority: int
    attempts: int
    max_attempts: int
    payload: dict[str, Any]
    key: str | None
    run_at: float
    created_at: float
    started_at: float | None
    finished_at: float | None
    exit_code: int | None
    error: str | None
    worker: str | None = None
    lease_expires_at: float | None = None
    command: list[str] | None = None
    cwd: str | None = None
    schedule: str | None = None
    fire_time: float | None = None


@dataclass(frozen=True)
class Attempt:
    job_id: int
    attempt: int
    worker: str
    started_at: float
    finished_at: float | None = None
    outcome: Outcome | None = None
    exit_code: int | None = None
    signal: int | None = None
    error: str | None = None
    log_path: str | None = None
    run: int = 0  # numbers attempts over the job's whole life, across dead retries


@dataclass(frozen=True)
class Claim:
    """A job a worker now owns until its lease expires."""

    job: Job
    attempt: int
    lease_token: str
    run: int
    log_path: str | None = None  # where the worker puts this attempt's output


@dataclass(frozen=True)
class AttemptResult:
    """What the executor observed; the worker turns it into a transition."""

    outcome: Outcome
    exit_code: int | None = None
    signal: int | None = None
    error: str | None = None
    log_path: str | None = None
    finished_at: float = 0.0


@dataclass(frozen=True)
class JobFilter:
    states: tuple[State, ...] = ()
    job: str | None = None
    queue: str | None = None
    key: str | None = None
    since: float | None = None
    limit: int | None = 50
    newest_first: bool = True


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    started_at: float
    heartbeat_at: float
    kind: str = "worker"  # or "scheduler"
    interval: float = 10.0  # seconds between heartbeats; three missed ones mean it is gone

    def alive(self, now: float) -> bool:
        return now - self.heartbeat_at <= 3 * self.interval


@dataclass(frozen=True)
class FireRecord:
    """What happened to one cron fire: enqueued, skipped, or pending (overlap = "queue")."""

    schedule: str
    fire_time: float
    status: str
    job_id: int | None = None
    reason: str | None = None
    manual: bool = False
    at: float = 0.0

"""Jobs, attempts and the states a job moves through.

The allowed transitions (the life cycle promised in the README):

    (new)      -> queued | scheduled          enqueue (due now / later)
    (new)      -> waiting                     enqueue --after jobs not all succeeded yet
    waiting    -> queued | scheduled          the last job it runs after succeeded
    waiting    -> dead                        a job it runs after ended dead or cancelled
    scheduled  -> queued                      run_at reached
    queued     -> running                     claimed by a worker (takes a lease)
    running    -> succeeded                   exit 0
    running    -> scheduled                   failure with attempts left (after backoff)
    running    -> dead                        failure with no attempts left
    running    -> queued                      lease expired (attempt counts) or
                                              graceful shutdown (attempt does not count)
    running    -> dead                        lease expired on the last attempt
    queued | scheduled | waiting | running -> cancelled
                                              cancel (a running job keeps its lease, and
                                              with it its key and its schedule's overlap
                                              guard, until its worker sees its process gone)
    dead       -> queued | waiting            dead retry (attempts reset, history kept)

Every store implements each transition as one guarded write that names the state (and,
for running jobs, the lease) it expects to leave, so a late writer changes nothing.

Every `jobctl enqueue` imports this module, so it stays cheap to import: attempts, results,
workers and fires live in jobctl.records, and there is no `from __future__ import
annotations` (typing.NamedTuple compiles each annotation given as a string).
"""

import enum
import math
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from jobctl.records import Attempt as Attempt
    from jobctl.records import AttemptResult as AttemptResult
    from jobctl.records import FireRecord as FireRecord
    from jobctl.records import WorkerInfo as WorkerInfo


class State(enum.StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    WAITING = "waiting"  # for the jobs it runs after (enqueue --after) to succeed
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"


ACTIVE_STATES = (State.QUEUED, State.SCHEDULED, State.WAITING, State.RUNNING)


def holds_key(state: State, leased: bool) -> bool:
    """Whether a job holds its unique key and counts as its schedule's active run: while
    active, and once cancelled while running, until the worker has seen its process end (or
    rescue found that worker gone): `kill_grace` may keep it alive meanwhile."""
    return state in ACTIVE_STATES or (state == State.CANCELLED and leased)


FINAL_STATES = (State.SUCCEEDED, State.DEAD, State.CANCELLED)
# Not started yet: what `jobctl edit` may change (a running attempt has its argv already).
UNSTARTED_STATES = (State.QUEUED, State.SCHEDULED, State.WAITING)
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


class NewJob(NamedTuple):
    """Everything needed to store one job; produced by enqueue, the batch reader and cron.

    A NamedTuple, like every record here: a dataclass costs each `jobctl enqueue` its code
    generation at start-up (about 1 ms a class), and a batch builds a hundred thousand of
    these, which tuples make cheaply."""

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
    after: tuple[int, ...] = ()  # the jobs that must succeed before it runs
    # Jobs of the same enqueue call it runs after too, by their place in it (a batch line's
    # `after` naming an earlier line): their ids are known only as the store writes them.
    after_lines: tuple[int, ...] = ()


class JobEdit(NamedTuple):
    """What `jobctl edit` changes of a job (None: that field stays as it is), checked as
    enqueue checks a new job. It applies only while the job has not started and has made
    `attempts` attempts, as read when it was built: a job a worker took meanwhile (and may
    have given back, failed) has moved on from what the edit was made from. A new payload
    is the one read with some keys set: it applies only while the job still has
    `payload_was`, so that two edits of its keys at once cannot undo each other. A command
    and a cwd are an --exec job's only (a job type's come from the config)."""

    id: int
    attempts: int
    payload_json: str | None = None
    payload_was: str | None = None
    queue: str | None = None
    priority: int | None = None
    max_attempts: int | None = None
    run_at: float | None = None
    command: list[str] | None = None
    cwd: str | None = None


class EnqueueResult(NamedTuple):
    """A tuple, not a dataclass: a batch makes one per job, and tuples are cheap."""

    id: int
    created: bool  # False when a unique key matched an existing active job


class Job(NamedTuple):
    """A stored job as read back: its state, counters and times."""

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
    after: tuple[int, ...] = ()  # the jobs it runs after (enqueue --after)

    def over(self) -> bool:
        """Whether nothing of it runs any more: a final state, and no process still stopping
        (a job cancelled while running keeps its worker until its process has exited, so a
        script that waits for it, then enqueues its key again, does not race the old run)."""
        return self.state in FINAL_STATES and (self.state != State.CANCELLED or self.worker is None)


class Claim(NamedTuple):
    """A job a worker now owns until its lease expires (a NamedTuple: cheap to define)."""

    job: Job
    attempt: int
    lease_token: str
    run: int
    log_path: str | None = None  # where the worker puts this attempt's output


# How far ahead of a claim's `now` a recorded start may lie and still be taken as made then
# (see Rate.reopens_at): starts are recorded in order, so one slightly ahead is another
# worker's, whose clock was read a moment later (or whose host's clock runs a little ahead);
# one further ahead was made before the wall clock stepped back. Beyond SQLite's busy wait
# (30 s) and any sane skew between hosts.
RATE_CLOCK_STEP = 60.0


class Rate(NamedTuple):
    """[queues.NAME] rate: at most `starts` attempt starts of the queue within any `window`
    seconds, every worker's counted (BullMQ's limiter, Celery's rate_limit)."""

    starts: int
    window: float
    text: str = ""  # as the config writes it (`5/90s`), shown by status; "" when made here

    def __str__(self) -> str:
        """As the config writes it (`5/90s`, not `5/1m30s`), else in jobctl's format."""
        if self.text:
            return self.text
        from jobctl.durations import format_duration

        return f"{self.starts}/{format_duration(self.window)}"

    def __eq__(self, other: object) -> bool:
        """Rates that hold the same starts are one, however written (`5/90s`, `5/1m30s`)."""
        if isinstance(other, Rate):
            return (self.starts, self.window) == (other.starts, other.window)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((self.starts, self.window))

    def reopens_at(self, start: float, now: float) -> float:
        """When a start recorded at `start` leaves the window: a claim at that instant no
        longer counts it (a start is in the window at `t` while `start > t - window`). One
        recorded over RATE_CLOCK_STEP ahead of `now`, under a wall clock since stepped back,
        counts as made now, so that it holds the queue for one window at most."""
        start = effective_start(start, now)
        at = start + self.window
        while at - self.window < start:  # (the sum rounded down: not out yet)
            at = math.nextafter(at, math.inf)
        return at


def effective_start(start: float, now: float) -> float:
    """A recorded start as a claim at `now` counts it: as recorded, unless it lies over
    RATE_CLOCK_STEP ahead (made before the clock stepped back: it counts as made now)."""
    return now if start > now + RATE_CLOCK_STEP else start


class JobFilter(NamedTuple):
    """Which jobs a listing wants (a NamedTuple, like EnqueueResult: cheap to define)."""

    states: tuple[State, ...] = ()
    job: str | None = None
    queue: str | None = None
    key: str | None = None
    since: float | None = None
    limit: int | None = 50
    newest_first: bool = True
    leased: bool = False  # only jobs holding a lease (running, or cancelled while running)
    lease_expired_before: float | None = None  # with leased: only leases past this instant
    beyond: int | None = None  # only ids past this one in the listing's order: the next page
    through: int | None = None  # only ids up to this one: the jobs there were when a listing began


_RECORDS = frozenset({"Attempt", "AttemptResult", "FireRecord", "WorkerInfo"})


def __getattr__(name: str) -> Any:
    """Attempts, results, workers and fires are defined in jobctl.records, loaded when first
    asked for here: `jobctl enqueue` never needs them, and each dataclass costs every call
    its code generation at start-up."""
    if name in _RECORDS:
        from jobctl import records

        return getattr(records, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

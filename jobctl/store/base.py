"""The storage interface: the only way the worker, the scheduler and the CLI reach the queue.

Every state change is one guarded, atomic operation that names the state (and for running
jobs, the lease token) it expects to leave; a call whose expectation no longer holds changes
nothing and says so. A contract test suite runs against every implementation.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

# How long a process that has an end to reach (`wait`, `logs --follow`, a --burst worker)
# rides out a store that stopped answering before it fails; daemons ride out any outage.
OUTAGE_GRACE = 30.0
# The time table recorded for a schedule a daemon's reload took out: one put back later, on a
# reload or at a restart, counts from then. A cron no jobctl reads, so an older daemon takes it
# for another time table, and counts from then as well.
REMOVED_TIME_TABLE = "(removed)"

if TYPE_CHECKING:
    from jobctl.models import (
        Attempt,
        AttemptResult,
        Claim,
        EnqueueResult,
        FireRecord,
        Job,
        JobEdit,
        JobFilter,
        NewJob,
        Rate,
        State,
        WorkerInfo,
    )
    from jobctl.store.reports import Histogram as Histogram
    from jobctl.store.reports import QueueCounts as QueueCounts


class LeaderLock(Protocol):
    """Leadership for the cron daemon: one holder at a time, the others stand by."""

    def acquire(self, timeout: float) -> bool:
        """Try for up to `timeout` seconds; True once held."""

    def held(self) -> bool: ...

    @property
    def waiting_for(self) -> str:
        """Why the last acquire failed, for the standby's log line."""

    def release(self) -> None: ...


class WakeListener(Protocol):
    """Something a worker can select() on to learn that new work may be ready."""

    # Set by drain() when a control message came (a cancel): running claims need a look.
    control_pending: bool

    def fileno(self) -> int: ...

    def drain(self) -> None: ...

    def close(self) -> None: ...


class Finish(NamedTuple):
    """The end of one claimed attempt, as the worker reports it.

    A NamedTuple, not a dataclass: every command imports this module, and a dataclass costs
    each call its code generation at start-up."""

    claim: Claim
    result: AttemptResult
    # For a failure: when to run again, or None when no attempt is left (the job dies).
    retry_at: float | None = None


class AttemptTimes(NamedTuple):
    """One attempt's times for `stats`, in seconds (never below 0)."""

    queue: str
    job: str
    run: float | None  # None: it runs still
    wait: float | None  # None: no due time was recorded


class Store(abc.ABC):
    """A durable queue. Implementations must be safe for many processes at once."""

    location: str
    # A store shared by many hosts (Redis): a worker cannot reach another host's processes.
    shared: bool = False
    # Whether opening it made it (a new database file, a new Redis namespace): then no
    # worker can be serving it yet, and a job put there waits for one started on it.
    created: bool = False
    # The schema version opening it upgraded from (SQLite), or None: an older jobctl cannot
    # open it any more, which whoever upgraded should hear.
    upgraded_from: int | None = None
    # Called once when a call has waited seconds for a lock another process holds (SQLite).
    on_lock_wait: Callable[[], None] | None = None
    # Called at every turn of such a wait, which may last BUSY_TIMEOUT (SQLite): a worker
    # serves its running jobs meanwhile (their timeouts, kill graces and output).
    while_waiting: Callable[[], None] | None = None
    # Why the last open_listener gave None (a Redis user denied the channel): the worker
    # says so once, as it then polls for new jobs.
    wake_error: str | None = None

    # -- life cycle ------------------------------------------------------------------------

    @abc.abstractmethod
    def close(self) -> None: ...

    def as_service(self) -> None:
        """Opened by a process that keeps it open and writes often (a worker): upkeep that
        a single command does inline may move off its write path. Nothing to move by
        default."""
        return None

    def replaced(self) -> str | None:
        """Why the place this store was opened at now holds other data (a database file
        deleted or swapped while in use), or None: a long-running process then serves a
        queue nobody else sees."""
        return None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- producing -------------------------------------------------------------------------

    @abc.abstractmethod
    def enqueue(
        self, jobs: Sequence[NewJob], now: float, *, refuse_unlike: bool = False
    ) -> list[EnqueueResult]:
        """Store all jobs or none. A job whose key an active (or stopping) job holds is not
        stored; its result carries that job's id with created=False. With `refuse_unlike`
        (enqueue's and retry's), a key held by a job of another job type or queue, or an
        `--exec` job of another command or directory (or by an earlier job of this call
        unlike it), stores nothing of the call and raises KeyHeldByAnother instead:
        that id is not the job's, and the call's other jobs would be stored alone. Only a key
        found held pays for the comparison."""

    # -- consuming -------------------------------------------------------------------------

    @abc.abstractmethod
    def claim(
        self,
        worker: str,
        queues: Sequence[str] | None,
        now: float,
        lease: float,
        limit: int = 1,
        log_path: Callable[[int, int], str] | None = None,
        caps: Mapping[str, int] | None = None,
        rates: Mapping[str, Rate] | None = None,
    ) -> list[Claim]:
        """Atomically take up to `limit` ready jobs (highest priority, then earliest run_at,
        then first in), promoting scheduled jobs whose time has come. Paused queues are
        skipped. `queues=None` means every queue. `log_path(job_id, run)` names where the
        attempt's output will go, recorded with the attempt from its start. `caps` limits
        how many jobs of a queue hold a lease at once, every worker's counted (a job
        cancelled while running holds one until its process has stopped). `rates` limits
        how many attempts of a queue start within any window (see Rate), every worker's
        counted: the store keeps a log of each such queue's starts within its window, in the
        claim's own transaction, each recorded at `now` or at the queue's latest start if
        later (in order, whatever worker's clock was read first); one recorded over
        RATE_CLOCK_STEP ahead of `now`, under a clock since stepped back, is counted as made
        now. A queue with no rate logs nothing."""

    @abc.abstractmethod
    def renew(self, claims: Sequence[Claim], until: float) -> set[int]:
        """Extend the leases; returns the ids still held (a cancelled or reclaimed job is not).
        A job cancelled during its attempt has its lease extended too: it keeps its key and
        overlap guard while its process stops."""

    @abc.abstractmethod
    def still_held(self, claims: Sequence[Claim]) -> set[int]:
        """Which claims are still held, extending nothing: a cheap check after a cancel."""

    @abc.abstractmethod
    def finish(self, items: Sequence[Finish], now: float) -> list[State | None]:
        """Record attempt results: succeeded, scheduled for retry, dead, or cancelled when a
        cancel arrived during the attempt, whatever its outcome (the end of the attempt lets
        the cancelled job's lease, key and overlap guard go). None for a claim no longer held."""

    def finish_and_claim(
        self,
        items: Sequence[Finish],
        now: float,
        worker: str,
        queues: Sequence[str] | None,
        lease: float,
        limit: int,
        log_path: Callable[[int, int], str] | None = None,
        caps: Mapping[str, int] | None = None,
        rates: Mapping[str, Rate] | None = None,
    ) -> tuple[list[State | None], list[Claim]]:
        """`finish`, then `claim` for the slots that frees: a store that can do both in one
        transaction saves a commit per job on a busy worker."""
        states = self.finish(items, now)
        claims = (
            self.claim(worker, queues, now, lease, limit, log_path, caps, rates)
            if limit > 0
            else []
        )
        return states, claims

    @abc.abstractmethod
    def release(
        self,
        claims: Sequence[Claim],
        now: float,
        reason: str,
        ends: Sequence[AttemptResult | None] | None = None,
    ) -> int:
        """Give jobs back (graceful shutdown): queued again, the attempt not counted. Each
        claim's log_path is the attempt's as it ended ("" when it wrote nothing). `ends`,
        one per claim when given: how each attempt's process ended (its exit code or signal
        and its error, in place of `reason`), as the worker's event line says it."""

    @abc.abstractmethod
    def rescue_expired(self, now: float) -> list[Job]:
        """Requeue running jobs whose lease expired (their worker died); the attempt counts,
        so a job with none left goes dead. Returns the jobs changed."""

    @abc.abstractmethod
    def next_due(self, queues: Sequence[str] | None) -> float | None:
        """The earliest run_at among scheduled jobs, to know how long a worker may sleep."""

    @abc.abstractmethod
    def next_rate_start(
        self, queues: Sequence[str] | None, rates: Mapping[str, Rate], now: float
    ) -> float | None:
        """When the first of `queues` (None: every queue) that its rate holds back now (a
        ready job, not paused, its window full of starts) lets its next start in, read
        without a write: a worker with nothing else to take sleeps until then, where
        next_due would have it claim in a loop. Always after `now`; None when no queue
        waits on its rate. A queue at its max_running is not told apart: a job's end wakes
        the workers for it."""

    def read_snapshot(self) -> contextlib.AbstractContextManager[None]:
        """Every read inside it sees one moment (a whole metrics scrape: the counters, the
        jobs and the histograms alike). A store whose reads are each atomic already (Redis)
        needs nothing more."""
        return contextlib.nullcontext()

    @abc.abstractmethod
    def open_listener(self, worker: str) -> WakeListener | None:
        """A wake-up channel for an idle worker, or None to poll."""

    @abc.abstractmethod
    def wake_workers(self) -> None:
        """Wake the idle workers listening (`jobctl reload`): each looks at its config file
        at once. Best effort: one that misses it looks at its next regular pass."""

    # -- inspecting ------------------------------------------------------------------------

    @abc.abstractmethod
    def get(self, job_id: int) -> Job | None: ...

    @abc.abstractmethod
    def attempts(self, job_id: int) -> list[Attempt]: ...

    @abc.abstractmethod
    def list_jobs(self, where: JobFilter) -> list[Job]: ...

    @abc.abstractmethod
    def job_ids(self, where: JobFilter) -> list[int]:
        """The ids of the jobs list_jobs would list: a wait on a million jobs holds their
        ids, a few MB, where their jobs took a GB."""

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
    def edit(self, edits: Sequence[JobEdit], now: float) -> set[int]:
        """Change jobs not yet started (queued, scheduled or waiting, each with the attempts
        its edit was made from): payload, queue, priority, max attempts and run_at, which
        makes it queued or scheduled as it is past or ahead (a waiting job stays waiting).
        Returns the ids edited; the others are left as they are."""

    @abc.abstractmethod
    def set_paused(self, queue: str, paused: bool) -> None: ...

    @abc.abstractmethod
    def dead_retry(self, job_ids: Sequence[int] | None, job: str | None, now: float) -> list[int]:
        """Move dead jobs (these ids, or all, optionally of one job type) back to queued with
        their attempts reset; their history stays. Returns the ids moved: a job whose unique
        key an active job holds stays dead."""

    @abc.abstractmethod
    def delete_jobs(
        self,
        *,
        states: Sequence[State],
        ids: Sequence[int] | None = None,
        finished_before: float | None = None,
        job: str | None = None,
    ) -> list[str]:
        """Delete finished jobs in `states` with their attempts (never active ones, nor a
        cancelled one whose process still stops, nor a schedule's latest succeeded job: its
        last success, see last_successes, would go with it, as a fire record outlives its
        run's prune in prune_fires).
        Returns the log paths of the deleted attempts, for the caller to remove."""

    # -- cron ------------------------------------------------------------------------------

    @abc.abstractmethod
    def record_fire(
        self,
        schedule: str,
        fire_time: float,
        job: NewJob | None,
        now: float,
        *,
        overlap: str = "allow",
        manual: bool = False,
        reason: str | None = None,
        backlog: int = 0,
    ) -> FireRecord | None:
        """Record one fire and enqueue its job in the same transaction. None when this fire
        was recorded before (by us before a crash, or by another daemon): nothing changes.
        With job None the fire is recorded as skipped with `reason`. With overlap "skip" or
        "queue" and a run of this schedule still active, the fire is skipped or left pending;
        "queue" holds one pending fire, or with `backlog` (catch_up = "all": its
        catch_up_limit) that many, the newest: an older one held, by an earlier catch-up
        too, is recorded as skipped, so that restarts during a long run add no more.
        Under "queue" with no run active, the oldest fire held (whose run ended before the
        daemon's next look) is enqueued first, in the same transaction, and this one waits
        behind it: the record's `released` is that fire, for the caller to log."""

    @abc.abstractmethod
    def promote_pending(self, schedule: str, job: NewJob, now: float) -> FireRecord | None:
        """Enqueue the oldest pending fire of a schedule once no run of it is active."""

    @abc.abstractmethod
    def drop_pending(
        self, schedule: str, reason: str, now: float, *, keep: int | None = None
    ) -> int:
        """Record a schedule's pending fires as skipped with `reason`, so that none of them is
        ever enqueued (its time table changed, or it was taken out); how many there were.
        With `keep`, only planned fires beyond the newest `keep` go (a paused schedule's, or a
        backlog over a catch_up_limit lowered since): a manual run held (`schedule run`) is
        work asked for, and stays. record_fire's `backlog` trims by the same rule."""

    @abc.abstractmethod
    def held_schedules(self, schedules: Sequence[str]) -> set[str]:
        """Those of `schedules` that hold a pending fire, read without a write: the daemon
        looks for a held fire to enqueue only while one is held."""

    @abc.abstractmethod
    def forget_fires_after(self, schedule: str, after: float) -> int:
        """Forget a schedule's planned fire records dated after `after`: recorded under a
        clock since set back (hours back), each would keep its fire from being recorded, and
        run, when its time comes. A run asked for by hand, or held (pending), is work promised
        and stays. How many went."""

    @abc.abstractmethod
    def last_fire_time(self, schedule: str) -> float | None:
        """The latest planned (not manual) fire recorded for a schedule."""

    @abc.abstractmethod
    def last_fires(self) -> dict[str, tuple[FireRecord, State | None]]:
        """Per schedule: its latest fire and the state of the job it enqueued."""

    @abc.abstractmethod
    def prune_fires(self, before: float) -> int:
        """Forget fire records older than `before` (skipped ones, and those of runs since
        pruned); returns how many. Each schedule keeps its latest planned fire (where its
        plan resumes), its latest run and anything pending."""

    @abc.abstractmethod
    def last_runs(self, schedules: Sequence[str]) -> dict[str, float]:
        """Per schedule that ever enqueued a run: the fire time of its latest one (skipped
        and still pending fires left out; manual runs count)."""

    @abc.abstractmethod
    def last_successes(self, schedules: Sequence[str]) -> dict[str, float]:
        """Per schedule with a run that succeeded: when its latest such run finished (the
        latest by finish, then by id; manual `schedule run` runs count). Runs that failed,
        died, were cancelled or still run do not, nor skipped fires: an alert on a schedule
        whose work stopped succeeding reads this, as its last fire and its last run move on
        with failing runs. delete_jobs keeps the job it names, so retention never loses it."""

    @abc.abstractmethod
    def set_schedule_paused(self, schedule: str, paused: bool) -> None: ...

    @abc.abstractmethod
    def paused_schedules(self) -> set[str]: ...

    @abc.abstractmethod
    def plan_start(self, schedules: Sequence[str], now: float) -> dict[str, float]:
        """When a daemon first planned each schedule (recording `now` for those none ever
        did), in one round trip: where catch-up starts for a schedule that has not fired yet,
        so a daemon that dies before a first fire loses none of the fires after it."""

    @abc.abstractmethod
    def time_tables(self, schedules: Sequence[str] | None) -> dict[str, str]:
        """The time table (cron and zone, as text) each schedule was last planned with, for
        those that have one: a daemon tells a time table changed while no daemon ran.
        REMOVED_TIME_TABLE for one a daemon's reload took out, and none put back since.
        None: every schedule's, in one round trip (those a daemon of another config plans)."""

    @abc.abstractmethod
    def record_time_tables(self, tables: Mapping[str, str]) -> None:
        """Record the time tables a daemon plans with (see time_tables)."""

    @abc.abstractmethod
    def scheduler_lock(self) -> LeaderLock: ...

    # -- operations ------------------------------------------------------------------------

    @abc.abstractmethod
    def finished_jobs(
        self,
        states: Sequence[State],
        *,
        job: str | None = None,
        finished_after: float | None = None,
        limit: int | None = None,
        beyond: tuple[float, int] | None = None,
    ) -> list[Job]:
        """Jobs in final `states`, the most recently finished first (the dead-letter list).
        `beyond` (a job's finished_at and id) takes only those after it in that order: the
        next page, so that a listing of every dead job holds one page, not all of them."""

    @abc.abstractmethod
    def finished_ids(
        self,
        states: Sequence[State],
        *,
        ids: Sequence[int] | None = None,
        finished_before: float | None = None,
        job: str | None = None,
    ) -> list[int]:
        """The ids `delete_jobs` would delete now with the same arguments, so a purge can be
        shown and confirmed before anything is gone."""

    # -- workers ---------------------------------------------------------------------------

    @abc.abstractmethod
    def register_worker(self, info: WorkerInfo) -> None: ...

    @abc.abstractmethod
    def heartbeat(self, worker: str, now: float) -> bool:
        """Record a registered worker's or daemon's heartbeat; False when it is not
        registered (any more: a Redis server that restarted without its data), so that it
        registers again."""

    @abc.abstractmethod
    def unregister_worker(self, worker: str) -> None: ...

    @abc.abstractmethod
    def workers(self) -> list[WorkerInfo]: ...

    # -- statistics ------------------------------------------------------------------------

    @abc.abstractmethod
    def event_counts(self, since: float | None) -> dict[tuple[str, str, str], int]:
        """(queue, job, event) -> count since `since` (None: ever). Events: enqueued, started,
        succeeded, dead, cancelled, and attempt:<outcome>. These outlive pruned jobs."""

    @abc.abstractmethod
    def compact_counts(self, before: float) -> int:
        """Sum the hourly counts of the hours before `before` into one total, which counts
        for `since=None` alone: a lifetime's hours made every read of the totals (each
        metrics scrape) slower. How many hours went."""

    @abc.abstractmethod
    def histograms(self) -> list[Histogram]:
        """Cumulative run-time and wait-time histograms per queue and job, since ever."""

    def sample_statistics(self, now: float, rows: int) -> None:
        """Read the first and last `rows` rows of this hour's counts and of the histograms,
        decoded as the full reads decode them, for `health`: the pages every enqueue and
        attempt writes to, whatever the number of queues and job types (read whole, they
        grow as queues x job types: 950,000 such pairs took 6.7 s). A damaged one raises
        the store's error, or ValueError or TypeError for a row that reads as nonsense.
        A store that keeps them with no page of their own to damage (Redis) reads nothing."""
        return None

    @abc.abstractmethod
    def attempt_times(self, since: float) -> Iterator[AttemptTimes]:
        """The run and wait time of each attempt started since `since` whose job is still
        stored, read a page at a time through an index of start times: a short window reads
        its own attempts, and a long one holds a page, not the history. A wait runs from
        when the job was due (enqueued, its delay over, or its retry due) to the attempt's
        start; the run is None while it runs. An attempt given back (interrupted) is none
        of the job's runs, and is left out."""

    @abc.abstractmethod
    def pending_counts(self) -> dict[tuple[str, str], int]:
        """(queue, job) -> jobs queued or scheduled now."""

    # -- optional --------------------------------------------------------------------------

    def backup(self, target: str) -> int:
        """Copy the whole store, consistent while workers write, into the new file `target`
        (made private to this user); its size. A store kept by a server refuses: the server
        keeps its own copies."""
        from jobctl.errors import UsageError

        raise UsageError(
            f"{self.location}: its server keeps it: back it up there (Redis: BGSAVE, then copy"
            " its RDB or AOF files)"
        )

    def warnings(self) -> list[str]:
        """Problems with how the store is set up that an operator should hear about (for
        `status`), e.g. a server that does not persist its data. None by default."""
        return self.losses()

    def losses(self) -> list[str]:
        """The warnings of a store set up to delete jobs by itself (a Redis server that
        evicts keys), or that takes no write at all (one at its maxmemory): `health` fails
        on these. None by default."""
        return []

    def attempt_output(self, job_id: int, run: int) -> tuple[str | None, bytes] | None:
        """The host that ran an attempt and the end of its output, for stores shared by many
        hosts (the full log stays on that host). None: the store keeps no output."""
        return None


def __getattr__(name: str) -> Any:
    """QueueCounts and Histogram are defined in jobctl.store.reports, loaded when first asked
    for here: `jobctl enqueue` never needs them, and a dataclass costs start-up time."""
    if name in ("QueueCounts", "Histogram"):
        from jobctl.store import reports

        return getattr(reports, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

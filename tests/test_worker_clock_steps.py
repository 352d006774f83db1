"""A worker's judgements that rest on the wall clock (retention's ages, expired leases, silent
workers) through a clock set ahead, a suspend, or a start just after either: driven by the
injected clock, on a real SQLite store."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobctl.clock import FakeClock
from jobctl.config import EMPTY_CONFIG, Config
from jobctl.models import AttemptResult, NewJob, Outcome, State, WorkerInfo
from jobctl.observe.events import EventLog
from jobctl.retention import AUTO_PRUNE_EVERY, TRUST_STEP_AFTER
from jobctl.store import Finish
from jobctl.store.sqlite import SqliteStore
from jobctl.worker import FORGET_CRASHED, Worker, WorkerOptions

DAY = 86400.0
LEASE = EMPTY_CONFIG.settings.lease
KEEP_DEAD = EMPTY_CONFIG._replace(settings=EMPTY_CONFIG.settings._replace(keep_dead=30 * DAY))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "q.db") as opened:
        yield opened


def _worker(
    store: SqliteStore, clock: FakeClock, tmp_path: Path, config: Config = EMPTY_CONFIG
) -> Worker:
    sink = open(tmp_path / "events.log", "a")  # noqa: SIM115 (the worker writes to it throughout)
    return Worker(
        store,
        config,
        WorkerOptions(),
        clock=clock,
        log=EventLog(sink),
        log_dir=tmp_path / "logs",
    )


def _dead_job(store: SqliteStore, clock: FakeClock) -> int:
    """A job that failed its only attempt a moment ago."""
    store.enqueue([NewJob(job="x", payload={}, max_attempts=1)], clock.now())
    (claim,) = store.claim("gone:1", None, clock.now(), LEASE)
    failed = AttemptResult(Outcome.FAILED, exit_code=3, finished_at=clock.now())
    assert store.finish([Finish(claim, failed, None)], clock.now()) == [State.DEAD]
    return claim.job.id


def _events(tmp_path: Path) -> str:
    return (tmp_path / "events.log").read_text()


def _pass(worker: Worker) -> None:
    """One maintenance pass and the prune it makes due, as the loop runs them."""
    worker._maintain()
    worker._prune()


def test_a_clock_set_a_month_ahead_for_a_moment_keeps_the_dead_jobs(
    store: SqliteStore, tmp_path: Path
) -> None:
    """keep_dead = 30d, and the clock set 31 days ahead for a few seconds, then back: every
    dead job was deleted with its logs, those that failed a moment before too."""
    clock = FakeClock()
    job_id = _dead_job(store, clock)
    worker = _worker(store, clock, tmp_path, KEEP_DEAD)
    _pass(worker)
    clock.step(31 * DAY)
    clock.advance(AUTO_PRUNE_EVERY)  # a prune is due meanwhile
    _pass(worker)
    clock.step(-31 * DAY)
    clock.advance(AUTO_PRUNE_EVERY)
    _pass(worker)
    assert store.get(job_id).state == State.DEAD
    assert "jobs.pruned" not in _events(tmp_path)


@pytest.mark.parametrize("passing", ["advance", "suspend"])
def test_a_month_that_really_passed_prunes_the_dead_jobs(
    store: SqliteStore, tmp_path: Path, passing: str
) -> None:
    """Time that went by, the worker running or the machine asleep, still ages the jobs."""
    clock = FakeClock()
    job_id = _dead_job(store, clock)
    worker = _worker(store, clock, tmp_path, KEEP_DEAD)
    _pass(worker)
    getattr(clock, passing)(31 * DAY)
    _pass(worker)
    assert store.get_many([job_id]) == {}
    assert "jobs.pruned" in _events(tmp_path)


def test_a_clock_set_ahead_for_good_is_followed_after_a_while(
    store: SqliteStore, tmp_path: Path
) -> None:
    """A host that booted with its clock behind, set right later: retention holds off for
    TRUST_STEP_AFTER, then counts on the corrected clock."""
    clock = FakeClock()
    job_id = _dead_job(store, clock)
    worker = _worker(store, clock, tmp_path, KEEP_DEAD)
    _pass(worker)
    clock.step(31 * DAY)
    _pass(worker)
    assert store.get(job_id).state == State.DEAD
    clock.advance(TRUST_STEP_AFTER)
    _pass(worker)
    assert store.get_many([job_id]) == {}


def test_a_worker_started_on_a_clock_a_month_ahead_keeps_the_dead_jobs(
    store: SqliteStore, tmp_path: Path
) -> None:
    """A host that booted with its clock a month ahead: the worker's first prune took every
    dead job for a month old. Ahead of the newest job the store holds, the clock is trusted
    only as a step ahead is."""
    clock = FakeClock()
    job_id = _dead_job(store, clock)
    clock.step(31 * DAY)
    sink = open(tmp_path / "events.log", "a")  # noqa: SIM115
    worker = Worker(
        store,
        KEEP_DEAD,
        WorkerOptions(burst=True),
        clock=clock,
        log=EventLog(sink),
        log_dir=tmp_path / "logs",
    )
    assert worker.run() == 0
    assert store.get(job_id).state == State.DEAD
    assert "jobs.pruned" not in _events(tmp_path)


@pytest.mark.parametrize("written", ["enqueued", "cancelled"])
def test_a_job_written_under_the_clock_a_month_ahead_keeps_the_dead_jobs(
    store: SqliteStore, tmp_path: Path, written: str
) -> None:
    """The clock a month ahead for the whole host, and a producer (or `jobctl cancel`) writes
    a job under it before the worker starts: the worker trusted the clock at once, as one
    no further ahead than the newest job, and pruned every dead job. Only a job's end by a
    worker tells the clock it starts from."""
    clock = FakeClock()
    job_id = _dead_job(store, clock)
    # (In a queue of another worker's: this --burst one would wait for it.)
    later = NewJob(job="x", payload={}, queue="other", run_at=clock.now() + DAY)
    (waiting,) = store.enqueue([later], clock.now())
    clock.step(31 * DAY)
    if written == "enqueued":
        store.enqueue([later._replace(run_at=clock.now() + 3600)], clock.now())
    else:
        store.cancel([waiting.id], clock.now())
    sink = open(tmp_path / "events.log", "a")  # noqa: SIM115
    worker = Worker(
        store,
        KEEP_DEAD,
        WorkerOptions(queues=("default",), burst=True),
        clock=clock,
        log=EventLog(sink),
        log_dir=tmp_path / "logs",
    )
    assert worker.run() == 0
    assert store.get(job_id).state == State.DEAD
    assert "jobs.pruned" not in _events(tmp_path)


def _not_seen_here() -> int:
    """A pid no process of this PID namespace has: what a live worker in a container that
    shares the host name (and not its pids) looks like from here, or a worker killed."""
    reaped = subprocess.Popen(["true"])
    reaped.wait()
    return reaped.pid


def _neighbour(store: SqliteStore, clock: FakeClock, pid: int, host: str | None = None) -> int:
    """A job a worker of this host (or `host`) with this pid runs, its lease taken now."""
    store.register_worker(
        WorkerInfo(
            id="neighbour",
            host=host or socket.gethostname(),
            pid=pid,
            queues=("*",),
            concurrency=1,
            started_at=clock.now(),
            heartbeat_at=clock.now(),
            interval=LEASE / 3,
        )
    )
    store.enqueue([NewJob(job="x", payload={})], clock.now())
    (claim,) = store.claim("neighbour", None, clock.now(), LEASE)
    return claim.job.id


@pytest.mark.parametrize("seen_here", [True, False])
def test_a_worker_started_after_a_clock_step_leaves_a_live_workers_job(
    store: SqliteStore, tmp_path: Path, seen_here: bool
) -> None:
    """A worker started just after a suspend or a clock step ahead saw every lease on the
    host expired, and killed a live worker's job and ran it again. It leaves the others a
    lease/3 to renew first, as a worker back from the step already does: one of this host
    whose pid has no process here too, which may run in another PID namespace."""
    clock = FakeClock()
    job_id = _neighbour(store, clock, os.getpid() if seen_here else _not_seen_here())
    clock.step(2 * LEASE)
    worker = _worker(store, clock, tmp_path)
    worker._maintain()
    assert store.get(job_id).state == State.RUNNING
    for _ in range(2):  # the neighbour never renews: its job is taken once it had its time
        clock.advance(LEASE / 3)
        worker._maintain()
    assert store.get(job_id).state == State.QUEUED


@pytest.mark.parametrize("host", [None, "elsewhere"])
def test_a_clock_step_of_ten_minutes_forgets_no_live_worker(
    store: SqliteStore, tmp_path: Path, host: str | None
) -> None:
    """After a suspend or a step of 15 minutes every heartbeat looked that old: a worker
    dropped its live neighbour's record, which then warned of a store that lost data. It
    judges them once they had an interval to write one."""
    clock = FakeClock()
    _neighbour(store, clock, os.getpid(), host)
    worker = _worker(store, clock, tmp_path)
    worker._maintain()
    clock.advance(LEASE / 3)
    worker._maintain()
    clock.step(FORGET_CRASHED + 300)
    worker._maintain()
    assert "neighbour" in {info.id for info in store.workers()}
    store.heartbeat("neighbour", clock.now())  # its next look, after the step
    clock.advance(LEASE / 3)
    worker._maintain()
    assert "neighbour" in {info.id for info in store.workers()}
    assert "worker.forgotten" not in _events(tmp_path)


def test_a_worker_silent_for_ten_minutes_is_still_forgotten(
    store: SqliteStore, tmp_path: Path
) -> None:
    """One that wrote nothing after the others had their time to is gone, as before."""
    clock = FakeClock()
    _neighbour(store, clock, os.getpid())
    worker = _worker(store, clock, tmp_path)
    worker._maintain()
    while clock.now() < 1_700_000_000.0 + FORGET_CRASHED + LEASE:
        clock.advance(LEASE / 3)
        worker._maintain()
    assert "neighbour" not in {info.id for info in store.workers()}
    assert "worker.forgotten" in _events(tmp_path)


@pytest.mark.parametrize("seen_here", [True, False])
def test_a_worker_just_started_after_a_step_forgets_no_live_worker(
    store: SqliteStore, tmp_path: Path, seen_here: bool
) -> None:
    """The first pass of a worker started after the step is no judge of the others either,
    of a worker of this host whose pid has no process here neither (another PID namespace)."""
    clock = FakeClock()
    _neighbour(store, clock, os.getpid() if seen_here else _not_seen_here())
    clock.step(FORGET_CRASHED + 300)
    worker = _worker(store, clock, tmp_path)
    worker._maintain()
    assert "neighbour" in {info.id for info in store.workers()}

"""The cron daemon when the wall clock steps back, and jitters that starve a schedule.

A clock set back (an NTP step, a VM restored from a snapshot, a host that booted a year
ahead) left every schedule silent until real time passed the last fire recorded under the
wrong clock. Driven as in test_scheduler.py: explicit instants, the real SQLite store, no
sleeps; one test runs the real `schedule-daemon` against a record dated an hour ahead.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import Env
from test_scheduler import at, config_for, simulate

from jobctl.config import Config
from jobctl.models import AttemptResult, JobFilter, Outcome
from jobctl.observe.events import EventLog
from jobctl.scheduler import Scheduler
from jobctl.store import Finish
from jobctl.store.sqlite import SqliteStore

HOUR = 3600.0


def enqueued(store: SqliteStore, schedule: str = "s") -> list[float]:
    jobs = store.list_jobs(JobFilter(limit=None, newest_first=False))
    return sorted(j.fire_time for j in jobs if j.fire_time is not None and j.schedule == schedule)


class Log:
    """An EventLog (JSON, debug level) whose events a test can read back."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.log = EventLog(stream=self.stream, fmt="json", level="debug")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = [json.loads(line) for line in self.stream.getvalue().splitlines()]
        return [e for e in found if name in (None, e["event"])]


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "cron.db")


def every_two_seconds(policy: str, overlap: str = "allow") -> Config:
    return config_for(
        '[schedules.s]\njob = "task"\ncron = "*/2 * * * * *"\ntimezone = "UTC"\n'
        f'catch_up = "{policy}"\noverlap = "{overlap}"\n'
    )


REAL = at("2026-06-01T12:00:00.500")  # the right time
WRONG = REAL + HOUR  # the clock an hour ahead (faketime +1h, a restored snapshot)


@pytest.mark.parametrize("policy", ["none", "latest", "all"])
def test_a_clock_set_back_under_a_running_daemon_fires_from_the_new_time(
    store: SqliteStore, policy: str
) -> None:
    """The daemon ran an hour ahead, then NTP stepped the clock back: it fired nothing for
    the hour, silently. Now it warns once and keeps the schedule's rhythm at once, and no
    fire counts as missed (the daemon's start, under the wrong clock, is no reference)."""
    config = every_two_seconds(policy)
    log = Log()
    scheduler = Scheduler(store, config, log.log, live_since=WRONG)
    scheduler.load(config, WRONG)
    simulate(scheduler, WRONG, WRONG + 7)
    assert enqueued(store) == [WRONG + 1.5, WRONG + 3.5, WRONG + 5.5]
    simulate(scheduler, REAL, REAL + 10)  # the step back
    assert enqueued(store)[:-3] == [REAL + 1.5, REAL + 3.5, REAL + 5.5, REAL + 7.5, REAL + 9.5]
    (warning,) = log.events("scheduler.clock_back")
    assert warning["level"] == "warning" and warning["schedule"] == "s"
    assert warning["behind_s"] == 3606  # 1h6s: from 13:00:06, the last fire, to 12:00:00.5
    assert log.events("schedule.catch_up") == []
    assert log.events("schedule.skipped") == []


@pytest.mark.parametrize("policy", ["none", "latest", "all"])
def test_a_restart_after_the_clock_was_set_back_fires_at_once(
    store: SqliteStore, policy: str
) -> None:
    """The tester's repro: fires recorded an hour ahead, then a daemon on the real clock."""
    config = every_two_seconds(policy)
    wrong = Scheduler(store, config, Log().log)
    wrong.load(config, WRONG)
    simulate(wrong, WRONG, WRONG + 7)  # then it stops
    log = Log()
    restarted = Scheduler(store, config, log.log, live_since=REAL)
    restarted.load(config, REAL)
    assert restarted.tick(REAL) == REAL + 1.5  # not an hour from now
    simulate(restarted, REAL, REAL + 4)
    assert enqueued(store)[:-3] == [REAL + 1.5, REAL + 3.5]
    assert len(log.events("scheduler.clock_back")) == 1
    assert log.events("schedule.catch_up") == []


def test_fires_recorded_under_the_wrong_clock_are_not_run_twice(store: SqliteStore) -> None:
    """When the real clock comes to the fire times recorded ahead, each stays recorded once:
    it is not enqueued again (as cron does not re-run what it ran before a step back), and
    the rhythm goes on after them."""
    config = every_two_seconds("all")
    log = Log()
    scheduler = Scheduler(store, config, log.log)
    ahead = REAL + 60  # a minute ahead: over the tolerance, and few fires to simulate
    scheduler.load(config, ahead)
    simulate(scheduler, ahead, ahead + 7)
    simulate(scheduler, REAL, ahead + 12)
    times = enqueued(store)
    assert Counter(times).most_common(1)[0][1] == 1
    # Every two seconds from 12:00:02 to 12:01:12, those recorded ahead among them.
    assert times == [REAL + 1.5 + 2 * k for k in range(36)]
    recorded_already = [
        e for e in log.events("schedule.skipped") if e["reason"] == "recorded already"
    ]
    assert [e["fire_time"][17:19] for e in recorded_already] == ["02", "04", "06"]
    assert {e["level"] for e in recorded_already} == {"debug"}
    assert len(log.events("scheduler.clock_back")) == 1


def test_a_year_ahead_daily_schedule_keeps_its_days(store: SqliteStore) -> None:
    """A host that booted with its clock a year ahead fired a nightly schedule there; back
    on the right date, each night runs, with no catch-up of the 'missed' fires."""
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "0 3 * * *"\ntimezone = "UTC"\ncatch_up = "all"\n'
        'overlap = "allow"\n'
    )
    ahead = Scheduler(store, config, Log().log)
    ahead.load(config, at("2027-06-01T02:00"))
    simulate(ahead, at("2027-06-01T02:00"), at("2027-06-01T04:00"))
    log = Log()
    back = Scheduler(store, config, log.log)
    back.load(config, at("2026-06-01T02:00"))
    simulate(back, at("2026-06-01T02:00"), at("2026-06-03T04:00"))
    assert enqueued(store) == [
        at("2026-06-01T03:00"),
        at("2026-06-02T03:00"),
        at("2026-06-03T03:00"),
        at("2027-06-01T03:00"),
    ]
    (warning,) = log.events("scheduler.clock_back")
    assert warning["behind_s"] == 365 * 86400 + 3600
    assert log.events("schedule.catch_up") == []


def test_a_step_back_of_a_second_or_two_is_absorbed(store: SqliteStore) -> None:
    """Within the tolerance: no warning, no fire run twice, none lost after the step."""
    config = every_two_seconds("all")
    log = Log()
    scheduler = Scheduler(store, config, log.log)
    scheduler.load(config, REAL)
    simulate(scheduler, REAL, REAL + 6)
    simulate(scheduler, REAL + 3, REAL + 10)  # three seconds back
    assert enqueued(store) == [REAL + 1.5, REAL + 3.5, REAL + 5.5, REAL + 7.5, REAL + 9.5]
    assert log.events("scheduler.clock_back") == []


def test_a_fire_held_under_the_wrong_clock_runs_once_its_run_ends(store: SqliteStore) -> None:
    """overlap = "queue": the held fire waited for the next look at held fires, planned an
    hour ahead; it runs at the first look after the run it waited for ended."""
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\noverlap = "queue"\n'
    )
    wrong = at("2026-06-01T01:00:30")
    scheduler = Scheduler(store, config, Log().log)
    scheduler.load(config, wrong)
    scheduler.tick(wrong + 30)  # 01:01 runs
    (claim,) = store.claim("w", None, wrong + 31, 30)
    scheduler.tick(wrong + 90)  # 01:02 is held
    real = at("2026-06-01T00:00:10")
    store.finish([Finish(claim, AttemptResult(Outcome.SUCCEEDED, exit_code=0))], real)
    wake = scheduler.tick(real + 1)
    assert enqueued(store) == [at("2026-06-01T01:01"), at("2026-06-01T01:02")]
    assert wake is not None and wake <= real + 2
    simulate(scheduler, real + 1, real + 55)  # 00:01 on the new clock waits in turn
    held = "SELECT status FROM fires WHERE schedule = 's' AND fire_time = ?"
    assert store._read(held, (at("2026-06-01T00:01"),)) == [("pending",)]


def test_a_disabled_schedule_notes_the_step_back_at_debug_level(store: SqliteStore) -> None:
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * * *"\ntimezone = "UTC"\nenabled = false\n'
    )
    log = Log()
    scheduler = Scheduler(store, config, log.log)
    scheduler.load(config, WRONG)
    simulate(scheduler, WRONG, WRONG + 3)
    simulate(scheduler, REAL, REAL + 3)
    (note,) = log.events("scheduler.clock_back")
    assert note["level"] == "debug"


# -- the real daemon ---------------------------------------------------------------------------


def test_the_daemon_fires_at_once_though_the_last_fire_is_an_hour_ahead(env: Env) -> None:
    env.write_config(
        '[jobs.tick]\ncommand = ["true"]\n\n'
        '[schedules.every-second]\njob = "tick"\ncron = "* * * * * *"\noverlap = "allow"\n'
    )
    now = time.time()
    with SqliteStore(env.db) as store:  # as a daemon under `faketime +1h` left it
        store.record_fire("every-second", float(int(now + HOUR)), None, now, reason="ahead")
    daemon = env.start("--log-format", "json", "schedule-daemon")

    def fired() -> bool:
        with SqliteStore(env.db) as store:
            return bool(store.list_jobs(JobFilter(limit=None)))

    env.wait_for(fired, timeout=15)
    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=20)
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    (warning,) = [e for e in events if e["event"] == "scheduler.clock_back"]
    assert warning["schedule"] == "every-second" and warning["level"] == "warning"
    with SqliteStore(env.db) as store:
        (job, *_) = store.list_jobs(JobFilter(limit=None, newest_first=False))
    assert job.fire_time is not None and job.fire_time < now + 60


# -- jitter against overlap --------------------------------------------------------------------


def test_validate_warns_of_a_jitter_as_long_as_the_gap_between_fires(env: Env) -> None:
    """A minutely schedule with a 5m jitter ran 5 times in 15 minutes, without a word: each
    run waits out its jitter `scheduled`, active, and overlap "skip" drops the fires."""
    env.write_config(
        '[jobs.t]\ncommand = ["true"]\n'
        '[schedules.j]\njob = "t"\ncron = "* * * * *"\njitter = "5m"\n'
        '[schedules.twice]\njob = "t"\ncron = "0 9,10 * * *"\njitter = "1h"\n'
        'overlap = "queue"\ntimezone = "UTC"\n'
        '[schedules.spread]\njob = "t"\ncron = "0 9,10 * * *"\njitter = "59m"\n'
        '[schedules.allowed]\njob = "t"\ncron = "* * * * *"\njitter = "5m"\noverlap = "allow"\n'
    )
    checked = env.run("validate", check=True)
    assert checked.stderr.splitlines() == [
        f"jobctl: warning: {env.config}:6: [schedules.j] jitter: 5m is not shorter than the 1m"
        ' between fires: with overlap = "skip", a fire that comes while the previous run still'
        " waits out its jitter is skipped, so many fires will be (shorten the jitter, or set"
        ' overlap = "allow")',
        f"jobctl: warning: {env.config}:10: [schedules.twice] jitter: 1h is not shorter than"
        ' the 1h between fires: with overlap = "queue", a fire that comes while the previous'
        " run still waits out its jitter waits, and any further one is skipped, so many fires"
        ' will be (shorten the jitter, or set overlap = "allow")',
    ]


def test_a_leader_whose_every_tick_fails_lets_its_heartbeat_lapse(tmp_path: Path) -> None:
    """A leader that cannot enqueue a single fire (here a trigger refuses every new job;
    in the field a database an early build made) kept heartbeating, so `health
    --require-scheduler` passed while nothing ran. Its heartbeat now lapses after one
    interval of failures, and comes back with its first good tick."""
    from jobctl.clock import FakeClock
    from jobctl.daemon import HEARTBEAT, Daemon
    from jobctl.observe.health import Limits, check

    store = SqliteStore(tmp_path / "cron.db")
    config = config_for('[schedules.s]\njob = "task"\ncron = "@every 1s"\noverlap = "allow"\n')
    clock = FakeClock(start=time.time())
    events = Log()
    daemon = Daemon(store, config, log=events.log, clock=clock)
    lock = store.scheduler_lock()
    assert lock.acquire(1.0)

    def scheduler_live() -> bool:
        checks = check(store, Limits(require_scheduler=True), clock.now())
        return next(c.ok for c in checks if c.name == "require_scheduler")

    def other_connection(sql: str) -> None:
        with contextlib.closing(sqlite3.connect(tmp_path / "cron.db")) as conn:
            conn.execute(sql)

    def run_for(seconds: float) -> None:
        end = clock.monotonic() + seconds
        while clock.monotonic() < end:
            timeout = daemon._step(lock)
            assert timeout is not None
            clock.advance(max(timeout, 0.25))

    try:
        daemon._register()
        run_for(2 * HEARTBEAT)
        assert scheduler_live() and enqueued(store)
        other_connection(
            "CREATE TRIGGER refuse BEFORE INSERT ON jobs BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
        run_for(5 * HEARTBEAT)
        assert not scheduler_live(), events.events()[-5:]
        other_connection("DROP TRIGGER refuse")
        run_for(2 * HEARTBEAT)
        assert scheduler_live()
    finally:
        lock.release()


# -- a clock set forward -------------------------------------------------------------------------

DAY = 24 * HOUR
START = at("2026-06-01T12:55:00")  # the tester's: a nightly at 12:58, set a day ahead at 12:55


def live(scheduler: Scheduler, start: float, end: float, ahead: float = 0.0) -> None:
    """As the daemon ticks, from the real instant `start` to `end`: at the wakes it is asked
    for, at least every 5 s (its heartbeat), with the wall clock `ahead` of real time and the
    time elapsed since START (CLOCK_BOOTTIME's, which a clock set forward does not move)."""
    real = start
    while real < end:
        wake = scheduler.tick(real + ahead, real - START + HOUR)  # booted an hour before
        step = 5.0 if wake is None else min(5.0, wake - (real + ahead))
        real += max(step, 0.001)
    scheduler.tick(end + ahead, end - START + HOUR)


def nightly_and_hourly(policy: str) -> Config:
    return config_for(
        '[schedules.nightly]\njob = "task"\ncron = "58 12 * * *"\ntimezone = "UTC"\n'
        f'catch_up = "{policy}"\noverlap = "allow"\n'
        '[schedules.hourly]\njob = "task"\ncron = "0 * * * *"\ntimezone = "UTC"\n'
        f'catch_up = "{policy}"\noverlap = "allow"\n'
    )


@pytest.mark.parametrize("policy", ["none", "latest", "all"])
def test_a_clock_briefly_set_a_day_ahead_runs_each_fire_at_its_time(
    store: SqliteStore, policy: str
) -> None:
    """The wall clock jumped a day ahead for 8 s, unseen by the clock of elapsed time: the
    nightly fire of 12:58 ran at once as missed (with "none" it was recorded skipped), the
    hourly ones of the coming day too (all 24 with "all"), then at their real time each was
    "recorded already". A jump is no downtime: nothing it jumped over runs, and each fire
    runs at its time."""
    config = nightly_and_hourly(policy)
    log = Log()
    scheduler = Scheduler(store, config, log.log, live_since=START)
    scheduler.load(config, START)
    live(scheduler, START, START + 3)
    live(scheduler, START + 3, START + 11, ahead=DAY)
    live(scheduler, START + 11, at("2026-06-01T14:00:30"))
    assert enqueued(store, "nightly") == [at("2026-06-01T12:58")]
    assert enqueued(store, "hourly") == [at("2026-06-01T13:00"), at("2026-06-01T14:00")]
    assert log.events("schedule.catch_up") == []
    assert [e["schedule"] for e in log.events("scheduler.clock_forward")] == [
        "nightly",
        "hourly",
    ]
    assert {e["ahead_s"] for e in log.events("scheduler.clock_forward")} == {86400}
    skipped = [e for e in log.events("schedule.skipped") if e["reason"] == "recorded already"]
    assert skipped == []


def test_a_clock_set_forward_runs_the_fire_due_at_the_new_time(store: SqliteStore) -> None:
    """As cron takes a large change: the newest fire of the minute the clock jumped to runs
    (one, not a minute of an every-second schedule's), and the rhythm goes on from there."""
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * * *"\ntimezone = "UTC"\n'
        'catch_up = "all"\noverlap = "allow"\n'
        '[schedules.m]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\n'
        'catch_up = "all"\noverlap = "allow"\n'
    )
    scheduler = Scheduler(store, config, Log().log, live_since=START)
    scheduler.load(config, START)
    live(scheduler, START, START + 2)
    live(scheduler, START + 2.5, START + 4.5, ahead=3 * HOUR + 30)
    assert enqueued(store, "s") == [START + 1, START + 2] + [
        START + 3 * HOUR + 32 + k for k in range(3)
    ]
    assert enqueued(store, "m") == [START + 3 * HOUR]


def test_a_suspend_is_missed_time_not_a_clock_set_forward(store: SqliteStore) -> None:
    """A suspend moves CLOCK_BOOTTIME with the wall clock: its fires are caught up."""
    config = nightly_and_hourly("latest")
    scheduler = Scheduler(store, config, Log().log, live_since=START)
    scheduler.load(config, START)
    live(scheduler, START, START + 3)
    live(scheduler, START + 3 * HOUR, START + 3 * HOUR + 1)  # asleep three hours
    assert enqueued(store, "nightly") == [at("2026-06-01T12:58")]
    assert enqueued(store, "hourly") == [at("2026-06-01T15:00")]


def test_a_clock_set_at_boot_after_a_downtime_is_caught_up(store: SqliteStore) -> None:
    """A host without a clock of its own (a Raspberry Pi) starts with the time it stopped at
    and NTP sets it minutes after boot: that step is the downtime, which catch_up = "latest"
    is for, not a time change (the daemon had started before the step and took it for one)."""
    config = nightly_and_hourly("latest")
    scheduler = Scheduler(store, config, Log().log, live_since=START)
    scheduler.load(config, START)
    scheduler.tick(START, 60.0)  # a minute after boot, on the time the host stopped at
    scheduler.tick(START + 8 * HOUR, 70.0)  # NTP: eight hours on, ten seconds later
    assert enqueued(store, "nightly") == [at("2026-06-01T12:58")]
    assert enqueued(store, "hourly") == [at("2026-06-01T20:00")]


def test_a_step_of_under_three_hours_forward_runs_what_it_stepped_over_once(
    store: SqliteStore,
) -> None:
    """As cron runs the fixed-time jobs a change of up to three hours skipped: each
    schedule's newest fire of the span runs, once."""
    config = nightly_and_hourly("latest")
    scheduler = Scheduler(store, config, Log().log, live_since=START)
    scheduler.load(config, START)
    live(scheduler, START, START + 3)
    live(scheduler, START + 3, START + 8, ahead=2 * HOUR)
    assert enqueued(store, "nightly") == [at("2026-06-01T12:58")]
    assert enqueued(store, "hourly") == [at("2026-06-01T14:00")]

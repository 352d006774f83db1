"""The cron daemon's decisions, driven through simulated days with explicit instants.

`Scheduler.tick(now)` returns when it next wants to run; `simulate` jumps straight there, so
a simulated week takes milliseconds and nothing sleeps. The store is the real SQLite store.
"""

from __future__ import annotations

import io
import itertools
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from jobctl import cron
from jobctl.config import Config, parse_config
from jobctl.errors import JobctlError, StoreError
from jobctl.models import AttemptResult, FireRecord, JobFilter, Outcome, State
from jobctl.observe.events import EventLog
from jobctl.scheduler import Scheduler
from jobctl.store import Finish
from jobctl.store.sqlite import SqliteStore

UTC = ZoneInfo("UTC")


def at(text: str, zone: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def config_for(schedules: str) -> Config:
    return parse_config('[jobs.task]\ncommand = ["true"]\n\n' + schedules)


def quiet() -> EventLog:
    return EventLog(stream=io.StringIO())


def simulate(scheduler: Scheduler, start: float, end: float) -> None:
    """Tick at every instant the scheduler asks for, from start until end."""
    now = start
    while now < end:
        wake = scheduler.tick(now)
        if wake is None or wake > end:
            break
        now = max(wake, now + 0.001)
    scheduler.tick(end)


def fires(store: SqliteStore, schedule: str | None = None) -> list[float]:
    jobs = store.list_jobs(JobFilter(limit=None, newest_first=False))
    return sorted(
        j.fire_time for j in jobs if j.fire_time is not None and schedule in (None, j.schedule)
    )


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "cron.db")


def start_scheduler(store: SqliteStore, config: Config, now: float) -> Scheduler:
    scheduler = Scheduler(store, config, quiet())
    scheduler.load(config, now)
    return scheduler


# -- DST ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "expr", "start", "end", "expected_local"),
    [
        # Spring forward: 02:30 does not exist; it runs once, right after the change.
        (
            "Europe/Berlin",
            "30 2 * * *",
            "2026-03-28T12:00",
            "2026-03-30T12:00",
            ["2026-03-29T03:00+02:00", "2026-03-30T02:30+02:00"],
        ),
        # Fall back: 02:30 happens twice; it runs once, the first time.
        (
            "Europe/Berlin",
            "30 2 * * *",
            "2026-10-24T12:00",
            "2026-10-26T12:00",
            ["2026-10-25T02:30+02:00", "2026-10-26T02:30+01:00"],
        ),
        (
            "America/New_York",
            "30 2 * * *",
            "2026-03-07T12:00",
            "2026-03-09T12:00",
            ["2026-03-08T03:00-04:00", "2026-03-09T02:30-04:00"],
        ),
        (
            "America/New_York",
            "30 1 * * *",
            "2026-10-31T12:00",
            "2026-11-02T12:00",
            ["2026-11-01T01:30-04:00", "2026-11-02T01:30-05:00"],
        ),
    ],
)
def test_dst_fixed_hour_runs_exactly_once(
    store: SqliteStore, zone: str, expr: str, start: str, end: str, expected_local: list[str]
) -> None:
    config = config_for(
        f'[schedules.s]\njob = "task"\ncron = "{expr}"\ntimezone = "{zone}"\noverlap = "allow"\n'
    )
    t0, t1 = at(start, zone), at(end, zone)
    simulate(start_scheduler(store, config, t0), t0, t1)
    got = [
        datetime.fromtimestamp(f, ZoneInfo(zone)).isoformat(timespec="minutes")
        for f in fires(store)
    ]
    assert got == expected_local


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
@pytest.mark.parametrize("day", ["spring", "fall"])
def test_dst_step_schedules_keep_their_rhythm_in_real_time(
    store: SqliteStore, zone: str, day: str
) -> None:
    dates = {
        ("Europe/Berlin", "spring"): "2026-03-29",
        ("Europe/Berlin", "fall"): "2026-10-25",
        ("America/New_York", "spring"): "2026-03-08",
        ("America/New_York", "fall"): "2026-11-01",
    }
    config = config_for(
        f'[schedules.s]\njob = "task"\ncron = "*/15 * * * *"\ntimezone = "{zone}"\n'
        'overlap = "allow"\n'
    )
    t0 = at(dates[(zone, day)] + "T00:00", zone)
    t1 = t0 + 6 * 3600  # six real hours across the change
    simulate(start_scheduler(store, config, t0), t0, t1)
    got = fires(store)
    gaps = {round(b - a) for a, b in itertools.pairwise(got)}
    assert gaps == {900}
    assert len(got) == 24


# -- catch-up ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "limit", "expected"),
    [("latest", 100, 1), ("none", 100, 0), ("all", 100, 72), ("all", 10, 10)],
)
def test_catch_up_after_three_days_down(
    store: SqliteStore, policy: str, limit: int, expected: int
) -> None:
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "0 * * * *"\ntimezone = "UTC"\n'
        f'catch_up = "{policy}"\ncatch_up_limit = {limit}\noverlap = "allow"\n'
    )
    t0 = at("2026-06-01T00:30")
    simulate(start_scheduler(store, config, t0), t0, t0 + 3600)  # fires 01:00
    before = fires(store)
    assert len(before) == 1
    # Down for three days; a new daemon starts at 01:30 three days later.
    restart = t0 + 3 * 86400 + 3600
    start_scheduler(store, config, restart).tick(restart)
    caught = fires(store)[1:]
    assert len(caught) == expected
    if expected:
        assert caught[-1] == at("2026-06-04T01:00")
        assert len(set(caught)) == len(caught)


def test_a_schedule_seen_for_the_first_time_has_missed_nothing(store: SqliteStore) -> None:
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * *"\ncatch_up = "all"\noverlap = "allow"\n'
    )
    t0 = at("2026-06-01T00:00:30")
    start_scheduler(store, config, t0).tick(t0)
    assert fires(store) == []


@pytest.mark.parametrize("overlap", ["skip", "queue"])
def test_catch_up_all_runs_every_missed_fire_one_after_another(
    store: SqliteStore, overlap: str
) -> None:
    """Under overlap "skip" too: "all" asks for each missed fire, and overlapping runs
    are what "skip" forbids, not running them in turn. A restart keeps the turn going."""
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "0 * * * *"\ntimezone = "UTC"\n'
        f'catch_up = "all"\ncatch_up_limit = 3\noverlap = "{overlap}"\n'
    )
    t0 = at("2026-06-01T00:30")
    simulate(start_scheduler(store, config, t0), t0, t0 + 3600)  # fires 01:00
    (claim,) = store.claim("w", None, t0 + 3600, 30)
    store.finish([Finish(claim, AttemptResult(Outcome.SUCCEEDED, exit_code=0))], t0 + 3601)
    restart = t0 + 10 * 3600
    start_scheduler(store, config, restart).tick(restart)  # records the backlog, then dies
    scheduler = start_scheduler(store, config, restart + 5)
    ran = []
    for step in range(4):
        now = restart + 5 + step * 2
        scheduler.tick(now)
        claims = store.claim("w", None, now, 30, limit=2)
        assert len(claims) <= 1  # one after another, never two at once
        for claim in claims:
            ran.append(claim.job.fire_time)
            done = AttemptResult(Outcome.SUCCEEDED, exit_code=0)
            store.finish([Finish(claim, done)], now + 1)
    assert ran == [at(f"2026-06-01T{hour:02d}:00") for hour in (8, 9, 10)]


# -- overlap -----------------------------------------------------------------------------------


def test_overlap_skip_while_the_previous_run_is_running(store: SqliteStore) -> None:
    log_stream = io.StringIO()
    config = config_for('[schedules.s]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\n')
    t0 = at("2026-06-01T00:00:30")
    scheduler = Scheduler(store, config, EventLog(stream=log_stream))
    scheduler.load(config, t0)
    scheduler.tick(t0 + 30)  # 00:01 fires
    (claim,) = store.claim("w", None, t0 + 31, 30)
    scheduler.tick(t0 + 90)  # 00:02: the 00:01 run is still running
    assert len(fires(store)) == 1
    assert "schedule.skipped" in log_stream.getvalue() and "overlap" in log_stream.getvalue()
    store.finish([Finish(claim, AttemptResult(Outcome.SUCCEEDED, exit_code=0))], t0 + 100)
    scheduler.tick(t0 + 150)  # 00:03
    assert fires(store) == [at("2026-06-01T00:01"), at("2026-06-01T00:03")]


def test_overlap_queue_runs_the_fire_after_the_previous_one(store: SqliteStore) -> None:
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\noverlap = "queue"\n'
    )
    t0 = at("2026-06-01T00:00:30")
    scheduler = start_scheduler(store, config, t0)
    scheduler.tick(t0 + 30)
    (claim,) = store.claim("w", None, t0 + 31, 30)
    scheduler.tick(t0 + 90)
    assert len(fires(store)) == 1
    store.finish([Finish(claim, AttemptResult(Outcome.SUCCEEDED, exit_code=0))], t0 + 100)
    scheduler.tick(t0 + 102)
    assert fires(store) == [at("2026-06-01T00:01"), at("2026-06-01T00:02")]


# -- exactly once ------------------------------------------------------------------------------


class CrashBeforeCommit(SqliteStore):
    """The real store, made to die the moment it is asked to record a fire."""

    def record_fire(self, *args: object, **kwargs: object) -> FireRecord | None:
        raise StoreError("simulated crash before commit")


def test_a_crash_before_commit_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "0 * * * *"\ntimezone = "UTC"\noverlap = "allow"\n'
    )
    t0 = at("2026-06-01T00:30")
    real = SqliteStore(tmp_path / "db")
    simulate(start_scheduler(real, config, t0), t0, t0 + 1800)  # 01:00 fired
    crashing = CrashBeforeCommit(tmp_path / "db")
    doomed = start_scheduler(crashing, config, t0 + 1800)
    with pytest.raises(StoreError):
        doomed.tick(t0 + 5400)  # 02:00 is due; the process dies before it commits
    # The restarted daemon finds 02:00 unrecorded and fires it once.
    start_scheduler(real, config, t0 + 5401).tick(t0 + 5401)
    assert fires(real) == [at("2026-06-01T01:00"), at("2026-06-01T02:00")]


def test_a_crash_after_commit_is_not_fired_again(tmp_path: Path) -> None:
    config = config_for('[schedules.s]\njob = "task"\ncron = "0 * * * *"\ntimezone = "UTC"\n')
    t0 = at("2026-06-01T00:30")
    store = SqliteStore(tmp_path / "db")
    # The first daemon fires 01:00 and dies right after its commit, before it moves on.
    start_scheduler(store, config, t0).tick(t0 + 1800)
    # A new daemon that starts at the same instant, with the same plan, changes nothing.
    again = Scheduler(store, config, quiet())
    again.load(config, t0)
    again.tick(t0 + 1800)
    assert fires(store) == [at("2026-06-01T01:00")]


def test_two_daemons_on_one_database_fire_each_fire_once(tmp_path: Path) -> None:
    config = config_for(
        '[schedules.often]\njob = "task"\ncron = "*/5 * * * *"\ntimezone = "UTC"\n'
        'overlap = "allow"\n'
        '[schedules.hourly]\njob = "task"\ncron = "@hourly"\ntimezone = "UTC"\n'
        'overlap = "allow"\n'
    )
    t0 = at("2026-06-01T00:00:10")
    first = start_scheduler(SqliteStore(tmp_path / "db"), config, t0)
    second = start_scheduler(SqliteStore(tmp_path / "db"), config, t0)
    now = t0
    end = t0 + 6 * 3600  # six hours: 72 fires of one, 6 of the other
    step = 0
    while now <= end:
        # Both wake for each fire, in alternating order, as two racing processes would.
        (first if step % 2 else second).tick(now)
        (second if step % 2 else first).tick(now)
        step += 1
        now += 60
    store = SqliteStore(tmp_path / "db")
    counts = Counter((j.schedule, j.fire_time) for j in store.list_jobs(JobFilter(limit=None)))
    assert set(counts.values()) == {1}
    per_schedule = Counter(schedule for schedule, _ in counts)
    assert per_schedule == {"often": 72, "hourly": 6}


# -- store failures ----------------------------------------------------------------------------


@pytest.mark.parametrize("catch_up", ["latest", "all"])
def test_a_fire_the_store_refuses_runs_once_the_store_is_back(
    store: SqliteStore, catch_up: str
) -> None:
    """A full disk at a fire's time dropped that fire: the plan had moved past it before the
    write failed, so no later tick saw it (and the other schedules of the tick were never
    looked at)."""
    config = config_for(
        '[schedules.a]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\n'
        f'catch_up = "{catch_up}"\noverlap = "allow"\n'
        '[schedules.b]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\noverlap = "allow"\n'
    )
    t0 = at("2026-06-01T00:00:30")
    scheduler = start_scheduler(store, config, t0)
    store._conn.execute("PRAGMA query_only = ON")  # every write fails, as on a full disk
    for second in range(30, 40):
        with pytest.raises(StoreError):
            scheduler.tick(t0 + second)
    store._conn.execute("PRAGMA query_only = OFF")
    scheduler.tick(t0 + 40)
    minute = at("2026-06-01T00:01")
    jobs = store.list_jobs(JobFilter(limit=None))
    assert sorted((j.schedule, j.fire_time) for j in jobs) == [
        ("a", minute),
        ("b", minute),
    ]


def test_a_store_outage_logs_the_catch_up_once_its_fires_are_recorded(store: SqliteStore) -> None:
    """While the store refused the writes (a full disk), each tick, retried once a second,
    warned anew of fires "missed" before its write failed: a line a second per schedule for
    as long as the outage lasted, the store's error line buried among them."""
    config = config_for(
        '[schedules.a]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\n'
        'catch_up = "all"\noverlap = "allow"\n'
    )
    t0 = at("2026-06-01T00:00:30")
    sink = io.StringIO()
    scheduler = Scheduler(store, config, EventLog(stream=sink, fmt="json"))
    scheduler.load(config, t0)
    store._conn.execute("PRAGMA query_only = ON")  # every write fails, as on a full disk
    for second in range(30, 200):  # from the fire of 00:01 on, each tick fails
        with pytest.raises(StoreError):
            scheduler.tick(t0 + second)
    assert sink.getvalue() == ""
    store._conn.execute("PRAGMA query_only = OFF")
    scheduler.tick(t0 + 200)
    minutes = [at("2026-06-01T00:01"), at("2026-06-01T00:02"), at("2026-06-01T00:03")]
    assert fires(store) == minutes
    events = [json.loads(line)["event"] for line in sink.getvalue().splitlines()]
    assert events == ["schedule.fired"] * 3 + ["schedule.catch_up"]
    # 00:03 is 50 seconds late: on time, so two fires were missed, and three run.
    assert catch_up_lines(sink) == [("warning", "2", 3)]


# -- paused and disabled -----------------------------------------------------------------------


def test_paused_and_disabled_schedules_do_not_fire(store: SqliteStore) -> None:
    config = config_for(
        '[schedules.on]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\noverlap = "allow"\n'
        '[schedules.off]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\nenabled = false\n'
    )
    t0 = at("2026-06-01T00:00:30")
    scheduler = start_scheduler(store, config, t0)
    store.set_schedule_paused("on", True)
    simulate(scheduler, t0, t0 + 300)
    assert fires(store) == []
    store.set_schedule_paused("on", False)
    simulate(scheduler, t0 + 300, t0 + 400)
    assert fires(store, "on") == [at("2026-06-01T00:06"), at("2026-06-01T00:07")]
    assert fires(store, "off") == []


def test_reload_stops_removed_and_recomputes_changed(store: SqliteStore) -> None:
    config = config_for(
        '[schedules.a]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\noverlap = "allow"\n'
        '[schedules.b]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\noverlap = "allow"\n'
    )
    t0 = at("2026-06-01T00:00:30")
    scheduler = start_scheduler(store, config, t0)
    simulate(scheduler, t0, t0 + 60)
    changed = config_for(
        '[schedules.a]\njob = "task"\ncron = "*/2 * * * *"\ntimezone = "UTC"\noverlap = "allow"\n'
    )
    scheduler.load(changed, t0 + 60)
    simulate(scheduler, t0 + 60, t0 + 300)
    assert fires(store, "b") == [at("2026-06-01T00:01")]
    assert fires(store, "a") == [
        at("2026-06-01T00:01"),
        at("2026-06-01T00:02"),
        at("2026-06-01T00:04"),
    ]


def test_manual_run_is_recorded_as_manual(store: SqliteStore) -> None:
    """`schedule run` asks for a run now: the schedule's jitter (spreading fires of many
    hosts) does not delay it."""
    config = config_for('[schedules.s]\njob = "task"\ncron = "@daily"\njitter = "1h"\n')
    scheduler = start_scheduler(store, config, at("2026-06-01T10:00"))
    record = scheduler.fire_now("s", at("2026-06-01T10:00"))
    assert record is not None and record.manual and record.status == "enqueued"
    job_id = record.job_id
    assert job_id is not None
    job = store.get(job_id)
    assert job is not None and job.schedule == "s" and job.state == State.QUEUED
    assert store.last_fire_time("s") is None  # the plan is not moved by manual runs


def test_jobs_carry_schedule_payload_priority_and_queue(store: SqliteStore) -> None:
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\n'
        'payload = { a = 1 }\npriority = 7\nqueue = "cron"\n'
    )
    t0 = at("2026-06-01T00:00:30")
    start_scheduler(store, config, t0).tick(t0 + 30)
    (job,) = store.list_jobs(JobFilter(limit=None))
    assert (job.payload, job.priority, job.queue, job.job) == ({"a": 1}, 7, "cron", "task")


def test_jitter_delays_the_run_but_not_the_fire(store: SqliteStore) -> None:
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\njitter = "30s"\n'
    )
    t0 = at("2026-06-01T00:00:30")
    start_scheduler(store, config, t0).tick(t0 + 30)
    (job,) = store.list_jobs(JobFilter(limit=None))
    assert job.fire_time == t0 + 30
    assert t0 + 30 <= job.run_at <= t0 + 60


# -- reviewed edges ------------------------------------------------------------------------------


def test_catch_up_none_skips_even_a_single_fire_missed_while_down(store: SqliteStore) -> None:
    """cron never makes up a run it missed: one missed fire is missed too, not run late."""
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "0 3 * * *"\ntimezone = "UTC"\n'
        'catch_up = "none"\noverlap = "allow"\n'
    )
    t0 = at("2026-06-01T02:00")
    simulate(start_scheduler(store, config, t0), t0, at("2026-06-01T03:30"))
    assert fires(store) == [at("2026-06-01T03:00")]
    # Down from 02:00 to 10:00 the next day: the 03:00 fire passed while no daemon ran.
    restart = at("2026-06-02T10:00")
    scheduler = start_scheduler(store, config, restart)
    simulate(scheduler, restart, at("2026-06-03T03:30"))
    assert fires(store) == [at("2026-06-01T03:00"), at("2026-06-03T03:00")]


def test_latest_still_runs_a_single_fire_missed_while_down(store: SqliteStore) -> None:
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "0 3 * * *"\ntimezone = "UTC"\noverlap = "allow"\n'
    )
    t0 = at("2026-06-01T02:00")
    simulate(start_scheduler(store, config, t0), t0, at("2026-06-01T03:30"))
    restart = at("2026-06-02T10:00")
    start_scheduler(store, config, restart).tick(restart)
    assert fires(store) == [at("2026-06-01T03:00"), at("2026-06-02T03:00")]


def test_a_late_tick_of_a_running_daemon_is_not_a_missed_fire(store: SqliteStore) -> None:
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "0 3 * * *"\ntimezone = "UTC"\n'
        'catch_up = "none"\noverlap = "allow"\n'
    )
    t0 = at("2026-06-01T02:00")
    scheduler = start_scheduler(store, config, t0)
    scheduler.tick(t0)
    scheduler.tick(at("2026-06-01T03:00:05"))  # woke five seconds late, but was running
    assert fires(store) == [at("2026-06-01T03:00")]


@pytest.mark.parametrize("policy", ["latest", "all"])
def test_a_changed_cron_counts_from_the_reload(store: SqliteStore, policy: str) -> None:
    """The fires of the new time table before the reload were never planned: none is run."""
    config = config_for(
        f'[schedules.s]\njob = "task"\ncron = "0 0 1 1 *"\ntimezone = "UTC"\n'
        f'catch_up = "{policy}"\noverlap = "allow"\n'
    )
    t0 = at("2026-06-01T12:00:00")
    scheduler = start_scheduler(store, config, t0)
    simulate(scheduler, t0, t0 + 15)
    changed = config_for(
        f'[schedules.s]\njob = "task"\ncron = "* * * * * *"\ntimezone = "UTC"\n'
        f'catch_up = "{policy}"\noverlap = "allow"\n'
    )
    scheduler.load(changed, t0 + 15.5)
    simulate(scheduler, t0 + 15.5, t0 + 18)
    assert fires(store) == [t0 + 16, t0 + 17, t0 + 18]


def test_a_refused_reload_keeps_the_whole_previous_config(store: SqliteStore) -> None:
    """A reload with a bad schedule changes nothing: the plans and the jobs they enqueue stay
    those of the config in force (the new one renamed the job type they use)."""
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * * *"\ntimezone = "UTC"\noverlap = "allow"\n'
    )
    t0 = at("2026-06-01T12:00:00")
    scheduler = start_scheduler(store, config, t0)
    simulate(scheduler, t0, t0 + 2)
    broken = parse_config(
        '[jobs.task2]\ncommand = ["true"]\n'
        '[schedules.s]\njob = "task2"\ncron = "* * * * * *"\ntimezone = "UTC"\n'
        '[schedules.t]\njob = "task2"\ncron = "0 25 * * *"\n'
    )
    with pytest.raises(JobctlError):
        scheduler.load(broken, t0 + 2.5)
    assert scheduler.config is config
    simulate(scheduler, t0 + 2.5, t0 + 4)
    assert fires(store) == [t0 + 1, t0 + 2, t0 + 3, t0 + 4]
    jobs = store.list_jobs(JobFilter(limit=None))
    assert {j.job for j in jobs} == {"task"}


def test_one_database_through_a_symlink_has_one_leader_lock(tmp_path: Path) -> None:
    real = SqliteStore(tmp_path / "q.db")
    (tmp_path / "alias.db").symlink_to(tmp_path / "q.db")
    alias = SqliteStore(tmp_path / "alias.db")
    first, second = real.scheduler_lock(), alias.scheduler_lock()
    try:
        assert first.acquire(timeout=0)
        assert not second.acquire(timeout=0)
    finally:
        first.release()
        second.release()


def test_a_disabled_schedule_logs_its_skips_at_debug_level(store: SqliteStore) -> None:
    """A disabled every-second schedule used to log a warning each second."""
    config = config_for(
        '[schedules.off]\njob = "task"\ncron = "* * * * * *"\ntimezone = "UTC"\nenabled = false\n'
    )
    sink = io.StringIO()
    t0 = at("2026-06-01T12:00:00")
    scheduler = Scheduler(store, config, EventLog(stream=sink, level="info"))
    scheduler.load(config, t0)
    simulate(scheduler, t0, t0 + 60)
    assert fires(store) == []
    assert "schedule.skipped" not in sink.getvalue()
    assert store.last_fire_time("off") == t0 + 60


def test_a_standby_that_takes_over_runs_the_fire_that_came_meanwhile(store: SqliteStore) -> None:
    """The leader died just before 03:00; the standby, running since 02:00, leads from just
    after. The 03:00 fire did not pass while no daemon ran: it runs, even with "none"."""
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "0 3 * * *"\ntimezone = "UTC"\n'
        'catch_up = "none"\noverlap = "allow"\n'
    )
    leader = start_scheduler(store, config, at("2026-06-01T01:00"))
    simulate(leader, at("2026-06-01T01:00"), at("2026-06-01T02:59:59"))
    standby = Scheduler(store, config, quiet(), live_since=at("2026-06-01T02:00"))
    takeover = at("2026-06-01T03:00:00.500")
    standby.load(config, takeover)
    standby.tick(takeover)
    assert fires(store) == [at("2026-06-01T03:00")]


def test_a_standby_that_waited_out_a_lease_runs_the_newest_fire_even_with_none(
    store: SqliteStore,
) -> None:
    """On Redis a standby leads only once the dead leader's lease ran out: fires came
    every second meanwhile. With "none" nothing runs late, but the newest of them came while
    the standby ran, and runs (all of them were dropped before)."""
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * * *"\ntimezone = "UTC"\n'
        'catch_up = "none"\noverlap = "allow"\n'
    )
    leader = start_scheduler(store, config, at("2026-06-01T01:00"))
    simulate(leader, at("2026-06-01T01:00"), at("2026-06-01T01:00:10"))
    standby = Scheduler(store, config, quiet(), live_since=at("2026-06-01T01:00:05"))
    takeover = at("2026-06-01T01:00:15.200")
    standby.load(config, takeover)
    standby.tick(takeover)
    assert fires(store)[-2:] == [at("2026-06-01T01:00:10"), at("2026-06-01T01:00:15")]


def test_a_leader_s_own_stall_runs_its_newest_missed_fire_with_none(store: SqliteStore) -> None:
    """A leader that stalled (a suspended machine, a store outage) was leading all along: no
    daemon was down. With "none" it ran none of the fires the stall let pass, where cron runs
    a fixed-time job a suspend of up to three hours skipped, and a systemd timer elapses on
    resume: a laptop closed over the 02:30 backup lost it every night. Now the newest runs,
    as under "latest", unless the stall lasted over three hours."""
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\n'
        'catch_up = "none"\noverlap = "allow"\n'
        '[schedules.h]\njob = "task"\ncron = "0 * * * *"\ntimezone = "UTC"\n'
        'catch_up = "none"\noverlap = "allow"\n'
        '[schedules.d]\njob = "task"\ncron = "0 1 * * *"\ntimezone = "UTC"\n'
        'catch_up = "none"\noverlap = "allow"\n'
    )
    leader = start_scheduler(store, config, at("2026-06-01T00:59:30"))
    leader.tick(at("2026-06-01T00:59:40"))
    leader.tick(at("2026-06-01T02:30:10"))  # asleep for an hour and a half
    assert fires(store, "s") == [at("2026-06-01T02:30")]  # 10 s late: on time
    assert fires(store, "h") == [at("2026-06-01T02:00")]  # half an hour late: run
    assert fires(store, "d") == [at("2026-06-01T01:00")]  # an hour and a half late: run
    leader.tick(at("2026-06-02T04:00:10"))  # asleep for over a day
    assert fires(store, "h") == [at("2026-06-01T02:00"), at("2026-06-02T04:00")]
    assert fires(store, "d") == [at("2026-06-01T01:00")]  # three hours late: missed
    (record, _) = store.last_fires()["d"]
    assert record.fire_time == at("2026-06-02T01:00")
    assert record.reason == "missed: the daemon woke over 3h late for it (catch_up = none)"


def test_retention_forgets_old_fire_records_too(store: SqliteStore) -> None:
    """An every-second schedule records a fire each second; a worker's retention (or
    `jobctl prune`) forgets those older than its period, keeping where the plan stands."""
    from jobctl.retention import AutoPruner

    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * * *"\ntimezone = "UTC"\noverlap = "allow"\n'
    )
    t0 = at("2026-06-01T12:00:00")
    # Three minutes of fires: the prune keeps the last minute's 61 and forgets 119.
    simulate(start_scheduler(store, config, t0), t0, t0 + 180)
    count = "SELECT COUNT(*) FROM fires WHERE schedule = 's'"
    assert store._read(count)[0][0] == 180
    AutoPruner({State.SUCCEEDED: 60.0, State.DEAD: None}).run(store, t0 + 180)
    assert store._read(count)[0][0] == 61  # the last minute, the latest fire among them
    assert store.last_fire_time("s") == t0 + 180


def test_a_disabled_schedule_keeps_one_skip_row_not_one_a_fire(store: SqliteStore) -> None:
    """A disabled every-second schedule wrote a skip row a second (86,400 a day)."""
    config = config_for(
        '[schedules.off]\njob = "task"\ncron = "* * * * * *"\ntimezone = "UTC"\nenabled = false\n'
    )
    t0 = at("2026-06-01T12:00:00")
    simulate(start_scheduler(store, config, t0), t0, t0 + 180)
    rows = store._read("SELECT fire_time, status, reason FROM fires WHERE schedule = 'off'")
    assert rows == [(t0 + 180, "skipped", "disabled")]
    # Enabled again by a restart: nothing of the disabled time is caught up.
    enabled = config_for(
        '[schedules.off]\njob = "task"\ncron = "* * * * * *"\ntimezone = "UTC"\n'
        'catch_up = "all"\noverlap = "allow"\n'
    )
    simulate(start_scheduler(store, enabled, t0 + 180), t0 + 180, t0 + 183)
    assert fires(store, "off") == [t0 + 181, t0 + 182, t0 + 183]


def test_a_cron_changed_while_no_daemon_ran_counts_from_the_restart(store: SqliteStore) -> None:
    """A deploy that changes a cron and restarts the daemon: caught up from the old table's
    last fire, the new table's "missed" fire ran at the restart (a reload did not)."""
    daily_3 = config_for(
        '[schedules.s]\njob = "task"\ncron = "0 3 * * *"\ntimezone = "UTC"\noverlap = "allow"\n'
    )
    daily_430 = config_for(
        '[schedules.s]\njob = "task"\ncron = "30 4 * * *"\ntimezone = "UTC"\noverlap = "allow"\n'
    )
    simulate(start_scheduler(store, daily_3, at("2026-06-01T02:00")), at("2026-06-01T02:00"),
             at("2026-06-01T03:30"))  # fmt: skip
    restarted = start_scheduler(store, daily_430, at("2026-06-01T10:00"))
    simulate(restarted, at("2026-06-01T10:00"), at("2026-06-01T11:00"))
    assert fires(store) == [at("2026-06-01T03:00")]  # no catch-up run of 04:30
    again = start_scheduler(store, daily_430, at("2026-06-01T12:00"))  # and not after this
    simulate(again, at("2026-06-01T12:00"), at("2026-06-02T05:00"))
    assert fires(store) == [at("2026-06-01T03:00"), at("2026-06-02T04:30")]
    # An unchanged time table still catches up what it missed while no daemon ran.
    simulate(start_scheduler(store, daily_430, at("2026-06-03T09:00")), at("2026-06-03T09:00"),
             at("2026-06-03T09:01"))  # fmt: skip
    assert fires(store)[-1] == at("2026-06-03T04:30")


def test_a_changed_cron_still_counts_from_the_reload_after_a_restart(store: SqliteStore) -> None:
    daily_3 = config_for(
        '[schedules.s]\njob = "task"\ncron = "0 3 * * *"\ntimezone = "UTC"\noverlap = "allow"\n'
    )
    daily_4 = config_for(
        '[schedules.s]\njob = "task"\ncron = "0 4 * * *"\ntimezone = "UTC"\noverlap = "allow"\n'
    )
    scheduler = start_scheduler(store, daily_3, at("2026-06-01T02:00"))
    simulate(scheduler, at("2026-06-01T02:00"), at("2026-06-01T10:00"))
    scheduler.load(daily_4, at("2026-06-01T10:00"))
    simulate(scheduler, at("2026-06-01T10:00"), at("2026-06-01T10:30"))
    restarted = start_scheduler(store, daily_4, at("2026-06-01T11:00"))
    restarted.tick(at("2026-06-01T11:00"))
    assert fires(store) == [at("2026-06-01T03:00")]  # no catch-up run for 04:00
    simulate(restarted, at("2026-06-01T11:00"), at("2026-06-02T04:30"))
    assert fires(store) == [at("2026-06-01T03:00"), at("2026-06-02T04:00")]


@pytest.mark.parametrize("policy", ["latest", "all"])
def test_a_schedule_taken_out_and_put_back_counts_from_the_reload(
    store: SqliteStore, policy: str
) -> None:
    """Commenting a crontab line out during maintenance and back in runs nothing for the
    time it was out: the schedule was not in force then. A restart after that resumes from
    the reload too."""
    spec = (
        f'[schedules.s]\njob = "task"\ncron = "* * * * * *"\ntimezone = "UTC"\n'
        f'catch_up = "{policy}"\noverlap = "allow"\n'
    )
    other = '[schedules.other]\njob = "task"\ncron = "0 0 1 1 *"\ntimezone = "UTC"\n'
    t0 = at("2026-06-01T12:00:00")
    scheduler = start_scheduler(store, config_for(spec + other), t0)
    simulate(scheduler, t0, t0 + 2)
    scheduler.load(config_for(other), t0 + 2.5)
    simulate(scheduler, t0 + 2.5, t0 + 10)
    scheduler.load(config_for(spec + other), t0 + 10.5)
    simulate(scheduler, t0 + 10.5, t0 + 12)
    assert fires(store, "s") == [t0 + 1, t0 + 2, t0 + 11, t0 + 12]
    restarted = start_scheduler(store, config_for(spec + other), t0 + 12.5)
    simulate(restarted, t0 + 12.5, t0 + 13)
    assert fires(store, "s") == [t0 + 1, t0 + 2, t0 + 11, t0 + 12, t0 + 13]


def test_a_schedule_new_to_a_standby_keeps_its_recorded_fires(store: SqliteStore) -> None:
    """A standby started with an older config takes over, then reads the file the leader
    had reloaded: its schedules are new to it, not put back, and catch up as a restart
    does (only a schedule this daemon saw taken out counts from the reload)."""
    spec = (
        '[schedules.s]\njob = "task"\ncron = "* * * * * *"\ntimezone = "UTC"\n'
        'catch_up = "all"\noverlap = "allow"\n'
    )
    other = '[schedules.other]\njob = "task"\ncron = "0 0 1 1 *"\ntimezone = "UTC"\n'
    t0 = at("2026-06-01T12:00:00")
    leader = start_scheduler(store, config_for(spec + other), t0)
    simulate(leader, t0, t0 + 2)  # then it dies
    standby = start_scheduler(store, config_for(other), t0 + 4.5)
    standby.load(config_for(spec + other), t0 + 4.6)
    simulate(standby, t0 + 4.6, t0 + 5.5)
    assert fires(store, "s") == [t0 + 1, t0 + 2, t0 + 3, t0 + 4, t0 + 5]


@pytest.mark.parametrize("change", ["retimed", "taken out and put back"])
def test_a_fire_held_by_overlap_queue_goes_with_its_time_table(
    store: SqliteStore, change: str
) -> None:
    """A fire held for a run still going (overlap = "queue") belongs to the time table that
    made it: a reload that changes the cron, or takes the schedule out, drops it. It used to
    run once the run ended, or once the schedule was put back."""
    every_minute = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\noverlap = "queue"\n'
    )
    yearly = config_for(
        '[schedules.s]\njob = "task"\ncron = "0 0 1 1 *"\ntimezone = "UTC"\noverlap = "queue"\n'
    )
    other = config_for('[schedules.other]\njob = "task"\ncron = "0 0 1 1 *"\ntimezone = "UTC"\n')
    t0 = at("2026-06-01T00:00:30")
    scheduler = start_scheduler(store, every_minute, t0)
    scheduler.tick(t0 + 30)  # 00:01 runs
    (claim,) = store.claim("w", None, t0 + 31, 30)
    scheduler.tick(t0 + 90)  # 00:02 is held
    if change == "retimed":
        scheduler.load(yearly, t0 + 95)
    else:
        scheduler.load(other, t0 + 95)
    store.finish([Finish(claim, AttemptResult(Outcome.SUCCEEDED, exit_code=0))], t0 + 100)
    simulate(scheduler, t0 + 100, t0 + 110)
    if change != "retimed":
        scheduler.load(every_minute, t0 + 111)
        simulate(scheduler, t0 + 111, t0 + 115)
    assert fires(store, "s") == [at("2026-06-01T00:01")]


def test_a_held_fire_is_logged_as_held_and_as_fired_when_it_runs(store: SqliteStore) -> None:
    """The hold was logged as a skip, and a held fire released by the next fire's own
    record got no line at all: `grep schedule.fired` missed a run."""
    log_stream = io.StringIO()
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\noverlap = "queue"\n'
    )
    t0 = at("2026-06-01T00:00:30")
    scheduler = Scheduler(store, config, EventLog(stream=log_stream, fmt="json"))
    scheduler.load(config, t0)
    scheduler.tick(t0 + 30)  # 00:01 runs
    (claim,) = store.claim("w", None, t0 + 31, 30)
    scheduler.tick(t0 + 90)  # 00:02 is held
    store.finish([Finish(claim, AttemptResult(Outcome.SUCCEEDED, exit_code=0))], t0 + 100)
    scheduler.tick(t0 + 150)  # 00:03 is due before any look at the held fire
    events = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    said = [(e["event"], e["fire_time"][11:16], e.get("note")) for e in events]
    assert said == [
        ("schedule.fired", "00:01", None),
        ("schedule.held", "00:02", None),
        ("schedule.fired", "00:02", "pending run"),
        ("schedule.held", "00:03", None),
    ]


def test_catch_up_none_keeps_a_fire_a_restart_came_seconds_after(store: SqliteStore) -> None:
    """A daemon restarted (systemctl restart, a deploy) ten seconds after 03:00: that fire is
    on time, not missed. A day later than that it is missed."""
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "0 3 * * *"\ntimezone = "UTC"\n'
        'catch_up = "none"\noverlap = "allow"\n'
    )
    t0 = at("2026-06-01T02:00")
    simulate(start_scheduler(store, config, t0), t0, at("2026-06-01T02:59:59"))
    restart = at("2026-06-01T03:00:10")
    start_scheduler(store, config, restart).tick(restart)
    assert fires(store) == [at("2026-06-01T03:00")]
    late = at("2026-06-02T03:01:30")
    start_scheduler(store, config, late).tick(late)
    assert fires(store) == [at("2026-06-01T03:00")]


def test_a_cron_made_more_frequent_while_no_daemon_ran_counts_from_the_restart(
    store: SqliteStore,
) -> None:
    """Told from the last fire alone, a change whose new table has that fire too (every 4 s
    to every 2 s, daily to 6-hourly) went unseen: the new table's past ran at the restart."""
    every_4 = config_for(
        '[schedules.s]\njob = "task"\ncron = "*/4 * * * * *"\ntimezone = "UTC"\n'
        'catch_up = "all"\noverlap = "allow"\n'
    )
    every_2 = config_for(
        '[schedules.s]\njob = "task"\ncron = "*/2 * * * * *"\ntimezone = "UTC"\n'
        'catch_up = "all"\noverlap = "allow"\n'
    )
    t0 = at("2026-06-01T00:00:00")
    simulate(start_scheduler(store, every_4, t0), t0, t0 + 4)
    assert fires(store) == [t0 + 4]
    simulate(start_scheduler(store, every_2, t0 + 12), t0 + 12, t0 + 14)
    assert fires(store) == [t0 + 4, t0 + 14]  # not 6, 8, 10, 12 at the restart


# -- time tables that are the same however written; fires catch_up = "none" leaves -------------


def events_of(stream: io.StringIO, name: str) -> list[dict[str, object]]:
    found = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [e for e in found if e["event"] == name]


def one_schedule(
    expr: str, zone: str | None, policy: str = "latest", overlap: str = "allow"
) -> Config:
    timezone = f'timezone = "{zone}"\n' if zone else ""
    return config_for(
        f'[schedules.s]\njob = "task"\ncron = "{expr}"\n{timezone}'
        f'catch_up = "{policy}"\noverlap = "{overlap}"\n'
    )


# Rewrites that move no fire: another spelling of the fields, a macro for its fields, a zone
# under another name of its rules, an @every in other units (and in any zone).
SAME_TIME_TABLES = [
    (("0 */20 3 * * *", "UTC"), ("0 0/20  3  * * *", "UTC")),
    (("0 3 * * MON-FRI", "UTC"), ("0 3 * * mon-fri", "UTC")),
    (("@daily", "UTC"), ("0 0 0 * * *", "UTC")),
    (("0 3 * * *", "UTC"), ("0 3 * * *", "Etc/UTC")),
    (("0 3 * * *", "UTC"), ("0 3 * * *", "Etc/GMT")),
    (("0 3 * * *", "Zulu"), ("0 3 * * 0-6", "UTC")),
    (("30 8 * * *", "Asia/Calcutta"), ("30 8 * * *", "Asia/Kolkata")),
    (("@every 3h", "UTC"), ("@every 180m", "Europe/Berlin")),
]


@pytest.mark.parametrize(("before", "after"), SAME_TIME_TABLES)
def test_a_time_table_rewritten_while_no_daemon_ran_still_catches_up(
    store: SqliteStore, before: tuple[str, str], after: tuple[str, str]
) -> None:
    """The daemons compared the recorded "<cron> <zone>" as text: "*/20" as "0/20", MON as
    mon, @daily as its fields or UTC as Etc/UTC counted as a new time table, and the fire
    missed while no daemon ran was dropped, silently, for all catch_up = "latest" says."""
    t0 = at("2026-06-01T00:30", before[1])
    simulate(start_scheduler(store, one_schedule(*before), t0), t0, t0 + 86400)
    ran = fires(store)
    assert ran
    sink = io.StringIO()
    restart = at("2026-06-03T10:00", before[1])
    scheduler = Scheduler(store, one_schedule(*after), EventLog(stream=sink, fmt="json"))
    scheduler.load(one_schedule(*after), restart)
    scheduler.tick(restart)
    missed = cron.fires_between(cron.parse(before[0]), ZoneInfo(before[1]), ran[-1], restart)
    assert missed, "the downtime must span a fire"
    assert fires(store) == [*ran, missed[-1]]  # the latest missed fire ran at the restart
    assert events_of(sink, "schedule.retimed") == []
    (record, _) = store.last_fires()["s"]
    assert record.status == "enqueued"  # no "time table changed" mark


def test_the_host_zone_under_another_name_is_the_same_time_table(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A schedule naming no zone is planned in the host's, as the daemon resolves it: a
    daemon started with TZ=UTC, then with TZ=:/usr/share/zoneinfo/Etc/UTC, has one zone."""
    from jobctl.timefmt import local_zone

    config = one_schedule("0 3 * * *", None)
    t0 = at("2026-06-01T02:00")
    restart = at("2026-06-02T10:00")
    try:
        monkeypatch.setenv("TZ", "UTC")
        local_zone.cache_clear()  # as a daemon started anew resolves it
        simulate(start_scheduler(store, config, t0), t0, at("2026-06-01T03:30"))
        assert store.time_tables(["s"]) == {"s": "0 3 * * * UTC"}
        monkeypatch.setenv("TZ", ":/usr/share/zoneinfo/Etc/UTC")
        local_zone.cache_clear()
        start_scheduler(store, config, restart).tick(restart)
        assert store.time_tables(["s"]) == {"s": "0 3 * * * Etc/UTC"}
    finally:
        local_zone.cache_clear()
    assert fires(store) == [at("2026-06-01T03:00"), at("2026-06-02T03:00")]


def test_a_reload_that_rewrites_a_time_table_keeps_its_plan(store: SqliteStore) -> None:
    """A reload compared the parsed expression with its text, and the zone objects: "*/20"
    rewritten as "0/20", or UTC as Etc/UTC, started the plan afresh. A daemon that woke from
    a suspend and read the edited file before its tick lost the fire it slept through."""
    scheduler = start_scheduler(store, one_schedule("*/20 * * * *", "UTC"), at("2026-06-01T00:10"))
    scheduler.tick(at("2026-06-01T00:20:01"))
    scheduler.load(one_schedule("0/20 * * * *", "Etc/UTC"), at("2026-06-01T01:00:30"))
    scheduler.tick(at("2026-06-01T01:00:30"))
    assert fires(store) == [at("2026-06-01T00:20"), at("2026-06-01T01:00")]
    (record, _) = store.last_fires()["s"]
    assert record.status == "enqueued"


def test_a_reload_that_rewrites_a_time_table_keeps_its_held_fire(store: SqliteStore) -> None:
    """A fire held for a run still going (overlap = "queue") went with the old time table
    when a reload only rewrote it: it never ran."""
    scheduler = start_scheduler(
        store, one_schedule("0 */20 * * * *", "UTC", overlap="queue"), at("2026-06-01T00:10")
    )
    scheduler.tick(at("2026-06-01T00:20:01"))  # 00:20 runs
    (claim,) = store.claim("w", None, at("2026-06-01T00:20:02"), 30)
    scheduler.tick(at("2026-06-01T00:40:01"))  # 00:40 is held
    scheduler.load(one_schedule("*/20 * * * *", "UTC", overlap="queue"), at("2026-06-01T00:45"))
    store.finish(
        [Finish(claim, AttemptResult(Outcome.SUCCEEDED, exit_code=0))], at("2026-06-01T00:50")
    )
    simulate(scheduler, at("2026-06-01T00:50"), at("2026-06-01T00:50:05"))
    assert fires(store) == [at("2026-06-01T00:20"), at("2026-06-01T00:40")]


def test_a_time_table_changed_while_no_daemon_ran_says_what_it_leaves_unrun(
    store: SqliteStore,
) -> None:
    """A real change still counts from the restart, as before; it was said only by a row in
    the database. Now a warning names the schedule, what changed and the old table's fires
    that catch-up would have run; a change that leaves nothing unrun is an info line."""
    t0 = at("2026-06-01T02:00")
    simulate(start_scheduler(store, one_schedule("0 3 * * *", "UTC"), t0), t0, t0 + 7200)
    sink = io.StringIO()
    log = EventLog(stream=sink, fmt="json", level="debug")
    moved = one_schedule("30 4 * * *", "Europe/Berlin")
    scheduler = Scheduler(store, moved, log)
    scheduler.load(moved, at("2026-06-03T10:00"))
    scheduler.tick(at("2026-06-03T10:00"))
    assert fires(store) == [at("2026-06-01T03:00")]  # as before: nothing caught up
    (said,) = events_of(sink, "schedule.retimed")
    assert said["level"] == "warning"
    assert said["schedule"] == "s"
    assert said["cron"] == "0 3 * * * -> 30 4 * * *"
    assert said["timezone"] == "UTC -> Europe/Berlin"
    assert said["missed"] == 2  # 03:00 UTC on June 2 and 3
    assert str(said["planned_to"]).startswith("2026-06-01T03:00:00")
    assert "while no daemon ran" in str(said["reason"])
    # A reload that changes it again, with nothing due meanwhile: said, not warned of.
    scheduler.load(one_schedule("0 5 * * *", "Europe/Berlin"), at("2026-06-03T10:30"))
    (_, again) = events_of(sink, "schedule.retimed")
    assert (again["level"], again["missed"]) == ("info", 0)
    assert again["cron"] == "30 4 * * * -> 0 5 * * *"
    assert "timezone" not in again


def test_catch_up_none_records_the_fire_it_leaves_unrun(store: SqliteStore) -> None:
    """A fire that catch_up = "none" dropped after downtime left no trace: `schedule list`
    showed the run before it, its JSON last_fire stayed null for a schedule that never ran,
    and the last-fire metric had no series. It is recorded as skipped, as a paused fire is,
    and never runs later."""
    from jobctl.observe.metrics import render

    config = one_schedule("0 3 * * *", "UTC", policy="none")
    t0 = at("2026-06-01T03:30")
    simulate(start_scheduler(store, config, t0), t0, t0 + 60)  # nothing fired yet
    assert store.last_fires() == {}
    restart = at("2026-06-03T10:00")  # two fires passed while no daemon ran
    start_scheduler(store, config, restart).tick(restart)
    assert fires(store) == []
    (record, state) = store.last_fires()["s"]
    assert (record.fire_time, record.status, record.job_id, state) == (
        at("2026-06-03T03:00"),
        "skipped",
        None,
        None,
    )
    assert record.reason == "missed: no daemon ran at that time (catch_up = none)"
    metric = 'jobctl_schedule_last_fire_timestamp_seconds{schedule="s"}'
    assert f"{metric} {int(at('2026-06-03T03:00'))}" in render(store, config, restart)
    # Never run later: not by a restart asking for "latest" now, nor by one that runs on.
    latest = one_schedule("0 3 * * *", "UTC", policy="latest")
    simulate(start_scheduler(store, latest, restart + 60), restart + 60, at("2026-06-04T03:30"))
    assert fires(store) == [at("2026-06-04T03:00")]


def test_catch_up_none_records_what_a_late_tick_leaves_unrun(store: SqliteStore) -> None:
    """A leader's own late tick (a suspended machine) says why in the record."""
    config = one_schedule("0 3 * * *", "UTC", policy="none")
    leader = start_scheduler(store, config, at("2026-06-01T01:00:30"))
    leader.tick(at("2026-06-01T01:00:40"))
    leader.tick(at("2026-06-01T06:30:10"))  # asleep over 03:00, for five and a half hours
    assert fires(store) == []
    (record, _) = store.last_fires()["s"]
    assert record.fire_time == at("2026-06-01T03:00")
    assert record.reason == "missed: the daemon woke over 3h late for it (catch_up = none)"


def test_catch_up_none_says_a_short_stall_ran_a_newer_fire(store: SqliteStore) -> None:
    """A fire a stall of minutes let pass, behind the newer one that runs, was recorded as
    one the daemon "woke over 3h late for"."""
    config = one_schedule("* * * * *", "UTC", policy="none")
    sink = io.StringIO()
    leader = Scheduler(store, config, EventLog(stream=sink, fmt="json", level="debug"))
    leader.load(config, at("2026-06-01T00:00:30"))
    leader.tick(at("2026-06-01T00:01:00"))
    leader.tick(at("2026-06-01T00:02:00"))
    leader.tick(at("2026-06-01T00:07:10"))  # stalled for five minutes
    assert fires(store)[-1] == at("2026-06-01T00:07")
    skipped = [(e["fire_time"], e["reason"]) for e in events_of(sink, "schedule.skipped")]
    assert skipped == [
        (
            "2026-06-01T00:06:00.000+00:00",
            "missed: the daemon woke late, after a newer fire, which runs (catch_up = none)",
        )
    ]


def catch_up_lines(sink: io.StringIO) -> list[tuple[str, object, object]]:
    return [
        (e["level"], f"{e['missed']}{' or more' if e.get('missed_capped') else ''}", e["running"])
        for e in events_of(sink, "schedule.catch_up")
    ]


def test_a_restart_seconds_after_a_fire_warns_of_no_missed_fire(store: SqliteStore) -> None:
    """A routine restart ten seconds after 03:00 runs that fire on time, yet logged a
    warning of one missed fire."""
    config = one_schedule("0 3 * * *", "UTC", policy="none")
    t0 = at("2026-06-01T02:00")
    simulate(start_scheduler(store, config, t0), t0, at("2026-06-01T02:59:59"))
    sink = io.StringIO()
    restart = at("2026-06-01T03:00:10")
    scheduler = Scheduler(store, config, EventLog(stream=sink, fmt="json", level="info"))
    scheduler.load(config, restart)
    scheduler.tick(restart)
    assert fires(store) == [at("2026-06-01T03:00")]
    assert catch_up_lines(sink) == []
    assert [e["event"] for e in events_of(sink, "schedule.fired")] == ["schedule.fired"]


@pytest.mark.parametrize(
    ("expr", "policy", "down_until", "expected"),
    [
        # Eight hourly fires missed, the newest one 30 minutes late: "2+" was said.
        ("0 * * * *", "latest", "2026-06-01T08:30", ("warning", "8", 1)),
        ("0 * * * *", "none", "2026-06-01T08:30", ("warning", "8", 0)),
        # The newest of them on time runs on time, and is no missed fire.
        ("0 * * * *", "none", "2026-06-01T08:00:20", ("warning", "7", 1)),
        # A day of minutes, the newest on time. Counting a calendar's costs a lookup a fire:
        # beyond 100, said so. An @every schedule's are counted whatever their number.
        ("* * * * *", "latest", "2026-06-02T00:00:30", ("warning", "100 or more", 1)),
        ("@every 1m", "latest", "2026-06-02T00:00:30", ("warning", "1439", 1)),
    ],
)
def test_a_catch_up_says_how_many_fires_were_missed(
    store: SqliteStore, expr: str, policy: str, down_until: str, expected: tuple[str, str, int]
) -> None:
    config = one_schedule(expr, "UTC", policy=policy)
    start_scheduler(store, config, at("2026-06-01T00:00:30")).tick(at("2026-06-01T00:00:40"))
    sink = io.StringIO()
    scheduler = Scheduler(store, config, EventLog(stream=sink, fmt="json"))
    restart = at(down_until)
    scheduler.load(config, restart)
    scheduler.tick(restart)
    assert catch_up_lines(sink) == [expected]


def test_catch_up_all_holds_no_more_than_its_limit_across_restarts(store: SqliteStore) -> None:
    """A run that goes on while the daemon restarts again and again: each restart's catch-up
    held up to catch_up_limit more fires, and once the run ended, all of them ran back to
    back (10 after 5 restarts with a limit of 2). The newest two wait; the others are
    recorded as skipped, with the reason."""
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\n'
        'catch_up = "all"\ncatch_up_limit = 2\n'
    )
    t0 = at("2026-06-01T00:00:30")
    start_scheduler(store, config, t0).tick(t0 + 30)  # 00:01 runs, and goes on running
    (claim,) = store.claim("w", None, t0 + 31, 3600)
    for restart in range(1, 6):  # each time down for three minutes, then one tick
        now = t0 + 30 + restart * 180
        start_scheduler(store, config, now).tick(now)
    rows = store._read("SELECT status, COUNT(*) FROM fires GROUP BY status ORDER BY status")
    assert rows == [("enqueued", 1), ("pending", 2), ("skipped", 8)]
    skipped = store._read("SELECT DISTINCT reason FROM fires WHERE status = 'skipped'")
    assert skipped == [("replaced by newer fires (catch_up_limit = 2)",)]
    end = t0 + 30 + 5 * 180
    store.finish([Finish(claim, AttemptResult(Outcome.SUCCEEDED, exit_code=0))], end)
    scheduler = start_scheduler(store, config, end + 1)
    ran = []
    for step in range(4):
        now = end + 1 + step * 2
        scheduler.tick(now)
        for done in store.claim("w", None, now, 30, limit=2):
            ran.append(done.job.fire_time)
            store.finish([Finish(done, AttemptResult(Outcome.SUCCEEDED, exit_code=0))], now + 1)
    assert ran == [at("2026-06-01T00:15"), at("2026-06-01T00:16")]


def test_catch_up_all_keeps_a_manual_run_held_and_logs_the_fires_it_drops(
    store: SqliteStore,
) -> None:
    """A `schedule run` held under overlap = "queue" (it waits for the active run) was taken
    by a restart's catch-up (limit 1) for one of the fires it bounds, and skipped, with
    nothing logged. The limit bounds missed fires only; the held fires it does skip are
    logged, how many and why."""
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\n'
        'overlap = "queue"\ncatch_up = "all"\ncatch_up_limit = 1\n'
    )
    t0 = at("2026-06-01T00:00:30")
    scheduler = start_scheduler(store, config, t0)
    scheduler.tick(t0 + 30)  # 00:01 runs, and goes on running
    (claim,) = store.claim("w", None, t0 + 31, 3600)
    manual = scheduler.fire_now("s", t0 + 33)
    assert manual is not None and manual.status == "pending"
    sink = io.StringIO()
    for restart in (1, 2):  # each time down for three minutes, then one tick
        now = t0 + 30 + restart * 180
        scheduler = Scheduler(store, config, EventLog(stream=sink, fmt="json"))
        scheduler.load(config, now)
        scheduler.tick(now)
    held = store._read("SELECT fire_time, manual FROM fires WHERE status = 'pending'")
    assert sorted(held) == [(t0 + 33, 1), (at("2026-06-01T00:07"), 0)]
    dropped = [
        (e["held_fires"], e["reason"])
        for e in events_of(sink, "schedule.skipped")
        if "held_fires" in e
    ]
    assert dropped == [(1, "replaced by newer fires (catch_up_limit = 1)")]
    assert [e["reason"] for e in events_of(sink, "schedule.held")] == [
        f"waiting for run {claim.job.id} to finish"
    ] * 2
    store.finish([Finish(claim, AttemptResult(Outcome.SUCCEEDED, exit_code=0))], now + 1)
    ran = []
    for step in range(3):
        later = now + 2 + step * 2
        scheduler.tick(later)
        for done in store.claim("w", None, later, 30, limit=2):
            ran.append(done.job.fire_time)
            store.finish([Finish(done, AttemptResult(Outcome.SUCCEEDED, exit_code=0))], later + 1)
    assert ran == [t0 + 33, at("2026-06-01T00:07")]


def test_a_reload_names_the_schedules_it_renamed(store: SqliteStore) -> None:
    """A rename is a schedule taken out and one put in that fires the same job with the same
    payload at the same times, however its cron is written; overlap holds per name, so the
    daemon's reload line warns of it."""
    base = 'job = "task"\ncron = "0 3 * * *"\ntimezone = "UTC"\npayload = { a = 1 }\n'
    config = config_for(f"[schedules.backup]\n{base}[schedules.keep]\n{base}")
    t0 = at("2026-06-01T00:00:30")
    scheduler = start_scheduler(store, config, t0)
    assert scheduler.renamed == []
    respelled = base.replace("0 3 * * *", "0 3 * * 0-6")
    scheduler.load(config_for(f"[schedules.nightly]\n{respelled}[schedules.keep]\n{base}"), t0)
    assert scheduler.renamed == ["backup -> nightly"]
    scheduler.load(config_for(f"[schedules.nightly]\n{base}[schedules.keep]\n{base}"), t0)
    assert scheduler.renamed == []  # nothing taken out
    others = [
        base.replace("0 3", "0 4"),
        base.replace("a = 1", "a = 2"),
        base.replace("UTC", "Europe/Berlin"),
    ]
    for other in others:
        scheduler.load(config_for(f"[schedules.nightly]\n{base}[schedules.keep]\n{base}"), t0)
        scheduler.load(config_for(f"[schedules.other]\n{other}[schedules.keep]\n{base}"), t0)
        assert scheduler.renamed == []

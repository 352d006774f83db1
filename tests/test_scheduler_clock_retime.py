"""The cron daemon when a schedule that never fired is retimed while no daemon ran, when the
wall clock steps forward by minutes or hours under a running daemon, and `schedule pause` or
`resume` of a schedule already so.

Driven as in test_scheduler_clock.py: explicit instants on the injected wall clock and clock
of elapsed time (CLOCK_BOOTTIME's), the real SQLite store, no sleeps; the pause and resume
tests run the real CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Env
from test_scheduler import at, config_for
from test_scheduler_clock import HOUR, START, Log, enqueued, live, nightly_and_hourly

from jobctl.config import Config
from jobctl.scheduler import Scheduler
from jobctl.store.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "cron.db")


def one(cron: str, policy: str = "latest", overlap: str = "allow") -> Config:
    return config_for(
        f'[schedules.s]\njob = "task"\ncron = "{cron}"\ntimezone = "UTC"\n'
        f'catch_up = "{policy}"\noverlap = "{overlap}"\n'
    )


# -- a schedule that never fired, retimed while no daemon ran ----------------------------------


@pytest.mark.parametrize("policy", ["latest", "all"])
def test_an_unfired_schedule_retimed_while_no_daemon_ran_counts_from_the_restart(
    store: SqliteStore, policy: str
) -> None:
    """A yearly schedule planned an hour ago, not fired yet, its cron edited to every ten
    minutes before a restart: the new table's six fires of that hour were caught up (one run
    with "latest", six with "all"), unsaid. It counts from the restart, with the line a
    schedule that fired gets."""
    planned = at("2026-06-01T11:45")
    first = Scheduler(store, one("0 0 1 1 *", policy), Log().log)
    first.load(one("0 0 1 1 *", policy), planned)
    first.tick(planned)
    restart = planned + HOUR
    log = Log()
    edited = one("*/10 * * * *", policy)
    scheduler = Scheduler(store, edited, log.log)
    scheduler.load(edited, restart)
    scheduler.tick(restart)
    assert enqueued(store) == []
    assert log.events("schedule.catch_up") == []
    (said,) = log.events("schedule.retimed")
    assert said["cron"] == "0 0 1 1 * -> */10 * * * *"
    assert said["missed"] == 0  # the yearly table had no fire in that hour
    assert str(said["planned_to"]).startswith("2026-06-01T11:45:00")
    assert "while no daemon ran" in said["reason"]
    scheduler.tick(at("2026-06-01T12:50"))
    assert enqueued(store) == [at("2026-06-01T12:50")]  # the new table from now on


def test_an_unfired_schedule_moved_to_another_zone_while_no_daemon_ran_catches_nothing_up(
    store: SqliteStore,
) -> None:
    """A daemon moved to a host in another zone: the zone is the time table's too."""
    berlin = config_for(
        '[schedules.s]\njob = "task"\ncron = "0 9 * * *"\ntimezone = "Asia/Tokyo"\n'
    )
    planned = at("2026-06-01T08:00", "Europe/Berlin")
    Scheduler(store, berlin, Log().log).load(berlin, planned)
    moved = config_for(
        '[schedules.s]\njob = "task"\ncron = "0 9 * * *"\ntimezone = "Europe/Berlin"\n'
    )
    log = Log()
    scheduler = Scheduler(store, moved, log.log)
    restart = at("2026-06-01T09:30", "Europe/Berlin")
    scheduler.load(moved, restart)
    scheduler.tick(restart)
    assert enqueued(store) == []  # 09:00 Berlin came under the new table only
    (said,) = log.events("schedule.retimed")
    assert said["timezone"] == "Asia/Tokyo -> Europe/Berlin"


def test_an_unfired_schedule_unchanged_while_no_daemon_ran_still_catches_up(
    store: SqliteStore,
) -> None:
    """The same table: its first plan is where catch-up starts, as before."""
    config = one("*/10 * * * *")
    planned = at("2026-06-01T11:45")
    Scheduler(store, config, Log().log).load(config, planned)
    log = Log()
    scheduler = Scheduler(store, config, log.log)
    restart = planned + HOUR
    scheduler.load(config, restart)
    scheduler.tick(restart)
    assert enqueued(store) == [at("2026-06-01T12:40")]
    assert log.events("schedule.retimed") == []
    assert len(log.events("schedule.catch_up")) == 1


# -- a clock stepped forward by minutes or hours under a running daemon ------------------------


@pytest.mark.parametrize("policy", ["none", "latest", "all"])
def test_a_step_of_two_hours_forward_runs_each_schedule_once_not_as_missed(
    store: SqliteStore, policy: str
) -> None:
    """The wall clock stepped 2 h forward while the daemon ran (its clock of elapsed time
    moved 5 s): catch_up = "all" enqueued 100 runs of an every-minute schedule at once, and
    every schedule warned of "100 or more" missed fires. The newest fire it stepped over runs
    once, as systemd runs an elapsed timer, and the line says the clock stepped."""
    config = config_for(
        '[schedules.s]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\n'
        f'catch_up = "{policy}"\noverlap = "allow"\n'
    )
    log = Log()
    scheduler = Scheduler(store, config, log.log, live_since=START)
    scheduler.load(config, START)
    live(scheduler, START, START + 3)
    live(scheduler, START + 3, START + 10, ahead=2 * HOUR)
    assert enqueued(store) == [START + 2 * HOUR]  # 14:55:00, the newest of the span
    assert log.events("schedule.catch_up") == []
    (said,) = log.events("scheduler.clock_forward")
    assert said["level"] == "warning"
    assert (said["ahead_s"], said["stepped_over"], said["stepped_over_capped"]) == (7200, 100, True)
    assert "stepped forward while the daemon ran" in said["reason"]
    assert "missed" not in said
    live(scheduler, START + 10, START + 130, ahead=2 * HOUR)  # the rhythm goes on
    assert enqueued(store) == [START + 2 * HOUR + 60 * k for k in range(3)]


def test_a_step_forward_runs_a_fixed_time_schedule_it_stepped_over_once(
    store: SqliteStore,
) -> None:
    """With catch_up = "none" the nightly of 12:58 and the hourly of 13:00 and 14:00 that a
    2 h step went over run (once each): the daemon did not miss them, it ran throughout."""
    config = nightly_and_hourly("none")
    log = Log()
    scheduler = Scheduler(store, config, log.log, live_since=START)
    scheduler.load(config, START)
    live(scheduler, START, START + 3)
    live(scheduler, START + 3, START + 8, ahead=2 * HOUR)
    assert enqueued(store, "nightly") == [at("2026-06-01T12:58")]
    assert enqueued(store, "hourly") == [at("2026-06-01T14:00")]
    stepped = {e["schedule"]: e["stepped_over"] for e in log.events("scheduler.clock_forward")}
    assert stepped == {"nightly": 1, "hourly": 2}
    assert log.events("schedule.catch_up") == []
    assert [e for e in log.events("schedule.skipped") if "missed" in e["reason"]] == []


def test_a_clock_set_back_then_right_again_runs_no_extra_fire(store: SqliteStore) -> None:
    """Stepped an hour back and then right again: on the return it warned of "100 or more"
    missed fires, though it fired every 2 s all along. The return is a step: the newest fire
    it went over (13:55:08) runs, as one, and those recorded before the step back not again."""
    config = one("*/2 * * * * *", "latest")
    log = Log()
    scheduler = Scheduler(store, config, log.log, live_since=START)
    scheduler.load(config, START)
    live(scheduler, START, START + 5)
    live(scheduler, START + 5, START + 9, ahead=-HOUR)
    live(scheduler, START + 9, START + 13)
    times = enqueued(store)
    assert len(times) == len(set(times))
    assert [t for t in times if t >= START] == [START + k for k in (2, 4, 8, 10, 12)]
    assert log.events("schedule.catch_up") == []
    (said,) = log.events("scheduler.clock_forward")
    assert said["ahead_s"] == 3600


def test_a_paused_schedule_records_the_step_s_fire_skipped_at_debug_level(
    store: SqliteStore,
) -> None:
    config = one("* * * * *", "all")
    log = Log()
    scheduler = Scheduler(store, config, log.log, live_since=START)
    scheduler.load(config, START)
    live(scheduler, START, START + 3)
    store.set_schedule_paused("s", True)
    live(scheduler, START + 3, START + 8, ahead=HOUR)
    assert enqueued(store) == []
    (said,) = log.events("scheduler.clock_forward")
    assert said["level"] == "debug"
    (skipped,) = log.events("schedule.skipped")
    assert (skipped["reason"], skipped["fire_time"]) == ("paused", "2026-06-01T13:55:00.000+00:00")


def test_a_step_of_a_few_minutes_forward_is_time_that_passed(store: SqliteStore) -> None:
    """Up to five minutes, a step only makes fires late: caught up as before."""
    config = one("* * * * *", "all")
    log = Log()
    scheduler = Scheduler(store, config, log.log, live_since=START)
    scheduler.load(config, START)
    live(scheduler, START, START + 3)
    live(scheduler, START + 3, START + 8, ahead=4 * 60)
    assert enqueued(store) == [START + 60 * k for k in range(1, 5)]
    assert log.events("scheduler.clock_forward") == []


# -- schedule pause and resume of a schedule already so -----------------------------------------

SCHEDULED = '[jobs.task]\ncommand = ["true"]\n\n[schedules.s]\njob = "task"\ncron = "30 2 * * *"\n'


def test_resume_of_a_schedule_not_paused_says_so_in_a_note(env: Env) -> None:
    """`schedule resume s` of a schedule not paused printed "resumed schedule s": a script
    or a person could not tell that nothing changed."""
    env.write_config(SCHEDULED)
    SqliteStore(env.db).close()  # it refuses a database that does not exist
    resumed = env.run("schedule", "resume", "s")
    assert resumed.returncode == 0
    assert (resumed.stdout, resumed.stderr) == (
        "",
        "jobctl: note: schedule s was not paused; nothing to resume\n",
    )
    as_json = env.run("schedule", "resume", "s", "--json", check=True)
    assert json.loads(as_json.stdout) == {"schedule": "s", "paused": False, "changed": False}
    assert as_json.stderr == ""


def test_pause_of_a_paused_schedule_says_so_in_a_note(env: Env) -> None:
    env.write_config(SCHEDULED)
    SqliteStore(env.db).close()  # it refuses a database that does not exist
    first = env.run("schedule", "pause", "s", "--json", check=True)
    assert json.loads(first.stdout) == {"schedule": "s", "paused": True, "changed": True}
    again = env.run("schedule", "pause", "s")
    assert again.returncode == 0
    assert (again.stdout, again.stderr) == (
        "",
        "jobctl: note: schedule s was paused already; nothing to pause\n",
    )
    as_json = env.run("schedule", "pause", "s", "--json", check=True)
    assert json.loads(as_json.stdout) == {"schedule": "s", "paused": True, "changed": False}
    resumed = env.run("schedule", "resume", "s", check=True)
    assert (resumed.stdout, resumed.stderr) == ("resumed schedule s\n", "")
    (entry,) = json.loads(env.run("schedule", "list", "--json", check=True).stdout)
    assert entry["paused"] is False

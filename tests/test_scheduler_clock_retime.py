"""The cron daemon when a schedule that never fired is retimed while no daemon ran, and
`schedule pause` or `resume` of a schedule already so.

Driven as in test_scheduler_clock.py: explicit instants, the real SQLite store, no sleeps;
the pause and resume tests run the real CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Env
from test_scheduler import at, config_for
from test_scheduler_clock import HOUR, Log, enqueued

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
    assert said["missed"] == "0"  # the yearly table had no fire in that hour
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


# -- schedule pause and resume of a schedule already so -----------------------------------------

SCHEDULED = '[jobs.task]\ncommand = ["true"]\n\n[schedules.s]\njob = "task"\ncron = "30 2 * * *"\n'


def test_resume_of_a_schedule_not_paused_says_so_in_a_note(env: Env) -> None:
    """`schedule resume s` of a schedule not paused printed "resumed schedule s": a script
    or a person could not tell that nothing changed."""
    env.write_config(SCHEDULED)
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

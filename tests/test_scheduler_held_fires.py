"""Fires held for a run still going (overlap = "queue", a catch_up = "all" backlog): a pause
stops them, a lowered catch_up_limit trims them, and the daemon looks for them only while
some are held. Driven through `Scheduler.tick` with explicit instants on the real SQLite
store; the store's own rules are in test_store_contract.py, against Redis too."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from jobctl.config import Config, parse_config
from jobctl.models import AttemptResult, Claim, JobFilter, Outcome
from jobctl.observe.events import EventLog
from jobctl.scheduler import Scheduler
from jobctl.store import Finish
from jobctl.store.sqlite import SqliteStore

DONE = AttemptResult(Outcome.SUCCEEDED, exit_code=0)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("UTC")).timestamp()


def config_for(schedules: str) -> Config:
    return parse_config('[jobs.task]\ncommand = ["true"]\n\n' + schedules)


class CountingStore(SqliteStore):
    """The real store, counting the write transactions (BEGIN IMMEDIATE) it opens."""

    writes = 0

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        self.writes += 1
        return super()._write()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    opened = CountingStore(tmp_path / "cron.db")
    yield opened
    opened.close()


def started(store: SqliteStore, config: Config, now: float) -> tuple[Scheduler, io.StringIO]:
    log = io.StringIO()
    scheduler = Scheduler(store, config, EventLog(stream=log))
    scheduler.load(config, now)
    return scheduler, log


def fire_times(store: SqliteStore) -> list[float]:
    jobs = store.list_jobs(JobFilter(limit=None, newest_first=False))
    return sorted(j.fire_time for j in jobs if j.fire_time is not None)


def finish_all(store: SqliteStore, now: float) -> None:
    for claim in store.claim("w", None, now, 30, limit=100):
        store.finish([Finish(claim, DONE)], now)


QUEUE = '[schedules.s]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\noverlap = "queue"\n'
# A backlog of five held fires: the 01:00 run goes on while 02:00 to 06:00 wait behind it.
BACKLOG = (
    '[schedules.s]\njob = "task"\ncron = "0 * * * *"\ntimezone = "UTC"\ncatch_up = "all"\n'
    "catch_up_limit = {limit}\n"
)


def held_backlog(store: SqliteStore, config: Config) -> tuple[float, Claim]:
    """Fire 01:00 and start its run, then restart at 06:30: 02:00 to 06:00 are held behind
    it. The instant of the restart, and the run's claim."""
    t0 = at("2026-06-01T00:30")
    scheduler, _ = started(store, config, t0)
    scheduler.tick(at("2026-06-01T01:00"))
    (claim,) = store.claim("w", None, at("2026-06-01T01:00"), 3600 * 24)
    restart = at("2026-06-01T06:30")
    started(store, config, restart)[0].tick(restart)
    assert fire_times(store) == [at("2026-06-01T01:00")]
    return restart, claim


def test_a_paused_schedule_does_not_run_its_held_fire(store: CountingStore) -> None:
    """The fire of 00:02 waits for the 00:01 run; the schedule is paused, then the run ends:
    the held fire is skipped (as the pause's own fires are), and after a resume the schedule
    fires on from its next fire time."""
    config = config_for(QUEUE)
    t0 = at("2026-06-01T00:00:30")
    scheduler, log = started(store, config, t0)
    scheduler.tick(at("2026-06-01T00:01"))
    (claim,) = store.claim("w", None, at("2026-06-01T00:01:01"), 300)
    scheduler.tick(at("2026-06-01T00:02"))  # held
    store.set_schedule_paused("s", True)
    store.finish([Finish(claim, DONE)], at("2026-06-01T00:02:10"))
    scheduler.tick(at("2026-06-01T00:02:11"))
    scheduler.tick(at("2026-06-01T00:02:13"))
    assert fire_times(store) == [at("2026-06-01T00:01")]
    assert "held_fires=1" in log.getvalue() and "paused" in log.getvalue()
    store.set_schedule_paused("s", False)
    scheduler.tick(at("2026-06-01T00:03"))
    assert fire_times(store) == [at("2026-06-01T00:01"), at("2026-06-01T00:03")]


def test_a_pause_stops_a_catch_up_backlog(store: CountingStore) -> None:
    config = config_for(BACKLOG.format(limit=5))
    restart, claim = held_backlog(store, config)
    scheduler, log = started(store, config, restart + 1)
    store.set_schedule_paused("s", True)
    store.finish([Finish(claim, DONE)], restart + 1)
    for step in range(10):
        finish_all(store, restart + 2 + step)
        scheduler.tick(restart + 2 + step)
    assert fire_times(store) == [at("2026-06-01T01:00")]
    assert "held_fires=5" in log.getvalue()


def test_a_schedule_disabled_by_a_reload_does_not_run_its_held_fire(store: CountingStore) -> None:
    config = config_for(QUEUE)
    scheduler, log = started(store, config, at("2026-06-01T00:00:30"))
    scheduler.tick(at("2026-06-01T00:01"))
    (claim,) = store.claim("w", None, at("2026-06-01T00:01:01"), 300)
    scheduler.tick(at("2026-06-01T00:02"))  # held
    scheduler.load(config_for(QUEUE + "enabled = false\n"), at("2026-06-01T00:02:05"))
    store.finish([Finish(claim, DONE)], at("2026-06-01T00:02:10"))
    scheduler.tick(at("2026-06-01T00:02:11"))
    assert fire_times(store) == [at("2026-06-01T00:01")]
    assert "held_fires=1" in log.getvalue() and "disabled" in log.getvalue()


def test_a_run_asked_for_during_a_pause_still_runs_after_the_run_it_waits_for(
    store: CountingStore,
) -> None:
    """`schedule run` on a paused schedule runs (as documented): held behind an active run,
    it is work asked for during the pause, not one of the pause's fires."""
    config = config_for(QUEUE)
    scheduler, _ = started(store, config, at("2026-06-01T00:00:30"))
    scheduler.tick(at("2026-06-01T00:01"))
    (claim,) = store.claim("w", None, at("2026-06-01T00:01:01"), 300)
    store.set_schedule_paused("s", True)
    manual = Scheduler(store, config, EventLog(stream=io.StringIO()))  # the CLI's
    held = manual.fire_now("s", at("2026-06-01T00:01:20"))
    assert held is not None and held.status == "pending"
    store.finish([Finish(claim, DONE)], at("2026-06-01T00:01:30"))
    scheduler.tick(at("2026-06-01T00:01:31"))
    assert fire_times(store) == [at("2026-06-01T00:01"), at("2026-06-01T00:01:20")]


def test_a_reload_that_lowers_catch_up_limit_trims_the_held_backlog(store: CountingStore) -> None:
    """Five fires held under catch_up_limit = 5; a reload to 1 keeps the newest alone, the
    older four recorded as skipped, as a catch-up's own trim does."""
    restart, claim = held_backlog(store, config_for(BACKLOG.format(limit=5)))
    scheduler, log = started(store, config_for(BACKLOG.format(limit=5)), restart + 1)
    scheduler.load(config_for(BACKLOG.format(limit=1)), restart + 2)
    store.finish([Finish(claim, DONE)], restart + 2)
    assert "held_fires=4" in log.getvalue() and "catch_up_limit = 1" in log.getvalue()
    for step in range(6):
        finish_all(store, restart + 3 + step)
        scheduler.tick(restart + 3 + step)
    assert fire_times(store) == [at("2026-06-01T01:00"), at("2026-06-01T06:00")]


def test_an_idle_daemon_with_holding_schedules_makes_no_write_and_sleeps(
    store: CountingStore,
) -> None:
    """overlap = "queue" and catch_up = "all" schedules that hold nothing: the daemon sleeps
    until the next fire, with no write transaction, as for any other schedule."""
    config = config_for(
        "".join(
            f'[schedules.q{i}]\njob = "task"\ncron = "0 0 1 1 *"\ntimezone = "UTC"\n'
            f'overlap = "queue"\ncatch_up = "{policy}"\n'
            for i, policy in enumerate(["latest", "all", "all", "none"])
        )
    )
    t0 = at("2026-06-01T00:00")
    scheduler, _ = started(store, config, t0)
    store.writes = 0
    wakes = [scheduler.tick(t0 + step * 5.0) for step in range(1, 20)]  # heartbeats
    assert store.writes == 0
    assert all(wake == at("2027-01-01T00:00") for wake in wakes)


def test_a_held_fire_is_looked_for_without_a_write_while_its_run_goes_on(
    store: CountingStore,
) -> None:
    config = config_for(QUEUE)
    scheduler, _ = started(store, config, at("2026-06-01T00:00:30"))
    scheduler.tick(at("2026-06-01T00:01"))
    (claim,) = store.claim("w", None, at("2026-06-01T00:01:01"), 300)
    scheduler.tick(at("2026-06-01T00:01:30"))
    assert scheduler.tick(at("2026-06-01T00:02")) == at("2026-06-01T00:02:01")  # held: looks
    store.writes = 0
    for step in range(1, 50):
        scheduler.tick(at("2026-06-01T00:02") + step)
    assert store.writes == 0
    store.finish([Finish(claim, DONE)], at("2026-06-01T00:02:50"))
    scheduler.tick(at("2026-06-01T00:02:51"))
    assert fire_times(store) == [at("2026-06-01T00:01"), at("2026-06-01T00:02")]
    # Nothing held any more: after one more look, the daemon sleeps until the next fire.
    scheduler.tick(at("2026-06-01T00:02:52"))
    assert scheduler.tick(at("2026-06-01T00:02:53")) == at("2026-06-01T00:03")


def test_a_paused_schedule_holding_a_manual_run_is_looked_at_without_a_write(
    store: CountingStore,
) -> None:
    """A paused schedule holding a `schedule run` behind a run still going was trimmed of
    held fires each second: a write transaction that changed nothing, for as long as that
    run took."""
    config = config_for(QUEUE)
    now = at("2030-01-01T01:00:00")
    scheduler, _ = started(store, config, now - 1)
    scheduler.tick(now)
    store.claim("w", None, now, 3600, limit=1)  # the 01:00 fire runs
    scheduler.fire_now("s", now + 5)  # `schedule run s`, held behind it
    store.set_schedule_paused("s", True)
    store.writes = 0
    for step in range(30):
        scheduler.tick(now + 6 + step)
    assert store.writes == 0

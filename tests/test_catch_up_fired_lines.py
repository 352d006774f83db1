"""Every fire that becomes a job is logged once as schedule.fired, a held one too, whichever
transaction enqueues it: the daemon's look for a held fire whose run has ended, or the record
of the next fire when that run ended between the look and the record. Driven through
`Scheduler.tick` with explicit instants on the real SQLite store; the run ends inside the
window through a store that finishes it as record_fire begins, as a worker would."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from jobctl.config import Config, parse_config
from jobctl.models import AttemptResult, JobFilter, NewJob, Outcome
from jobctl.observe.events import EventLog
from jobctl.records import FireRecord
from jobctl.scheduler import Scheduler
from jobctl.store import Finish
from jobctl.store.sqlite import SqliteStore

DONE = AttemptResult(Outcome.SUCCEEDED, exit_code=0)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("UTC")).timestamp()


def config_for(schedules: str) -> Config:
    return parse_config('[jobs.task]\ncommand = ["true"]\n\n' + schedules)


def finish_all(store: SqliteStore, now: float) -> None:
    for claim in store.claim("w", None, now, 30, limit=100):
        store.finish([Finish(claim, DONE)], now)


class RunEndingStore(SqliteStore):
    """The real store, whose worker finishes every run as the record of the fire `ending_at`
    begins: after the daemon looked for a held fire to enqueue, before the record."""

    ending_at: float | None = None

    def record_fire(
        self, schedule: str, fire_time: float, job: NewJob | None, now: float, **options: Any
    ) -> FireRecord | None:
        if fire_time == self.ending_at:
            finish_all(self, now)
        return super().record_fire(schedule, fire_time, job, now, **options)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunEndingStore]:
    opened = RunEndingStore(tmp_path / "cron.db")
    yield opened
    opened.close()


def started(store: SqliteStore, config: Config, now: float) -> tuple[Scheduler, io.StringIO]:
    log = io.StringIO()
    scheduler = Scheduler(store, config, EventLog(stream=log, fmt="json"))
    scheduler.load(config, now)
    return scheduler, log


def said(log: io.StringIO) -> list[tuple[str, str, str | None]]:
    """The fire lines logged: (event, fire time HH:MM, note)."""
    events = [json.loads(line) for line in log.getvalue().splitlines()]
    return [
        (e["event"], e["fire_time"][11:16], e.get("note"))
        for e in events
        if e["event"] in ("schedule.fired", "schedule.held")
    ]


def fired_lines(log: io.StringIO) -> list[tuple[float, int]]:
    """(fire time, job id) of each schedule.fired line."""
    events = [json.loads(line) for line in log.getvalue().splitlines()]
    return sorted(
        (datetime.fromisoformat(e["fire_time"]).timestamp(), e["job_id"])
        for e in events
        if e["event"] == "schedule.fired"
    )


def jobs_fired(store: SqliteStore) -> list[tuple[float, int]]:
    listed = store.list_jobs(JobFilter(limit=None, newest_first=False))
    return sorted((j.fire_time, j.id) for j in listed if j.fire_time is not None)


def drain(store: SqliteStore, scheduler: Scheduler, start: float, steps: int) -> None:
    """Run and finish every job, the daemon looking each second, until nothing is held."""
    for step in range(steps):
        finish_all(store, start + step)
        scheduler.tick(start + step)


CATCH_UP_ALL = (
    '[schedules.s]\njob = "task"\ncron = "0 * * * *"\ntimezone = "UTC"\ncatch_up = "all"\n'
    "catch_up_limit = 10\n"
)


def test_a_catch_up_logs_the_held_fire_the_next_record_enqueues(store: RunEndingStore) -> None:
    """Five fires missed: 01:00 runs, 02:00 waits behind it. The 01:00 run ends after the
    daemon's look for a held fire, before the record of 03:00, which enqueues 02:00 first:
    that job had no line at all, where the README promises one per fire."""
    config = config_for(CATCH_UP_ALL)
    scheduler, log = started(store, config, at("2026-06-01T00:30"))
    store.ending_at = at("2026-06-01T03:00")
    restart = at("2026-06-01T05:30")
    scheduler.tick(restart)
    assert said(log) == [
        ("schedule.fired", "01:00", None),
        ("schedule.held", "02:00", None),
        ("schedule.fired", "02:00", "pending run"),
        ("schedule.held", "03:00", None),
        ("schedule.held", "04:00", None),
        ("schedule.held", "05:00", None),
    ]
    drain(store, scheduler, restart + 1, 10)
    assert len(jobs_fired(store)) == 5
    assert fired_lines(log) == jobs_fired(store)  # each job logged once, with its fire


QUEUE = '[schedules.s]\njob = "task"\ncron = "* * * * *"\ntimezone = "UTC"\noverlap = "queue"\n'


def test_a_live_schedule_logs_the_held_fire_the_next_record_enqueues(
    store: RunEndingStore,
) -> None:
    """overlap = "queue" without a catch-up: 00:02 waits for the 00:01 run, which ends as the
    record of 00:03 begins, after the daemon's look found it still going."""
    config = config_for(QUEUE)
    scheduler, log = started(store, config, at("2026-06-01T00:00:30"))
    scheduler.tick(at("2026-06-01T00:01"))
    scheduler.tick(at("2026-06-01T00:02"))  # held
    scheduler.tick(at("2026-06-01T00:02:30"))  # looked: the run goes on
    store.ending_at = at("2026-06-01T00:03")
    scheduler.tick(at("2026-06-01T00:03"))
    assert said(log)[-2:] == [
        ("schedule.fired", "00:02", "pending run"),
        ("schedule.held", "00:03", None),
    ]
    drain(store, scheduler, at("2026-06-01T00:03:01"), 3)
    assert fired_lines(log) == jobs_fired(store)

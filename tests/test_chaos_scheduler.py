"""Chaos: the cron daemon killed at random instants over a simulated week, and restarted.

In process: `Scheduler.tick(now)` with explicit instants over the real SQLite store. A kill is
a store that raises at a chosen `record_fire` call - before it starts, inside its transaction
once the job row is written (rolled back, as a dead process's transaction is), or right after
its commit - or a daemon that dies in its sleep between two ticks. (A fire recorded as skipped,
one catch_up = "none" leaves unrun, has no job row: a kill inside it is one before its commit.)
The Scheduler and its connection are then abandoned, and after a random downtime (often none,
sometimes hours) a fresh Scheduler starts on the same file.

"Exactly once", per schedule, with P its planned fires over the whole simulated time:

* no (schedule, fire time) is ever enqueued twice, and every enqueued one is in P;
* a tick that completes enqueues exactly policy(due), where due are the fires of P in
  (watermark, now]: the watermark is the previous tick's instant while the daemon lives, and
  after a restart the last fire the database recorded. A single due fire runs when it came
  while the daemon ran; when several are due, or one passed before the daemon started
  (missed during downtime), or one is over a minute late, "all" runs them all, "latest" the
  most recent one, "none" only the most recent one if it is at most a minute late (on time,
  as cron runs the jobs of the minute it wakes in; a daemon here never stands by, so none
  came while it waited for the lead);
* a killed tick enqueues part of that: the fire being recorded at the kill is in the database
  exactly when the kill came after the commit;
* hence with catch_up = "all", every planned fire is enqueued exactly once.

The week crosses the change to summer time in Europe/Berlin, so a nightly 02:30 fire meets a
missing hour.
"""

from __future__ import annotations

import bisect
import io
import random
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from chaoslib import report, require_full_scale

from jobctl import cron
from jobctl.config import Config, parse_config
from jobctl.models import FireRecord, JobFilter
from jobctl.observe.events import EventLog
from jobctl.scheduler import Scheduler
from jobctl.store.sqlite import SqliteStore

ON_TIME = 60.0  # a fire at most this late is on time, not missed (jobctl.scheduler)
ZONE = "Europe/Berlin"
SCHEDULES = {
    "every-10m": ("*/10 * * * *", "all"),
    "nightly": ("30 2 * * *", "all"),
    "twice-hourly": ("7,37 * * * *", "latest"),
    "hourly": ("@hourly", "latest"),
    "every-20m": ("*/20 * * * *", "none"),
}
CONFIG = '[jobs.task]\ncommand = ["true"]\n' + "".join(
    f'\n[schedules.{name}]\njob = "task"\ncron = "{expr}"\ntimezone = "{ZONE}"\n'
    f'catch_up = "{policy}"\ncatch_up_limit = 100000\noverlap = "allow"\n'
    for name, (expr, policy) in SCHEDULES.items()
)
MODES = ("before the commit", "inside the transaction", "after the commit", "asleep")


def at(text: str, zone: str = ZONE) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


START = at("2026-03-25T00:00")
END = START + 7 * 86400


class Killed(BaseException):
    """The process died: nothing in jobctl may catch this."""


class DoomedStore(SqliteStore):
    """The real store, whose process dies at its `kill_at`-th record_fire call."""

    def __init__(self, path: Path, kill_at: int | None, mode: str) -> None:
        super().__init__(path, durability="normal")
        self.kill_at = kill_at
        self.mode = mode
        self.calls = 0
        self.dying: tuple[str, float] | None = None
        self.dying_skip = False  # the fire being recorded at the kill was a skipped one
        self._die_inside = False

    def record_fire(
        self, schedule: str, fire_time: float, *args: Any, **kwargs: Any
    ) -> FireRecord | None:
        self.calls += 1
        if self.calls != self.kill_at:
            return super().record_fire(schedule, fire_time, *args, **kwargs)
        self.dying = (schedule, fire_time)
        self.dying_skip = args[0] is None  # no job: recorded as skipped
        if self.mode == "before the commit" or (
            self.dying_skip and self.mode != "after the commit"
        ):
            raise Killed
        self._die_inside = self.mode == "inside the transaction"
        super().record_fire(schedule, fire_time, *args, **kwargs)
        assert not self._die_inside, "the fire was recorded without inserting its job"
        raise Killed

    def _insert_jobs(self, *args: Any, **kwargs: Any) -> Any:
        result = super()._insert_jobs(*args, **kwargs)
        if self._die_inside:
            self._die_inside = False
            raise Killed  # the job row is written, the fire row and the commit are not
        return result


def quiet() -> EventLog:
    return EventLog(stream=io.StringIO())


@dataclass
class Week:
    config: Config
    kills: Counter[str] = field(default_factory=Counter)
    restarts: int = 0
    ticks: int = 0
    downtime: float = 0.0
    planned: dict[str, int] = field(default_factory=dict)
    enqueued: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    fires: dict[str, list[float]] = field(default_factory=dict)

    def due(self, name: str, after: float, until: float) -> list[float]:
        """The fires of P in (after, until]: P, the week's planned fires, is computed once."""
        assert after >= START and until <= END, (after, until)
        if name not in self.fires:
            spec = self.config.schedules[name]
            self.fires[name] = cron.fires_between(cron.parse(spec.cron), ZoneInfo(ZONE), START, END)
        planned = self.fires[name]
        return planned[bisect.bisect_right(planned, after) : bisect.bisect_right(planned, until)]

    def policy(self, name: str, due: list[float], started: float, now: float) -> set[float]:
        """What should run of `due`: all of it, unless it holds more than one fire, one
        that passed before this daemon started, or one over a minute late; then what the
        catch-up policy says ("none": only a fire at most a minute late, which is on time)."""
        if not due:
            return set()
        on_time = now - due[-1] <= ON_TIME
        if len(due) == 1 and due[0] >= started and on_time:
            return set(due)
        return {
            "all": set(due),
            "latest": {due[-1]},
            "none": {due[-1]} if on_time else set(),
        }[self.config.schedules[name].catch_up]


def simulate(path: Path, seed: int, calls_between_kills: int) -> Week:
    config = parse_config(CONFIG)
    week = Week(config)
    names = list(config.schedules)
    rng = random.Random(seed)
    watch = sqlite3.connect(str(path), isolation_level=None)
    last_seen = 0

    def new_fires() -> dict[str, set[float]]:
        nonlocal last_seen
        found: dict[str, set[float]] = {name: set() for name in names}
        for job_id, schedule, fire_time in watch.execute(
            "SELECT id, schedule, fire_time FROM jobs WHERE id > ? ORDER BY id", (last_seen,)
        ):
            found[schedule].add(fire_time)
            last_seen = job_id
        return found

    now = START
    warm_up = True  # until every schedule has fired once: see the test below
    while True:
        if warm_up:
            store = DoomedStore(path, None, "asleep")
            mode, sleep_after = "asleep", None
            watermark = dict.fromkeys(names, now)  # new schedules start now
        else:
            mode = rng.choice(MODES)
            kill_at = rng.randint(1, calls_between_kills) if mode != "asleep" else None
            store = DoomedStore(path, kill_at, mode)
            sleep_after = rng.randint(1, calls_between_kills) if mode == "asleep" else None
            recorded = {name: store.last_fire_time(name) for name in names}
            assert None not in recorded.values()
            watermark = {name: float(t) for name, t in recorded.items() if t is not None}
            week.restarts += 1
        scheduler = Scheduler(store, config, quiet())
        scheduler.load(config, now)
        started = now
        ticks = 0
        finished = False
        while True:
            expected = {
                name: week.policy(name, week.due(name, watermark[name], now), started, now)
                for name in names
            }
            try:
                wake = scheduler.tick(now)
            except Killed:
                got = new_fires()
                week.kills[mode] += 1
                assert store.dying is not None
                dying_schedule, dying_fire = store.dying
                for name in names:
                    if not got[name] <= expected[name]:
                        week.problems.append(
                            f"{now}: killed tick of {name}: {got[name]} not in {expected[name]}"
                        )
                recorded_it = dying_fire in got[dying_schedule]
                if store.dying_skip:  # a fire left unrun: never enqueued, whenever it died
                    if recorded_it or dying_fire in expected[dying_schedule]:
                        week.problems.append(f"{now}: skipped a fire to run {store.dying}")
                    break
                if dying_fire not in expected[dying_schedule]:
                    week.problems.append(f"{now}: recorded an unexpected fire {store.dying}")
                if recorded_it != (mode == "after the commit"):
                    week.problems.append(f"{now}: killed {mode}, yet recorded={recorded_it}")
                break
            got = new_fires()
            week.ticks += 1
            ticks += 1
            for name in names:
                if got[name] != expected[name]:
                    week.problems.append(
                        f"{now}: {name}: enqueued {sorted(got[name])},"
                        f" expected {sorted(expected[name])}"
                    )
                watermark[name] = now
            if now >= END:
                finished = True
                break
            now = END if wake is None or wake > END else wake
            if warm_up and now >= START + 86400:
                warm_up = False
                week.kills["asleep"] += 1
                break
            if sleep_after is not None and ticks >= sleep_after:
                week.kills["asleep"] += 1
                break
        store.close()
        if finished:
            break
        roll = rng.random()
        if roll < 0.25:
            downtime = 0.0  # restarted at once, e.g. by systemd
        elif roll < 0.75:
            downtime = rng.uniform(0, 1200)  # misses a fire or two
        else:
            downtime = rng.uniform(1200, 4 * 3600)
        week.downtime += downtime
        now = min(END, now + downtime)
    # The whole week: nothing twice, nothing unplanned, every fire of "all" schedules.
    rows = watch.execute("SELECT schedule, fire_time FROM jobs").fetchall()
    doubled = [key for key, n in Counter(rows).items() if n > 1]
    if doubled:
        week.problems.append(f"enqueued twice: {doubled[:5]}")
    fires = watch.execute(
        "SELECT schedule, fire_time, job_id FROM fires WHERE status = 'enqueued'"
    ).fetchall()
    if sorted((s, t) for s, t, _ in fires) != sorted(rows):
        week.problems.append("the fires table and the jobs disagree")
    watch.close()
    for name in names:
        planned = set(week.due(name, START, END))
        got = {t for s, t in rows if s == name}
        week.planned[name] = len(planned)
        week.enqueued[name] = len(got)
        if not got <= planned:
            week.problems.append(f"{name}: unplanned fires {sorted(got - planned)[:5]}")
        if config.schedules[name].catch_up == "all" and got != planned:
            week.problems.append(f"{name}: missing {sorted(planned - got)[:5]}")
    return week


def check(week: Week) -> None:
    assert week.problems == [], week.problems[:10]
    assert sum(week.kills.values()) >= 10
    assert set(week.kills) == set(MODES)


def summary(weeks: list[Week], seconds: float) -> list[tuple[str, object]]:
    kills: Counter[str] = Counter()
    for week in weeks:
        kills.update(week.kills)
    rows: list[tuple[str, object]] = [
        ("simulated weeks", len(weeks)),
        ("ticks", sum(w.ticks for w in weeks)),
        ("restarts", sum(w.restarts for w in weeks)),
        *((f"kills {mode}", kills[mode]) for mode in MODES),
        ("downtime (simulated hours)", f"{sum(w.downtime for w in weeks) / 3600:.1f}"),
    ]
    for name, (_, policy) in SCHEDULES.items():
        planned = sum(w.planned[name] for w in weeks)
        enqueued = sum(w.enqueued[name] for w in weeks)
        rows.append((f"{name} (catch_up {policy}): enqueued / planned", f"{enqueued} / {planned}"))
    rows.append(("violations (must be 0)", sum(len(w.problems) for w in weeks)))
    rows.append(("seconds", f"{seconds:.1f}"))
    return rows


def test_a_week_of_kills_enqueues_every_fire_exactly_once(tmp_path: Path) -> None:
    check(simulate(tmp_path / "cron.db", seed=3, calls_between_kills=60))


@pytest.mark.chaos
@pytest.mark.timeout(1800)
def test_full_scale_scheduler_kills(
    tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    require_full_scale(request)
    started = time.monotonic()
    base = int(time.time())
    weeks = [
        simulate(tmp_path / f"cron{seed}.db", seed=seed, calls_between_kills=12)
        for seed in range(base, base + 5)
    ]
    report(
        capsys,
        f"scheduler kills over simulated weeks (seeds {base}..{base + 4})",
        summary(weeks, time.monotonic() - started),
    )
    for week in weeks:
        check(week)


def test_a_daemon_killed_before_the_first_fire_loses_no_fire_of_catch_up_all(
    tmp_path: Path,
) -> None:
    config = parse_config(
        '[jobs.task]\ncommand = ["true"]\n\n[schedules.s]\njob = "task"\n'
        'cron = "0 * * * *"\ntimezone = "UTC"\ncatch_up = "all"\noverlap = "allow"\n'
    )
    t0 = at("2026-06-01T00:30", "UTC")
    store = SqliteStore(tmp_path / "cron.db")
    first = Scheduler(store, config, quiet())
    first.load(config, t0)
    assert first.tick(t0) == at("2026-06-01T01:00", "UTC")
    # The daemon dies in its sleep; the next one starts at 03:30.
    second = Scheduler(store, config, quiet())
    second.load(config, t0 + 3 * 3600)
    second.tick(t0 + 3 * 3600)
    fired = sorted(j.fire_time for j in store.list_jobs(JobFilter(limit=None)) if j.fire_time)
    assert fired == [at(f"2026-06-01T0{h}:00", "UTC") for h in (1, 2, 3)]

"""The cron daemon's logic: which fires are due, what catch-up and overlap make of them.

`Scheduler.tick(now)` is pure decision-making over the store and an injected clock: tests
drive it through simulated days without sleeping. Exactly-once comes from the store: each
fire is recorded under a unique (schedule, fire time) in the same transaction as its job,
so a crash between deciding and committing, a restart, or a second daemon never enqueues
one fire twice.

Catch-up applies to fires that passed while no daemon ran (even a single one), and whenever
more than one fire of a schedule is due at once (a stall): "latest" runs the most recent
one, "none" runs none of those that passed while no daemon ran (recording the newest as
skipped, so that it shows, and is never run), "all" runs them all, at most `catch_up_limit`
(the most recent ones, counting those an earlier catch-up left waiting for a run still going
on). A running daemon's own stall (a suspended machine, a store outage) of up to `_STALL`
is no downtime: "none" runs its newest fire, as cron(8) runs the jobs a suspend of up to
three hours skipped, and systemd a timer that elapsed during one. A schedule whose
time table changes (its fire times, not their spelling: see jobctl.cron.timetable), or that
a reload or a restart puts back after a reload took it out (the removal is recorded), counts
from then. A fire held under overlap = "queue" is skipped once the overlap in force holds none.

A clock set back (an NTP step, a VM restored from a snapshot, a host that booted with its
clock ahead) leaves a schedule's last recorded fire, or the daemon's last look, in the
future of `now`. Beyond `_CLOCK_BACK`, the clock is taken as corrected, as cron(8) takes a
large change: the schedule fires from `now` on at once, with no catch-up, instead of waiting
silently until `now` passes that record. A fire recorded under the wrong clock stays
recorded, so it does not run again when the clock comes to it (as cron(8) does not re-run the
jobs of a repeated time), unless the clock went back over `_TIME_CHANGE` (cron's bound): such
fires, planned under a clock that far wrong, are forgotten and run at their time. A run held
(overlap = "queue") or asked for by hand is work promised, never forgotten.

A clock set forward over `_TIME_CHANGE` further than the daemon's clock of elapsed time (which
counts a suspend) moved is a time change (a `date -s` typo), not missed time: as cron(8) takes
one, the fires it jumped over are not caught up, only those due at the new time run. A step of
over `_CLOCK_STEP` up to that is no downtime either: the fires it stepped over run once, as
one (the newest), whatever the catch-up, as systemd runs a timer that elapsed during it. A
smaller step is caught up as time that passed, and so is any step in the first `_BOOT_SETTLE`
after the machine started: the clock of a host without a clock of its own (a Raspberry Pi) is
set then, after its downtime, which a catch-up is for.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from jobctl import cron
from jobctl.config import Config, ScheduleSpec
from jobctl.durations import format_duration
from jobctl.errors import StoreError
from jobctl.models import NewJob
from jobctl.observe.events import Count, EventLog, Seconds
from jobctl.records import FireRecord, backlog_dropped
from jobctl.store import Store
from jobctl.store.base import REMOVED_TIME_TABLE
from jobctl.timefmt import iso, local_zone, zone_named

_PENDING_CHECK = 1.0  # seconds between checks of fires waiting for a previous run (overlap=queue)
# With catch_up = "none", a fire at most this late is on time, not missed: cron runs the jobs
# of the minute it wakes in, and a daemon restarted seconds after a fire time keeps that fire.
_ON_TIME = 60.0
# A plan this far ahead of the clock means the clock was set back: a step back within it is
# absorbed (the fires already handled are not run again), a larger one taken as a correction.
_CLOCK_BACK = 5.0
# A wall clock stepped this far (forward beyond the clock of elapsed time, or back) is a time
# change, as cron(8) takes one: forward, the fires it jumped over did not come; back, the
# fires recorded ahead were planned under a clock that wrong. A smaller step back is a
# repeated time (cron does not run its jobs again); forward, see _CLOCK_STEP.
_TIME_CHANGE = 3 * 3600.0
# A wall clock stepped forward further than this beyond the clock of elapsed time, up to
# _TIME_CHANGE, went over fires that the daemon, running all along, did not miss: each
# schedule runs the newest of them once, whatever its catch-up, as systemd runs a timer that
# elapsed, and logs the step, not missed fires. A smaller step is taken as time that passed.
_CLOCK_STEP = 300.0
# A machine's clock is set in its first minutes (NTP at boot, fake-hwclock before it).
_BOOT_SETTLE = 900.0
# With catch_up = "none", a running daemon's own stall (a suspended machine) of up to this
# long is no downtime: its newest missed fire runs, as cron(8) runs a fixed-time job that a
# change of up to three hours (a suspend, DST) skipped. Beyond, it counts as missed.
_STALL = 3 * 3600.0


@dataclass
class _Plan:
    spec: ScheduleSpec
    expr: cron.CronExpr
    zone: ZoneInfo
    watermark: float  # every planned fire at or before this instant has been handled
    next_fire: float | None


# The reasons of the marks a plan leaves where it starts afresh (see Scheduler.load).
_REPLANNED = frozenset({"time table changed", "schedule put back"})
# Counting missed fires costs a lookup each: beyond this many, a log line says "N or more".
_COUNTED = 100


@dataclass
class _Change:
    """A schedule's time table changed: from what (None if unknown), what moved its fires
    ("cron" and "timezone", "old -> new"), and up to when its plan stood."""

    before: cron.TimeTable | None
    moved: dict[str, str]
    since: float
    offline: bool = True  # while no daemon ran, else on a reload


class Scheduler:
    def __init__(
        self,
        store: Store,
        config: Config,
        log: EventLog | None = None,
        rng: random.Random | None = None,
        live_since: float | None = None,
    ) -> None:
        """`live_since`: since when a daemon has been running to fire these schedules (a
        standby that takes over ran all along); by default, from the first plan."""
        self.store = store
        self.log = log or EventLog()
        self.rng = rng or random.Random()
        self.config = config
        self._plans: dict[str, _Plan] = {}
        self._has_pending: set[str] = set()
        self._next_pending_check = 0.0
        self._loaded = False
        self._live_since = live_since  # fires before it passed while no daemon ran
        self._leading_since: float | None = None
        self._last_look: tuple[float, float] | None = None  # (now, elapsed) of the last tick
        # The last reload's renames, "old -> new": a schedule taken out and one put in that
        # fires the same job with the same payload at the same times.
        self.renamed: list[str] = []
        # The time tables recorded for the schedules this daemon's config lacked as it took
        # the lead, which it records as taken out: one a reload brings in is new to this
        # daemon, not put back, and catches up as a restart would.
        self._lacked: dict[str, str] = {}

    # -- configuration ---------------------------------------------------------------------

    def load(self, config: Config, now: float) -> None:
        """(Re)build the plan: removed schedules stop, changed ones recompute. All or
        nothing: if any schedule cannot be planned, the previous config stays in force."""
        old = self._plans
        plans: dict[str, _Plan] = {}
        unfired: list[_Plan] = []
        retimed: list[str] = []
        unheld: list[str] = []  # overlap leaves no fire waiting (now "skip", or "allow")
        changes: dict[str, _Change] = {}  # the time tables that changed
        holders: list[str] = []  # those whose fires may wait (a catch-up's, since a restart)
        zones = {
            name: spec.timezone or config.settings.timezone or local_zone()
            for name, spec in config.schedules.items()
        }
        tables = {name: f"{spec.cron} {zones[name]}" for name, spec in config.schedules.items()}
        # What the daemons before this one planned with: read for the schedules new to it, and
        # on taking the lead for every schedule, to take out of the record those this config
        # lacks (a daemon of another config led): `schedule list` warns of them then.
        if not self._loaded:
            recorded = self.store.time_tables(None)
            lacking = _lacking(recorded, tables)
            self._lacked = {name: recorded[name] for name in lacking}
        else:
            recorded = self.store.time_tables([name for name in tables if name not in old])
            recorded |= {name: self._lacked[name] for name in recorded.keys() & self._lacked}
            lacking = []
        for name, spec in config.schedules.items():
            expr = cron.parse(spec.cron)
            zone = ZoneInfo(zones[name])
            table = cron.TimeTable(expr, zones[name])
            previous = old.get(name)
            plan = _Plan(spec, expr, zone, now, None)
            if previous is not None:
                # The same fire times however written ("0/20" for "*/20", Etc/UTC for UTC)
                # are the same time table: it keeps its plan.
                before = cron.TimeTable(previous.expr, previous.zone.key)
                moved = before.changes(table)
                if not moved:
                    plan.watermark = previous.watermark
                else:
                    changes[name] = _Change(before, moved, previous.watermark, offline=False)
                    retimed.append(name)
            elif recorded.get(name) == REMOVED_TIME_TABLE:
                # A schedule a daemon's reload took out of the config, put back by a reload or
                # in the config a restart reads, counts from now, as a new time table does:
                # see below. The fires of the time it was out were never planned.
                retimed.append(name)
            else:
                last = self.store.last_fire_time(name)
                if last is None:
                    change = self._changed_unfired(plan, table, recorded.get(name), now)
                    if change is not None:
                        # Planned, not fired yet, and retimed while no daemon ran (a new
                        # monthly job's cron corrected before its first run): caught up from
                        # its first plan, the new table's "missed" fires ran at the restart.
                        changes[name] = change
                        retimed.append(name)
                    else:
                        unfired.append(plan)
                else:
                    change = self._changed_offline(plan, table, recorded.get(name), last)
                    if change is not None:
                        # The cron or zone changed while no daemon ran (a deploy): caught up
                        # from the old table's last fire, the new one's "missed" fires ran at
                        # the restart. It counts from now, as on a reload.
                        changes[name] = change
                        retimed.append(name)
                    else:
                        plan.watermark = last
            plans[name] = plan
            if _holds_fires(spec):
                holders.append(name)
            elif name not in retimed and (previous is None or _holds_fires(previous.spec)):
                unheld.append(name)
        # A schedule that never fired counts from when a daemon first planned it.
        starts = self.store.plan_start([p.spec.name for p in unfired], now)
        for plan in unfired:
            plan.watermark = starts.get(plan.spec.name, now)
        for plan in plans.values():
            plan.next_fire = _next_after(plan, plan.watermark)
        for name in retimed:
            # Recorded, so that a restart resumes from here too: the new time table's past
            # was never planned, and must not be caught up. A fire the old one left pending
            # (overlap = "queue") goes with it.
            change = changes.get(name)
            why = "schedule put back" if change is None else "time table changed"
            held = self.store.drop_pending(name, why, now)
            self.store.record_fire(name, now, None, now, reason=why)
            if change is not None:
                self._log_retimed(plans[name], change, held, now)
        for name in unheld:
            # A fire held under overlap = "queue" would still run once the run it waits for
            # ends, where the overlap now in force skips fires (or never holds one): it is
            # skipped, as the fires after it are.
            reason = f'overlap = "{plans[name].spec.overlap}" holds no fire'
            dropped = self.store.drop_pending(name, reason, now)
            if dropped:
                self.log.emit(
                    "schedule.skipped",
                    level="warning",
                    schedule=name,
                    held_fires=dropped,
                    reason=reason,
                )
        removed = old.keys() - plans.keys()
        # Recorded, so that a daemon that finds the schedule put back after a restart counts
        # it from then, as this one would on a reload.
        gone = dict.fromkeys([*removed, *lacking], REMOVED_TIME_TABLE)
        self.store.record_time_tables(tables | gone)
        if lacking:
            self.log.emit(
                "scheduler.other_config",
                level="warning",
                schedules=", ".join(lacking),
                error=lacking_text(lacking, leading=True),
            )
        for name in removed:  # as cron forgets a deleted line, fires held for it included
            self.store.drop_pending(name, "schedule removed", now)
        # Looked for once a second only while some are held: the daemon sleeps otherwise.
        self._has_pending = self.store.held_schedules(holders)
        for name in sorted(self._has_pending):
            self._trim_backlog(plans[name].spec, now)
        self.renamed = _renames(old, plans)
        for name in plans:
            self._lacked.pop(name, None)
        self.config = config
        self._plans = plans
        if self._live_since is None:
            self._live_since = now
        if self._leading_since is None:  # the first plan is made on taking the lead
            self._leading_since = now
        self._loaded = True

    def _changed_offline(
        self, plan: _Plan, table: cron.TimeTable, recorded: str | None, last: float
    ) -> _Change | None:
        """How a schedule's time table changed since the daemons before this one planned it
        (`recorded`: "<cron> <zone>" as they record it), if it did. With none recorded (an
        older jobctl), a last fire that is none of the new table's tells a change."""
        if recorded is None:
            if self._fired_under(plan, last):
                return None
            return _Change(None, {"time_table": f"? -> {table.expr.text} {table.zone}"}, last)
        before = cron.TimeTable.read(recorded)
        if before is None:  # a cron this jobctl no longer reads: another time table
            now_text = f"{table.expr.text} {table.zone}"
            return _Change(None, {"time_table": f"{recorded} -> {now_text}"}, last)
        moved = before.changes(table)
        return _Change(before, moved, last) if moved else None

    def _changed_unfired(
        self, plan: _Plan, table: cron.TimeTable, recorded: str | None, now: float
    ) -> _Change | None:
        """How the time table of a schedule that has not fired yet changed since a daemon
        planned it, if it did: its plan stood from then. None recorded (never planned, or by
        an older jobctl): nothing to compare with, it counts from its first plan."""
        if recorded is None:
            return None
        change = self._changed_offline(plan, table, recorded, now)
        if change is not None:  # rare: the plan's start is read (or recorded) only then
            change.since = self.store.plan_start([plan.spec.name], now)[plan.spec.name]
        return change

    def _log_retimed(self, plan: _Plan, change: _Change, held: int, now: float) -> None:
        """Say that a schedule counts from now, what changed, and what that leaves unrun: the
        old time table's fires since its plan last stood (which catch-up would have handled,
        had the table not changed) and a fire it held. A warning when anything was left."""
        missed: int | None = None
        missed_text: Count | str = "unknown"
        if change.before is not None:
            before = change.before
            try:
                missed = cron.count_fires(before.expr, before.zone, change.since, now, _COUNTED)
                missed_text = _count_text(missed)
            except cron.CronError:  # a zone this host no longer has
                pass
        if change.offline:
            when = "its time table changed while no daemon ran"
        else:
            when = "a reload changed its time table"
        self.log.emit(
            "schedule.retimed",
            level="info" if missed == 0 and held == 0 else "warning",
            schedule=plan.spec.name,
            **change.moved,
            missed=missed_text,
            planned_to=iso(change.since),
            held=held or None,
            reason=f"{when}: it counts from now, and no fire of the old one is caught up",
        )

    def _fired_under(self, plan: _Plan, last: float) -> bool:
        """Whether a schedule's last planned fire belongs to its time table now: one of its
        fire times, or the mark a plan started afresh leaves (a reload's), where it stands."""
        if cron.fires_between(plan.expr, plan.zone, last - 1, last, limit=1) == [last]:
            return True
        found = self.store.last_fires().get(plan.spec.name)  # (rare: read only then)
        if found is None or found[0].fire_time != last:
            return True  # a manual run since, or nothing to read: cannot tell, as before
        record = found[0]
        return record.job_id is None and record.reason in _REPLANNED

    @property
    def plans(self) -> Mapping[str, _Plan]:
        return self._plans

    # -- the tick --------------------------------------------------------------------------

    def tick(self, now: float, elapsed: float | None = None) -> float | None:
        """Enqueue everything due at `now`; return when the next fire is due (or None).
        `elapsed`: seconds on a clock that a wall clock set forward does not move, and a
        suspend does (CLOCK_BOOTTIME), to tell the one from the other; None: cannot tell."""
        if not self._loaded:
            self.load(self.config, now)
        paused = self.store.paused_schedules()
        self._follow_clock_back(now, paused)
        if elapsed is not None:
            if self._last_look is not None:
                last_now, last_elapsed = self._last_look
                jumped = (now - last_now) - (elapsed - last_elapsed)
                if jumped > _CLOCK_STEP and elapsed > _BOOT_SETTLE:
                    self._follow_clock_forward(now, jumped, paused)
            self._last_look = (now, elapsed)
        for plan in self._plans.values():
            if plan.next_fire is not None and plan.next_fire <= now:
                self._handle_due(plan, now, plan.spec.name in paused)
        if now >= self._next_pending_check:
            self._next_pending_check = now + _PENDING_CHECK
            # A run held by `schedule run` (another process) under overlap = "queue" is found
            # on the daemon's next look, a read: the daemon wakes each second only while a
            # fire is held.
            queueing = [name for name, plan in self._plans.items() if plan.spec.overlap == "queue"]
            looked = [*self._has_pending.intersection(self._plans), *queueing]
            self._has_pending = self.store.held_schedules(looked)
            for name in sorted(self._has_pending):
                spec = self._plans[name].spec
                self._promote_held(spec, now, paused=not spec.enabled or name in paused)
        upcoming = [p.next_fire for p in self._plans.values() if p.next_fire is not None]
        next_wake = min(upcoming) if upcoming else None
        if self._has_pending:
            next_wake = min(next_wake or self._next_pending_check, self._next_pending_check)
        return next_wake

    def fire_now(self, name: str, now: float) -> FireRecord | None:
        """A manual run outside the plan (`jobctl schedule run`): recorded as manual, under
        the schedule's overlap as its fires are (a run of it active: skipped, or held). None
        when a fire of this instant was recorded already."""
        spec = self.config.schedules[name]
        return self.store.record_fire(  # asked for now: no jitter
            name,
            now,
            self._job(spec, now, now, jitter=False),
            now,
            overlap=spec.overlap,
            manual=True,
        )

    def release_held(self, name: str, now: float) -> FireRecord | None:
        """Enqueue the schedule's oldest fire held under overlap = "queue" whose run has
        ended, as the daemon does within a second of that end, but for a daemon that stopped
        first. `schedule run` does so before fire_now, whose record would enqueue it on the
        way unsaid, so that it can say which job that is. None when no fire is held, or a run
        of the schedule is still active."""
        spec = self.config.schedules[name]
        return self.store.promote_pending(name, self._job(spec, 0.0, now, jitter=False), now)

    def _follow_clock_back(self, now: float, paused: set[str]) -> None:
        """Take a clock set back (see the module docstring) as corrected: each plan ahead of
        it resumes from `now`, said once per schedule; the instants kept to tell late fires
        from fires on time move back with it, so that no fire after `now` counts as missed."""
        ahead = now + _CLOCK_BACK
        if self._live_since is not None and self._live_since > ahead:
            self._live_since = now
        if self._leading_since is not None and self._leading_since > ahead:
            self._leading_since = now
        if self._next_pending_check > now + _PENDING_CHECK:
            self._next_pending_check = now  # held fires: look now, not after the gap
        for plan in self._plans.values():
            if plan.watermark <= ahead:
                continue
            spec = plan.spec
            quiet = not spec.enabled or spec.name in paused
            self.log.emit(
                "scheduler.clock_back",
                level="debug" if quiet else "warning",
                schedule=spec.name,
                behind=Seconds(
                    round(plan.watermark - now), format_duration(round(plan.watermark - now))
                ),
                planned_to=iso(plan.watermark),
                reason="the clock was set back: fires resume from now; those recorded ahead of"
                " it run again at their time only after a change of over 3 hours",
            )
            if plan.watermark - now > _TIME_CHANGE:
                self.store.forget_fires_after(spec.name, now)
            plan.watermark = now
            plan.next_fire = _next_after(plan, now)

    def _follow_clock_forward(self, now: float, jumped: float, paused: set[str]) -> None:
        """Take a clock stepped forward by `jumped` seconds, which the clock of elapsed time
        shows did not pass (see the module docstring): the fires due before the step (time
        that did pass) are handled as usual. Over `_TIME_CHANGE`, those it jumped over are not
        run, but for the newest one within `_ON_TIME` of the new time; up to it, the newest
        it stepped over runs once, whatever the catch-up, as systemd runs an elapsed timer."""
        real_now = now - jumped
        time_change = jumped > _TIME_CHANGE
        for plan in self._plans.values():
            spec = plan.spec
            if plan.next_fire is not None and plan.next_fire <= real_now:
                self._handle_due(plan, real_now, spec.name in paused)
            if time_change:
                # The fire before the newest of the last minute: that one alone is due.
                newest = cron.fires_between(plan.expr, plan.zone, now - _ON_TIME, now, limit=2)
                resume = newest[0] if len(newest) == 2 else now - _ON_TIME
                if plan.next_fire is None or plan.next_fire > resume or plan.watermark >= resume:
                    continue
                stepped_over = None
                reason = "the clock was set forward: the fires it jumped over are not run"
            else:
                since = plan.watermark
                if not cron.fires_between(plan.expr, plan.zone, since, now - _ON_TIME, limit=1):
                    continue  # none it stepped over is late: they are due as usual
                # The fire before the newest: that one alone is due.
                newest = cron.fires_between(plan.expr, plan.zone, since, now, limit=2)
                resume = newest[0] if len(newest) == 2 else since
                counted = cron.count_fires(plan.expr, plan.zone, since, now, _COUNTED)
                stepped_over = _count_text(counted)
                reason = (
                    "the clock was stepped forward while the daemon ran: the fires it stepped"
                    " over run once, as one, and none counts as missed"
                )
            quiet = not spec.enabled or spec.name in paused
            self.log.emit(
                "scheduler.clock_forward",
                level="debug" if quiet else "warning",
                schedule=spec.name,
                ahead=Seconds(round(jumped), format_duration(round(jumped))),
                stepped_over=stepped_over,
                resumes=iso(resume),
                reason=reason,
            )
            plan.watermark = resume
            plan.next_fire = _next_after(plan, resume)
            if not time_change:  # its newest fire alone is due: it runs, not as a catch-up
                self._handle_due(plan, now, spec.name in paused, stepped=True)

    def _handle_due(self, plan: _Plan, now: float, paused: bool, *, stepped: bool = False) -> None:
        before = plan.watermark, plan.next_fire
        try:
            self._record_due(plan, now, paused, stepped=stepped)
        except StoreError:
            # The store failed (a full disk, a server down): these fires stay due, and the
            # next tick records them, those recorded already once (each fire is unique).
            plan.watermark, plan.next_fire = before
            raise

    def _record_due(self, plan: _Plan, now: float, paused: bool, *, stepped: bool = False) -> None:
        """Record the fires due at `now`. `stepped`: the one due is the newest of those a
        clock step forward went over, which the daemon ran through: no catch-up."""
        spec = plan.spec
        # Only the most recent fires can matter, so the cost follows the catch-up limit,
        # not the length of the downtime.
        want = spec.catch_up_limit + 1 if spec.catch_up == "all" else 2
        since = plan.watermark
        due = cron.fires_between(plan.expr, plan.zone, since, now, limit=want)
        plan.watermark = now
        plan.next_fire = _next_after(plan, now)
        if not due:
            return
        if not spec.enabled or paused:
            why = "disabled" if not spec.enabled else "paused"
            record = self.store.record_fire(spec.name, due[-1], None, now, reason=why)
            if record is not None:  # as asked: a debug line, not a warning each fire
                skipped = self._missed(plan, due, want, since, now) if len(due) > 1 else None
                self._log_skip(spec, due[-1], why, level="debug", missed=skipped)
            return
        chosen = due
        live_since = self._live_since or now
        on_time = now - due[-1] <= _ON_TIME
        # Late: several fires due at once, one from before this daemon ran, or one a stall
        # (a suspended machine, a store outage) let pass by more than a minute.
        catching_up = not stepped and (len(due) > 1 or due[0] < live_since or not on_time)
        catch_up: dict[str, Any] | None = None  # the warning, said once the fires are recorded
        if catching_up:
            leading = self._leading_since or now
            if spec.catch_up == "none":
                # Only fires that passed while no daemon ran stay missed. The newest that came
                # while a standby waited out a lost leader's lease (Redis) runs, and so does
                # the newest a leader's own stall (a suspended machine, a store outage) let
                # pass, unless that stall lasted over _STALL.
                chosen = [
                    f
                    for f in due[-1:]
                    if live_since <= f < leading
                    or (f >= live_since and now - f <= _STALL)
                    or now - f <= _ON_TIME
                ]
                dropped = due[: len(due) - len(chosen)]
                if dropped:
                    self._record_missed(spec, dropped[-1], now, live_since, leading)
            elif spec.catch_up == "latest":
                chosen = due[-1:]
            else:
                chosen = due[-spec.catch_up_limit :]
            if len(due) > 1 or not on_time:  # a lone fire at most a minute late is on time
                catch_up = {
                    "schedule": spec.name,
                    "missed": self._missed(plan, due, want, since, now, on_time=on_time),
                    "running": len(chosen),
                    "policy": spec.catch_up,
                    "latest": iso(due[-1]),
                }
        # catch_up = "all" asks for every missed fire: unless overlap is "allow", they wait
        # their turn (overlap "skip" would otherwise drop all but the first), at most
        # catch_up_limit with those an earlier catch-up left waiting (restarts during one long
        # run): the store keeps the newest, and records the older ones as skipped.
        backlog = catching_up and spec.catch_up == "all" and spec.overlap != "allow"
        for fire_time in chosen:
            if spec.name in self._has_pending:
                # A held fire whose run has ended goes first, and is logged. One whose run ends
                # between this look and the record is enqueued by the record: it says so.
                self._promote_held(spec, now)
            record = self.store.record_fire(
                spec.name,
                fire_time,
                self._job(spec, fire_time, now),
                now,
                overlap="queue" if backlog else spec.overlap,
                backlog=spec.catch_up_limit if backlog else 0,
            )
            if record is None:  # fired already: by us before a restart, or by another daemon
                self._log_skip(spec, fire_time, "recorded already", level="debug")
                continue
            released = record.released
            if released is not None:  # a held fire that went first, as _promote_held logs it
                self._log_fire(spec, released.fire_time, released.job_id, "pending run")
            reason = record.reason
            if record.status == "enqueued":
                self._log_fire(spec, fire_time, record.job_id, None)
            elif record.status == "pending":
                self._has_pending.add(spec.name)
                self.log.emit(  # not skipped: it runs once that run ends
                    "schedule.held",
                    schedule=spec.name,
                    fire_time=iso(fire_time),
                    reason=reason or "pending",
                )
            else:
                self._log_skip(spec, fire_time, reason or "skipped")
            if record.displaced:  # held fires of an earlier catch-up gave way to it
                self.log.emit(
                    "schedule.skipped",
                    level="warning",
                    schedule=spec.name,
                    held_fires=record.displaced,
                    reason=backlog_dropped(spec.catch_up_limit),
                )
        if catch_up is not None:
            # Only now: a tick the store refuses (a full disk) is tried again each second,
            # and said "missed" each time for as long as the outage lasted, where the store
            # was the news. The fires it let pass are counted here, when they are recorded.
            self.log.emit("schedule.catch_up", level="warning", **catch_up)

    def _missed(
        self,
        plan: _Plan,
        due: list[float],
        want: int,
        since: float,
        now: float,
        *,
        on_time: bool = False,
    ) -> Count:
        """How many fires passed unrun since `since`, for a log line: those of `due`, which
        holds them all unless it reached `want`; more are counted then, up to _COUNTED (an
        @every schedule's whatever their number), else it says "N or more". With `on_time`,
        the newest fire is at most a minute late: it runs on time, and is no missed one."""
        total, exact = len(due), len(due) < want
        if not exact and (plan.expr.interval is not None or want < _COUNTED):
            counted = cron.count_fires(plan.expr, plan.zone, since, now, _COUNTED)
            total, exact = (counted, True) if counted is not None else (_COUNTED + 1, False)
        missed = total - 1 if on_time else total
        return Count(missed, capped=not exact)

    def _record_missed(
        self, spec: ScheduleSpec, fire_time: float, now: float, live_since: float, leading: float
    ) -> None:
        """Record the newest fire that catch_up = "none" leaves unrun as skipped, as paused
        ones are: `schedule list`, its JSON and the last-fire metric show it, and being
        recorded, it is never run later (each fire is recorded once)."""
        if fire_time < live_since:
            why = "no daemon ran at that time"
        elif fire_time < leading:
            why = "the daemon was waiting for the lead"
        elif now - fire_time > _STALL:  # a suspended machine, a store outage
            why = f"the daemon woke over {format_duration(_STALL)} late for it"
        else:  # a shorter stall: its newest fire runs, as after a suspend cron's would
            why = "the daemon woke late, after a newer fire, which runs"
        reason = f"missed: {why} (catch_up = none)"
        if self.store.record_fire(spec.name, fire_time, None, now, reason=reason) is not None:
            self._log_skip(spec, fire_time, reason, level="debug")

    def _promote_held(self, spec: ScheduleSpec, now: float, *, paused: bool = False) -> None:
        """Enqueue the schedule's oldest held fire once the run it waits for has ended. A
        paused or disabled schedule's held fires are recorded as skipped instead, as the fires
        that come during the pause are: a pause stops a catch-up's backlog too. A run held by
        `schedule run` was asked for during it, and runs."""
        if paused:
            why = "disabled" if not spec.enabled else "paused"
            reason = f"{why}: a held fire does not run while its schedule is {why}"
            dropped = self.store.drop_pending(spec.name, reason, now, keep=0)
            if dropped:
                self.log.emit(
                    "schedule.skipped", schedule=spec.name, held_fires=dropped, reason=reason
                )
        record = self.store.promote_pending(spec.name, self._job(spec, 0.0, now), now)
        if record is not None:
            self._log_fire(spec, record.fire_time, record.job_id, "pending run")

    def _trim_backlog(self, spec: ScheduleSpec, now: float) -> None:
        """Hold no more of a catch-up's fires than the catch_up_limit in force, the newest, as
        record_fire keeps them: a reload that lowers the limit trims the backlog held."""
        if spec.catch_up != "all" or spec.overlap == "allow":
            return
        why = backlog_dropped(spec.catch_up_limit)
        dropped = self.store.drop_pending(spec.name, why, now, keep=spec.catch_up_limit)
        if dropped:
            self.log.emit(
                "schedule.skipped",
                level="warning",
                schedule=spec.name,
                held_fires=dropped,
                reason=why,
            )

    def _job(
        self, spec: ScheduleSpec, fire_time: float, now: float, *, jitter: bool = True
    ) -> NewJob:
        job_type = self.config.jobs[spec.job]
        run_at = None
        if jitter and spec.jitter > 0:
            run_at = now + self.rng.uniform(0, spec.jitter)
        payload: dict[str, Any] = dict(spec.payload)
        return NewJob(
            job=spec.job,
            payload=payload,
            queue=spec.queue or job_type.queue,
            priority=job_type.priority if spec.priority is None else spec.priority,
            max_attempts=job_type.max_attempts,
            run_at=run_at,
            schedule=spec.name,
            fire_time=fire_time,
        )

    def _log_fire(
        self, spec: ScheduleSpec, fire_time: float, job_id: int | None, note: str | None
    ) -> None:
        self.log.emit(
            "schedule.fired",
            schedule=spec.name,
            fire_time=iso(fire_time),
            job_id=job_id,
            job=spec.job,
            note=note,
        )

    def _log_skip(
        self,
        spec: ScheduleSpec,
        fire_time: float,
        reason: str,
        level: str = "warning",
        missed: Count | None = None,
    ) -> None:
        self.log.emit(
            "schedule.skipped",
            level=level,
            schedule=spec.name,
            fire_time=iso(fire_time),
            reason=reason,
            missed=missed,
        )


def lacking_text(names: Sequence[str], *, leading: bool) -> str:
    """Why a daemon warns of the schedules its config lacks that the record of the plan
    holds: a daemon of another config (a second `up` with another --config) planned them."""
    listed = ", ".join(names)
    if leading:
        return (
            f"the cron daemons of this database planned schedules this config lacks: {listed};"
            " they fire no more while this daemon leads; were they taken out while no daemon"
            " ran, or is another --config in use?"
        )
    return (
        f"the cron daemons of this database plan schedules this config lacks: {listed};"
        " is another --config in use?"
    )


def schedules_lacking(store: Store, config: Config) -> list[str]:
    """The schedules the cron daemons of this store plan (their recorded time tables) that
    this config lacks, in one round trip: a standby of another config warns at its start."""
    return _lacking(store.time_tables(None), config.schedules)


def _lacking(recorded: Mapping[str, str], planned: Mapping[str, object]) -> list[str]:
    """The schedules of `recorded` (every time table recorded) in the plan, not in `planned`."""
    gone = REMOVED_TIME_TABLE
    return sorted(name for name, text in recorded.items() if name not in planned and text != gone)


def _holds_fires(spec: ScheduleSpec) -> bool:
    """Whether a schedule's fires may wait for its active run: under overlap = "queue", and
    a catch-up's under catch_up = "all" unless overlap is "allow"."""
    return spec.overlap == "queue" or (spec.catch_up == "all" and spec.overlap != "allow")


def _renames(old: Mapping[str, _Plan], plans: Mapping[str, _Plan]) -> list[str]:
    """The schedules a reload took out and put in again under another name, "old -> new":
    the same job and payload at the same fire times. Overlap holds per schedule name, so a
    run of the old name still going does not hold the new one's fires."""
    removed = {name: plan for name, plan in old.items() if name not in plans}
    found: list[str] = []
    for name, plan in sorted(plans.items()):
        if name in old or not removed:
            continue
        table = cron.TimeTable(plan.expr, plan.zone.key)
        for gone, before in sorted(removed.items()):
            same = (before.spec.job, dict(before.spec.payload)) == (
                plan.spec.job,
                dict(plan.spec.payload),
            )
            if same and not cron.TimeTable(before.expr, before.zone.key).changes(table):
                found.append(f"{gone} -> {name}")
                break
    return found


def _count_text(count: int | None) -> Count:
    """A count of fires as cron.count_fires gives it (None: more than _COUNTED)."""
    return Count(_COUNTED, capped=True) if count is None else Count(count)


def _next_after(plan: _Plan, after: float) -> float | None:
    fires = cron.next_fires(plan.expr, plan.zone, after, 1)
    return fires[0] if fires else None


def resume_schedule(store: Store, config: Config, name: str, now: float) -> None:
    """Let a paused schedule fire again (`schedule resume`), recording the newest fire that
    came while it was paused as skipped, as a running daemon records it: a daemon that starts
    after a resume while none ran would otherwise count those fires as missed, and catch them
    up. The pause's start is not kept: a fire due before it while no daemon ran counts as one
    of the pause's when none came after it."""
    if name in store.paused_schedules():
        spec = config.schedules[name]
        zone = spec.timezone or config.settings.timezone
        zone = zone or daemon_zones(store, config).get(name) or local_zone()
        since = store.last_fire_time(name)
        if since is None:
            since = store.plan_start([name], now)[name]
        try:
            newest = cron.fires_between(cron.parse(spec.cron), zone, since, now, limit=1)
        except cron.CronError:
            newest = []  # a zone this host lacks: its daemon's records are all there is
        why = "disabled" if not spec.enabled else "paused"
        for fire_time in newest:  # first, so that a daemon running now never enqueues it
            store.record_fire(name, fire_time, None, now, reason=why)
    store.set_schedule_paused(name, False)


def daemon_zones(store: Store, config: Config) -> dict[str, str]:
    """The zone a cron daemon recorded planning each schedule in, for those whose zone the
    config leaves to the daemon (none of their own, no [settings] timezone): its TZ or its
    host's, which need not be this process's (a systemd unit's Environment=TZ=...)."""
    if config.settings.timezone:
        return {}
    zoneless = sorted(name for name, spec in config.schedules.items() if not spec.timezone)
    zones: dict[str, str] = {}
    for name, text in store.time_tables(zoneless).items():
        table = cron.TimeTable.read(text)
        if table is None:
            continue
        if zone_named(table.zone) is None:
            continue  # a zone only the daemon's host knows: this process's is the best guess
        zones[name] = table.zone
    return zones

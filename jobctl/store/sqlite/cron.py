"""Cron fires (each once), schedule pauses and the leader lock."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from jobctl.models import (
    NewJob,
    State,
)
from jobctl.store.base import LeaderLock
from jobctl.store.sqlite.locks import FileLeaderLock
from jobctl.store.sqlite.queue import QueueOps
from jobctl.store.sqlite.rows import HOLDING_SQL
from jobctl.store.wake import WORK

if TYPE_CHECKING:
    from jobctl.records import FireRecord


class CronOps(QueueOps):
    """Fires enqueue their jobs through the queue's own insert, in the same transaction."""

    # -- cron ------------------------------------------------------------------------------

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
        from jobctl.records import FireRecord, backlog_dropped  # not at the top: see records

        enqueued = False
        released: FireRecord | None = None  # the held fire enqueued first, for the daemon to log
        displaced = 0  # held fires of an earlier catch-up that gave way to this one
        with self._write() as conn:
            if conn.execute(
                "SELECT 1 FROM fires WHERE schedule = ? AND fire_time = ?", (schedule, fire_time)
            ).fetchone():
                return None
            if job is None and not manual:
                # A disabled or paused schedule's skips: its newest skip for the same reason
                # moves on to this fire. One row says where the plan stands; one a second (an
                # every-second schedule) filled the table with nothing to say.
                conn.execute(
                    "DELETE FROM fires WHERE schedule = ? AND fire_time ="
                    " (SELECT MAX(fire_time) FROM fires WHERE schedule = ?) AND fire_time < ?"
                    " AND status = 'skipped' AND reason IS ? AND manual = 0",
                    (schedule, schedule, fire_time, reason),
                )
            job_id: int | None = None
            held_by: int | None = None  # the active run that skipped or held this fire
            status = "skipped"
            if job is not None:
                active = None
                if overlap in ("skip", "queue"):
                    active = conn.execute(
                        "SELECT id FROM jobs INDEXED BY jobs_schedule_holding"
                        f" WHERE schedule = ? AND {HOLDING_SQL} LIMIT 1",
                        (schedule,),
                    ).fetchone()
                if active is None and overlap == "queue":
                    # The run a held fire waited for ended before the daemon's next look: that
                    # fire goes first, and this one waits behind it, as if it came a moment later.
                    held = conn.execute(
                        "SELECT fire_time, manual FROM fires INDEXED BY fires_pending"
                        " WHERE schedule = ? AND status = 'pending' ORDER BY fire_time LIMIT 1",
                        (schedule,),
                    ).fetchone()
                    if held is not None:
                        held_id = self._promote(conn, schedule, held[0], job, now)
                        active, enqueued = (held_id,), True
                        released = FireRecord(
                            schedule, held[0], "enqueued", held_id, None, bool(held[1]), now
                        )
                waiting = (
                    active is not None
                    and overlap == "queue"
                    and not backlog
                    and conn.execute(
                        "SELECT 1 FROM fires INDEXED BY fires_pending"
                        " WHERE schedule = ? AND status = 'pending' LIMIT 1",
                        (schedule,),
                    ).fetchone()
                )
                if active is not None:
                    held_by = active[0]
                if active is not None and overlap == "skip":
                    reason = f"overlap: run {active[0]} is still active"
                elif active is not None and waiting:  # one held fire is enough
                    reason = f"overlap: a fire already waits for run {active[0]}"
                elif active is not None:
                    status, reason = "pending", f"waiting for run {active[0]} to finish"
                else:
                    results, _ = self._insert_jobs(conn, [job], now)
                    job_id, status, enqueued = results[0].id, "enqueued", True
                    held_by = None
            conn.execute(
                "INSERT INTO fires (schedule, fire_time, job_id, status, reason, manual, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (schedule, fire_time, job_id, status, reason, int(manual), now),
            )
            if status == "pending" and backlog:
                # A catch-up's fires join those an earlier one left waiting (a restart while
                # the run they wait for goes on): the newest `backlog` wait, the older ones
                # are skipped, so the held fires never outgrow the schedule's catch_up_limit.
                # A manual run held (schedule run) is no missed fire: never counted, never
                # dropped.
                why = backlog_dropped(backlog)
                dropped = self._drop_held(conn, schedule, why, now, backlog)
                displaced = sum(held != fire_time for held in dropped)
                if len(dropped) > displaced:  # older than those held
                    status, reason, held_by = "skipped", why, None
        if enqueued:
            self._notifier.notify(WORK)
        return FireRecord(
            schedule, fire_time, status, job_id, reason, manual, now, displaced, held_by, released
        )

    def promote_pending(self, schedule: str, job: NewJob, now: float) -> FireRecord | None:
        from jobctl.records import FireRecord

        # Looked at first without the write lock: while the run a fire waits for goes on, the
        # daemon's look each second takes nothing from the workers' claims and enqueues.
        if not self._read(
            "SELECT 1 FROM fires INDEXED BY fires_pending WHERE schedule = ? AND status ="
            " 'pending' AND NOT EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_schedule_holding"
            f"   WHERE schedule = ? AND {HOLDING_SQL}) LIMIT 1",
            (schedule, schedule),
        ):
            return None
        with self._write() as conn:
            row = conn.execute(
                "SELECT fire_time, manual FROM fires WHERE schedule = ? AND status = 'pending'"
                " ORDER BY fire_time LIMIT 1",
                (schedule,),
            ).fetchone()
            if row is None:
                return None
            if conn.execute(
                "SELECT 1 FROM jobs INDEXED BY jobs_schedule_holding"
                f" WHERE schedule = ? AND {HOLDING_SQL} LIMIT 1",
                (schedule,),
            ).fetchone():
                return None
            fire_time, manual = row
            job_id = self._promote(conn, schedule, fire_time, job, now)
        self._notifier.notify(WORK)
        return FireRecord(schedule, fire_time, "enqueued", job_id, None, bool(manual), now)

    def drop_pending(
        self, schedule: str, reason: str, now: float, *, keep: int | None = None
    ) -> int:
        if keep is not None and not self._read(
            # Looked at first, a read: a paused schedule holding a manual run behind a long
            # run was trimmed each second, a write transaction that changed nothing.
            "SELECT 1 FROM fires INDEXED BY fires_pending"
            " WHERE schedule = ? AND status = 'pending' AND manual = 0 LIMIT 1 OFFSET ?",
            (schedule, keep),
        ):
            return 0
        with self._write() as conn:
            if keep is not None:
                return len(self._drop_held(conn, schedule, reason, now, keep))
            return conn.execute(
                "UPDATE fires INDEXED BY fires_pending SET status = 'skipped', reason = ?, at = ?"
                " WHERE schedule = ? AND status = 'pending'",
                (reason, now, schedule),
            ).rowcount

    def _drop_held(
        self, conn: sqlite3.Connection, schedule: str, reason: str, now: float, keep: int
    ) -> list[float]:
        """Record a schedule's held planned fires beyond the newest `keep` as skipped; their
        fire times. A manual run held (schedule run) is no missed fire: never counted, never
        dropped."""
        rows = conn.execute(
            "UPDATE fires SET status = 'skipped', reason = ?, at = ?"
            " WHERE schedule = ? AND status = 'pending' AND fire_time IN ("
            "   SELECT fire_time FROM fires INDEXED BY fires_pending"
            "   WHERE schedule = ? AND status = 'pending' AND manual = 0"
            "   ORDER BY fire_time DESC LIMIT -1 OFFSET ?)"
            " RETURNING fire_time",
            (reason, now, schedule, schedule, keep),
        ).fetchall()
        return [row[0] for row in rows]

    def held_schedules(self, schedules: Sequence[str]) -> set[str]:
        wanted = set(schedules)
        if not wanted:
            return set()
        # The partial index holds the pending fires alone: a few entries, however many fires.
        rows = self._read(
            "SELECT DISTINCT schedule FROM fires INDEXED BY fires_pending WHERE status = 'pending'"
        )
        return {row[0] for row in rows} & wanted

    def forget_fires_after(self, schedule: str, after: float) -> int:
        with self._write() as conn:
            return conn.execute(
                "DELETE FROM fires WHERE schedule = ? AND fire_time > ? AND manual = 0"
                " AND status != 'pending'",
                (schedule, after),
            ).rowcount

    def _promote(
        self, conn: sqlite3.Connection, schedule: str, held: float, job: NewJob, now: float
    ) -> int:
        """Enqueue a schedule's held fire (overlap = "queue") as `job`; the new job's id."""
        results, _ = self._insert_jobs(conn, [job._replace(fire_time=held)], now)
        conn.execute(
            "UPDATE fires SET status = 'enqueued', job_id = ?, reason = NULL, at = ?"
            " WHERE schedule = ? AND fire_time = ?",
            (results[0].id, now, schedule, held),
        )
        return results[0].id

    def last_fire_time(self, schedule: str) -> float | None:
        rows = self._read(
            "SELECT MAX(fire_time) FROM fires WHERE schedule = ? AND manual = 0", (schedule,)
        )
        return rows[0][0] if rows and rows[0][0] is not None else None

    def last_fires(self) -> dict[str, tuple[FireRecord, State | None]]:
        from jobctl.records import FireRecord

        # Each schedule's latest fire through the primary key, the schedules found by
        # stepping from one name to the next: a few lookups each, however many fires are kept
        # (a GROUP BY reads them all: 600,000 a week for a schedule firing every second).
        rows = self._read(
            "WITH RECURSIVE names(name) AS ("
            "   SELECT MIN(schedule) FROM fires"
            "   UNION ALL"
            "   SELECT (SELECT MIN(schedule) FROM fires WHERE schedule > name) FROM names"
            "   WHERE name IS NOT NULL)"
            " SELECT f.schedule, f.fire_time, f.status, f.job_id, f.reason, f.manual, f.at,"
            " j.state FROM names"
            " JOIN fires f ON f.schedule = names.name AND f.fire_time ="
            "   (SELECT MAX(fire_time) FROM fires WHERE schedule = names.name)"
            " LEFT JOIN jobs j ON j.id = f.job_id"
        )
        return {
            r[0]: (
                FireRecord(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]),
                State(r[7]) if r[7] else None,
            )
            for r in rows
        }

    def prune_fires(self, before: float) -> int:
        with self._write() as conn:
            cursor = conn.execute(
                "DELETE FROM fires WHERE fire_time < ? AND status != 'pending'"
                # Where the plan stands; for a schedule only ever run by hand, its latest fire.
                " AND fire_time < COALESCE((SELECT MAX(f.fire_time) FROM fires AS f"
                "   WHERE f.schedule = fires.schedule AND f.manual = 0),"
                "   (SELECT MAX(f.fire_time) FROM fires AS f WHERE f.schedule = fires.schedule))"
                " AND NOT (status = 'enqueued' AND fire_time = (SELECT MAX(f.fire_time)"
                "   FROM fires AS f WHERE f.schedule = fires.schedule AND f.status = 'enqueued'))",
                (before,),
            )
            return cursor.rowcount

    def last_runs(self, schedules: Sequence[str]) -> dict[str, float]:
        runs: dict[str, float] = {}
        for name in schedules:  # each one lookup: skips have no entries in fires_enqueued
            row = self._read(
                "SELECT fire_time FROM fires INDEXED BY fires_enqueued"
                " WHERE schedule = ? AND status = 'enqueued' ORDER BY fire_time DESC LIMIT 1",
                (name,),
            )
            if row:
                runs[name] = row[0][0]
        return runs

    def last_successes(self, schedules: Sequence[str]) -> dict[str, float]:
        found: dict[str, float] = {}
        for name in schedules:  # each one lookup: the index holds succeeded runs alone
            row = self._read(
                "SELECT MAX(finished_at) FROM jobs INDEXED BY jobs_schedule_succeeded"
                " WHERE schedule = ? AND state = 'succeeded'",
                (name,),
            )
            if row and row[0][0] is not None:
                found[name] = row[0][0]
        return found

    def set_schedule_paused(self, schedule: str, paused: bool) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO schedule_state (name, paused) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
                (schedule, int(paused)),
            )

    def paused_schedules(self) -> set[str]:
        return {r[0] for r in self._read("SELECT name FROM schedule_state WHERE paused = 1")}

    def plan_start(self, schedules: Sequence[str], now: float) -> dict[str, float]:
        if not schedules:
            return {}
        found: dict[str, float] = {}
        with self._write() as conn:
            for name in schedules:
                (planned,) = conn.execute(
                    "INSERT INTO schedule_state (name, planned_at) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET planned_at = COALESCE(planned_at, ?)"
                    " RETURNING planned_at",
                    (name, now, now),
                ).fetchone()
                found[name] = float(planned)
        return found

    def time_tables(self, schedules: Sequence[str] | None) -> dict[str, str]:
        if schedules is None:
            query = "SELECT name, time_table FROM schedule_state WHERE time_table IS NOT NULL"
            return {name: table for name, table in self._read(query)}
        found: dict[str, str] = {}
        for name in schedules:
            rows = self._read("SELECT time_table FROM schedule_state WHERE name = ?", (name,))
            if rows and rows[0][0] is not None:
                found[name] = rows[0][0]
        return found

    def record_time_tables(self, tables: Mapping[str, str]) -> None:
        with self._write() as conn:
            for name, table in tables.items():
                conn.execute(
                    "INSERT INTO schedule_state (name, time_table) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET time_table = excluded.time_table",
                    (name, table),
                )

    def scheduler_lock(self) -> LeaderLock:
        # Beside the real file: daemons that reach one database through different paths (a
        # symlink, a relative path) must contend for one lock.
        real = self.path.resolve()
        return FileLeaderLock(real.with_name(real.name + ".scheduler.lock"))

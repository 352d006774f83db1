"""The SQLite store: one local file in WAL mode, shared by any number of processes.

Every write runs in `BEGIN IMMEDIATE`, so the busy handler can wait for the write lock
instead of failing a read-then-write transaction with "database is locked". Creating and
migrating a database happens under a file lock, so two processes starting on a new file
never race. All SQL of jobctl lives in this module and in schema/.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from jobctl.errors import StoreError
from jobctl.fsutil import private_dir
from jobctl.models import (
    ACTIVE_STATES,
    FINAL_STATES,
    Attempt,
    Claim,
    EnqueueResult,
    FireRecord,
    Job,
    JobFilter,
    NewJob,
    Outcome,
    State,
    WorkerInfo,
)
from jobctl.store.base import (
    Finish,
    Histogram,
    LeaderLock,
    QueueCounts,
    Store,
    WakeListener,
)
from jobctl.store.wake import CONTROL, WORK, Notifier, SocketListener, wake_dir_for

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
APPLICATION_ID = 0x4A4F4243  # "JOBC" in the database header marks a file as ours
BUSY_TIMEOUT = 30.0
SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL", "off": "OFF"}

_ACTIVE = "('queued', 'scheduled', 'running')"
_JOB_COLUMNS = (
    "id, job, queue, state, priority, attempts, max_attempts, payload, key, run_at, created_at,"
    " started_at, finished_at, exit_code, error, worker, lease_expires_at, command, cwd,"
    " schedule, fire_time, runs, lease_token"
)


def _migrations() -> list[tuple[int, str]]:
    from importlib import resources

    folder = resources.files("jobctl.store") / "schema"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), entry.read_text(encoding="utf-8")))
    return sorted(found)


SCHEMA_VERSION = 1


class SqliteStore(Store):
    def __init__(self, path: Path, *, durability: str = "full", create: bool = True) -> None:
        self.path = path
        self.location = str(path)
        self._conn = _open(path, durability=durability, create=create)
        self._notifier = Notifier(wake_dir_for(path))

    # -- plumbing --------------------------------------------------------------------------

    def close(self) -> None:
        self._notifier.close()
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        try:
            yield conn
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise self._error(exc) from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise self._error(exc) from None

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc: sqlite3.Error) -> StoreError:
        return StoreError(f"database {self.path}: {_describe(exc)}")

    # -- producing -------------------------------------------------------------------------

    def enqueue(self, jobs: Sequence[NewJob], now: float) -> list[EnqueueResult]:
        with self._write() as conn:
            results, created = self._insert_jobs(conn, jobs, now)
        if created:
            self._notifier.notify(WORK)
        return results

    def _insert_jobs(
        self, conn: sqlite3.Connection, jobs: Sequence[NewJob], now: float
    ) -> tuple[list[EnqueueResult], int]:
        """Insert inside the caller's write transaction; returns results and how many are new."""
        results: list[EnqueueResult] = []
        rows: list[tuple[Any, ...]] = []
        (seq,) = conn.execute(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'jobs'), 0)"
        ).fetchone()
        batch_keys: dict[str, int] = {}
        queued, scheduled = State.QUEUED.value, State.SCHEDULED.value
        for spec in jobs:
            if spec.key is not None:
                existing = batch_keys.get(spec.key)
                if existing is None:
                    found = conn.execute(
                        f"SELECT id FROM jobs WHERE key = ? AND state IN {_ACTIVE}",
                        (spec.key,),
                    ).fetchone()
                    existing = found[0] if found else None
                if existing is not None:
                    results.append(EnqueueResult(existing, created=False))
                    continue
            seq += 1
            if spec.key is not None:
                batch_keys[spec.key] = seq
            run_at = now if spec.run_at is None else spec.run_at
            rows.append(
                (
                    seq,
                    spec.job,
                    spec.queue,
                    scheduled if run_at > now else queued,
                    spec.priority,
                    spec.max_attempts,
                    spec.payload_json or _ENCODER.encode(spec.payload),
                    spec.key,
                    run_at,
                    now,
                    None if spec.command is None else json.dumps(spec.command),
                    spec.cwd,
                    spec.schedule,
                    spec.fire_time,
                )
            )
            results.append(EnqueueResult(seq, created=True))
        if rows:
            conn.executemany(
                "INSERT INTO jobs (id, job, queue, state, priority, max_attempts, payload,"
                " key, run_at, created_at, command, cwd, schedule, fire_time)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            queues = {row[2] for row in rows}
            conn.executemany(
                "INSERT OR IGNORE INTO queues (name) VALUES (?)", [(q,) for q in queues]
            )
            by_state: dict[tuple[str, str], int] = {}
            by_job: dict[tuple[str, str], int] = {}
            for row in rows:
                by_state[(row[2], row[3])] = by_state.get((row[2], row[3]), 0) + 1
                by_job[(row[2], row[1])] = by_job.get((row[2], row[1]), 0) + 1
            conn.executemany(
                "INSERT INTO job_counts (queue, state, n) VALUES (?, ?, ?)"
                " ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n",
                [(q, st, n) for (q, st), n in by_state.items()],
            )
            hour = int(now // 3600) * 3600
            conn.executemany(
                "INSERT INTO stat_counts (hour, queue, job, event, n)"
                " VALUES (?, ?, ?, 'enqueued', ?)"
                " ON CONFLICT (hour, queue, job, event) DO UPDATE SET n = n + excluded.n",
                [(hour, q, j, n) for (q, j), n in by_job.items()],
            )
        return results, len(rows)

    # -- consuming -------------------------------------------------------------------------

    def claim(
        self,
        worker: str,
        queues: Sequence[str] | None,
        now: float,
        lease: float,
        limit: int = 1,
        log_path: Callable[[int, int], str] | None = None,
    ) -> list[Claim]:
        if limit <= 0:
            return []
        claims: list[Claim] = []
        with self._write() as conn:
            conn.execute(
                "UPDATE jobs INDEXED BY jobs_due SET state = 'queued'"
                " WHERE state = 'scheduled' AND run_at <= ?",
                (now,),
            )
            if queues is None:
                names = [r[0] for r in conn.execute("SELECT name FROM queues WHERE paused = 0")]
            else:
                marks = ",".join("?" * len(queues))
                names = [
                    r[0]
                    for r in conn.execute(
                        f"SELECT name FROM queues WHERE paused = 0 AND name IN ({marks})",
                        list(queues),
                    )
                ]
            candidates: list[tuple[int, float, int]] = []
            for name in names:
                candidates.extend(
                    (-priority, run_at, job_id)
                    for job_id, priority, run_at in conn.execute(
                        "SELECT id, priority, run_at FROM jobs INDEXED BY jobs_ready"
                        " WHERE state = 'queued' AND queue = ?"
                        " ORDER BY priority DESC, run_at, id LIMIT ?",
                        (name, limit),
                    )
                )
            candidates.sort()
            for _, _, job_id in candidates[:limit]:
                token = os.urandom(8).hex()
                row = conn.execute(
                    "UPDATE jobs SET state = 'running', attempts = attempts + 1,"
                    " runs = runs + 1, worker = ?, lease_token = ?, lease_expires_at = ?,"
                    " started_at = ?, finished_at = NULL"
                    f" WHERE id = ? AND state = 'queued' RETURNING {_JOB_COLUMNS}",
                    (worker, token, now + lease, now, job_id),
                ).fetchone()
                if row is None:
                    continue
                job = _job(row)
                runs = row[21]
                path = log_path(job.id, runs) if log_path is not None else None
                conn.execute(
                    "INSERT INTO attempts (job_id, run, attempt, worker, due_at, started_at,"
                    " log_path) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (job.id, runs, job.attempts, worker, job.run_at, now, path),
                )
                claims.append(
                    Claim(job=job, attempt=job.attempts, lease_token=token, run=runs, log_path=path)
                )
        return claims

    def renew(self, claims: Sequence[Claim], until: float) -> set[int]:
        held: set[int] = set()
        if not claims:
            return held
        with self._write() as conn:
            for claim in claims:
                row = conn.execute(
                    "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND state = 'running'"
                    " AND lease_token = ? RETURNING id",
                    (until, claim.job.id, claim.lease_token),
                ).fetchone()
                if row is not None:
                    held.add(row[0])
        return held

    def still_held(self, claims: Sequence[Claim]) -> set[int]:
        """Which claims are still ours, without extending anything (a cheap read)."""
        if not claims:
            return set()
        marks = ",".join("?" * len(claims))
        rows = self._read(
            f"SELECT id, lease_token FROM jobs WHERE id IN ({marks}) AND state = 'running'",
            [c.job.id for c in claims],
        )
        tokens = {c.job.id: c.lease_token for c in claims}
        return {job_id for job_id, token in rows if tokens.get(job_id) == token}

    def finish(self, items: Sequence[Finish], now: float) -> list[State | None]:
        states: list[State | None] = []
        with self._write() as conn:
            for item in items:
                claim, result = item.claim, item.result
                finished = result.finished_at or now
                if result.outcome == Outcome.SUCCEEDED:
                    new_state = State.SUCCEEDED
                elif item.retry_at is not None:
                    new_state = State.SCHEDULED
                else:
                    new_state = State.DEAD
                if result.outcome == Outcome.CANCELLED:
                    changed = None
                    conn.execute(
                        "UPDATE jobs SET worker = NULL, lease_token = NULL, lease_expires_at = NULL"
                        " WHERE id = ? AND lease_token = ?",
                        (claim.job.id, claim.lease_token),
                    )
                elif new_state == State.SCHEDULED:
                    changed = conn.execute(
                        "UPDATE jobs SET state = 'scheduled', run_at = ?, exit_code = ?,"
                        " error = ?, worker = NULL, lease_token = NULL, lease_expires_at = NULL"
                        " WHERE id = ? AND state = 'running' AND lease_token = ? RETURNING id",
                        (
                            item.retry_at,
                            result.exit_code,
                            result.error,
                            claim.job.id,
                            claim.lease_token,
                        ),
                    ).fetchone()
                else:
                    changed = conn.execute(
                        "UPDATE jobs SET state = ?, finished_at = ?, exit_code = ?, error = ?,"
                        " worker = NULL, lease_token = NULL, lease_expires_at = NULL"
                        " WHERE id = ? AND state = 'running' AND lease_token = ? RETURNING id",
                        (
                            new_state.value,
                            finished,
                            result.exit_code,
                            result.error,
                            claim.job.id,
                            claim.lease_token,
                        ),
                    ).fetchone()
                conn.execute(
                    "UPDATE attempts SET finished_at = ?, outcome = ?, exit_code = ?,"
                    " signal = ?, error = ?, log_path = COALESCE(?, log_path)"
                    " WHERE job_id = ? AND run = ? AND finished_at IS NULL",
                    (
                        finished,
                        result.outcome.value,
                        result.exit_code,
                        result.signal,
                        result.error,
                        result.log_path,
                        claim.job.id,
                        claim.run,
                    ),
                )
                if result.outcome == Outcome.CANCELLED:
                    row = conn.execute(
                        "SELECT state FROM jobs WHERE id = ?", (claim.job.id,)
                    ).fetchone()
                    states.append(State(row[0]) if row else None)
                else:
                    states.append(new_state if changed is not None else None)
        return states

    def release(self, claims: Sequence[Claim], now: float, reason: str) -> int:
        released = 0
        with self._write() as conn:
            for claim in claims:
                row = conn.execute(
                    "UPDATE jobs SET state = 'queued', attempts = attempts - 1, worker = NULL,"
                    " lease_token = NULL, lease_expires_at = NULL, started_at = NULL"
                    " WHERE id = ? AND state = 'running' AND lease_token = ? RETURNING id",
                    (claim.job.id, claim.lease_token),
                ).fetchone()
                conn.execute(
                    "UPDATE attempts SET finished_at = ?, outcome = ?, error = ?"
                    " WHERE job_id = ? AND run = ? AND finished_at IS NULL",
                    (now, Outcome.INTERRUPTED.value, reason, claim.job.id, claim.run),
                )
                released += row is not None
        if released:
            self._notifier.notify(WORK)
        return released

    def rescue_expired(self, now: float) -> list[Job]:
        rescued: list[Job] = []
        with self._write() as conn:
            rows = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs INDEXED BY jobs_lease"
                " WHERE lease_token IS NOT NULL AND state = 'running' AND lease_expires_at < ?",
                (now,),
            ).fetchall()
            for row in rows:
                job = _job(row)
                error = f"worker {job.worker} lost: its lease expired"
                to_state = State.DEAD if job.attempts >= job.max_attempts else State.QUEUED
                changed = conn.execute(
                    "UPDATE jobs SET state = ?, error = ?, worker = NULL, lease_token = NULL,"
                    " lease_expires_at = NULL,"
                    " finished_at = CASE WHEN ? = 'dead' THEN ? ELSE NULL END"
                    " WHERE id = ? AND state = 'running' AND lease_token = ? RETURNING id",
                    (to_state.value, error, to_state.value, now, job.id, row[22]),
                ).fetchone()
                if changed is None:
                    continue
                conn.execute(
                    "UPDATE attempts SET finished_at = ?, outcome = ?, error = ?"
                    " WHERE job_id = ? AND run = ? AND finished_at IS NULL",
                    (now, Outcome.LOST.value, error, job.id, row[21]),
                )
                rescued.append(_replace_state(job, to_state, error))
            for job_id, run, token in conn.execute(
                "SELECT id, runs, lease_token FROM jobs INDEXED BY jobs_lease"
                " WHERE lease_token IS NOT NULL"
                " AND state = 'cancelled' AND lease_expires_at < ?",
                (now,),
            ).fetchall():
                # Cancelled while running, and its worker died before confirming the kill.
                conn.execute(
                    "UPDATE jobs SET worker = NULL, lease_token = NULL, lease_expires_at = NULL"
                    " WHERE id = ? AND lease_token = ?",
                    (job_id, token),
                )
                conn.execute(
                    "UPDATE attempts SET finished_at = ?, outcome = ?, error = ?"
                    " WHERE job_id = ? AND run = ? AND finished_at IS NULL",
                    (now, Outcome.CANCELLED.value, "cancelled; its worker was lost", job_id, run),
                )
        if rescued:
            self._notifier.notify(WORK)
        return rescued

    def next_due(self, queues: Sequence[str] | None) -> float | None:
        if queues is None:
            rows = self._read(
                "SELECT MIN(run_at) FROM jobs INDEXED BY jobs_due WHERE state = 'scheduled'"
            )
        else:
            marks = ",".join("?" * len(queues))
            rows = self._read(
                f"SELECT MIN(run_at) FROM jobs INDEXED BY jobs_due WHERE state = 'scheduled'"
                f" AND queue IN ({marks})",
                list(queues),
            )
        value = rows[0][0] if rows else None
        return float(value) if value is not None else None

    def open_listener(self, worker: str) -> WakeListener | None:
        try:
            return SocketListener(wake_dir_for(self.path), worker)
        except OSError:
            return None

    # -- inspecting ------------------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        rows = self._read(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def get_many(self, job_ids: Sequence[int]) -> dict[int, Job]:
        found: dict[int, Job] = {}
        ids = list(job_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._read(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id IN ({marks})", chunk):
                job = _job(row)
                found[job.id] = job
        return found

    def attempts(self, job_id: int) -> list[Attempt]:
        rows = self._read(
            "SELECT job_id, attempt, worker, started_at, finished_at, outcome, exit_code,"
            " signal, error, log_path, run FROM attempts WHERE job_id = ? ORDER BY run",
            (job_id,),
        )
        return [
            Attempt(
                job_id=r[0],
                attempt=r[1],
                worker=r[2],
                started_at=r[3],
                finished_at=r[4],
                outcome=Outcome(r[5]) if r[5] else None,
                exit_code=r[6],
                signal=r[7],
                error=r[8],
                log_path=r[9],
                run=r[10],
            )
            for r in rows
        ]

    def list_jobs(self, where: JobFilter) -> list[Job]:
        clauses: list[str] = []
        params: list[Any] = []
        if where.states:
            clauses.append(f"state IN ({','.join('?' * len(where.states))})")
            params.extend(s.value for s in where.states)
        for column, value in (("job", where.job), ("queue", where.queue), ("key", where.key)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if where.since is not None:
            clauses.append("created_at >= ?")
            params.append(where.since)
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs"
        if where.states and set(where.states) <= {State.RUNNING}:
            # Running jobs are few among millions: find them through their leases.
            sql += " INDEXED BY jobs_lease"
            clauses.append("lease_token IS NOT NULL")
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id DESC" if where.newest_first else " ORDER BY id"
        if where.limit is not None:
            sql += " LIMIT ?"
            params.append(where.limit)
        return [_job(row) for row in self._read(sql, params)]

    def queue_counts(self, now: float) -> list[QueueCounts]:
        counts: dict[str, dict[State, int]] = {}
        for queue, state, n in self._read("SELECT queue, state, n FROM job_counts WHERE n > 0"):
            counts.setdefault(queue, {})[State(state)] = n
        paused = {name: bool(p) for name, p in self._read("SELECT name, paused FROM queues")}
        result = []
        for queue in sorted(set(counts) | set(paused)):
            ready = self._read(
                "SELECT MIN(run_at) FROM jobs INDEXED BY jobs_ready_age"
                " WHERE state = 'queued' AND queue = ?",
                (queue,),
            )[0][0]
            # Due but not yet promoted (promotion happens when a worker claims): ready too.
            due, due_count = self._read(
                "SELECT MIN(run_at), COUNT(*) FROM jobs INDEXED BY jobs_due"
                " WHERE state = 'scheduled' AND run_at <= ? AND queue = ?",
                (now, queue),
            )[0]
            waiting = [t for t in (ready, due) if t is not None]
            oldest = min(waiting) if waiting else None
            result.append(
                QueueCounts(
                    queue=queue,
                    counts=counts.get(queue, {}),
                    paused=paused.get(queue, False),
                    oldest_ready_at=oldest,
                    due=int(due_count),
                )
            )
        return result

    # -- controlling -----------------------------------------------------------------------

    def cancel(self, job_ids: Sequence[int], now: float) -> dict[int, State | None]:
        before: dict[int, State | None] = {}
        any_running = False
        with self._write() as conn:
            for job_id in job_ids:
                row = conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if row is None:
                    before[job_id] = None
                    continue
                state = State(row[0])
                before[job_id] = state
                if state in ACTIVE_STATES:
                    # A running job keeps its lease until its worker confirms the kill, so
                    # that rescue can close the attempt if that worker is gone.
                    conn.execute(
                        "UPDATE jobs SET state = 'cancelled', finished_at = ?, error = 'cancelled'"
                        " WHERE id = ? AND state = ?",
                        (now, job_id, state.value),
                    )
                    any_running = any_running or state == State.RUNNING
        if any_running:
            self._notifier.notify(CONTROL)
        return before

    def set_paused(self, queue: str, paused: bool) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO queues (name, paused) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
                (queue, int(paused)),
            )
        if not paused:
            self._notifier.notify(WORK)

    def dead_retry(self, job_ids: Sequence[int] | None, job: str | None, now: float) -> list[int]:
        clauses = ["state = 'dead'"]
        params: list[Any] = []
        if job is not None:
            clauses.append("job = ?")
            params.append(job)
        moved: list[int] = []
        with self._write() as conn:
            sql = (
                "UPDATE jobs SET state = 'queued', attempts = 0, run_at = ?, finished_at = NULL,"
                " worker = NULL, lease_token = NULL, lease_expires_at = NULL"
                f" WHERE {' AND '.join(clauses)}"
            )
            if job_ids is None:
                moved = [r[0] for r in conn.execute(sql + " RETURNING id", [now, *params])]
            else:
                for job_id in job_ids:
                    row = conn.execute(
                        sql + " AND id = ? RETURNING id", [now, *params, job_id]
                    ).fetchone()
                    if row is not None:
                        moved.append(row[0])
        if moved:
            self._notifier.notify(WORK)
        return sorted(moved)

    def delete_jobs(
        self,
        *,
        states: Sequence[State],
        ids: Sequence[int] | None = None,
        finished_before: float | None = None,
        job: str | None = None,
    ) -> list[str]:
        where, params = _finished_where(states, job, finished_before=finished_before)
        if not where:
            return []
        paths: list[str] = []
        with self._write() as conn:
            if ids is None:
                targets = [r[0] for r in conn.execute(f"SELECT id FROM jobs WHERE {where}", params)]
            else:
                targets = []
                for job_id in ids:
                    row = conn.execute(
                        f"SELECT id FROM jobs WHERE {where} AND id = ?", [*params, job_id]
                    ).fetchone()
                    if row is not None:
                        targets.append(row[0])
            for start in range(0, len(targets), 500):
                chunk = targets[start : start + 500]
                marks = ",".join("?" * len(chunk))
                paths.extend(
                    r[0]
                    for r in conn.execute(
                        f"SELECT log_path FROM attempts WHERE job_id IN ({marks})"
                        " AND log_path IS NOT NULL",
                        chunk,
                    )
                )
                conn.execute(f"DELETE FROM attempts WHERE job_id IN ({marks})", chunk)
                conn.execute(f"DELETE FROM jobs WHERE id IN ({marks})", chunk)
        return paths

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
    ) -> FireRecord | None:
        enqueued = False
        with self._write() as conn:
            if conn.execute(
                "SELECT 1 FROM fires WHERE schedule = ? AND fire_time = ?", (schedule, fire_time)
            ).fetchone():
                return None
            job_id: int | None = None
            status = "skipped"
            if job is not None:
                active = None
                if overlap in ("skip", "queue"):
                    active = conn.execute(
                        f"SELECT id FROM jobs WHERE schedule = ? AND state IN {_ACTIVE} LIMIT 1",
                        (schedule,),
                    ).fetchone()
                if active is not None and overlap == "skip":
                    reason = f"overlap: run {active[0]} is still active"
                elif active is not None:
                    status, reason = "pending", f"waiting for run {active[0]} to finish"
                else:
                    results, _ = self._insert_jobs(conn, [job], now)
                    job_id, status, enqueued = results[0].id, "enqueued", True
            conn.execute(
                "INSERT INTO fires (schedule, fire_time, job_id, status, reason, manual, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (schedule, fire_time, job_id, status, reason, int(manual), now),
            )
        if enqueued:
            self._notifier.notify(WORK)
        return FireRecord(schedule, fire_time, status, job_id, reason, manual, now)

    def promote_pending(self, schedule: str, job: NewJob, now: float) -> FireRecord | None:
        with self._write() as conn:
            row = conn.execute(
                "SELECT fire_time, manual FROM fires WHERE schedule = ? AND status = 'pending'"
                " ORDER BY fire_time LIMIT 1",
                (schedule,),
            ).fetchone()
            if row is None:
                return None
            if conn.execute(
                f"SELECT 1 FROM jobs WHERE schedule = ? AND state IN {_ACTIVE} LIMIT 1",
                (schedule,),
            ).fetchone():
                return None
            fire_time, manual = row
            from dataclasses import replace

            results, _ = self._insert_jobs(conn, [replace(job, fire_time=fire_time)], now)
            job_id = results[0].id
            conn.execute(
                "UPDATE fires SET status = 'enqueued', job_id = ?, reason = NULL, at = ?"
                " WHERE schedule = ? AND fire_time = ?",
                (job_id, now, schedule, fire_time),
            )
        self._notifier.notify(WORK)
        return FireRecord(schedule, fire_time, "enqueued", job_id, None, bool(manual), now)

    def last_fire_time(self, schedule: str) -> float | None:
        rows = self._read(
            "SELECT MAX(fire_time) FROM fires WHERE schedule = ? AND manual = 0", (schedule,)
        )
        return rows[0][0] if rows and rows[0][0] is not None else None

    def last_fires(self) -> dict[str, tuple[FireRecord, State | None]]:
        rows = self._read(
            "SELECT f.schedule, f.fire_time, f.status, f.job_id, f.reason, f.manual, f.at,"
            " j.state FROM fires f"
            " JOIN (SELECT schedule, MAX(fire_time) AS latest FROM fires GROUP BY schedule) m"
            " ON f.schedule = m.schedule AND f.fire_time = m.latest"
            " LEFT JOIN jobs j ON j.id = f.job_id"
        )
        return {
            r[0]: (
                FireRecord(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]),
                State(r[7]) if r[7] else None,
            )
            for r in rows
        }

    def set_schedule_paused(self, schedule: str, paused: bool) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO schedule_state (name, paused) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
                (schedule, int(paused)),
            )

    def paused_schedules(self) -> set[str]:
        return {r[0] for r in self._read("SELECT name FROM schedule_state WHERE paused = 1")}

    def scheduler_lock(self) -> LeaderLock:
        return _FileLeaderLock(self.path.with_name(self.path.name + ".scheduler.lock"))

    # -- operations ------------------------------------------------------------------------

    def finished_jobs(
        self,
        states: Sequence[State],
        *,
        job: str | None = None,
        finished_after: float | None = None,
        limit: int | None = None,
    ) -> list[Job]:
        where, params = _finished_where(states, job, finished_after=finished_after)
        if not where:
            return []
        # (state, finished_at) is indexed: the newest deaths come first without a sort.
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {where} ORDER BY finished_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_job(row) for row in self._read(sql, params)]

    def finished_ids(
        self,
        states: Sequence[State],
        *,
        ids: Sequence[int] | None = None,
        finished_before: float | None = None,
        job: str | None = None,
    ) -> list[int]:
        where, params = _finished_where(states, job, finished_before=finished_before)
        if not where or (ids is not None and not ids):
            return []
        sql = f"SELECT id FROM jobs WHERE {where}"
        if ids is None:
            return [r[0] for r in self._read(sql + " ORDER BY id", params)]
        found: set[int] = set()
        wanted = list(dict.fromkeys(ids))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self._read(f"{sql} AND id IN ({marks})", [*params, *chunk]))
        return [i for i in wanted if i in found]

    # -- workers ---------------------------------------------------------------------------

    def register_worker(self, info: WorkerInfo) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO workers (id, kind, host, pid, queues, concurrency,"
                " started_at, heartbeat_at, interval) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info.id,
                    info.kind,
                    info.host,
                    info.pid,
                    json.dumps(list(info.queues)),
                    info.concurrency,
                    info.started_at,
                    info.heartbeat_at,
                    info.interval,
                ),
            )

    def heartbeat(self, worker: str, now: float) -> None:
        with self._write() as conn:
            conn.execute("UPDATE workers SET heartbeat_at = ? WHERE id = ?", (now, worker))

    def unregister_worker(self, worker: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM workers WHERE id = ?", (worker,))

    def workers(self) -> list[WorkerInfo]:
        rows = self._read(
            "SELECT id, host, pid, queues, concurrency, started_at, heartbeat_at, kind, interval"
            " FROM workers ORDER BY started_at"
        )
        return [
            WorkerInfo(
                id=r[0],
                host=r[1],
                pid=r[2],
                queues=tuple(json.loads(r[3])),
                concurrency=r[4],
                started_at=r[5],
                heartbeat_at=r[6],
                kind=r[7],
                interval=r[8],
            )
            for r in rows
        ]

    # -- statistics ------------------------------------------------------------------------

    def event_counts(self, since: float | None) -> dict[tuple[str, str, str], int]:
        hour = -1 if since is None else int(since // 3600) * 3600
        rows = self._read(
            "SELECT queue, job, event, SUM(n) FROM stat_counts WHERE hour >= ?"
            " GROUP BY queue, job, event",
            (hour,),
        )
        return {(q, j, e): int(n) for q, j, e, n in rows}

    def histograms(self) -> list[Histogram]:
        bounds = [float(r[0]) for r in self._read("SELECT le FROM hist_bounds ORDER BY le")]
        counts: dict[tuple[str, str, str], dict[float, int]] = {}
        for kind, queue, job, le, n in self._read("SELECT kind, queue, job, le, n FROM stat_hist"):
            counts.setdefault((kind, queue, job), {})[float(le)] = int(n)
        buckets = {
            key: [(bound, found.get(bound, 0)) for bound in bounds] for key, found in counts.items()
        }
        sums = {
            (k, q, j): (int(c), float(t))
            for k, q, j, c, t in self._read("SELECT kind, queue, job, count, sum FROM stat_sums")
        }
        return [
            Histogram(kind, queue, job, tuple(found), *sums.get((kind, queue, job), (0, 0.0)))
            for (kind, queue, job), found in sorted(buckets.items())
        ]

    def durations(self, since: float) -> dict[tuple[str, str], tuple[list[float], list[float]]]:
        found: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        for queue, job, run, wait in self._read(
            "SELECT j.queue, j.job, a.finished_at - a.started_at, a.started_at - a.due_at"
            " FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE a.started_at >= ?",
            (since,),
        ):
            runs, waits = found.setdefault((queue, job), ([], []))
            if run is not None:
                runs.append(max(0.0, float(run)))
            if wait is not None:
                waits.append(max(0.0, float(wait)))
        return found

    def pending_counts(self) -> dict[tuple[str, str], int]:
        rows = self._read(
            "SELECT queue, job, COUNT(*) FROM jobs WHERE state IN ('queued', 'scheduled')"
            " GROUP BY queue, job"
        )
        return {(q, j): int(n) for q, j, n in rows}


class _FileLeaderLock:
    """An OS file lock: released by the kernel the instant its holder dies, so a standby
    daemon blocked on it takes over at once."""

    def __init__(self, path: Path) -> None:
        from filelock import FileLock

        self._lock = FileLock(str(path), mode=0o600)

    def acquire(self, timeout: float) -> bool:
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=timeout, poll_interval=0.05)
        except Timeout:
            return False
        return True

    def held(self) -> bool:
        return bool(self._lock.is_locked)

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)


# ---------------------------------------------------------------------------------------------
# Rows


def _job(row: Sequence[Any]) -> Job:
    return Job(
        id=row[0],
        job=row[1],
        queue=row[2],
        state=State(row[3]),
        priority=row[4],
        attempts=row[5],
        max_attempts=row[6],
        payload=json.loads(row[7]),
        key=row[8],
        run_at=row[9],
        created_at=row[10],
        started_at=row[11],
        finished_at=row[12],
        exit_code=row[13],
        error=row[14],
        worker=row[15],
        lease_expires_at=row[16],
        command=json.loads(row[17]) if row[17] else None,
        cwd=row[18],
        schedule=row[19],
        fire_time=row[20],
    )


def _finished_where(
    states: Sequence[State],
    job: str | None,
    *,
    finished_before: float | None = None,
    finished_after: float | None = None,
) -> tuple[str, list[Any]]:
    """The WHERE clause that picks finished jobs; empty when no final state is asked for
    (active jobs are never listed as finished, nor deleted)."""
    final = [s.value for s in states if s in FINAL_STATES]
    if not final:
        return "", []
    # Every finished job has finished_at; naming it lets SQLite use the partial index.
    clauses = ["finished_at IS NOT NULL", f"state IN ({','.join('?' * len(final))})"]
    params: list[Any] = list(final)
    for clause, value in (
        ("finished_at < ?", finished_before),
        ("finished_at >= ?", finished_after),
        ("job = ?", job),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return " AND ".join(clauses), params


def _replace_state(job: Job, state: State, error: str) -> Job:
    from dataclasses import replace

    return replace(job, state=state, error=error, worker=None, lease_expires_at=None)


# ---------------------------------------------------------------------------------------------
# Opening, creating, migrating


def _describe(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "database is locked" in text or "database table is locked" in text:
        return f"database is locked (another process held it for over {BUSY_TIMEOUT:g}s)"
    if "file is not a database" in text:
        return "not a jobctl database (the file is not SQLite, or is corrupt)"
    if "disk image is malformed" in text:
        return "the database file is corrupt (disk image is malformed)"
    if "readonly database" in text:
        return "the database is read-only (check the file's and its directory's permissions)"
    if "unable to open" in text:
        return "cannot open the database file (check that its directory exists and is writable)"
    if "disk is full" in text or "database or disk is full" in text:
        return "the disk is full"
    return text


def _open(path: Path, *, durability: str, create: bool) -> sqlite3.Connection:
    if path.is_dir():
        raise StoreError(f"database {path}: is a directory, not a database file")
    if not path.exists():
        if not create:
            raise StoreError(f"database {path}: does not exist (nothing was ever enqueued there)")
        _create_parent(path)
    try:
        conn = sqlite3.connect(
            str(path),
            timeout=BUSY_TIMEOUT,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
    except sqlite3.Error as exc:
        raise StoreError(f"database {path}: {_describe(exc)}") from None
    try:
        version = _check_identity(conn, path)
        if version != SCHEMA_VERSION:
            _migrate_locked(conn, path)
        conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS.get(durability, 'FULL')}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA temp_store = MEMORY")
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"database {path}: {_describe(exc)}") from None
    except StoreError:
        conn.close()
        raise
    return conn


def _create_parent(path: Path) -> None:
    parent = path.parent
    if not parent.exists():
        try:
            private_dir(parent)
        except OSError as exc:
            raise StoreError(
                f"database {path}: cannot create directory {parent}: {exc.strerror}"
            ) from None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"database {path}: cannot create: {exc.strerror}") from None
    os.close(fd)


def _check_identity(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of an existing jobctl database; 0 for an empty new file."""
    (app_id,) = conn.execute("PRAGMA application_id").fetchone()
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if app_id == APPLICATION_ID:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"database {path}: schema version {version} is newer than this jobctl "
                f"understands ({SCHEMA_VERSION}); upgrade jobctl"
            )
        return int(version)
    (tables,) = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    if app_id == 0 and version == 0 and tables == 0:
        return 0
    raise StoreError(f"database {path}: not a jobctl database (it belongs to another program)")


def _migrate_locked(conn: sqlite3.Connection, path: Path) -> None:
    from filelock import FileLock, Timeout

    lock_path = path.with_name(path.name + ".lock")
    try:
        lock = FileLock(str(lock_path), timeout=BUSY_TIMEOUT, mode=0o600)
        with lock:
            version = _check_identity(conn, path)
            if version == SCHEMA_VERSION:
                return
            if version == 0:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"database {path}: cannot switch to WAL mode ({mode})")
            for number, script in _migrations():
                if number <= version:
                    continue
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _statements(script):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    conn.execute(f"PRAGMA user_version = {number}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
    except Timeout:
        raise StoreError(
            f"database {path}: another process is creating or migrating it (lock {lock_path})"
        ) from None
    except OSError as exc:
        raise StoreError(f"database {path}: cannot lock {lock_path}: {exc.strerror}") from None


def _statements(script: str) -> list[str]:
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements

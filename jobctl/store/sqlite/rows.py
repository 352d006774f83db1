"""Rows to models, and the SQL fragments the store's parts share."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from jobctl.errors import StoreError
from jobctl.models import FINAL_STATES, Job, State

ACTIVE_SQL = "('queued', 'scheduled', 'running', 'waiting')"
# Jobs holding their key and their schedule's overlap guard (models.holds_key): the active
# ones, and those cancelled while running whose worker has not yet seen the process end.
STOPPING_SQL = "lease_token IS NOT NULL AND state = 'cancelled'"
HOLDING_SQL = f"(state IN {ACTIVE_SQL} OR ({STOPPING_SQL}))"
# The id of each schedule's latest succeeded job (latest by finish, then by id), which
# retention keeps (Store.delete_jobs): the schedules are found by stepping from one name to
# the next through jobs_schedule_succeeded, and each one's latest job is its last entry
# there, a few lookups a schedule however many runs are kept.
LATEST_SUCCESSES_SQL = (
    "WITH RECURSIVE names(name) AS ("
    "   SELECT MIN(schedule) FROM jobs INDEXED BY jobs_schedule_succeeded"
    "   WHERE schedule IS NOT NULL AND state = 'succeeded'"
    "   UNION ALL"
    "   SELECT (SELECT MIN(schedule) FROM jobs INDEXED BY jobs_schedule_succeeded"
    "     WHERE schedule > name AND state = 'succeeded') FROM names"
    "   WHERE name IS NOT NULL)"
    " SELECT (SELECT id FROM jobs INDEXED BY jobs_schedule_succeeded"
    "   WHERE schedule = name AND state = 'succeeded' ORDER BY finished_at DESC, id DESC"
    "   LIMIT 1) FROM names WHERE name IS NOT NULL"
)
JOB_COLUMNS = (
    "id, job, queue, state, priority, attempts, max_attempts, payload, key, run_at, created_at,"
    " started_at, finished_at, exit_code, error, worker, lease_expires_at, command, cwd,"
    " schedule, fire_time, runs, lease_token, after_ids"
)


def job_from_row(row: Sequence[Any]) -> Job:
    try:
        return _job(row)
    except (KeyError, ValueError, TypeError, IndexError, RecursionError):
        # A row no jobctl wrote: an unknown state, a payload that is not JSON (damage, or
        # a hand edit). Named as the database's fault, like any other corruption.
        raise StoreError(
            f"the database file is corrupt: a job row cannot be read ({row[:4]!r})"
        ) from None


_STATES = {state.value: state for state in State}


def _job(row: Sequence[Any]) -> Job:
    payload = row[7]
    return Job(
        id=row[0],
        job=row[1],
        queue=row[2],
        state=_STATES[row[3]],  # (a third of State(...)'s cost: listings read every row)
        priority=row[4],
        attempts=row[5],
        max_attempts=row[6],
        payload={} if payload == "{}" else json.loads(payload),
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
        after=tuple(json.loads(row[23])) if row[23] else (),
    )


def finished_where(
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


def with_state(job: Job, state: State, error: str) -> Job:

    return job._replace(state=state, error=error, worker=None, lease_expires_at=None)


def id_chunks(ids: Sequence[int], size: int = 500) -> Iterator[tuple[list[int], str]]:
    """`ids` in lists short enough for one statement's parameters, each with its "?,?,..."."""
    for start in range(0, len(ids), size):
        chunk = list(ids[start : start + size])
        yield chunk, ",".join("?" * len(chunk))


class KeyHolders:
    """Which job holds a unique key, within one write transaction: an active job, found
    through the unique index of active keys, or a job cancelled while running whose worker
    has not yet seen its process end. Those are few (one per running attempt at most), so
    they are read once, at the first lookup that needs them."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._stopping: dict[str, int] | None = None

    def __call__(self, key: str) -> int | None:
        row = self._conn.execute(
            "SELECT id FROM jobs INDEXED BY jobs_active_key"
            f" WHERE key = ? AND state IN {ACTIVE_SQL}",
            (key,),
        ).fetchone()
        if row is not None:
            return int(row[0])
        if self._stopping is None:
            self._stopping = dict(
                self._conn.execute(
                    f"SELECT key, id FROM jobs INDEXED BY jobs_lease"
                    f" WHERE {STOPPING_SQL} AND key IS NOT NULL"
                )
            )
        return self._stopping.get(key)

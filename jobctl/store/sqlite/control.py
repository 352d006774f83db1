"""Cancel, pause, dead retry and deletion."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from jobctl.models import (
    ACTIVE_STATES,
    JobEdit,
    State,
)
from jobctl.store.sqlite.connection import SqliteBase
from jobctl.store.sqlite.rows import (
    LATEST_SUCCESSES_SQL,
    KeyHolders,
    finished_where,
    id_chunks,
)
from jobctl.store.wake import CONTROL, WORK


class ControlOps(SqliteBase):
    # -- controlling -----------------------------------------------------------------------

    def cancel(self, job_ids: Sequence[int], now: float) -> dict[int, State | None]:
        before: dict[int, State | None] = {}
        cancelled = False
        with self._write() as conn:
            # Newest first: a job is cancelled before the jobs it runs after (older ones),
            # whose cancel would have made it dead, and cancel A B C of a pipeline said B and
            # C had already ended dead where cancel C B A cancelled all three.
            for job_id in sorted(set(job_ids), reverse=True):
                row = conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if row is None:
                    before[job_id] = None
                    continue
                state = State(row[0])
                before[job_id] = state
                if state in ACTIVE_STATES:
                    # A running job keeps its lease until its worker confirms the kill, so
                    # that rescue can close the attempt if that worker is gone. A cancelled
                    # job has no exit code: a failed attempt's (one waiting for its retry)
                    # stays in its history.
                    conn.execute(
                        "UPDATE jobs SET state = 'cancelled', finished_at = ?, error = 'cancelled',"
                        " exit_code = NULL WHERE id = ? AND state = ?",
                        (now, job_id, state.value),
                    )
                    cancelled = True
        if cancelled:  # workers stop a running one; a --burst worker awaiting a retry ends
            self._notifier.notify(CONTROL)
        return {job_id: before[job_id] for job_id in job_ids}  # in the order given

    def edit(self, edits: Sequence[JobEdit], now: float) -> set[int]:
        edited: set[int] = set()
        with self._write() as conn:
            for change in edits:
                row = conn.execute(
                    "SELECT queue FROM jobs WHERE id = ? AND attempts = ?"
                    " AND state IN ('queued', 'scheduled', 'waiting')",
                    (change.id, change.attempts),
                ).fetchone()
                if row is None:
                    continue
                sets: list[str] = []
                values: list[Any] = []
                for column, value in (
                    ("payload", change.payload_json),
                    ("queue", change.queue),
                    ("priority", change.priority),
                    ("max_attempts", change.max_attempts),
                    ("command", None if change.command is None else json.dumps(change.command)),
                    ("cwd", change.cwd),
                ):
                    if value is not None:
                        sets.append(f"{column} = ?")
                        values.append(value)
                if change.run_at is not None:
                    sets.append(
                        "run_at = ?, state = CASE WHEN state = 'waiting' THEN 'waiting'"
                        " WHEN ? > ? THEN 'scheduled' ELSE 'queued' END"
                    )
                    values += [change.run_at, change.run_at, now]
                where = "id = ?"
                values.append(change.id)
                if change.payload_was is not None:  # the keys set were set on this payload
                    where += " AND json(payload) = json(?)"
                    values.append(change.payload_was)
                # job_counts follows the state and queue through jobs_state_counted.
                if (
                    sets
                    and conn.execute(
                        f"UPDATE jobs SET {', '.join(sets)} WHERE {where}", values
                    ).rowcount
                ):
                    edited.add(change.id)
                    if change.queue is not None and change.queue != row[0]:
                        self._make_known(conn, change.queue)
        if edited:  # due now, or sooner than a sleeping worker planned for
            self._notifier.notify(WORK)
        return edited

    @staticmethod
    def _make_known(conn: sqlite3.Connection, new: str) -> None:
        """A job moved to another queue makes that queue known; what stats counted for it
        (its enqueue, its attempts' starts and outcomes) stays in the queue it happened in,
        as the histograms do: each is a counter (jobctl_jobs_enqueued_total by queue) that
        must never go down, which Prometheus takes for a reset. Its current state moves with
        it by itself: job_counts follows the jobs row (jobs_state_counted)."""
        conn.execute("INSERT OR IGNORE INTO queues (name) VALUES (?)", (new,))

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
        # A job whose unique key an active job holds stays dead; of dead jobs sharing a key,
        # only the lowest id is retried (the Redis store chooses the same one).
        filters = " AND job = ?" if job is not None else ""
        params: list[Any] = [job] if job is not None else []
        moved: list[int] = []
        with self._write() as conn:
            key_holder = KeyHolders(conn)
            if job_ids is None:
                chosen = [
                    r[0]
                    for r in conn.execute(
                        f"SELECT id FROM jobs WHERE state = 'dead' AND key IS NULL{filters}",
                        params,
                    )
                ]
                for job_id, key in conn.execute(
                    f"SELECT MIN(id), key FROM jobs WHERE state = 'dead'"
                    f" AND key IS NOT NULL{filters} GROUP BY key",
                    params,
                ).fetchall():
                    if key_holder(key) is None:
                        chosen.append(job_id)
                for chunk, marks in id_chunks(chosen):
                    moved.extend(
                        r[0]
                        for r in conn.execute(
                            _RETRY + f" WHERE state = 'dead' AND id IN ({marks})"
                            " AND after_ids IS NULL RETURNING id",
                            [now, *chunk],
                        )
                    )
                # Those that run after others, one at a time from the oldest: each after
                # the jobs it runs after (older ones) are retried.
                done = set(moved)
                for job_id in sorted(chosen):
                    if job_id not in done and _retry_after_others(conn, job_id, now):
                        moved.append(job_id)
            else:
                # Oldest first, as with every dead job: a job is retried after the jobs it
                # runs after, whatever the order the ids were given in.
                for job_id in sorted(set(job_ids)):
                    row = conn.execute(
                        f"SELECT key FROM jobs WHERE id = ? AND state = 'dead'{filters}",
                        [job_id, *params],
                    ).fetchone()
                    if row is None or (row[0] is not None and key_holder(row[0]) is not None):
                        continue
                    if _retry_after_others(conn, job_id, now):
                        moved.append(job_id)
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
        where, params = finished_where(states, job, finished_before=finished_before)
        if not where:
            return []
        where += " AND lease_token IS NULL"  # not a cancelled job whose process still stops
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
            if State.SUCCEEDED in states:  # each schedule's last success stays
                kept = {r[0] for r in conn.execute(LATEST_SUCCESSES_SQL)}
                targets = [i for i in targets if i not in kept]
            emptied: set[str] = set()
            for chunk, marks in id_chunks(targets):
                emptied.update(
                    r[0]
                    for r in conn.execute(
                        f"SELECT DISTINCT queue FROM jobs WHERE id IN ({marks})", chunk
                    )
                )
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
            _forget_empty_queues(conn, emptied)
        # Copied into the database at once, so that the next batch writes the -wal over
        # from its start: left to SQLite's automatic checkpoint, the -wal grows by 4 MiB
        # first, and a prune on a nearly full disk, run to free it, stopped a few batches
        # in. PASSIVE waits for no one: with a reader in the way, the next batch tries.
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        return paths


def _forget_empty_queues(conn: sqlite3.Connection, queues: set[str]) -> None:
    """Forget those of these queues that hold no job now and are not paused: status and
    metrics listed every queue ever used, empty or not, for good."""
    names = [(name,) for name in sorted(queues)]
    conn.executemany("DELETE FROM job_counts WHERE queue = ? AND n = 0", names)
    conn.executemany(
        "DELETE FROM queues WHERE name = ? AND paused = 0"
        " AND NOT EXISTS (SELECT 1 FROM job_counts WHERE queue = queues.name AND n > 0)",
        names,
    )


def _retry_after_others(conn: sqlite3.Connection, job_id: int, now: float) -> bool:
    """Queue a dead job again, or set it waiting while a job it runs after has not yet
    succeeded; one whose such job is dead or cancelled stays dead (it could never run), and
    so does one that never ran and names a job gone since."""
    if _never_ran_and_names_one_gone(conn, job_id):
        return False
    row = conn.execute(
        _RETRY_AFTER + " WHERE id = ? AND state = 'dead' AND NOT EXISTS ("
        "   SELECT 1 FROM job_after AS a JOIN jobs AS p ON p.id = a.after_id"
        "   WHERE a.job_id = jobs.id AND p.state IN ('dead', 'cancelled')) RETURNING id",
        (now, job_id),
    ).fetchone()
    return row is not None


def _never_ran_and_names_one_gone(conn: sqlite3.Connection, job_id: int) -> bool:
    """Whether a dead job that never ran names a job that no longer exists. It died because
    a job it runs after ended dead or cancelled, and the one gone may be that one: its
    job_after rows went with it, so the join above would take it as succeeded. A job that
    ran had every job it runs after succeed first: its gate is passed for good."""
    row = conn.execute("SELECT runs, after_ids FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None or row[0] or not row[1]:
        return False
    return any(
        conn.execute("SELECT 1 FROM jobs WHERE id = ?", (after_id,)).fetchone() is None
        for after_id in json.loads(row[1])
    )


# A retried dead job starts over: what its last attempt left (exit code, error, start) is in
# its history, not on a job that is queued again.
_RETRY = (
    "UPDATE jobs SET state = 'queued', attempts = 0, run_at = ?, finished_at = NULL,"
    " started_at = NULL, exit_code = NULL, error = NULL,"
    " worker = NULL, lease_token = NULL, lease_expires_at = NULL"
)
_RETRY_AFTER = _RETRY.replace(
    "state = 'queued'",
    "state = CASE WHEN EXISTS ("
    "   SELECT 1 FROM job_after AS a JOIN jobs AS p ON p.id = a.after_id"
    "   WHERE a.job_id = jobs.id AND p.state IS NOT 'succeeded') THEN 'waiting' ELSE 'queued' END",
)

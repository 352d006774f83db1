"""Reading jobs, attempts and counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jobctl.models import (
    Job,
    JobFilter,
    Outcome,
    State,
)
from jobctl.store.sqlite.connection import SqliteBase
from jobctl.store.sqlite.rows import (
    JOB_COLUMNS,
    LATEST_SUCCESSES_SQL,
    finished_where,
    id_chunks,
    job_from_row,
)

if TYPE_CHECKING:
    from jobctl.records import Attempt
    from jobctl.store.reports import QueueCounts


class RecordOps(SqliteBase):
    # -- inspecting ------------------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        rows = self._read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return job_from_row(rows[0]) if rows else None

    def get_many(self, job_ids: Sequence[int]) -> dict[int, Job]:
        found: dict[int, Job] = {}
        for chunk, marks in id_chunks(list(job_ids)):
            for row in self._read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id IN ({marks})", chunk):
                job = job_from_row(row)
                found[job.id] = job
        return found

    def attempts(self, job_id: int) -> list[Attempt]:
        from jobctl.records import Attempt  # not at the top: see jobctl.records

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
        return [job_from_row(row) for row in self._listing(JOB_COLUMNS, where)]

    def job_ids(self, where: JobFilter) -> list[int]:
        return [row[0] for row in self._listing("id", where)]

    def _listing(self, columns: str, where: JobFilter) -> list[Any]:
        """The rows of these columns of the jobs a filter matches, in its order."""
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
        if where.beyond is not None:
            clauses.append("id < ?" if where.newest_first else "id > ?")
            params.append(where.beyond)
        if where.through is not None:
            clauses.append("id <= ?")
            params.append(where.through)
        sql = f"SELECT {columns} FROM jobs"
        if where.leased or (where.states and set(where.states) <= {State.RUNNING}):
            # Running jobs are few among millions: find them through their leases.
            sql += " INDEXED BY jobs_lease"
            clauses.append("lease_token IS NOT NULL")
            if where.lease_expired_before is not None:
                clauses.append("lease_expires_at < ?")
                params.append(where.lease_expired_before)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id DESC" if where.newest_first else " ORDER BY id"
        if where.limit is not None:
            sql += " LIMIT ?"
            params.append(where.limit)
        return self._read(sql, params)

    def queue_counts(self, now: float) -> list[QueueCounts]:
        counts: dict[str, dict[State, int]] = {}
        for queue, state, n in self._read("SELECT queue, state, n FROM job_counts WHERE n > 0"):
            counts.setdefault(queue, {})[State(state)] = n
        paused = {name: bool(p) for name, p in self._read("SELECT name, paused FROM queues")}
        from jobctl.store.reports import QueueCounts  # not at the top: see that module

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

    # -- operations ------------------------------------------------------------------------

    def finished_jobs(
        self,
        states: Sequence[State],
        *,
        job: str | None = None,
        finished_after: float | None = None,
        limit: int | None = None,
        beyond: tuple[float, int] | None = None,
    ) -> list[Job]:
        where, params = finished_where(states, job, finished_after=finished_after)
        if not where:
            return []
        if beyond is None:
            return self._finished_page(where, params, limit)
        # Two reads, each a range of the index: those that ended at that instant with a
        # lower id (a cancel kills every job waiting --after it at one instant), then those
        # that ended before it. One read with an OR scanned that instant's jobs at each page.
        at, last_id = beyond
        jobs = self._finished_page(
            f"{where} AND finished_at = ? AND id < ?", [*params, at, last_id], limit
        )
        if limit is None or len(jobs) < limit:
            rest = None if limit is None else limit - len(jobs)
            jobs += self._finished_page(f"{where} AND finished_at < ?", [*params, at], rest)
        return jobs

    def _finished_page(self, where: str, params: list[Any], limit: int | None) -> list[Job]:
        # (state, finished_at) is indexed: the newest deaths come first without a sort.
        sql = f"SELECT {JOB_COLUMNS} FROM jobs WHERE {where} ORDER BY finished_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params = [*params, limit]
        return [job_from_row(row) for row in self._read(sql, params)]

    def finished_ids(
        self,
        states: Sequence[State],
        *,
        ids: Sequence[int] | None = None,
        finished_before: float | None = None,
        job: str | None = None,
    ) -> list[int]:
        where, params = finished_where(states, job, finished_before=finished_before)
        if not where or (ids is not None and not ids):
            return []
        # As delete_jobs: a cancelled job whose process still stops stays (its lease is
        # the worker's until the process ends), and so does each schedule's latest success.
        sql = f"SELECT id FROM jobs WHERE {where} AND lease_token IS NULL"
        kept = (
            {r[0] for r in self._read(LATEST_SUCCESSES_SQL)} if State.SUCCEEDED in states else set()
        )
        if ids is None:
            return [r[0] for r in self._read(sql + " ORDER BY id", params) if r[0] not in kept]
        found: set[int] = set()
        wanted = list(dict.fromkeys(ids))
        for chunk, marks in id_chunks(wanted):
            found.update(r[0] for r in self._read(f"{sql} AND id IN ({marks})", [*params, *chunk]))
        return [i for i in wanted if i in found and i not in kept]

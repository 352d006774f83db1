"""Workers' heartbeats and the statistics that outlive pruned jobs."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING

from jobctl.store.base import AttemptTimes
from jobctl.store.sqlite.connection import SqliteBase

if TYPE_CHECKING:
    from jobctl.records import WorkerInfo
    from jobctl.store.reports import Histogram

# Attempts read at a time by attempt_times: what `stats` holds of them, however many.
TIMES_PAGE = 1000


class MonitorOps(SqliteBase):
    # -- workers ---------------------------------------------------------------------------

    def register_worker(self, info: WorkerInfo) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO workers (id, kind, host, pid, queues, concurrency,"
                " started_at, heartbeat_at, interval, stopping_until)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    info.stopping_until,
                ),
            )

    def heartbeat(self, worker: str, now: float) -> bool:
        with self._write() as conn:
            found = conn.execute(
                "UPDATE workers SET heartbeat_at = ? WHERE id = ? RETURNING id", (now, worker)
            ).fetchone()
        return found is not None

    def unregister_worker(self, worker: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM workers WHERE id = ?", (worker,))

    def workers(self) -> list[WorkerInfo]:
        from jobctl.records import WorkerInfo  # not at the top: see jobctl.records

        rows = self._read(
            "SELECT id, host, pid, queues, concurrency, started_at, heartbeat_at, kind, interval,"
            " stopping_until FROM workers ORDER BY started_at"
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
                stopping_until=r[9],
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

    def compact_counts(self, before: float) -> int:
        hour = int(before // 3600) * 3600
        with self._write() as conn:
            hours = conn.execute(
                "SELECT COUNT(DISTINCT hour) FROM stat_counts WHERE hour > 0 AND hour < ?",
                (hour,),
            ).fetchone()[0]
            if hours:
                conn.execute(
                    "INSERT INTO stat_counts (hour, queue, job, event, n)"
                    " SELECT 0, queue, job, event, SUM(n) FROM stat_counts"
                    " WHERE hour > 0 AND hour < ? GROUP BY queue, job, event"
                    " ON CONFLICT (hour, queue, job, event) DO UPDATE SET n = n + excluded.n",
                    (hour,),
                )
                conn.execute("DELETE FROM stat_counts WHERE hour > 0 AND hour < ?", (hour,))
        return int(hours)

    @contextlib.contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """Every read inside it sees the database as of its first one: a scrape read in
        separate statements mixed the attempts before a commit with those after, a
        histogram's _count ahead of its +Inf bucket. (Inside one already: that one.)"""
        conn = self._conn
        if conn.in_transaction:
            yield
            return
        try:
            conn.execute("BEGIN")  # deferred: a read in WAL mode waits for no writer
        except sqlite3.Error as exc:
            raise self._error(exc, None) from None
        try:
            yield
        finally:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")  # nothing of the database's was written

    def histograms(self) -> list[Histogram]:
        with self.read_snapshot():  # the buckets and the sums of the same attempts
            return self._histograms()

    def _histograms(self) -> list[Histogram]:
        from jobctl.store.reports import Histogram  # not at the top: see that module

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

    def attempt_times(self, since: float) -> Iterator[AttemptTimes]:
        # Paged on (started_at, job_id, run), the attempts_started index's order (its entries
        # end with the table's key): a page starts where the last one ended, at any size.
        # (A database no writer of this version has opened yet lacks it: see EXTRA_INDEXES.)
        found = self._read("SELECT 1 FROM sqlite_master WHERE name = 'attempts_started'")
        indexed = "INDEXED BY attempts_started" if found else ""
        after: tuple[float, int, int] = (since, -1, -1)
        while True:
            rows = self._read(
                "SELECT a.started_at, a.job_id, a.run, j.queue, j.job,"
                " a.finished_at - a.started_at, a.started_at - a.due_at"
                f" FROM attempts a {indexed} JOIN jobs j ON j.id = a.job_id"
                " WHERE (a.started_at, a.job_id, a.run) > (?, ?, ?)"
                " AND a.outcome IS NOT 'interrupted'"  # given back: not a run of the job
                " ORDER BY a.started_at, a.job_id, a.run LIMIT ?",
                (*after, TIMES_PAGE),
            )
            for _, _, _, queue, job, run, wait in rows:
                yield AttemptTimes(
                    queue,
                    job,
                    None if run is None else max(0.0, float(run)),
                    None if wait is None else max(0.0, float(wait)),
                )
            if len(rows) < TIMES_PAGE:
                return
            after = (rows[-1][0], rows[-1][1], rows[-1][2])

    def pending_counts(self) -> dict[tuple[str, str], int]:
        """Counted into a temp table keyed by (queue, job), in one pass over each state's
        index: a GROUP BY sorts every waiting job's row, in memory (temp_store), and a worker
        starting on 500,000 queued jobs grew by 24 MB that it kept for good; this holds one
        row per pair, and takes less time."""
        self._read(
            "CREATE TABLE IF NOT EXISTS temp.pending_counts (queue TEXT NOT NULL,"
            " job TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (queue, job)) WITHOUT ROWID"
        )
        try:
            self._read("DELETE FROM temp.pending_counts")
            # A state at a time: each is read through its partial index (jobs_ready,
            # jobs_due), not through every job ever kept (`state IN (...)` takes neither).
            # (Written out, not bound: a partial index is chosen when the query is planned.)
            for state in ("queued", "scheduled"):
                self._read(
                    "INSERT INTO temp.pending_counts (queue, job, n)"
                    f" SELECT queue, job, 1 FROM jobs WHERE state = '{state}'"
                    " AND true ON CONFLICT (queue, job) DO UPDATE SET n = n + 1"
                )  # `AND true`: SQLite's way to tell an upsert's ON from a join's
            rows = self._read("SELECT queue, job, n FROM temp.pending_counts")
        finally:
            self._read("DROP TABLE IF EXISTS temp.pending_counts")
        return {(q, j): int(n) for q, j, n in rows}

    def sample_statistics(self, now: float, rows: int) -> None:
        hour = int(now // 3600) * 3600
        for order in ("ASC", "DESC"):
            counts = self._read(
                "SELECT queue, job, event, n FROM stat_counts WHERE hour >= ?"
                f" ORDER BY hour {order}, queue {order}, job {order}, event {order} LIMIT ?",
                (hour, rows),
            )
            buckets = self._read(
                "SELECT kind, queue, job, le, n FROM stat_hist"
                f" ORDER BY kind {order}, queue {order}, job {order}, le {order} LIMIT ?",
                (rows,),
            )
            sums = self._read(
                "SELECT kind, queue, job, count, sum FROM stat_sums"
                f" ORDER BY kind {order}, queue {order}, job {order} LIMIT ?",
                (rows,),
            )
            for *_, n in counts:
                int(n)
            for *_, le, n in buckets:
                float(le), int(n)
            for *_, count, total in sums:
                int(count), float(total)

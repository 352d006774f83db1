"""Producing and consuming: enqueue, claim, leases, results, rescue of lost attempts."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jobctl.errors import KeyHeldByAnother
from jobctl.models import (
    Claim,
    EnqueueResult,
    Job,
    NewJob,
    Outcome,
    Rate,
    State,
)
from jobctl.payload import compact_json
from jobctl.store.base import Finish, WakeListener
from jobctl.store.sqlite.connection import SqliteBase
from jobctl.store.sqlite.rows import (
    JOB_COLUMNS,
    KeyHolders,
    job_from_row,
    with_state,
)
from jobctl.store.wake import WORK, SocketListener, wake_dir_for

if TYPE_CHECKING:  # (jobctl.records, and the dataclasses and inspect it takes, are no
    # import of `jobctl enqueue`'s)
    from jobctl.records import AttemptResult

# A run of at least this many jobs goes in through json_each (see QueueOps._insert_run) ...
_MIN_RUN = 16
# ... in statements of at most this many bytes of JSON array, or half of the connection's
# longest string (SQLite's SQLITE_LIMIT_LENGTH: 1,000,000,000 bytes unless built or set
# smaller). A payload character takes at most 4 bytes there (an escaped quote takes 2).
_RUN_BYTES = 1 << 24
_BYTES_PER_CHAR = 4
# How far past a claim's `now` an attempt may start at its run_at: a job made due by
# another's end, its clock read a moment after this worker's. Further is a run_at set
# before the wall clock stepped back, which would stamp a start in the future.
_START_SLACK = 1.0
# A claim makes at most this many due scheduled jobs ready, the longest due first, the rest
# in the next claims (a worker with free slots claims again at once while any is due):
# 400,000 due at once held the write lock some 7 s, every enqueue and renewal waiting on it.
PROMOTE_SLICE = 1000
# The queues holding ready jobs, not paused, through job_counts: a claim that read every queue
# ever used (one query each) slowed with each one, empty or not (see 006).
_READY_QUEUES = (
    "SELECT queue FROM job_counts INDEXED BY job_counts_ready"
    " WHERE state = 'queued' AND n > 0 AND NOT EXISTS ("
    "   SELECT 1 FROM queues WHERE name = job_counts.queue AND paused = 1)"
)
# The payloads' texts as one JSON array, non-ASCII characters as they are: SQLite then has
# only the plain escapes (quote, backslash, control characters) to decode.
_JSON_ARRAY = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class QueueOps(SqliteBase):
    _json_each: bool | None = None  # see _has_json_each
    _rate_log_made = False  # this connection made the rate log, or saw it (see rates.py)
    _released_waiting = False  # a finish let jobs that waited for it go (see finish)

    # -- producing -------------------------------------------------------------------------

    def enqueue(
        self, jobs: Sequence[NewJob], now: float, *, refuse_unlike: bool = False
    ) -> list[EnqueueResult]:
        with self._write() as conn:
            results, created = self._insert_jobs(conn, jobs, now, refuse_unlike)
        if created:
            self._notifier.notify(WORK)
        return results

    def _insert_jobs(
        self,
        conn: sqlite3.Connection,
        jobs: Sequence[NewJob],
        now: float,
        refuse_unlike: bool = False,
    ) -> tuple[list[EnqueueResult], int]:
        """Insert inside the caller's write transaction; returns results and how many are new.

        A job with no key, command, cwd, schedule or fire time (a batch's usual line) goes in
        through an INSERT that leaves those columns out: binding a NULL costs the sqlite3
        module an adapter lookup. Consecutive such jobs that differ only in their payload (a
        batch of one job type) go in a run at a time, see _insert_run."""
        from collections import Counter

        results: list[EnqueueResult] = []
        runs: list[tuple[int, tuple[Any, ...], list[str]]] = []  # first id, columns, payloads
        run_columns: tuple[Any, ...] | None = None
        run_payloads: list[str] = []
        full: list[tuple[Any, ...]] = []
        (seq,) = conn.execute(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'jobs'), 0)"
        ).fetchone()
        first_new = seq + 1  # this batch's first id: a line may run after an earlier one
        batch_keys: dict[str, int] = {}  # a key -> the place in `jobs` of the job taking it
        key_holder = KeyHolders(conn)
        queued, scheduled, waiting = State.QUEUED.value, State.SCHEDULED.value, "waiting"
        afters: list[tuple[int, int]] = []
        ended: dict[int, str] = {}  # the batch's jobs stored dead: why
        absent = (None, None, None, None, None)
        for spec in jobs:
            key, after = spec.key, spec.after
            if spec.after_lines:  # the ids of the earlier jobs named: stored, or holding a key
                after = tuple(dict.fromkeys([*after, *(results[i].id for i in spec.after_lines)]))
            if key is not None:
                earlier = batch_keys.get(key)
                if earlier is not None:
                    if refuse_unlike and _kind(jobs[earlier]) != _kind(spec):
                        raise KeyHeldByAnother(key, len(results), None, earlier)
                    existing: int | None = results[earlier].id
                else:
                    existing = key_holder(key)
                    if existing is not None and refuse_unlike:
                        _refuse_a_holder_unlike(conn, existing, spec, len(results))
                if existing is not None:
                    results.append(EnqueueResult(existing, created=False))
                    continue
            run_at = now if spec.run_at is None else spec.run_at
            state = scheduled if run_at > now else queued
            why = None
            if after:
                waits, why = _waits(conn, after, seq + 1, first_new, ended)
                if why is not None:
                    state = State.DEAD.value
                    ended[seq + 1] = why
                elif waits:
                    state = waiting
            if key is not None and why is None:  # a dead job holds no key
                batch_keys[key] = len(results)  # this job's place: its id and its kind
            seq += 1
            payload = spec.payload_json or compact_json(spec.payload)
            optional = (key, spec.command, spec.cwd, spec.schedule, spec.fire_time)
            if optional == absent and not after:
                columns = (spec.job, spec.queue, state, spec.priority, spec.max_attempts, run_at)
                if columns != run_columns or not runs or runs[-1][0] + len(run_payloads) != seq:
                    run_columns, run_payloads = columns, []
                    runs.append((seq, columns, run_payloads))
                run_payloads.append(payload)
            else:
                _, command, cwd, schedule, fire_time = optional
                full.append(
                    (seq, spec.job, spec.queue, state, spec.priority, spec.max_attempts, payload,
                     key, run_at, now, None if command is None else json.dumps(command), cwd,
                     schedule, fire_time, json.dumps(after) if after else None,
                     None if why is None else now, why)
                )  # fmt: skip
                afters.extend((after_id, seq) for after_id in after)
            results.append(EnqueueResult(seq, True))
        short: list[tuple[Any, ...]] = []
        by_state: Counter[tuple[str, str]] = Counter()
        by_job: Counter[tuple[str, str]] = Counter()
        dead_by_job: Counter[tuple[str, str]] = Counter()
        for first, columns, payloads in runs:
            job, queue, state, priority, max_attempts, run_at = columns
            by_state[queue, state] += len(payloads)
            by_job[queue, job] += len(payloads)
            if len(payloads) >= _MIN_RUN and self._has_json_each(conn):
                left = self._insert_run(conn, first, columns, payloads, now)
            else:
                left = list(enumerate(payloads))
            short.extend(
                (first + i, job, queue, state, priority, max_attempts, payload, run_at, now)
                for i, payload in left
            )
        if short:
            conn.executemany(
                "INSERT INTO jobs (id, job, queue, state, priority, max_attempts, payload,"
                " run_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                short,
            )
        if full:
            conn.executemany(
                "INSERT INTO jobs (id, job, queue, state, priority, max_attempts, payload,"
                " key, run_at, created_at, command, cwd, schedule, fire_time, after_ids,"
                " finished_at, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                full,
            )
            if afters:
                conn.executemany(
                    "INSERT OR IGNORE INTO job_after (after_id, job_id) VALUES (?, ?)", afters
                )
            for row in full:
                by_state[row[2], row[3]] += 1
                by_job[row[2], row[1]] += 1
                if row[3] == State.DEAD.value:  # counted as the jobs a cascade makes dead
                    dead_by_job[row[2], row[1]] += 1
        created = sum(by_state.values())
        if created:
            conn.executemany(
                "INSERT OR IGNORE INTO queues (name) VALUES (?)",
                [(q,) for q in {queue for queue, _ in by_state}],
            )
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
            conn.executemany(
                "INSERT INTO stat_counts (hour, queue, job, event, n)"
                " VALUES (?, ?, ?, 'dead', ?)"
                " ON CONFLICT (hour, queue, job, event) DO UPDATE SET n = n + excluded.n",
                [(hour, q, j, n) for (q, j), n in dead_by_job.items()],
            )
        return results, created

    @staticmethod
    def _insert_run(
        conn: sqlite3.Connection,
        first: int,
        columns: tuple[Any, ...],
        payloads: list[str],
        now: float,
    ) -> list[tuple[int, str]]:
        """Jobs with consecutive ids that differ only in their payload, in one statement per
        few megabytes of payload: SQLite reads the payloads from a JSON array. Binding each
        row from Python cost two thirds of a 100,000-line batch's insert time. Returns the
        payloads (with their offsets) too long for an array, for the row-by-row INSERT."""
        budget = min(_RUN_BYTES, conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) // 2)
        left: list[tuple[int, str]] = []
        start = size = 0  # the chunk being gathered: payloads[start:offset], its bytes
        for offset, payload in enumerate(payloads):
            cost = len(payload) * _BYTES_PER_CHAR + 3
            if cost > budget:
                _insert_chunk(conn, first + start, columns, payloads[start:offset], now)
                left.append((offset, payload))
                start, size = offset + 1, 0
            elif size + cost > budget:
                _insert_chunk(conn, first + start, columns, payloads[start:offset], now)
                start, size = offset, cost
            else:
                size += cost
        _insert_chunk(conn, first + start, columns, payloads[start:], now)
        return left

    def _has_json_each(self, conn: sqlite3.Connection) -> bool:
        """Whether this SQLite has its JSON functions (built in since 3.38, and optional)."""
        if self._json_each is None:
            try:
                conn.execute("SELECT 1 FROM json_each('[]')")
                self._json_each = True
            except sqlite3.OperationalError:
                self._json_each = False
        return self._json_each

    # -- consuming -------------------------------------------------------------------------

    def claim(
        self,
        worker: str,
        queues: Sequence[str] | None,
        now: float,
        lease: float,
        limit: int = 1,
        log_path: Callable[[int, int], str] | None = None,
        caps: Mapping[str, int] | None = None,
        rates: Mapping[str, Rate] | None = None,
    ) -> list[Claim]:
        if limit <= 0:
            return []
        with self._claiming() as conn:
            return self._claim_in(conn, worker, queues, now, lease, limit, log_path, caps, rates)

    @contextlib.contextmanager
    def _claiming(self) -> Iterator[sqlite3.Connection]:
        """The write transaction of a claim. The rate log a claim makes in it is made once
        it commits: one rolled back (a full disk) took the table with it, and every later
        claim of this connection would have failed on the table it took for made."""
        made = self._rate_log_made
        try:
            with self._write() as conn:
                yield conn
        except BaseException:
            self._rate_log_made = made
            raise

    def _claim_in(
        self,
        conn: sqlite3.Connection,
        worker: str,
        queues: Sequence[str] | None,
        now: float,
        lease: float,
        limit: int,
        log_path: Callable[[int, int], str] | None,
        caps: Mapping[str, int] | None = None,
        rates: Mapping[str, Rate] | None = None,
    ) -> list[Claim]:
        claims: list[Claim] = []
        conn.execute(
            "UPDATE jobs SET state = 'queued' WHERE id IN ("
            "   SELECT id FROM jobs INDEXED BY jobs_due WHERE state = 'scheduled'"
            "   AND run_at <= ? ORDER BY run_at, id LIMIT ?)",
            (now, PROMOTE_SLICE),
        )
        if queues is None:
            names = [r[0] for r in conn.execute(_READY_QUEUES)]
        else:
            marks = ",".join("?" * len(queues))
            names = [
                r[0] for r in conn.execute(f"{_READY_QUEUES} AND queue IN ({marks})", list(queues))
            ]
        room = dict.fromkeys(names, limit)
        if caps and any(name in caps for name in names):
            # The leased jobs are those running (or stopping): as few as the workers' slots.
            held = dict(
                conn.execute(
                    "SELECT queue, COUNT(*) FROM jobs INDEXED BY jobs_lease"
                    " WHERE lease_token IS NOT NULL GROUP BY queue"
                ).fetchall()
            )
            for name in names:
                if name in caps:
                    room[name] = min(limit, caps[name] - held.get(name, 0))
        rated = [name for name in names if rates and name in rates and room[name] > 0]
        if rated and rates:
            # Loaded by the first claim with a rate: an enqueue never needs it.
            from jobctl.store.sqlite.rates import make_rate_log, rate_room, record_starts

            if not self._rate_log_made:
                make_rate_log(conn)
                self._rate_log_made = True
            # The starts are made when the lock is had, not when the worker read `now`: a
            # start recorded a second early leaves the window a second early.
            rate_now = now + self.lock_waited
            for name in rated:
                room[name] = min(room[name], rate_room(conn, name, rates[name], rate_now))
        candidates: list[tuple[int, float, int]] = []
        for name in names:
            if room[name] <= 0:
                continue
            candidates.extend(
                (-priority, run_at, job_id)
                for job_id, priority, run_at in conn.execute(
                    "SELECT id, priority, run_at FROM jobs INDEXED BY jobs_ready"
                    " WHERE state = 'queued' AND queue = ?"
                    " ORDER BY priority DESC, run_at, id LIMIT ?",
                    (name, room[name]),
                )
            )
        candidates.sort()
        for _, _, job_id in candidates[:limit]:
            token = os.urandom(8).hex()
            row = conn.execute(
                # Never before it was due: a job another's success made due may have a
                # run_at past the `now` its worker read before this transaction began. A
                # run_at further ahead was set before the clock stepped back: it is now.
                "UPDATE jobs SET state = 'running', attempts = attempts + 1,"
                " runs = runs + 1, worker = ?, lease_token = ?, lease_expires_at = ?,"
                " started_at = CASE WHEN run_at > ? AND run_at <= ? THEN run_at ELSE ? END,"
                f" finished_at = NULL WHERE id = ? AND state = 'queued' RETURNING {JOB_COLUMNS}",
                (worker, token, now + lease, now, now + _START_SLACK, now, job_id),
            ).fetchone()
            if row is None:
                continue
            job = job_from_row(row)
            runs = row[21]
            path = log_path(job.id, runs) if log_path is not None else None
            conn.execute(
                "INSERT INTO attempts (job_id, run, attempt, worker, due_at, started_at,"
                " log_path) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job.id, runs, job.attempts, worker, job.run_at, job.started_at, path),
            )
            claims.append(
                Claim(job=job, attempt=job.attempts, lease_token=token, run=runs, log_path=path)
            )
        if rated:
            record_starts(conn, [c.job.queue for c in claims if c.job.queue in rated], rate_now)
        return claims

    def renew(self, claims: Sequence[Claim], until: float) -> set[int]:
        held: set[int] = set()
        if not claims:
            return held
        with self._write() as conn:
            for claim in claims:
                # A job cancelled during its attempt keeps its lease (and key) alive while
                # its process stops, but is no longer held: the worker stops it.
                row = conn.execute(
                    "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND lease_token = ?"
                    " AND state IN ('running', 'cancelled') RETURNING id, state",
                    (until, claim.job.id, claim.lease_token),
                ).fetchone()
                if row is not None and row[1] == State.RUNNING.value:
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
        with self._write() as conn:
            states = self._finish_in(conn, items, now)
        self._announce_retries(states)
        return states

    def _announce_retries(self, states: Sequence[State | None]) -> None:
        """Idle workers sleep until the first run_at they know of: a retry is one more, due
        before it perhaps (the worker that scheduled it may stop before it is due). A job
        that waited for one that succeeded is ready now (see 010_fewer_triggers.sql)."""
        if State.SCHEDULED in states or self._released_waiting:
            self._released_waiting = False
            self._notifier.notify(WORK)

    def finish_and_claim(
        self,
        items: Sequence[Finish],
        now: float,
        worker: str,
        queues: Sequence[str] | None,
        lease: float,
        limit: int,
        log_path: Callable[[int, int], str] | None = None,
        caps: Mapping[str, int] | None = None,
        rates: Mapping[str, Rate] | None = None,
    ) -> tuple[list[State | None], list[Claim]]:
        with self._claiming() as conn:
            states = self._finish_in(conn, items, now)
            claims = (
                self._claim_in(conn, worker, queues, now, lease, limit, log_path, caps, rates)
                if limit > 0
                else []
            )
            slot_left = bool(caps) and _capped_slot_left(conn, items, caps or {})
        self._announce_retries(states)
        if slot_left:
            self._notifier.notify(WORK)
        return states, claims

    def _finish_in(
        self, conn: sqlite3.Connection, items: Sequence[Finish], now: float
    ) -> list[State | None]:
        states: list[State | None] = []
        for item in items:
            claim, result = item.claim, item.result
            finished = result.finished_at or now
            if result.outcome == Outcome.SUCCEEDED:
                new_state = State.SUCCEEDED
            elif item.retry_at is not None:
                new_state = State.SCHEDULED
            else:
                new_state = State.DEAD
            stopped = None
            if result.outcome == Outcome.CANCELLED:
                changed = None
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
            if changed is not None and new_state == State.SUCCEEDED:
                self._released_waiting = self._released_waiting or _has_dependents(
                    conn, claim.job.id
                )
            if changed is None:
                # Cancelled meanwhile: whatever the attempt's outcome (a process may exit 0
                # on SIGTERM), its end lets the lease go, and with it the key.
                stopped = _let_go(conn, claim)
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
            elif changed is not None:
                states.append(new_state)
            else:
                states.append(State.CANCELLED if stopped else None)
        return states

    def release(
        self,
        claims: Sequence[Claim],
        now: float,
        reason: str,
        ends: Sequence[AttemptResult | None] | None = None,
    ) -> int:
        released = 0
        with self._write() as conn:
            for index, claim in enumerate(claims):
                end = ends[index] if ends is not None else None
                # Due from now, behind the jobs already ready: with its old run_at it came
                # first again, and restarts closer together than it lasts ran only it.
                row = conn.execute(
                    "UPDATE jobs SET state = 'queued', attempts = attempts - 1, worker = NULL,"
                    " lease_token = NULL, lease_expires_at = NULL, started_at = NULL,"
                    " run_at = ? WHERE id = ? AND state = 'running' AND lease_token = ?"
                    " RETURNING id",
                    (now, claim.job.id, claim.lease_token),
                ).fetchone()
                if row is None:
                    _let_go(conn, claim)  # cancelled meanwhile; its process is stopped now
                conn.execute(
                    "UPDATE attempts SET finished_at = ?, outcome = ?, error = ?,"
                    " exit_code = ?, signal = ?, log_path = COALESCE(?, log_path)"
                    " WHERE job_id = ? AND run = ? AND finished_at IS NULL",
                    (
                        now,
                        Outcome.INTERRUPTED.value,
                        (end.error if end is not None else None) or reason,
                        end.exit_code if end is not None else None,
                        end.signal if end is not None else None,
                        claim.log_path,
                        claim.job.id,
                        claim.run,
                    ),
                )
                released += row is not None
        if released:
            self._notifier.notify(WORK)
        return released

    def rescue_expired(self, now: float) -> list[Job]:
        rescued: list[Job] = []
        with self._write() as conn:
            rows = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs INDEXED BY jobs_lease"
                " WHERE lease_token IS NOT NULL AND state = 'running' AND lease_expires_at < ?",
                (now,),
            ).fetchall()
            for row in rows:
                job = job_from_row(row)
                error = f"worker {job.worker} lost: its lease expired"
                to_state = State.DEAD if job.attempts >= job.max_attempts else State.QUEUED
                changed = conn.execute(
                    "UPDATE jobs SET state = ?, error = ?, worker = NULL, lease_token = NULL,"
                    " lease_expires_at = NULL,"
                    " finished_at = CASE WHEN ? = 'dead' THEN ? ELSE NULL END,"
                    " started_at = CASE WHEN ? = 'dead' THEN started_at ELSE NULL END"
                    " WHERE id = ? AND state = 'running' AND lease_token = ? RETURNING id",
                    (to_state.value, error, to_state.value, now, to_state.value, job.id, row[22]),
                ).fetchone()
                if changed is None:
                    continue
                # The attempt ends when its lease ran out, not when a worker noticed (an
                # hour later, on a host whose only worker died): its run time goes to stats.
                ended = min(now, job.lease_expires_at or now)
                conn.execute(
                    "UPDATE attempts SET finished_at = ?, outcome = ?, error = ?"
                    " WHERE job_id = ? AND run = ? AND finished_at IS NULL",
                    (ended, Outcome.LOST.value, error, job.id, row[21]),
                )
                rescued.append(with_state(job, to_state, error))
            for job_id, run, token, lease_end in conn.execute(
                "SELECT id, runs, lease_token, lease_expires_at FROM jobs INDEXED BY jobs_lease"
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
                    (
                        min(now, lease_end or now),  # when its lease ran out, as a lost one
                        Outcome.CANCELLED.value,
                        "cancelled; its worker was lost",
                        job_id,
                        run,
                    ),
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

    def next_rate_start(
        self, queues: Sequence[str] | None, rates: Mapping[str, Rate], now: float
    ) -> float | None:
        names = [name for name in rates if queues is None or name in queues]
        if not names:
            return None
        from jobctl.store.sqlite.rates import has_rate_log, rate_reopens_at

        if not self._rate_log_made:
            if not has_rate_log(self._read):
                return None  # no rate was ever kept: none holds a queue back
            self._rate_log_made = True
        marks = ",".join("?" * len(names))
        waiting = [r[0] for r in self._read(f"{_READY_QUEUES} AND queue IN ({marks})", names)]
        opens = [rate_reopens_at(self._read, name, rates[name], now) for name in waiting]
        times = [at for at in opens if at is not None]
        return min(times) if times else None

    def open_listener(self, worker: str) -> WakeListener | None:
        try:
            return SocketListener(wake_dir_for(self.path), worker)
        except OSError:
            return None

    def wake_workers(self) -> None:
        """This host's workers: the others of a database on a shared file system listen
        on their own host's sockets."""
        from jobctl.store.wake import wake_all

        wake_all(wake_dir_for(self.path))


def _insert_chunk(
    conn: sqlite3.Connection, first: int, columns: tuple[Any, ...], payloads: list[str], now: float
) -> None:
    if not payloads:
        return
    job, queue, state, priority, max_attempts, run_at = columns
    conn.execute(
        "INSERT INTO jobs (id, job, queue, state, priority, max_attempts, payload, run_at,"
        " created_at) SELECT ? + key, ?, ?, ?, ?, ?, value, ?, ? FROM json_each(?)",
        (first, job, queue, state, priority, max_attempts, run_at, now, _JSON_ARRAY(payloads)),
    )


def _waits(
    conn: sqlite3.Connection,
    after: Sequence[int],
    next_id: int,
    first_new: int,
    ended: Mapping[int, str],
) -> tuple[bool, str | None]:
    """Whether a job (to be `next_id`) that runs after `after` must wait (not when all of
    them have succeeded), and the error it is stored dead with when one of them ended dead
    or cancelled: the cascade's, as if it had ended a moment later (refusing it made a
    failed build look like a mistyped command). One that does not exist is refused. Jobs of
    the same batch (from `first_new`) are still to run, but for those in `ended` (dead)."""
    from jobctl.errors import UsageError, no_job_to_run_after

    waits = False
    why: str | None = None
    for after_id in after:
        if after_id >= next_id:
            if after_id == next_id:
                raise UsageError(f"--after {after_id}: a job cannot run after itself")
            raise no_job_to_run_after(after_id)
        if after_id >= first_new:
            if why is None:
                why = ended.get(after_id)
            waits = True
            continue
        row = conn.execute("SELECT state FROM jobs WHERE id = ?", (after_id,)).fetchone()
        if row is None:
            raise no_job_to_run_after(after_id)
        if row[0] in ("dead", "cancelled") and why is None:
            how = "ended dead" if row[0] == "dead" else "was cancelled"
            why = f"job {after_id}, which it waited for, {how}"
        waits = waits or row[0] != "succeeded"
    return waits, why


def _has_dependents(conn: sqlite3.Connection, job_id: int) -> bool:
    """Whether jobs ran after this one: its success may have made them ready."""
    found = conn.execute("SELECT 1 FROM job_after WHERE after_id = ? LIMIT 1", (job_id,))
    return found.fetchone() is not None


def _capped_slot_left(
    conn: sqlite3.Connection, items: Sequence[Finish], caps: Mapping[str, int]
) -> bool:
    """Whether a queue with a cap whose job just ended has a ready job and a slot that the
    finishing worker's own claim left: an idle worker of that queue is woken to take it,
    which otherwise waited for its next look (lease/3, 10 s by default)."""
    for queue in sorted({item.claim.job.queue for item in items if item.claim.job.queue in caps}):
        ready = conn.execute(
            "SELECT 1 FROM job_counts WHERE queue = ? AND state = 'queued' AND n > 0"
            " AND NOT EXISTS (SELECT 1 FROM queues WHERE name = ? AND paused = 1)",
            (queue, queue),
        ).fetchone()
        if ready is None:
            continue
        (held,) = conn.execute(
            "SELECT COUNT(*) FROM jobs INDEXED BY jobs_lease"
            " WHERE lease_token IS NOT NULL AND queue = ?",
            (queue,),
        ).fetchone()
        if held < caps[queue]:
            return True
    return False


def _let_go(conn: sqlite3.Connection, claim: Claim) -> bool:
    """End the lease of a job cancelled during its attempt, once the attempt is over: the
    job no longer holds its key or its schedule's overlap guard. True when it did."""
    return (
        conn.execute(
            "UPDATE jobs SET worker = NULL, lease_token = NULL, lease_expires_at = NULL"
            " WHERE id = ? AND lease_token = ? AND state = 'cancelled' RETURNING id",
            (claim.job.id, claim.lease_token),
        ).fetchone()
        is not None
    )


def _refuse_a_holder_unlike(
    conn: sqlite3.Connection, holder: int, spec: NewJob, index: int
) -> None:
    """A key held by a job unlike this one (see _kind): its id is not this job's, so the
    whole call is refused (the caller's transaction stores nothing). Read only for a key
    found held: a batch's other lines pay nothing for it."""
    row = conn.execute(
        "SELECT job, queue, command, cwd FROM jobs WHERE id = ?", (holder,)
    ).fetchone()
    if row is not None and tuple(row) != _kind(spec):
        assert spec.key is not None
        raise KeyHeldByAnother(spec.key, index, holder, None)


def _kind(spec: NewJob) -> tuple[str, str, str | None, str | None]:
    """What a key's holder must share with a job to be its answer: the job type and queue,
    and an --exec job's command and cwd (every such job's type is "exec", whatever it runs),
    as the row stores them."""
    command = None if spec.command is None else json.dumps(spec.command)
    return spec.job, spec.queue, command, spec.cwd

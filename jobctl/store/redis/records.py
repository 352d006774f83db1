"""Reading jobs, attempts and counts."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence

from jobctl.models import (
    FINAL_STATES,
    Attempt,
    Job,
    JobFilter,
    State,
)
from jobctl.store.base import QueueCounts
from jobctl.store.redis.base import RedisBase
from jobctl.store.redis.codec import (
    PAGE,
    attempt_from_hash,
    job_from_hash,
    num,
)

# What attempt_from_hash reads of an attempt's hash: every field but the output's tail.
_ATTEMPT_FIELDS = (
    "attempt",
    "worker",
    "started_at",
    "finished_at",
    "outcome",
    "exit_code",
    "signal",
    "error",
    "log_path",
    "host",
)


# What a listing by id alone reads of a job's hash: the fields its filter looks at.
_FILTER_FIELDS = ("state", "job", "queue", "key", "created_at", "lease_token")


def _matcher(where: JobFilter) -> Callable[[str, str, str, str | None, float], bool]:
    """Whether a job a listing's index gave (its state, type, queue, key and creation time)
    is one its filter wants."""
    states = {s.value for s in where.states}

    def matches(state: str, job: str, queue: str, key: str | None, created_at: float) -> bool:
        return (
            (not states or state in states)
            and (where.job is None or job == where.job)
            and (where.queue is None or queue == where.queue)
            and (where.key is None or key == where.key)
            and (where.since is None or created_at >= where.since)
        )

    return matches


class RecordOps(RedisBase):
    # -- inspecting ------------------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        with self._guard():
            fields = self._client.hgetall(self._key("job", str(job_id)))
        return job_from_hash(fields) if fields else None

    def get_many(self, job_ids: Sequence[int]) -> dict[int, Job]:
        return {job.id: job for job in self._jobs(job_ids)}

    def _jobs(self, job_ids: Iterable[int], *, leased: bool = False) -> Iterator[Job]:
        """The jobs that exist among these ids (with `leased`, only those holding a lease),
        in their order, fetched a page at a time."""
        batch: list[int] = []
        for job_id in job_ids:
            batch.append(job_id)
            if len(batch) >= PAGE:
                yield from self._fetch(batch, leased)
                batch = []
        if batch:
            yield from self._fetch(batch, leased)

    def _fetch(self, job_ids: Sequence[int], leased: bool = False) -> list[Job]:
        with self._guard():
            pipe = self._client.pipeline(transaction=False)
            for job_id in job_ids:
                pipe.hgetall(self._key("job", str(job_id)))
            rows = pipe.execute()
        return [
            job_from_hash(fields)
            for fields in rows
            if fields and (not leased or "lease_token" in fields)
        ]

    def attempts(self, job_id: int) -> list[Attempt]:
        with self._guard():
            runs = self._client.hget(self._key("job", str(job_id)), "runs")
            if runs is None:
                return []
            pipe = self._client.pipeline(transaction=False)
            for run in range(1, int(runs) + 1):
                # By name, not HGETALL: the hash holds the output's tail too, bytes cut at
                # any point, which the text client cannot decode (see attempt_output).
                pipe.hmget(self._key("att", str(job_id), str(run)), *_ATTEMPT_FIELDS)
            rows = pipe.execute()
        found = []
        for run, values in enumerate(rows, start=1):
            fields = {k: v for k, v in zip(_ATTEMPT_FIELDS, values, strict=True) if v is not None}
            if "started_at" not in fields:
                continue
            found.append(attempt_from_hash(job_id, run, fields))
        return found

    def attempt_output(self, job_id: int, run: int) -> tuple[str | None, bytes] | None:
        """The host that ran an attempt and the end of its output, as stored in Redis."""
        with self._guard():
            host, tail = self._raw().hmget(self._key("att", str(job_id), str(run)), "host", "tail")
        if host is None and tail is None:
            return None
        return (host.decode("utf-8", "replace") if host else None), (tail or b"")

    def list_jobs(self, where: JobFilter) -> list[Job]:
        limit = where.limit if where.limit is not None and where.limit >= 0 else None
        found: list[Job] = []
        if limit == 0:  # (a negative limit means none, as SQL's LIMIT -1)
            return found
        ids, leased = self._listed(where)
        matches = _matcher(where)
        for job in self._jobs(ids, leased=leased):
            if matches(job.state.value, job.job, job.queue, job.key, job.created_at):
                found.append(job)
                if limit is not None and len(found) >= limit:
                    break
        return found

    def job_ids(self, where: JobFilter) -> list[int]:
        limit = where.limit if where.limit is not None and where.limit >= 0 else None
        found: list[int] = []
        if limit == 0:
            return found
        ids, leased = self._listed(where)
        batch: list[int] = []
        for job_id in ids:
            batch.append(job_id)
            if len(batch) < PAGE:
                continue
            found += self._matching_ids(where, batch, leased)
            batch = []
            if limit is not None and len(found) >= limit:
                return found[:limit]
        found += self._matching_ids(where, batch, leased)
        return found if limit is None else found[:limit]

    def _matching_ids(self, where: JobFilter, job_ids: list[int], leased: bool) -> list[int]:
        """Those of these ids whose jobs a filter matches, read by the fields it looks at."""
        if not job_ids:
            return []
        with self._guard():
            pipe = self._client.pipeline(transaction=False)
            for job_id in job_ids:
                pipe.hmget(self._key("job", str(job_id)), *_FILTER_FIELDS)
            rows = pipe.execute()
        matches = _matcher(where)
        return [
            job_id
            for job_id, (state, job, queue, key, created_at, lease_token) in zip(
                job_ids, rows, strict=True
            )
            if state is not None
            and (not leased or lease_token is not None)
            and matches(state, job, queue, key, float(created_at))
        ]

    def _listed(self, where: JobFilter) -> tuple[Iterable[int], bool]:
        """The ids a listing reads, in its order, and whether only jobs holding a lease
        count among them."""
        if where.job is not None:
            indexes = [self._key("byjob", where.job)]
        elif where.states:
            indexes = [self._key("state", s.value) for s in dict.fromkeys(where.states)]
        else:
            indexes = [self._key("all")]
        descending = where.newest_first
        ids: Iterable[int] = heapq.merge(
            *(self._ids(k, descending, where.beyond, where.through) for k in indexes),
            reverse=descending,
        )
        # Running jobs are listed as the SQLite store finds them: through their leases, by
        # their expiry too when asked, `leased` named or not.
        states = set(where.states)
        by_lease = where.leased or (bool(states) and states <= {State.RUNNING})
        if by_lease:  # the few jobs holding a lease, not every cancelled job there is
            until = where.lease_expired_before
            with self._guard():  # scored by expiry: the expired ones alone, when asked
                members = self._client.zrangebyscore(
                    self._key("leases"), "-inf", "+inf" if until is None else f"({until!r}"
                )
            ids = sorted((int(m) for m in members), reverse=descending)
            if where.beyond is not None:
                beyond = where.beyond
                ids = [i for i in ids if (i < beyond if descending else i > beyond)]
            if where.through is not None:
                ids = [i for i in ids if i <= where.through]
        return ids, by_lease

    def _ids(
        self, key: str, descending: bool, beyond: int | None = None, through: int | None = None
    ) -> Iterator[int]:
        """The ids in an id-scored index, in order (past `beyond`, up to `through`), a page
        at a time."""
        cursor = beyond
        end = "+inf" if through is None else str(through)
        while True:
            with self._guard():
                if descending:
                    top = end if cursor is None else f"({cursor}"
                    if through is not None and cursor is not None and through < cursor:
                        top = end  # past an id above the end: the end holds
                    members = self._client.zrevrangebyscore(key, top, "-inf", start=0, num=PAGE)
                else:
                    bottom = "-inf" if cursor is None else f"({cursor}"
                    members = self._client.zrangebyscore(key, bottom, end, start=0, num=PAGE)
            for member in members:
                yield int(member)
            if len(members) < PAGE:
                return
            cursor = int(members[-1])

    def queue_counts(self, now: float) -> list[QueueCounts]:
        with self._guard():
            rows = self._run("queue_counts", num(now))
        result = []
        for name, paused, flat, oldest, due in rows:
            counts = {
                State(flat[i]): int(flat[i + 1])
                for i in range(0, len(flat), 2)
                if int(flat[i + 1]) > 0
            }
            result.append(
                QueueCounts(
                    queue=name,
                    counts=counts,
                    paused=bool(int(paused)),
                    oldest_ready_at=float(oldest) if oldest else None,
                    due=int(due),
                )
            )
        return sorted(result, key=lambda q: q.queue)

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
        final = [s for s in dict.fromkeys(states) if s in FINAL_STATES]
        if limit is not None and limit < 0:
            limit = None  # as SQL's LIMIT -1
        if not final or limit == 0:
            return []
        low = "-inf" if finished_after is None else num(finished_after)
        high = "+inf" if beyond is None else num(beyond[0])
        # Newest first: finished_at descending, then id descending (as SQLite's index).
        streams = [self._finished(self._key("done", s.value), low, high) for s in final]
        entries = heapq.merge(*streams, reverse=True)
        if beyond is not None:  # those that died at that instant are listed up to its id
            entries = (entry for entry in entries if entry < beyond)
        found: list[Job] = []
        for job_found in self._jobs(job_id for _, job_id in entries):
            if job_found.state not in final:
                continue
            if job is not None and job_found.job != job:
                continue
            found.append(job_found)
            if limit is not None and len(found) >= limit:
                break
        return found

    def _finished(self, key: str, low: str, high: str = "+inf") -> Iterator[tuple[float, int]]:
        offset = 0
        while True:
            with self._guard():
                page = self._client.zrevrangebyscore(
                    key, high, low, start=offset, num=PAGE, withscores=True
                )
            for member, score in page:
                yield float(score), int(member)
            if len(page) < PAGE:
                return
            offset += len(page)

    def finished_ids(
        self,
        states: Sequence[State],
        *,
        ids: Sequence[int] | None = None,
        finished_before: float | None = None,
        job: str | None = None,
    ) -> list[int]:
        final = {s.value for s in states if s in FINAL_STATES}
        if not final or (ids is not None and not ids):
            return []
        kept: set[int] = set()  # as delete_jobs: each schedule's latest succeeded job stays
        if State.SUCCEEDED.value in final:
            with self._guard():
                kept = {int(i) for i in self._client.hvals(self._key("sched_succeeded_id"))}
        if ids is None:
            top = "+inf" if finished_before is None else f"({num(finished_before)}"
            with self._guard():
                pipe = self._client.pipeline(transaction=False)
                for state in sorted(final):
                    pipe.zrangebyscore(self._key("done", state), "-inf", top)
                # As delete_jobs: a cancelled job whose process still stops keeps its lease,
                # and stays. Those are few, as leases are.
                pipe.zrange(self._key("leases"), 0, -1)
                *done, leased = pipe.execute()
                kept.update(map(int, leased))
                candidates = sorted(
                    i for members in done for i in map(int, members) if i not in kept
                )
            if job is None:
                return candidates
            wanted = candidates
        else:
            wanted = [i for i in dict.fromkeys(ids) if i not in kept]
        found: list[int] = []
        for start in range(0, len(wanted), PAGE):
            chunk = wanted[start : start + PAGE]
            with self._guard():
                pipe = self._client.pipeline(transaction=False)
                for job_id in chunk:
                    pipe.hmget(
                        self._key("job", str(job_id)), "state", "finished_at", "job", "lease_token"
                    )
                rows = pipe.execute()
            for job_id, (state, finished_at, name, lease) in zip(chunk, rows, strict=True):
                if state not in final or lease is not None:  # lease: cancelled, still stopping
                    continue
                if finished_before is not None and (
                    finished_at is None or float(finished_at) >= finished_before
                ):
                    continue
                if job is not None and name != job:
                    continue
                found.append(job_id)
        return found

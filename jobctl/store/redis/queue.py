"""Producing and consuming: enqueue, claim, leases, results, rescue."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import cast

import redis

from jobctl.errors import KeyHeldByAnother
from jobctl.models import (
    AttemptResult,
    Claim,
    EnqueueResult,
    Job,
    NewJob,
    Outcome,
    Rate,
    State,
)
from jobctl.store.base import Finish, WakeListener
from jobctl.store.inflight import in_flight
from jobctl.store.redis.base import RedisBase
from jobctl.store.redis.codec import (
    batch_json,
    flat_job,
    job_from_hash,
    num,
    output_tail,
    strings_json,
)
from jobctl.store.redis.listener import PubSubListener


class QueueOps(RedisBase):
    # -- producing -------------------------------------------------------------------------

    def enqueue(
        self, jobs: Sequence[NewJob], now: float, *, refuse_unlike: bool = False
    ) -> list[EnqueueResult]:
        if not jobs:
            return []
        batch = batch_json(jobs, now)  # a payload that cannot be encoded fails before anything
        # Only a batch with jobs that run after others can be refused: the script checks
        # such a batch whole before it writes anything (all or nothing).
        checked = "1" if any(spec.after or spec.after_lines for spec in jobs) else ""
        if checked:
            _refuse_past_exact_ids(jobs)
        with self._guard(), in_flight(f"the enqueue of {len(jobs)} job(s)"):
            unlike = "1" if refuse_unlike else ""
            rows = self._run("enqueue", num(now), batch, checked, unlike)
        if rows and rows[0] == "unlike":  # see enqueue.lua: nothing was written
            _, line, holder, holder_line, key = rows
            raise KeyHeldByAnother(
                key,
                int(line) - 1,
                int(holder) if holder else None,
                int(holder_line) - 1 if holder_line else None,
            )
        return [EnqueueResult(int(job_id), bool(new)) for job_id, new in rows]

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
        args = self._claim_args(worker, queues, now, lease, limit, caps, (), rates)
        with self._guard():
            return self._claimed(self._run("claim", *args), log_path)

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
        # The claim wakes the idle workers when a capped queue whose job ended has a ready
        # job and a slot left after it (see claim.lua): they would see it only at their next
        # look. With no free slot here, the claim takes nothing and runs for that wake alone.
        ended = sorted({item.claim.job.queue for item in items} & set(caps or {}))
        if limit <= 0 and not ended:
            return self.finish(items, now), []
        ends = self._finish_args(items, now)
        starts = self._claim_args(worker, queues, now, lease, max(0, limit), caps, ended, rates)
        with self._guard():
            # One script for both (finish_and_claim.lua): a round trip less a job.
            states, rows = self._run("finish_and_claim", str(len(ends)), *ends, *starts)
            claims = self._claimed(rows, log_path)
        return [State(s) if s else None for s in states], claims

    def _claim_args(
        self,
        worker: str,
        queues: Sequence[str] | None,
        now: float,
        lease: float,
        limit: int,
        caps: Mapping[str, int] | None,
        ended: Sequence[str],
        rates: Mapping[str, Rate] | None,
    ) -> list[str]:
        """claim.lua's arguments."""
        tokens = [os.urandom(8).hex() for _ in range(limit)]
        names = "" if queues is None else json.dumps(list(queues), ensure_ascii=False)
        limits = json.dumps(dict(caps), ensure_ascii=False) if caps else ""
        windows = (
            json.dumps({q: [r.starts, r.window] for q, r in rates.items()}, ensure_ascii=False)
            if rates
            else ""
        )
        return [
            num(now),
            num(now + lease),
            str(limit),
            worker,
            self._host,
            names,
            limits,
            *tokens,
            json.dumps(list(ended), ensure_ascii=False) if ended else "",
            windows,
        ]

    def _claimed(
        self, rows: list[list[str]], log_path: Callable[[int, int], str] | None
    ) -> list[Claim]:
        """The claims of claim.lua's rows, their log paths recorded (inside _guard)."""
        claims: list[Claim] = []
        for row in rows:
            fields = flat_job(row)
            job = job_from_hash(fields)
            run = int(cast(str, fields["runs"]))
            path = log_path(job.id, run) if log_path is not None else None
            claims.append(
                Claim(
                    job=job,
                    attempt=job.attempts,
                    lease_token=cast(str, fields["lease_token"]),
                    run=run,
                    log_path=path,
                )
            )
        paths = [(c.job.id, c.run, c.log_path) for c in claims if c.log_path is not None]
        if paths:
            self._run(
                "set_log_paths", *[str(v) for triple in paths for v in triple if v is not None]
            )
        return claims

    def renew(self, claims: Sequence[Claim], until: float) -> set[int]:
        if not claims:
            return set()
        args = [v for c in claims for v in (str(c.job.id), c.lease_token)]
        with self._guard():
            held = self._run("renew", num(until), *args)
        return {int(i) for i in held}

    def still_held(self, claims: Sequence[Claim]) -> set[int]:
        """Which claims are still ours, without extending anything (a cheap read)."""
        if not claims:
            return set()
        with self._guard():
            pipe = self._client.pipeline(transaction=False)
            for claim in claims:
                pipe.hmget(self._key("job", str(claim.job.id)), "state", "lease_token")
            rows = pipe.execute()
        return {
            claim.job.id
            for claim, (state, token) in zip(claims, rows, strict=True)
            if state == State.RUNNING.value and token == claim.lease_token
        }

    def finish(self, items: Sequence[Finish], now: float) -> list[State | None]:
        if not items:
            return []
        args = self._finish_args(items, now)
        with self._guard():
            states = self._run("finish", *args)
        return [State(s) if s else None for s in states]

    def _finish_args(self, items: Sequence[Finish], now: float) -> list[str | bytes]:
        """finish.lua's arguments."""
        args: list[str | bytes] = []
        for item in items:
            claim, result = item.claim, item.result
            if result.outcome == Outcome.SUCCEEDED:
                to = State.SUCCEEDED
            elif item.retry_at is not None:
                to = State.SCHEDULED
            else:
                to = State.DEAD
            args.append(
                strings_json(
                    id=str(claim.job.id),
                    token=claim.lease_token,
                    run=str(claim.run),
                    outcome=result.outcome.value,
                    to=to.value,
                    finished=num(result.finished_at or now),
                    retry_at=None if item.retry_at is None else num(item.retry_at),
                    exit_code=result.exit_code,
                    signal=result.signal,
                    error=result.error,
                    log_path=result.log_path,
                )
            )
            # The worker's host has the log file: keep its end where every host can read it.
            args.append(output_tail(result.log_path or claim.log_path))
        return args

    def release(
        self,
        claims: Sequence[Claim],
        now: float,
        reason: str,
        ends: Sequence[AttemptResult | None] | None = None,
    ) -> int:
        if not claims:
            return 0
        args = []  # a log path of "?": not known (the one recorded at the start stays)
        for index, c in enumerate(claims):
            end = ends[index] if ends is not None else None
            args += [str(c.job.id), c.lease_token, str(c.run), _path_or_unknown(c.log_path)]
            args += [  # "": none (how the process ended, when known)
                "" if end is None or end.exit_code is None else str(end.exit_code),
                "" if end is None or end.signal is None else str(end.signal),
                (end.error if end is not None else None) or reason,
            ]
        with self._guard():
            return int(self._run("release", num(now), *args))

    def rescue_expired(self, now: float) -> list[Job]:
        with self._guard():
            rows = self._run("rescue", num(now))
        return [job_from_hash(flat_job(row)) for row in rows]

    def next_due(self, queues: Sequence[str] | None) -> float | None:
        # Every queue: the namespace's due set holds them all (a read, however many queues).
        keys = [self._key("due")] if queues is None else [self._key("due", q) for q in queues]
        with self._guard():
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.zrange(key, 0, 0, withscores=True)
            firsts = pipe.execute()
        times = [entries[0][1] for entries in firsts if entries]
        return float(min(times)) if times else None

    def next_rate_start(
        self, queues: Sequence[str] | None, rates: Mapping[str, Rate], now: float
    ) -> float | None:
        names = [name for name in rates if queues is None or name in queues]
        if not names:
            return None
        # Two reads at most: whether each queue waits (ready, not paused) and how many starts
        # its window holds; then, for those it holds back, the start whose leaving makes room.
        with self._guard():
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.sismember(self._key("ready_queues"), name)
                pipe.sismember(self._key("paused"), name)
                pipe.zcount(self._key("rate", name), f"({num(now - rates[name].window)}", "+inf")
            found = pipe.execute()
            held: list[tuple[str, int]] = []
            for index, name in enumerate(names):
                ready, paused, count = found[3 * index : 3 * index + 3]
                if ready and not paused and count >= rates[name].starts:
                    held.append((name, int(count)))
            if not held:
                return None
            pipe = self._client.pipeline(transaction=False)
            for name, count in held:
                pipe.zrangebyscore(
                    self._key("rate", name),
                    f"({num(now - rates[name].window)}",
                    "+inf",
                    start=count - rates[name].starts,
                    num=1,
                    withscores=True,
                )
            oldest = pipe.execute()
        times = [
            rates[name].reopens_at(float(entries[0][1]), now)
            for (name, _), entries in zip(held, oldest, strict=True)
            if entries
        ]
        return min(times) if times else None

    def open_listener(self, worker: str) -> WakeListener | None:
        channel = self._key("wake")
        self.wake_error = None
        try:
            return PubSubListener(self._client, channel)
        except (redis.exceptions.RedisError, OSError) as exc:
            if isinstance(exc, redis.exceptions.NoPermissionError):
                why = (
                    "the server's ACL denies this user the channel; grant it the channels"
                    " &jobctl:* (ACL SETUSER NAME '&jobctl:*': Redis 7 gives new users none)"
                )
            else:
                why = self._scrub(str(exc))
            self.wake_error = f"{self.location}: cannot subscribe to {channel}: {why}"
            return None

    def wake_workers(self) -> None:
        """Every host's workers of the namespace: each looks at its own config file."""
        with contextlib.suppress(redis.exceptions.RedisError):
            self._client.publish(self._key("wake"), "w")


def _path_or_unknown(path: str | None) -> str:
    return "?" if path is None else path


# Lua's numbers are doubles: an id above this reached the scripts rounded (9223372036854775807
# read as -9223372036854775808). INCR hands out no such id in any real namespace.
_EXACT_IDS = 2**53


def _refuse_past_exact_ids(jobs: Sequence[NewJob]) -> None:
    from jobctl.errors import no_job_to_run_after

    for spec in jobs:
        for after_id in spec.after:
            if after_id > _EXACT_IDS:
                raise no_job_to_run_after(after_id)

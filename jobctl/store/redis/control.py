"""Cancel, pause, dead retry and deletion."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence

import redis

from jobctl.models import (
    FINAL_STATES,
    JobEdit,
    State,
)
from jobctl.store.inflight import in_flight
from jobctl.store.redis.base import RedisBase
from jobctl.store.redis.codec import (
    num,
    strings_json,
)


class ControlOps(RedisBase):
    # -- controlling -----------------------------------------------------------------------

    def cancel(self, job_ids: Sequence[int], now: float) -> dict[int, State | None]:
        if not job_ids:
            return {}
        with self._guard(), in_flight(f"the cancel of {len(job_ids)} job(s)"):
            before = self._run("cancel", num(now), *[str(i) for i in job_ids])
        result: dict[int, State | None] = {}
        for job_id, state in zip(job_ids, before, strict=True):
            result[job_id] = State(state) if state else None
        return result

    def edit(self, edits: Sequence[JobEdit], now: float) -> set[int]:
        if not edits:
            return set()
        values: list[str] = [num(now)]
        for change in edits:  # a field left out (None) stays as it is; "" is a value
            values.append(
                strings_json(
                    id=change.id,
                    attempts=change.attempts,
                    payload=change.payload_json,
                    payload_was=change.payload_was,
                    queue=change.queue,
                    priority=change.priority,
                    max_attempts=change.max_attempts,
                    run_at=None if change.run_at is None else num(change.run_at),
                    command=None if change.command is None else json.dumps(change.command),
                    cwd=change.cwd,
                )
            )
        with self._guard(), in_flight(f"the edit of {len(edits)} job(s)"):
            edited = self._run("edit", *values)
        return {int(job_id) for job_id in edited}

    def set_paused(self, queue: str, paused: bool) -> None:
        with self._guard():
            pipe = self._client.pipeline(transaction=True)
            pipe.sadd(self._key("queues"), queue)
            if paused:
                pipe.sadd(self._key("paused"), queue)
            else:
                pipe.srem(self._key("paused"), queue)
            pipe.execute()
        if not paused:
            # The wake-up is best effort, after the change: a user the server's ACL denies
            # the channel (or a connection lost just now) must not fail a resume that was
            # made. Idle workers that miss it find the queue at their next regular check.
            with contextlib.suppress(redis.exceptions.RedisError):
                self._client.publish(self._key("wake"), "w")

    def dead_retry(self, job_ids: Sequence[int] | None, job: str | None, now: float) -> list[int]:
        if job_ids is not None and not job_ids:
            return []
        ids = [] if job_ids is None else [str(i) for i in dict.fromkeys(job_ids)]
        with self._guard(), in_flight("the retry of the dead jobs asked for"):
            moved = self._run("dead_retry", num(now), job or "", *ids)
        return sorted(int(i) for i in moved)

    def delete_jobs(
        self,
        *,
        states: Sequence[State],
        ids: Sequence[int] | None = None,
        finished_before: float | None = None,
        job: str | None = None,
    ) -> list[str]:
        final = [s.value for s in states if s in FINAL_STATES]
        if not final or (ids is not None and not ids):
            return []
        where = json.dumps(
            {
                "states": final,
                **({} if finished_before is None else {"before": num(finished_before)}),
                **({} if job is None else {"job": job}),
            },
            ensure_ascii=False,
        )
        targets = [] if ids is None else [str(i) for i in ids]
        with self._guard():
            asked = f"{len(targets)} job(s)" if targets else "the jobs asked for"
            with in_flight(f"the delete of {asked}"):
                return list(self._run("delete", where, *targets))

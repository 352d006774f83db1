"""Cron fires (each once), schedule state and the leader lease."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from jobctl.models import (
    FireRecord,
    NewJob,
    State,
)
from jobctl.store.base import LeaderLock
from jobctl.store.redis.base import RedisBase
from jobctl.store.redis.codec import (
    new_job_json,
    num,
    strings_json,
)
from jobctl.store.redis.lock import RedisLeaderLock


class CronOps(RedisBase):
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
        header = strings_json(
            schedule=schedule,
            fire_time=num(fire_time),
            now=num(now),
            overlap=overlap,
            manual="1" if manual else "0",
            reason=reason,
            fence=None if manual else self._fence,
            backlog=backlog or None,
        )
        args = [header] if job is None else [header, new_job_json(job, now)]
        with self._guard():
            row = self._run("record_fire", *args)
        if row is None:
            return None
        status, job_id, why, displaced, held_by, held_time, held_manual, held_job = row
        released = None  # the held fire enqueued first (this one may be dropped behind it)
        if held_time:
            released = FireRecord(
                schedule, float(held_time), "enqueued", int(held_job), None, held_manual == "1", now
            )
        return FireRecord(
            schedule,
            fire_time,
            status,
            int(job_id) if job_id else None,
            why or None,
            manual,
            now,
            int(displaced),
            int(held_by) if held_by else None,
            released,
        )

    def promote_pending(self, schedule: str, job: NewJob, now: float) -> FireRecord | None:
        header = strings_json(schedule=schedule, now=num(now), fence=self._fence)
        with self._guard():
            row = self._run(
                "promote_pending", header, new_job_json(job._replace(fire_time=0.0), now)
            )
        if row is None:
            return None
        fire_time, job_id, manual = row
        return FireRecord(
            schedule, float(fire_time), "enqueued", int(job_id), None, manual == "1", now
        )

    def drop_pending(
        self, schedule: str, reason: str, now: float, *, keep: int | None = None
    ) -> int:
        header = strings_json(
            schedule=schedule,
            now=num(now),
            reason=reason,
            fence=self._fence,
            keep=None if keep is None else str(keep),
        )
        with self._guard():
            return int(self._run("drop_pending", header))

    def held_schedules(self, schedules: Sequence[str]) -> set[str]:
        names = list(schedules)
        if not names:
            return set()
        with self._guard():
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.exists(self._key("fires_pending", name))
            found = pipe.execute()
        return {name for name, held in zip(names, found, strict=True) if held}

    def forget_fires_after(self, schedule: str, after: float) -> int:
        header = strings_json(schedule=schedule, after=num(after), fence=self._fence)
        with self._guard():
            return int(self._run("forget_fires", header))

    def last_fire_time(self, schedule: str) -> float | None:
        with self._guard():
            value = self._client.get(self._key("last_planned", schedule))
        return None if value is None else float(value)

    def prune_fires(self, before: float) -> int:
        with self._guard():
            return int(self._run("prune_fires", num(before)))

    def last_runs(self, schedules: Sequence[str]) -> dict[str, float]:
        return self._time_per_schedule("last_runs", schedules)

    def last_successes(self, schedules: Sequence[str]) -> dict[str, float]:
        return self._time_per_schedule("last_successes", schedules)

    def _time_per_schedule(self, script: str, schedules: Sequence[str]) -> dict[str, float]:
        """A read-only script's time for each schedule ("" for none) as a dict."""
        names = list(schedules)
        if not names:
            return {}
        with self._guard():
            values = self._run(script, *names)
        return {n: float(v) for n, v in zip(names, values, strict=True) if v not in ("", b"")}

    def last_fires(self) -> dict[str, tuple[FireRecord, State | None]]:
        with self._guard():
            names = sorted(self._client.smembers(self._key("schedules")))
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.zrange(self._key("fire_times", name), -1, -1)
            latest = pipe.execute()
            pipe = self._client.pipeline(transaction=False)
            for name, last in zip(names, latest, strict=True):
                pipe.hget(self._key("fires", name), last[0] if last else "")
            records = pipe.execute()
            found: dict[str, tuple[FireRecord, str | None]] = {}
            pipe = self._client.pipeline(transaction=False)
            for name, last, text in zip(names, latest, records, strict=True):
                if not last or text is None:
                    continue
                data = json.loads(text)
                job_id = int(data["job_id"]) if data.get("job_id") else None
                record = FireRecord(
                    name,
                    float(last[0]),
                    data["status"],
                    job_id,
                    data.get("reason"),
                    data.get("manual") == "1",
                    float(data["at"]),
                )
                found[name] = (record, None)
                pipe.hget(self._key("job", str(job_id or 0)), "state")
            states = pipe.execute()
        return {
            name: (record, State(state) if state and record.job_id else None)
            for (name, (record, _)), state in zip(found.items(), states, strict=True)
        }

    def set_schedule_paused(self, schedule: str, paused: bool) -> None:
        with self._guard():
            if paused:
                self._client.sadd(self._key("sched_paused"), schedule)
            else:
                self._client.srem(self._key("sched_paused"), schedule)

    def paused_schedules(self) -> set[str]:
        with self._guard():
            return set(self._client.smembers(self._key("sched_paused")))

    def plan_start(self, schedules: Sequence[str], now: float) -> dict[str, float]:
        if not schedules:
            return {}
        key = self._key("sched_planned")
        names = list(schedules)
        with self._guard():
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.hsetnx(key, name, repr(now))  # the first planner wins
            pipe.execute()
            values = self._client.hmget(key, names)
        return {n: float(v) if v is not None else now for n, v in zip(names, values, strict=True)}

    def time_tables(self, schedules: Sequence[str] | None) -> dict[str, str]:
        if schedules is None:
            with self._guard():
                every: dict[str, str] = self._client.hgetall(self._key("time_tables"))
            return every
        names = list(schedules)
        if not names:
            return {}
        with self._guard():
            values = self._client.hmget(self._key("time_tables"), names)
        return {n: v for n, v in zip(names, values, strict=True) if v is not None}

    def record_time_tables(self, tables: Mapping[str, str]) -> None:
        if tables:
            with self._guard():
                self._client.hset(self._key("time_tables"), mapping=dict(tables))

    def scheduler_lock(self) -> LeaderLock:
        return RedisLeaderLock(self, self._where.leader_lease)

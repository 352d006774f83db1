"""Heartbeats, statistics and the server's persistence and eviction settings."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis

from jobctl.errors import StoreError, StoreFull
from jobctl.models import (
    WorkerInfo,
)
from jobctl.store.base import AttemptTimes, Histogram
from jobctl.store.redis.base import RedisBase
from jobctl.store.redis.codec import (
    HIST_BOUNDS,
    PAGE,
    SCHEMA_VERSION,
    SEP,
    num,
)

# How long the health check's scratch key outlives its write (milliseconds): it needs none.
PROBE_EXPIRY = 10_000
# Reads of a snapshot made again when the hours counted changed meanwhile (a new hour, a
# compaction) before its last is taken as it is: the hours change about once an hour.
SNAPSHOT_TRIES = 3


@dataclass(frozen=True)
class _Snapshot:
    """What a metrics scrape reads of the namespace at one moment (read_snapshot)."""

    counts: dict[tuple[str, str, str], int]
    histograms: list[Histogram]
    workers: list[WorkerInfo]


class MonitorOps(RedisBase):
    # -- workers ---------------------------------------------------------------------------

    def register_worker(self, info: WorkerInfo) -> None:
        record = json.dumps(
            {
                "host": info.host,
                "pid": info.pid,
                "queues": list(info.queues),
                "concurrency": info.concurrency,
                "started_at": info.started_at,
                "kind": info.kind,
                "interval": info.interval,
                "stopping_until": info.stopping_until,
            }
        )
        with self._guard():
            pipe = self._client.pipeline(transaction=True)
            pipe.hset(self._key("workers"), info.id, record)
            pipe.hset(self._key("heartbeats"), info.id, num(info.heartbeat_at))
            # The namespace's mark too: a worker registering again after the server lost its
            # data makes the namespace one that commands open again.
            pipe.hsetnx(self._key("meta"), "schema", str(SCHEMA_VERSION))
            pipe.execute()

    def heartbeat(self, worker: str, now: float) -> bool:
        with self._guard():
            return bool(self._run("heartbeat", worker, num(now)))

    def unregister_worker(self, worker: str) -> None:
        with self._guard():
            pipe = self._client.pipeline(transaction=True)
            pipe.hdel(self._key("workers"), worker)
            pipe.hdel(self._key("heartbeats"), worker)
            pipe.execute()

    def workers(self) -> list[WorkerInfo]:
        if (held := self._held_snapshot()) is not None:
            return held.workers
        with self._guard():
            pipe = self._client.pipeline(transaction=False)
            pipe.hgetall(self._key("workers"))
            pipe.hgetall(self._key("heartbeats"))
            records, beats = pipe.execute()
        return _workers_of(records, beats)

    # -- statistics ------------------------------------------------------------------------

    @contextlib.contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """The event counters, the histograms and the worker records read at one moment, in
        one MULTI/EXEC, and given by event_counts(None), histograms() and workers() inside
        it: read in separate round trips while workers finished jobs, a scrape's
        jobctl_job_runs_total and its histograms' _count disagreed. (The jobs per queue and
        state are one script, read at a moment of their own.) Held per thread: threads
        share a store."""
        local = self.__dict__.setdefault("_snapshots", threading.local())
        if getattr(local, "held", None) is not None:
            yield
            return
        try:
            local.held = self._read_snapshot()
        except StoreFull:
            # At maxmemory the server queues no command of a MULTI, reads neither: the parts
            # are read one by one, as they can be (a scrape must answer while `prune` makes
            # room), each at a moment of its own.
            local.held = None
        try:
            yield
        finally:
            local.held = None

    def _held_snapshot(self) -> _Snapshot | None:
        local = self.__dict__.get("_snapshots")
        return None if local is None else getattr(local, "held", None)

    def _read_snapshot(self) -> _Snapshot:
        """One MULTI/EXEC of every hour's counters and of the histogram and worker hashes.
        The hours are a key's members, read before it and again inside it: when they
        changed in between (a new hour's counters would be missing), it is made again."""
        hours_key = self._key("stat_hours")
        for _ in range(SNAPSHOT_TRIES):
            with self._guard():
                hours = self._client.zrangebyscore(hours_key, -1, "+inf")
                pipe = self._client.pipeline(transaction=True)
                pipe.zrangebyscore(hours_key, -1, "+inf")
                for h in hours:
                    pipe.hgetall(self._key("stats", h))
                for name in ("hist", "hist_count", "hist_sum", "workers", "heartbeats"):
                    pipe.hgetall(self._key(name))
                found = pipe.execute()
            if found[0] == hours:
                break
        tables = found[1 : 1 + len(hours)]
        buckets, counts, sums, records, beats = found[1 + len(hours) :]
        return _Snapshot(
            _counts_of(tables), _histograms_of(buckets, counts, sums), _workers_of(records, beats)
        )

    def event_counts(self, since: float | None) -> dict[tuple[str, str, str], int]:
        if since is None and (held := self._held_snapshot()) is not None:
            return held.counts
        hour = -1 if since is None else int(since // 3600) * 3600
        with self._guard():
            hours = self._client.zrangebyscore(self._key("stat_hours"), hour, "+inf")
            pipe = self._client.pipeline(transaction=False)
            for h in hours:
                pipe.hgetall(self._key("stats", h))
            tables = pipe.execute()
        return _counts_of(tables)

    def compact_counts(self, before: float) -> int:
        # The script folds at most 500 hours a call (no call holds the server long): calls
        # until it is done, so a year of history folds at once, as on SQLite.
        folded = 0
        while True:
            with self._guard():
                hours = int(self._run("compact_counts", str(int(before // 3600) * 3600)))
            folded += hours
            if hours < 500:
                return folded

    def histograms(self) -> list[Histogram]:
        if (held := self._held_snapshot()) is not None:
            return held.histograms
        with self._guard():
            pipe = self._client.pipeline(transaction=False)
            pipe.hgetall(self._key("hist"))
            pipe.hgetall(self._key("hist_count"))
            pipe.hgetall(self._key("hist_sum"))
            buckets, counts, sums = pipe.execute()
        return _histograms_of(buckets, counts, sums)

    def attempt_times(self, since: float) -> Iterator[AttemptTimes]:
        # Paged on the att_start set by score: a page starts at the last one's score, past
        # the members of that score it gave already (a page of one score throughout is
        # followed by its next, not read again).
        low, seen_at_low = num(since), 0
        while True:
            with self._guard():
                page = self._client.zrangebyscore(
                    self._key("att_start"),
                    low,
                    "+inf",
                    start=seen_at_low,
                    num=PAGE,
                    withscores=True,
                )
            if not page:
                return
            with self._guard():
                pipe = self._client.pipeline(transaction=False)
                for member, _ in page:
                    padded, run = member.split(":")
                    job_id = str(int(padded))
                    pipe.hmget(
                        self._key("att", job_id, run),
                        "due_at",
                        "started_at",
                        "finished_at",
                        "outcome",
                    )
                    pipe.hmget(self._key("job", job_id), "queue", "job")
                rows = pipe.execute()
            for i in range(0, len(rows), 2):
                (due, started, finished, outcome), (queue, job) = rows[i], rows[i + 1]
                if started is None or queue is None or outcome == "interrupted":
                    continue  # (gone meanwhile, or given back: not a run of the job)
                yield AttemptTimes(
                    queue,
                    job,
                    None if finished is None else max(0.0, float(finished) - float(started)),
                    # From when the job was due: its delay is no wait.
                    None if due is None else max(0.0, float(started) - float(due)),
                )
            if len(page) < PAGE:
                return
            last = page[-1][1]
            ties = sum(1 for _, score in page if score == last)
            seen_at_low = seen_at_low + ties if num(last) == low else ties
            low = num(last)

    def pending_counts(self) -> dict[tuple[str, str], int]:
        with self._guard():
            table = self._client.hgetall(self._key("pending"))
        counts: dict[tuple[str, str], int] = {}
        for field, n in table.items():
            if int(n) > 0:
                queue, job = field.split(SEP)
                counts[(queue, job)] = int(n)
        return counts

    # -- the server ------------------------------------------------------------------------

    def warnings(self) -> list[str]:
        """What the server's settings mean for the jobs (see the README): persistence, and
        a maxmemory-policy that lets the server evict keys."""
        return self._persistence_warnings() + self.losses()

    def _persistence_warnings(self) -> list[str]:
        try:
            with self._guard():
                config = self._client.config_get("appendonly")
                config.update(self._client.config_get("save"))
        except StoreError:
            try:  # CONFIG may be disabled (managed servers); INFO still tells about AOF
                with self._guard():
                    info = self._client.info("persistence")
            except StoreError:
                return []
            config = {"appendonly": "yes" if info.get("aof_enabled") else "no", "save": "?"}
        if config.get("appendonly") == "yes":
            return []
        if config.get("save") == "?":  # (INFO tells no save points)
            return [
                f"{self.location}: the Redis server does not keep an append-only file"
                " (appendonly no): a restart loses the changes since its last RDB snapshot,"
                " or every job if it takes none (its save points cannot be read without"
                " CONFIG GET); set appendonly yes"
            ]
        if not (config.get("save") or "").strip():
            return [
                f"{self.location}: the Redis server has persistence off (appendonly no, no "
                "save points): a restart of the server loses every job; set appendonly yes"
            ]
        return [
            f"{self.location}: the Redis server keeps only RDB snapshots (appendonly no): a "
            "crash of the server loses the changes since the last snapshot; set appendonly yes"
        ]

    def write_refusal(self, wait: float) -> str | None:
        """Why the server takes no write now, in one line, or None when it took one within
        `wait` seconds. INFO cannot tell a write the server refuses (NOREPLICAS), holds
        (CLIENT PAUSE WRITE) or answers late (a stall, another client's long script) while
        reads go on: a write can. It sets a scratch key of the namespace, which expires, on
        a connection of its own that waits at most `wait` seconds for each answer. A user
        allowed only to read cannot probe: None, as the reads are all it may do."""
        client = self._connect(decode=True, timeout=wait)
        try:
            client.set(self._key("health"), self._host, px=PROBE_EXPIRY)
        except redis.exceptions.NoPermissionError:
            return None
        except redis.exceptions.TimeoutError:
            return (
                f"the server took no write within {wait:.1f}s (writes paused by CLIENT PAUSE,"
                " or a server that stalls)"
            )
        except redis.exceptions.RedisError as exc:
            if str(exc).startswith("NOPERM"):
                return None
            return " ".join(self._describe(exc).removeprefix(f"{self.location}: ").split())
        finally:
            client.close()
        return None

    def losses(self) -> list[str]:
        """What makes the server lose jobs or refuse every write: eviction, maxmemory, a
        replica's role and a persistence failure (MISCONF)."""
        # From INFO, which needs no CONFIG rights; a user denied INFO too hears nothing.
        try:
            with self._guard():
                info = self._client.info("memory", "replication", "persistence")
        except StoreError:
            return []
        return self._memory_losses(info) + self._write_refusals(info)

    def _memory_losses(self, memory: dict[str, Any]) -> list[str]:
        policy = memory.get("maxmemory_policy")
        limit, used = int(memory.get("maxmemory") or 0), int(memory.get("used_memory") or 0)
        if policy == "noeviction" and 0 < limit <= used:
            # Every write is refused: no enqueue, no result, no worker that starts.
            return [
                f"{self.location}: the Redis server is at its maxmemory ({used:,} of"
                f" {limit:,} bytes) and refuses every write: no job can be queued or"
                " finished; raise maxmemory or free memory"
            ]
        if not policy or policy == "noeviction":
            return []
        return [
            f"{self.location}: the Redis server may evict keys (maxmemory-policy {policy}): "
            "once it reaches maxmemory it deletes keys of the queue, losing jobs and leaving "
            "the namespace corrupt; set maxmemory-policy noeviction"
        ]

    def _write_refusals(self, info: dict[str, Any]) -> list[str]:
        """A server that answers reads but refuses every write: a replica (a failover gone
        wrong, or a location naming the replica), or one that cannot persist and stops
        writes until it can. Reads succeed, so nothing else would tell."""
        found = []
        if info.get("role") == "slave":
            master = f"{info.get('master_host')}:{info.get('master_port')}"
            link = info.get("master_link_status", "down")
            found.append(
                f"{self.location}: the Redis server is a read-only replica (role:slave) of"
                f" {master} (link {link}): no job can be queued or finished; point the"
                " location at the master, or promote this server (REPLICAOF NO ONE)"
            )
        if info.get("aof_enabled") and info.get("aof_last_write_status") == "err":
            found.append(
                f"{self.location}: the Redis server cannot write its append-only file"
                " (aof_last_write_status:err) and refuses every write (MISCONF): no job can"
                " be queued or finished; see the server's log (a full disk?)"
            )
        elif info.get("rdb_last_bgsave_status") == "err" and self._stops_writes_on_bgsave_error():
            found.append(
                f"{self.location}: the Redis server's last RDB snapshot failed"
                " (rdb_last_bgsave_status:err) and it refuses every write until one succeeds"
                " (stop-writes-on-bgsave-error, MISCONF): no job can be queued or finished;"
                " see the server's log (a full disk, or a dir it cannot write?)"
            )
        return found

    def _stops_writes_on_bgsave_error(self) -> bool:
        """Whether a failed snapshot stops writes: only with save points and the setting on
        (the default); when CONFIG is denied, assumed so."""
        try:
            with self._guard():
                config = self._client.config_get("stop-writes-on-bgsave-error")
                config.update(self._client.config_get("save"))
        except StoreError:
            return True
        return config.get("stop-writes-on-bgsave-error") == "yes" and bool(
            (config.get("save") or "").strip()
        )


def _counts_of(tables: list[dict[str, str]]) -> dict[tuple[str, str, str], int]:
    """The event counts of stats:HOUR hashes, summed over the hours."""
    counts: dict[tuple[str, str, str], int] = {}
    for table in tables:
        for field, n in table.items():
            queue, job, event = field.split(SEP)
            counts[(queue, job, event)] = counts.get((queue, job, event), 0) + int(n)
    return counts


def _histograms_of(
    buckets: dict[str, str], counts: dict[str, str], sums: dict[str, str]
) -> list[Histogram]:
    """The histograms of the hist, hist_count and hist_sum hashes."""
    found: dict[tuple[str, str, str], dict[int, int]] = {}
    for field, n in buckets.items():
        kind, queue, job, index = field.split(SEP)
        found.setdefault((kind, queue, job), {})[int(index)] = int(n)
    result = []
    for (kind, queue, job), by_index in sorted(found.items()):
        base = SEP.join((kind, queue, job))
        result.append(
            Histogram(
                kind,
                queue,
                job,
                tuple((b, by_index.get(i, 0)) for i, b in enumerate(HIST_BOUNDS, start=1)),
                int(counts.get(base, 0)),
                float(sums.get(base, 0.0)),
            )
        )
    return result


def _workers_of(records: dict[str, str], beats: dict[str, str]) -> list[WorkerInfo]:
    """The workers and daemons of the workers and heartbeats hashes, oldest first."""
    found = []
    for worker_id, text in records.items():
        data = json.loads(text)
        found.append(
            WorkerInfo(
                id=worker_id,
                host=data["host"],
                pid=int(data["pid"]),
                queues=tuple(data["queues"]),
                concurrency=int(data["concurrency"]),
                started_at=float(data["started_at"]),
                heartbeat_at=float(beats.get(worker_id, data["started_at"])),
                kind=data["kind"],
                interval=float(data["interval"]),
                # Absent from the records of a jobctl that did not say it.
                stopping_until=_seconds(data.get("stopping_until")),
            )
        )
    return sorted(found, key=lambda w: w.started_at)


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)

"""The Redis store: the same queue as the SQLite store, shared by workers on many hosts.

Every state change is one Lua script (jobctl/store/lua/*.lua, each prefixed with lib.lua), so
it is atomic under any number of clients: a script runs alone on the server. Scripts are
guarded like the SQLite transactions: a running job changes only under its lease token.
Reads that need no atomicity (listing, statistics) are pipelined plain commands.

Key layout: every key of a namespace starts with `jobctl:{NAMESPACE}:` — one hash tag, so a
script never spans cluster slots. Members of the id indexes are zero-padded ids, so that equal
scores order by id.

    seq                         INCR: job ids, never reused
    job:ID                      hash: the job's fields (as the SQLite jobs row)
    att:ID:RUN                  hash: one attempt (+ host, and the tail of its output)
    all, byjob:NAME, state:S    zsets by id: listing
    ready:QUEUE:PRIORITY        zset by run_at: the queued jobs of one queue and priority
    prios:QUEUE                 zset by -priority: the priorities with queued jobs
    due:QUEUE                   zset by run_at: scheduled jobs (delayed, retries)
    leases                      zset by lease expiry: running jobs, cancelled ones until closed
    done:S                      zset by finished_at: succeeded, dead, cancelled
    keys                        hash: unique key -> id of the active job holding it
    queues, paused              sets: known and paused queues
    counts:QUEUE, pending       hashes: jobs per state; waiting jobs per (queue, job)
    stats:HOUR, stat_hours      hashes of event counters per hour, and the hours seen
    hist, hist_count, hist_sum  run and wait time histograms
    att_start                   zset by started_at: attempts, for exact percentiles
    fires:SCHEDULE              hash: fire time -> what happened (the fire's own entry)
    fire_times:S, fires_pending:S, last_planned:S, schedules, sched_active:S, sched_paused,
    sched_planned (when each schedule was first planned)
    workers, heartbeats         hashes: registered workers and daemons
    leader, leader_epoch        the cron leader lease (SET PX, a fencing token) and its epoch
    meta                        hash: schema version
    wake                        pub/sub channel: "w" new work, "c" a running job cancelled

Times are passed to the scripts as Python's repr of the float and stored as given, so a
value read back is the value written.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from jobctl.errors import DurationError, StoreError
from jobctl.models import (
    FINAL_STATES,
    Attempt,
    Claim,
    EnqueueResult,
    FireRecord,
    Job,
    JobFilter,
    NewJob,
    Outcome,
    State,
    WorkerInfo,
)
from jobctl.store.base import Finish, Histogram, LeaderLock, QueueCounts, Store, WakeListener

SCHEMA_VERSION = 1
MIN_SERVER = (7, 0)
DEFAULT_NAMESPACE = "default"
DEFAULT_LEADER_LEASE = 5.0  # seconds: how long a standby cron daemon waits for a dead leader
TAIL_BYTES = 16 * 1024  # the end of each attempt's output kept in Redis, readable anywhere
_STANDBY_POLL = 0.1  # seconds between a standby's tries for the leader lease
_PAGE = 500
_SEP = "\0"

# The fields of a job as the scripts return it (lib.lua's JOB_FIELDS, in that order).
JOB_FIELDS = (
    "id",
    "job",
    "queue",
    "state",
    "priority",
    "attempts",
    "runs",
    "max_attempts",
    "payload",
    "key",
    "run_at",
    "created_at",
    "started_at",
    "finished_at",
    "exit_code",
    "error",
    "worker",
    "lease_token",
    "lease_expires_at",
    "command",
    "cwd",
    "schedule",
    "fire_time",
)
HIST_BOUNDS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    1e308,
)
_READ_ONLY = frozenset({"queue_counts"})
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# Locations


@dataclass(frozen=True)
class RedisLocation:
    """A parsed `redis://` or `rediss://` location."""

    url: str  # for redis-py, without jobctl's own query options
    shown: str  # for people: the password never appears
    namespace: str
    leader_lease: float
    password: str | None


def parse_location(location: str) -> RedisLocation:
    """`redis[s]://[[user]:password@]host[:port][/db][?namespace=NAME&leader_lease=5s]`."""
    from jobctl.durations import parse_duration

    parts = urlsplit(location)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise StoreError(f"{_redact(location)}: expected redis://[:password@]host[:port][/db]")
    namespace = DEFAULT_NAMESPACE
    lease = DEFAULT_LEADER_LEASE
    rest: list[tuple[str, str]] = []
    secret = unquote(parts.password) if parts.password else None
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "namespace":
            if not value or any(ch in value for ch in "{}"):
                raise StoreError(f"{_redact(location)}: namespace must be a name without braces")
            namespace = value
        elif name == "leader_lease":
            try:
                lease = parse_duration(value)
            except DurationError as exc:
                raise StoreError(f"{_redact(location)}: leader_lease: {exc}") from None
            if lease < 0.2:
                raise StoreError(f"{_redact(location)}: leader_lease must be at least 200ms")
        else:
            if name == "password":
                secret = value
            rest.append((name, value))
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), ""))
    user = f"{parts.username}:***@" if parts.username else (":***@" if secret else "")
    port = f":{parts.port}" if parts.port else ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    db = parts.path if parts.path not in ("", "/") else "/0"
    shown = f"{parts.scheme}://{user}{host}{port}{db}"
    if namespace != DEFAULT_NAMESPACE:
        shown += f"?namespace={namespace}"
    return RedisLocation(url, shown, namespace, lease, secret)


def _redact(location: str) -> str:
    parts = urlsplit(location)
    if parts.password is None:
        return location.split("?", 1)[0]
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{netloc}", parts.path, "", ""))


# ---------------------------------------------------------------------------------------------
# Values


def _f(value: float) -> str:
    """A time for the scripts: repr round-trips a float exactly."""
    return repr(float(value))


def _opt_float(value: str | None) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _job(h: Mapping[str, str | None]) -> Job:
    command = h.get("command")
    return Job(
        id=int(cast(str, h["id"])),
        job=cast(str, h["job"]),
        queue=cast(str, h["queue"]),
        state=State(cast(str, h["state"])),
        priority=int(cast(str, h["priority"])),
        attempts=int(cast(str, h["attempts"])),
        max_attempts=int(cast(str, h["max_attempts"])),
        payload=json.loads(cast(str, h["payload"])),
        key=h.get("key"),
        run_at=float(cast(str, h["run_at"])),
        created_at=float(cast(str, h["created_at"])),
        started_at=_opt_float(h.get("started_at")),
        finished_at=_opt_float(h.get("finished_at")),
        exit_code=_opt_int(h.get("exit_code")),
        error=h.get("error"),
        worker=h.get("worker"),
        lease_expires_at=_opt_float(h.get("lease_expires_at")),
        command=json.loads(command) if command else None,
        cwd=h.get("cwd"),
        schedule=h.get("schedule"),
        fire_time=_opt_float(h.get("fire_time")),
    )


def _flat_job(row: Sequence[str | None]) -> dict[str, str | None]:
    return dict(zip(JOB_FIELDS, row, strict=True))


def _attempt(job_id: int, run: int, a: Mapping[str, str]) -> Attempt:
    outcome = a.get("outcome")
    return Attempt(
        job_id=job_id,
        attempt=int(a["attempt"]),
        worker=a["worker"],
        started_at=float(a["started_at"]),
        finished_at=_opt_float(a.get("finished_at")),
        outcome=Outcome(outcome) if outcome else None,
        exit_code=_opt_int(a.get("exit_code")),
        signal=_opt_int(a.get("signal")),
        error=a.get("error"),
        log_path=a.get("log_path"),
        run=run,
    )


def _new_job(spec: NewJob, now: float) -> str:
    """One job for the enqueue script: a JSON object of strings (absent: None)."""
    run_at = now if spec.run_at is None else spec.run_at
    fields: dict[str, str] = {
        "job": spec.job,
        "queue": spec.queue,
        "state": (State.SCHEDULED if run_at > now else State.QUEUED).value,
        "priority": str(int(spec.priority)),
        "max_attempts": str(int(spec.max_attempts)),
        "payload": spec.payload_json
        or json.dumps(spec.payload, ensure_ascii=False, separators=(",", ":")),
        "run_at": _f(run_at),
    }
    if spec.key is not None:
        fields["key"] = spec.key
    if spec.command is not None:
        fields["command"] = json.dumps(spec.command)
    if spec.cwd is not None:
        fields["cwd"] = spec.cwd
    if spec.schedule is not None:
        fields["schedule"] = spec.schedule
    if spec.fire_time is not None:
        fields["fire_time"] = _f(spec.fire_time)
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def _batch(jobs: Sequence[NewJob], now: float) -> str:
    """Jobs for the enqueue script: one JSON array of positional arrays of strings, encoded
    in one call (a hundred thousand small objects would cost more than the script)."""
    queued, scheduled = State.QUEUED.value, State.SCHEDULED.value
    rows = []
    for spec in jobs:
        run_at = now if spec.run_at is None else spec.run_at
        rows.append(
            (
                spec.job,
                spec.queue,
                scheduled if run_at > now else queued,
                str(int(spec.priority)),
                str(int(spec.max_attempts)),
                spec.payload_json or _ENCODER.encode(spec.payload),
                repr(float(run_at)),
                spec.key,
                None if spec.command is None else json.dumps(spec.command),
                spec.cwd,
                spec.schedule,
                None if spec.fire_time is None else repr(float(spec.fire_time)),
            )
        )
    return _ENCODER.encode(rows)


def _strings(**values: object) -> str:
    """A JSON object of strings for a script, leaving out the values that are None."""
    return json.dumps(
        {k: v if isinstance(v, str) else str(v) for k, v in values.items() if v is not None},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _output_tail(path: str | None) -> bytes:
    """The end of an attempt's log file, as the worker that ran it sees it."""
    if not path:
        return b""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return b""
            handle.seek(max(0, size - TAIL_BYTES))
            return handle.read(TAIL_BYTES)
    except OSError:
        return b""


@cache
def _script_source(name: str) -> str:
    folder = resources.files("jobctl.store") / "lua"
    lib = (folder / "lib.lua").read_text(encoding="utf-8")
    body = (folder / f"{name}.lua").read_text(encoding="utf-8")
    flags = " flags=no-writes" if name in _READ_ONLY else ""
    return f"#!lua{flags}\n{lib}\n{body}"


# ---------------------------------------------------------------------------------------------
# The store


class RedisStore(Store):
    """A namespace of a Redis server, shared by the workers and daemons of many hosts. One
    instance holds one connection pool; it is safe to use from several threads."""

    shared = True

    def __init__(self, location: str, *, create: bool = True) -> None:
        self._where = parse_location(location)
        self.location = self._where.shown
        self.namespace = self._where.namespace
        self.prefix = f"jobctl:{{{self.namespace}}}:"
        self._host = socket.gethostname()
        self._fence: str | None = None  # the cron leader token this store writes fires under
        self._scripts: dict[str, Script] = {}
        self._raw_client: Any = None
        # redis-py's annotations cannot say that decode_responses gives str: typed loosely.
        self._client: Any = self._connect(decode=True)
        try:
            with self._guard():
                self._check(create)
        except BaseException:
            self._client.close()
            raise

    # -- plumbing --------------------------------------------------------------------------

    def _connect(self, *, decode: bool) -> Any:
        # No automatic retries: a script whose reply was lost must not run twice (an enqueue
        # would store its jobs twice). Callers that can retry (the worker) do.
        try:
            return redis.Redis.from_url(
                self._where.url,
                decode_responses=decode,
                socket_connect_timeout=10,
                socket_timeout=60,
                socket_keepalive=True,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise StoreError(f"{self.location}: {self._scrub(str(exc))}") from None

    def _check(self, create: bool) -> None:
        pipe = self._client.pipeline(transaction=False)
        pipe.info("server")
        pipe.hget(self._key("meta"), "schema")
        info, schema = pipe.execute(raise_on_error=False)
        if isinstance(schema, Exception):
            raise schema
        # INFO may be denied to this user (ACLs): then the scripts' own errors must tell.
        version = str(info.get("redis_version", "")) if isinstance(info, dict) else ""
        numbers = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
        if version and numbers < MIN_SERVER:
            raise StoreError(
                f"{self.location}: Redis {version} is too old; jobctl needs Redis 7.0 or newer"
            )
        if schema is None:
            if not create:
                raise StoreError(
                    f"{self.location}: namespace {self.namespace!r} does not exist "
                    "(nothing was ever enqueued there)"
                )
            self._client.hsetnx(self._key("meta"), "schema", str(SCHEMA_VERSION))
        elif int(schema) > SCHEMA_VERSION:
            raise StoreError(
                f"{self.location}: namespace {self.namespace!r} has schema version {schema}, "
                f"newer than this jobctl understands ({SCHEMA_VERSION}); upgrade jobctl"
            )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()
        if self._raw_client is not None:
            with contextlib.suppress(Exception):
                self._raw_client.close()

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except redis.exceptions.RedisError as exc:
            raise StoreError(self._describe(exc)) from None

    def _describe(self, exc: redis.exceptions.RedisError) -> str:
        text = self._scrub(str(exc))
        where = self.location
        if isinstance(exc, redis.exceptions.AuthenticationError):
            return f"{where}: authentication failed ({text})"
        if isinstance(exc, redis.exceptions.TimeoutError):
            return f"{where}: the server did not answer in time ({text})"
        if isinstance(exc, redis.exceptions.ConnectionError):
            return f"{where}: cannot reach the server ({text})"
        if isinstance(exc, redis.exceptions.ReadOnlyError):
            return f"{where}: the server is a read-only replica"
        if isinstance(exc, redis.exceptions.OutOfMemoryError):
            return f"{where}: the server is out of memory (maxmemory); nothing was changed"
        if text.startswith("jobctl: "):
            return f"{where}: {text[len('jobctl: ') :]}"
        if text.startswith("WRONGTYPE"):
            return (
                f"{where}: not a jobctl database: a key under {self.prefix} holds "
                "another program's data"
            )
        if text.startswith("NOPERM"):
            return f"{where}: permission denied ({text})"
        return f"{where}: {text}"

    def _scrub(self, text: str) -> str:
        secret = self._where.password
        return text.replace(secret, "***") if secret else text

    def _run(self, name: str, *args: str | bytes, client: Any = None) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._client.register_script(_script_source(name))
            self._scripts[name] = script
        return script(keys=[self.prefix], args=list(args), client=client)

    def _raw(self) -> Any:
        """A second client that returns bytes: attempt output is not always text."""
        if self._raw_client is None:
            self._raw_client = self._connect(decode=False)
        return self._raw_client

    # -- producing -------------------------------------------------------------------------

    def enqueue(self, jobs: Sequence[NewJob], now: float) -> list[EnqueueResult]:
        if not jobs:
            return []
        batch = _batch(jobs, now)  # a payload that cannot be encoded fails before anything
        with self._guard():
            rows = self._run("enqueue", _f(now), batch)
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
    ) -> list[Claim]:
        if limit <= 0:
            return []
        tokens = [os.urandom(8).hex() for _ in range(limit)]
        names = "" if queues is None else json.dumps(list(queues), ensure_ascii=False)
        claims: list[Claim] = []
        with self._guard():
            rows = self._run(
                "claim", _f(now), _f(now + lease), str(limit), worker, self._host, names, *tokens
            )
            for row in rows:
                fields = _flat_job(row)
                job = _job(fields)
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
            held = self._run("renew", _f(until), *args)
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
                _strings(
                    id=str(claim.job.id),
                    token=claim.lease_token,
                    run=str(claim.run),
                    outcome=result.outcome.value,
                    to=to.value,
                    finished=_f(result.finished_at or now),
                    retry_at=None if item.retry_at is None else _f(item.retry_at),
                    exit_code=result.exit_code,
                    signal=result.signal,
                    error=result.error,
                    log_path=result.log_path,
                )
            )
            # The worker's host has the log file: keep its end where every host can read it.
            args.append(_output_tail(result.log_path or claim.log_path))
        with self._guard():
            states = self._run("finish", *args)
        return [State(s) if s else None for s in states]

    def release(self, claims: Sequence[Claim], now: float, reason: str) -> int:
        if not claims:
            return 0
        args = [v for c in claims for v in (str(c.job.id), c.lease_token, str(c.run))]
        with self._guard():
            return int(self._run("release", _f(now), reason, *args))

    def rescue_expired(self, now: float) -> list[Job]:
        with self._guard():
            rows = self._run("rescue", _f(now))
        return [_job(_flat_job(row)) for row in rows]

    def next_due(self, queues: Sequence[str] | None) -> float | None:
        with self._guard():
            names = sorted(self._client.smembers(self._key("queues"))) if queues is None else queues
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.zrange(self._key("due", name), 0, 0, withscores=True)
            firsts = pipe.execute()
        times = [entries[0][1] for entries in firsts if entries]
        return float(min(times)) if times else None

    def open_listener(self, worker: str) -> WakeListener | None:
        try:
            return _PubSubListener(self._client, self._key("wake"))
        except (redis.exceptions.RedisError, OSError):
            return None

    # -- inspecting ------------------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        with self._guard():
            fields = self._client.hgetall(self._key("job", str(job_id)))
        return _job(fields) if fields else None

    def get_many(self, job_ids: Sequence[int]) -> dict[int, Job]:
        return {job.id: job for job in self._jobs(job_ids)}

    def _jobs(self, job_ids: Iterable[int], *, leased: bool = False) -> Iterator[Job]:
        """The jobs that exist among these ids (with `leased`, only those holding a lease),
        in their order, fetched a page at a time."""
        batch: list[int] = []
        for job_id in job_ids:
            batch.append(job_id)
            if len(batch) >= _PAGE:
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
            _job(fields) for fields in rows if fields and (not leased or "lease_token" in fields)
        ]

    def attempts(self, job_id: int) -> list[Attempt]:
        with self._guard():
            runs = self._client.hget(self._key("job", str(job_id)), "runs")
            if runs is None:
                return []
            pipe = self._client.pipeline(transaction=False)
            for run in range(1, int(runs) + 1):
                pipe.hgetall(self._key("att", str(job_id), str(run)))
            rows = pipe.execute()
        found = []
        for run, fields in enumerate(rows, start=1):
            if not fields or "started_at" not in fields:
                continue
            attempt = _attempt(job_id, run, fields)
            host = fields.get("host")
            if attempt.log_path and host and host != self._host:
                # The log is on the host that ran the attempt: say which, as scp would.
                attempt = replace(attempt, log_path=f"{host}:{attempt.log_path}")
            found.append(attempt)
        return found

    def attempt_output(self, job_id: int, run: int) -> tuple[str | None, bytes] | None:
        """The host that ran an attempt and the end of its output, as stored in Redis."""
        with self._guard():
            host, tail = self._raw().hmget(self._key("att", str(job_id), str(run)), "host", "tail")
        if host is None and tail is None:
            return None
        return (host.decode("utf-8", "replace") if host else None), (tail or b"")

    def list_jobs(self, where: JobFilter) -> list[Job]:
        if where.job is not None:
            indexes = [self._key("byjob", where.job)]
        elif where.states:
            indexes = [self._key("state", s.value) for s in dict.fromkeys(where.states)]
        else:
            indexes = [self._key("all")]
        descending = where.newest_first
        ids = heapq.merge(*(self._ids(k, descending) for k in indexes), reverse=descending)
        states = set(where.states)
        found: list[Job] = []
        limit = where.limit if where.limit is not None and where.limit >= 0 else None
        if limit == 0:  # (a negative limit means none, as SQL's LIMIT -1)
            return found
        # Running jobs are listed as the SQLite store finds them: through their leases.
        leased = bool(states) and states <= {State.RUNNING}
        for job in self._jobs(ids, leased=leased):
            if states and job.state not in states:
                continue
            if where.job is not None and job.job != where.job:
                continue
            if where.queue is not None and job.queue != where.queue:
                continue
            if where.key is not None and job.key != where.key:
                continue
            if where.since is not None and job.created_at < where.since:
                continue
            found.append(job)
            if limit is not None and len(found) >= limit:
                break
        return found

    def _ids(self, key: str, descending: bool) -> Iterator[int]:
        """The ids in an id-scored index, in order, a page at a time."""
        cursor: int | None = None
        while True:
            with self._guard():
                if descending:
                    top = "+inf" if cursor is None else f"({cursor}"
                    members = self._client.zrevrangebyscore(key, top, "-inf", start=0, num=_PAGE)
                else:
                    bottom = "-inf" if cursor is None else f"({cursor}"
                    members = self._client.zrangebyscore(key, bottom, "+inf", start=0, num=_PAGE)
            for member in members:
                yield int(member)
            if len(members) < _PAGE:
                return
            cursor = int(members[-1])

    def queue_counts(self, now: float) -> list[QueueCounts]:
        with self._guard():
            rows = self._run("queue_counts", _f(now))
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

    # -- controlling -----------------------------------------------------------------------

    def cancel(self, job_ids: Sequence[int], now: float) -> dict[int, State | None]:
        if not job_ids:
            return {}
        with self._guard():
            before = self._run("cancel", _f(now), *[str(i) for i in job_ids])
        result: dict[int, State | None] = {}
        for job_id, state in zip(job_ids, before, strict=True):
            result[job_id] = State(state) if state else None
        return result

    def set_paused(self, queue: str, paused: bool) -> None:
        with self._guard():
            pipe = self._client.pipeline(transaction=True)
            pipe.sadd(self._key("queues"), queue)
            if paused:
                pipe.sadd(self._key("paused"), queue)
            else:
                pipe.srem(self._key("paused"), queue)
                pipe.publish(self._key("wake"), "w")
            pipe.execute()

    def dead_retry(self, job_ids: Sequence[int] | None, job: str | None, now: float) -> list[int]:
        if job_ids is not None and not job_ids:
            return []
        ids = [] if job_ids is None else [str(i) for i in dict.fromkeys(job_ids)]
        with self._guard():
            moved = self._run("dead_retry", _f(now), job or "", *ids)
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
                **({} if finished_before is None else {"before": _f(finished_before)}),
                **({} if job is None else {"job": job}),
            },
            ensure_ascii=False,
        )
        targets = [] if ids is None else [str(i) for i in ids]
        with self._guard():
            return list(self._run("delete", where, *targets))

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
    ) -> FireRecord | None:
        header = _strings(
            schedule=schedule,
            fire_time=_f(fire_time),
            now=_f(now),
            overlap=overlap,
            manual="1" if manual else "0",
            reason=reason,
            fence=None if manual else self._fence,
        )
        args = [header] if job is None else [header, _new_job(job, now)]
        with self._guard():
            row = self._run("record_fire", *args)
        if row is None:
            return None
        status, job_id, why = row
        return FireRecord(
            schedule, fire_time, status, int(job_id) if job_id else None, why or None, manual, now
        )

    def promote_pending(self, schedule: str, job: NewJob, now: float) -> FireRecord | None:
        header = _strings(schedule=schedule, now=_f(now), fence=self._fence)
        with self._guard():
            row = self._run("promote_pending", header, _new_job(replace(job, fire_time=0.0), now))
        if row is None:
            return None
        fire_time, job_id, manual = row
        return FireRecord(
            schedule, float(fire_time), "enqueued", int(job_id), None, manual == "1", now
        )

    def last_fire_time(self, schedule: str) -> float | None:
        with self._guard():
            value = self._client.get(self._key("last_planned", schedule))
        return None if value is None else float(value)

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

    def plan_start(self, schedule: str, now: float) -> float:
        key = self._key("sched_planned")
        with self._guard():
            self._client.hsetnx(key, schedule, repr(now))  # the first planner wins
            value = self._client.hget(key, schedule)
        return float(value) if value is not None else now

    def scheduler_lock(self) -> LeaderLock:
        return RedisLeaderLock(self, self._where.leader_lease)

    # -- operations ------------------------------------------------------------------------

    def finished_jobs(
        self,
        states: Sequence[State],
        *,
        job: str | None = None,
        finished_after: float | None = None,
        limit: int | None = None,
    ) -> list[Job]:
        final = [s for s in dict.fromkeys(states) if s in FINAL_STATES]
        if limit is not None and limit < 0:
            limit = None  # as SQL's LIMIT -1
        if not final or limit == 0:
            return []
        low = "-inf" if finished_after is None else _f(finished_after)
        # Newest first: finished_at descending, then id descending (as SQLite's index).
        streams = [self._finished(self._key("done", s.value), low) for s in final]
        entries = heapq.merge(*streams, reverse=True)
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

    def _finished(self, key: str, low: str) -> Iterator[tuple[float, int]]:
        offset = 0
        while True:
            with self._guard():
                page = self._client.zrevrangebyscore(
                    key, "+inf", low, start=offset, num=_PAGE, withscores=True
                )
            for member, score in page:
                yield float(score), int(member)
            if len(page) < _PAGE:
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
        if ids is None:
            top = "+inf" if finished_before is None else f"({_f(finished_before)}"
            with self._guard():
                pipe = self._client.pipeline(transaction=False)
                for state in sorted(final):
                    pipe.zrangebyscore(self._key("done", state), "-inf", top)
                candidates = sorted(int(m) for members in pipe.execute() for m in members)
            if job is None:
                return candidates
            wanted = candidates
        else:
            wanted = list(dict.fromkeys(ids))
        found: list[int] = []
        for start in range(0, len(wanted), _PAGE):
            chunk = wanted[start : start + _PAGE]
            with self._guard():
                pipe = self._client.pipeline(transaction=False)
                for job_id in chunk:
                    pipe.hmget(self._key("job", str(job_id)), "state", "finished_at", "job")
                rows = pipe.execute()
            for job_id, (state, finished_at, name) in zip(chunk, rows, strict=True):
                if state not in final:
                    continue
                if finished_before is not None and (
                    finished_at is None or float(finished_at) >= finished_before
                ):
                    continue
                if job is not None and name != job:
                    continue
                found.append(job_id)
        return found

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
            }
        )
        with self._guard():
            pipe = self._client.pipeline(transaction=True)
            pipe.hset(self._key("workers"), info.id, record)
            pipe.hset(self._key("heartbeats"), info.id, _f(info.heartbeat_at))
            pipe.execute()

    def heartbeat(self, worker: str, now: float) -> None:
        with self._guard():
            self._run("heartbeat", worker, _f(now))

    def unregister_worker(self, worker: str) -> None:
        with self._guard():
            pipe = self._client.pipeline(transaction=True)
            pipe.hdel(self._key("workers"), worker)
            pipe.hdel(self._key("heartbeats"), worker)
            pipe.execute()

    def workers(self) -> list[WorkerInfo]:
        with self._guard():
            pipe = self._client.pipeline(transaction=False)
            pipe.hgetall(self._key("workers"))
            pipe.hgetall(self._key("heartbeats"))
            records, beats = pipe.execute()
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
                )
            )
        return sorted(found, key=lambda w: w.started_at)

    # -- statistics ------------------------------------------------------------------------

    def event_counts(self, since: float | None) -> dict[tuple[str, str, str], int]:
        hour = -1 if since is None else int(since // 3600) * 3600
        with self._guard():
            hours = self._client.zrangebyscore(self._key("stat_hours"), hour, "+inf")
            pipe = self._client.pipeline(transaction=False)
            for h in hours:
                pipe.hgetall(self._key("stats", h))
            tables = pipe.execute()
        counts: dict[tuple[str, str, str], int] = {}
        for table in tables:
            for field, n in table.items():
                queue, job, event = field.split(_SEP)
                counts[(queue, job, event)] = counts.get((queue, job, event), 0) + int(n)
        return counts

    def histograms(self) -> list[Histogram]:
        with self._guard():
            pipe = self._client.pipeline(transaction=False)
            pipe.hgetall(self._key("hist"))
            pipe.hgetall(self._key("hist_count"))
            pipe.hgetall(self._key("hist_sum"))
            buckets, counts, sums = pipe.execute()
        found: dict[tuple[str, str, str], dict[int, int]] = {}
        for field, n in buckets.items():
            kind, queue, job, index = field.split(_SEP)
            found.setdefault((kind, queue, job), {})[int(index)] = int(n)
        result = []
        for (kind, queue, job), by_index in sorted(found.items()):
            base = _SEP.join((kind, queue, job))
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

    def durations(self, since: float) -> dict[tuple[str, str], tuple[list[float], list[float]]]:
        found: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        with self._guard():
            members = self._client.zrangebyscore(self._key("att_start"), _f(since), "+inf")
        for start in range(0, len(members), _PAGE):
            chunk = [m.split(":") for m in members[start : start + _PAGE]]
            with self._guard():
                pipe = self._client.pipeline(transaction=False)
                for padded, run in chunk:
                    job_id = str(int(padded))
                    attempt_key = self._key("att", job_id, run)
                    pipe.hmget(attempt_key, "due_at", "started_at", "finished_at")
                    pipe.hmget(self._key("job", job_id), "queue", "job")
                rows = pipe.execute()
            for i in range(0, len(rows), 2):
                (due, started, finished), (queue, job) = rows[i], rows[i + 1]
                if started is None or queue is None:
                    continue
                runs, waits = found.setdefault((queue, job), ([], []))
                if finished is not None:
                    runs.append(max(0.0, float(finished) - float(started)))
                if due is not None:  # from when the job was due: its delay is no wait
                    waits.append(max(0.0, float(started) - float(due)))
        return found

    def pending_counts(self) -> dict[tuple[str, str], int]:
        with self._guard():
            table = self._client.hgetall(self._key("pending"))
        counts: dict[tuple[str, str], int] = {}
        for field, n in table.items():
            if int(n) > 0:
                queue, job = field.split(_SEP)
                counts[(queue, job)] = int(n)
        return counts

    # -- the server ------------------------------------------------------------------------

    def warnings(self) -> list[str]:
        """What the server's persistence settings mean for the jobs (see the README)."""
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
        if not (config.get("save") or "").strip():
            return [
                f"{self.location}: the Redis server has persistence off (appendonly no, no "
                "save points): a restart of the server loses every job; set appendonly yes"
            ]
        return [
            f"{self.location}: the Redis server keeps only RDB snapshots (appendonly no): a "
            "crash of the server loses the changes since the last snapshot; set appendonly yes"
        ]


# ---------------------------------------------------------------------------------------------
# Wake-ups


class _PubSubListener:
    """Wake-ups through the namespace's pub/sub channel, behind a pipe that select() can
    wait on. A thread blocks on the subscription (no polling) and writes a byte for each
    message; it reconnects after a lost connection and then wakes the worker once, since
    a message may have been missed meanwhile. The pipe never changes, whatever the
    connection does."""

    def __init__(self, client: Any, channel: str) -> None:
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            self._pubsub.subscribe(channel)
        except BaseException:
            self._pubsub.close()
            raise
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.control_pending = False
        self._closed = False
        self._thread = threading.Thread(target=self._pump, name="jobctl-wake", daemon=True)
        self._thread.start()

    def fileno(self) -> int:
        return self._read

    def drain(self) -> None:
        """Empty the pipe; remember whether a control message (a cancel) came."""
        while True:
            try:
                data = os.read(self._read, 4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not data:
                return
            if b"c" in data:
                self.control_pending = True

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(Exception):
            self._pubsub.close()
        self._thread.join(timeout=1.0)
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _pump(self) -> None:
        delay = 0.1
        while not self._closed:
            try:
                message = self._pubsub.get_message(timeout=None)
            except Exception:
                if self._closed:
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                self._signal(b"w")
                continue
            delay = 0.1
            if message is not None and message.get("type") == "message":
                self._signal(b"c" if message.get("data") == "c" else b"w")

    def _signal(self, byte: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self._write, byte)


# ---------------------------------------------------------------------------------------------
# Cron leadership


class RedisLeaderLock:
    """The cron leader lease: a key set with NX and an expiry, whose value is a fencing
    token, renewed by a background thread every third of the lease. A leader that cannot
    renew in time (its host stalled, the network split) stops counting itself as leader
    before the key can expire, and the store refuses its fires by the token; a standby
    takes over within one lease of the leader's death."""

    def __init__(self, store: RedisStore, lease: float) -> None:
        self._store = store
        self._lease = lease
        self._token: str | None = None
        self._valid_until = 0.0
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if self.held():
                return True
            sent = time.monotonic()
            pause = _STANDBY_POLL
            try:
                token = self._store._run("leader_acquire", os.urandom(8).hex(), self._ms())
            except redis.exceptions.RedisError:
                token = None  # the server is unreachable: keep standing by
            if isinstance(token, int):
                # Another daemon leads: try again the moment its lease would run out.
                pause = min(pause, max(0.002, token / 1000 + 0.002))
                token = None
            if token:
                with self._mutex:
                    self._token = str(token)
                    self._valid_until = sent + self._lease
                    self._store._fence = self._token
                self._stop = threading.Event()
                self._thread = threading.Thread(
                    target=self._renew, args=(str(token), self._stop), daemon=True
                )
                self._thread.name = "jobctl-leader"
                self._thread.start()
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(remaining, pause))

    def held(self) -> bool:
        with self._mutex:
            return self._token is not None and time.monotonic() < self._valid_until

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        with self._mutex:
            token, self._token = self._token, None
            self._store._fence = None
        if token is not None:
            with contextlib.suppress(redis.exceptions.RedisError):
                self._store._run("leader_release", token)

    def _ms(self) -> str:
        return str(max(1, int(self._lease * 1000)))

    def _renew(self, token: str, stop: threading.Event) -> None:
        while not stop.wait(self._lease / 3):
            sent = time.monotonic()
            try:
                kept: int | None = int(self._store._run("leader_renew", token, self._ms()))
            except redis.exceptions.RedisError:
                kept = None
            with self._mutex:
                if self._token != token:
                    return
                if kept == 1:
                    self._valid_until = sent + self._lease
                elif kept == 0 or time.monotonic() >= self._valid_until:
                    self._token = None  # lost: another daemon leads now, or may soon
                    self._store._fence = None
                    return

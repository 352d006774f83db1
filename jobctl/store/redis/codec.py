"""Constants, encodings between models and Redis hashes, and the Lua sources."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import cast

from jobctl.models import (
    Attempt,
    Job,
    NewJob,
    Outcome,
    State,
)
from jobctl.payload import compact_json

SCHEMA_VERSION = 2  # 2: the namespace's due set and ready_queues (see upgrade.lua)
MIN_SERVER = (7, 0)
DEFAULT_NAMESPACE = "default"
DEFAULT_LEADER_LEASE = 5.0  # seconds: how long a standby cron daemon waits for a dead leader
TAIL_BYTES = 16 * 1024  # the end of each attempt's output kept in Redis, readable anywhere
STANDBY_POLL = 0.1  # seconds between a standby's tries for the leader lease
PAGE = 500
SEP = "\0"

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
    "after",
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
READ_ONLY = frozenset({"queue_counts", "last_runs", "last_successes"})
# Scripts that free memory, or change a job in place: a server at its maxmemory (whose
# `noeviction` refuses every write) still runs them, so that `prune`, `dead purge` and
# `cancel` are the way out that `health` points to.
FREES_MEMORY = frozenset({"delete", "cancel", "prune_fires", "drop_pending", "forget_fires"})


# ---------------------------------------------------------------------------------------------
# Values


def num(value: float) -> str:
    """A time for the scripts: repr round-trips a float exactly."""
    return repr(float(value))


def opt_float(value: str | None) -> float | None:
    return None if value is None else float(value)


def opt_int(value: str | None) -> int | None:
    return None if value is None else int(value)


def job_from_hash(h: Mapping[str, str | None]) -> Job:
    command, after = h.get("command"), h.get("after")
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
        started_at=opt_float(h.get("started_at")),
        finished_at=opt_float(h.get("finished_at")),
        exit_code=opt_int(h.get("exit_code")),
        error=h.get("error"),
        worker=h.get("worker"),
        lease_expires_at=opt_float(h.get("lease_expires_at")),
        command=json.loads(command) if command else None,
        cwd=h.get("cwd"),
        schedule=h.get("schedule"),
        fire_time=opt_float(h.get("fire_time")),
        after=tuple(int(i) for i in json.loads(after)) if after else (),
    )


def after_json(after: Sequence[int]) -> str | None:
    """The ids a job runs after, as its `after` field holds them (None: it runs after none)."""
    return compact_json([int(i) for i in after]) if after else None


def flat_job(row: Sequence[str | None]) -> dict[str, str | None]:
    return dict(zip(JOB_FIELDS, row, strict=True))


def attempt_from_hash(job_id: int, run: int, a: Mapping[str, str]) -> Attempt:
    outcome = a.get("outcome")
    return Attempt(
        job_id=job_id,
        attempt=int(a["attempt"]),
        worker=a["worker"],
        started_at=float(a["started_at"]),
        finished_at=opt_float(a.get("finished_at")),
        outcome=Outcome(outcome) if outcome else None,
        exit_code=opt_int(a.get("exit_code")),
        signal=opt_int(a.get("signal")),
        error=a.get("error"),
        log_path=a.get("log_path"),
        run=run,
        host=a.get("host") or None,
    )


def new_job_json(spec: NewJob, now: float) -> str:
    """One job for the enqueue script: a JSON object of strings (absent: None)."""
    run_at = now if spec.run_at is None else spec.run_at
    fields: dict[str, str] = {
        "job": spec.job,
        "queue": spec.queue,
        "state": (State.SCHEDULED if run_at > now else State.QUEUED).value,
        "priority": str(int(spec.priority)),
        "max_attempts": str(int(spec.max_attempts)),
        "payload": spec.payload_json or compact_json(spec.payload),
        "run_at": num(run_at),
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
        fields["fire_time"] = num(spec.fire_time)
    if spec.after:
        fields["after"] = cast(str, after_json(spec.after))
    return compact_json(fields)


def batch_json(jobs: Sequence[NewJob], now: float) -> str:
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
                spec.payload_json or compact_json(spec.payload),
                repr(float(run_at)),
                spec.key,
                None if spec.command is None else json.dumps(spec.command),
                spec.cwd,
                spec.schedule,
                None if spec.fire_time is None else repr(float(spec.fire_time)),
                after_json(spec.after) if spec.after else None,
                compact_json([i + 1 for i in spec.after_lines]) if spec.after_lines else None,
            )
        )
    return compact_json(rows)


def strings_json(**values: object) -> str:
    """A JSON object of strings for a script, leaving out the values that are None."""
    return json.dumps(
        {k: v if isinstance(v, str) else str(v) for k, v in values.items() if v is not None},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def output_tail(path: str | None) -> bytes:
    """The end of an attempt's log file, as the worker that ran it sees it, from a line's
    start (or said cut) as `logs --lines` and `dead show` print a file's."""
    from jobctl.logfiles import tail_from_line_start

    return tail_from_line_start(path, TAIL_BYTES)


# Scripts that run others as functions of their arguments (`NAME_script(ARGV)`), each
# script's text unchanged inside one: its ARGV is then that function's parameter.
RUNS_SCRIPTS = {"finish_and_claim": ("finish", "claim")}


@cache
def script_source(name: str) -> str:
    folder = resources.files("jobctl.store") / "lua"
    lib = (folder / "lib.lua").read_text(encoding="utf-8")
    body = (folder / f"{name}.lua").read_text(encoding="utf-8")
    for inner in RUNS_SCRIPTS.get(name, ()):
        text = (folder / f"{inner}.lua").read_text(encoding="utf-8")
        lib += f"\nlocal function {inner}_script(ARGV)\n{text}\nend\n"
    flags = (
        " flags=no-writes"
        if name in READ_ONLY
        else " flags=allow-oom"
        if name in FREES_MEMORY
        else ""
    )
    return f"#!lua{flags}\n{lib}\n{body}"

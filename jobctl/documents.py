"""What jobctl prints for scripts: the JSON documents of `--json`, one shape per kind, the
fields named as `show` names them (documented in the README and pinned by tests: add
fields, never rename or drop one).

`print_json` always writes strict UTF-8 with the data unchanged: what could drive a
terminal is escaped (see json_text), and stored text is never cleaned here as the human
views clean it (jobctl.render).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jobctl.models import ALL_STATES, Job, Rate
from jobctl.timefmt import elapsed, iso

if TYPE_CHECKING:  # (no import of `jobctl enqueue --json`'s: see jobctl.records)
    from jobctl.records import Attempt, FireRecord, WorkerInfo
    from jobctl.store.base import QueueCounts


def json_text(document: Any) -> str:
    """A JSON document as text that encodes to strict UTF-8: non-ASCII text stays readable;
    what could drive a terminal (DEL, C1, bidi and zero-width characters) and lone
    surrogates are written as \\u escapes, which decode to the same data."""
    from jobctl.text import json_safe

    return json_safe(_indented(document, "\n"))


def _indented(value: Any, newline: str) -> str:
    """json.dumps(value, ensure_ascii=False, indent=2), character for character, at under
    half its cost: given an indent, json encodes in Python, a generator for each container
    and a dozen checks for each value (20 us of a job's 60 in `list --json --limit 0`, 7 to 9
    us this way). `newline` is a line break and the indent of the value's own level."""
    if isinstance(value, str):
        return _quoted(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float_text(value)
    inner = newline + "  "
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = [_indented(item, inner) for item in value]
        return "[" + inner + ("," + inner).join(items) + newline + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        fields = [
            # Strings, nulls and whole numbers, most of a document's values, written here.
            (_quoted(k) if type(k) is str else _quoted(_key_text(k)))
            + ": "
            + (
                _quoted(v)
                if type(v) is str
                else "null"
                if v is None
                else int.__repr__(v)
                if type(v) is int
                else _indented(v, inner)
            )
            for k, v in value.items()
        ]
        return "{" + inner + ("," + inner).join(fields) + newline + "}"
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


_quoted = json.encoder.encode_basestring  # (_json's C function: json.dumps's own)


def _float_text(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _key_text(key: object) -> str:
    """A key as json.dumps writes it: a string, else a number, true, false or null."""
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _float_text(key)
    if key is True or key is False or key is None:
        return _indented(key, "")
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def print_json(document: Any) -> None:
    """Write a document for scripts: UTF-8 bytes, whatever the locale says stdout is."""
    data = (json_text(document) + "\n").encode("utf-8")
    out = getattr(sys.stdout, "buffer", None)
    if out is None:  # a text-only stream (an embedding program): it takes the same text
        sys.stdout.write(data.decode("utf-8"))
        return
    sys.stdout.flush()  # what was written as text comes first
    out.write(data)


def print_json_array(documents: Iterable[Any]) -> int:
    """Write a JSON array as its documents come, in print_json's text (`list --limit 0
    --json` of a million jobs held every one of them, 1.7 GB); returns how many there were."""
    out = getattr(sys.stdout, "buffer", None)
    write = sys.stdout.write if out is None else (lambda text: out.write(text.encode("utf-8")))
    sys.stdout.flush()
    count = 0
    for document in documents:
        # An array of one, less its brackets: the document indented as an element.
        write(("[\n" if not count else ",\n") + json_text([document])[2:-2])
        count += 1
    write("\n]\n" if count else "[]\n")
    return count


# The fields of job_document, in its order: those a document about no job has, all null.
JOB_DOCUMENT_FIELDS = (
    "id", "job", "queue", "state", "priority", "attempts", "max_attempts", "payload", "key",
    "command", "cwd", "run_at", "created_at", "started_at", "finished_at", "exit_code", "error",
    "worker", "schedule", "fire_time", "after",
)  # fmt: skip


def job_document(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "job": job.job,
        "queue": job.queue,
        "state": job.state.value,
        "priority": job.priority,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "payload": job.payload,
        "key": job.key,
        "command": job.command,
        "cwd": job.cwd,
        "run_at": iso(job.run_at),
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "exit_code": job.exit_code,
        "error": job.error,
        "worker": job.worker,
        "schedule": job.schedule,
        "fire_time": iso(job.fire_time),
        "after": list(job.after),
    }


def outcome_document(job_id: int, job: Job | None, **outcome: Any) -> dict[str, Any]:
    """A job a command changed or was asked about (`cancel`, `retry`, `dead retry`...), as it
    is after the call, plus what became of it (`cancelled`, `reason`...): a script reads the
    job's fields under the names `show` gives them. An id that names no job (none, or one
    deleted meanwhile) keeps `id`, with `state` null."""
    found = job_document(job) if job is not None else {"id": job_id, "state": None}
    return found | outcome


def fire_document(
    schedule: str, record: FireRecord | None, job: Job | None, active: int | None
) -> dict[str, Any]:
    """`schedule run --json`: the job as `enqueue --json` gives it, plus `created`, what
    became of the fire (`status`: enqueued, skipped or pending, and its `reason`) and the
    run still `active` that held it up. Under overlap = "skip" that run stands for this one,
    as a job holding an `enqueue --key` does; a run held, or skipped for one held already
    (overlap = "queue"), has no job yet: every field of a job is null (the shape stays)."""
    created = record is not None and record.status == "enqueued"
    found = job_document(job) if job is not None else dict.fromkeys(JOB_DOCUMENT_FIELDS)
    return found | {
        "schedule": schedule,  # (a held run's document names it too)
        "created": created,
        "status": record.status if record is not None else None,
        "reason": record.reason if record is not None else None,
        "active": active,
    }


def attempt_document(attempt: Attempt) -> dict[str, Any]:
    """`duration_s` is null while it runs, and when the clock stepped back during it."""
    duration = None
    if attempt.finished_at is not None:
        duration = _rounded(elapsed(attempt.started_at, attempt.finished_at))
    return {
        "run": attempt.run,
        "attempt": attempt.attempt,
        "worker": attempt.worker,
        "started_at": iso(attempt.started_at),
        "finished_at": iso(attempt.finished_at),
        "duration_s": duration,
        "outcome": attempt.outcome.value if attempt.outcome else None,
        "exit_code": attempt.exit_code,
        "signal": attempt.signal,
        "error": attempt.error,
        "log_path": attempt.log_path or None,  # None too when it wrote nothing
        "host": attempt.host,
    }


NO_LIMITS: Mapping[str, int] = {}  # no queue has a max_running
NO_RATES: Mapping[str, Rate] = {}  # no queue has a rate
NOT_HELD: Mapping[str, float] = {}  # no queue's rate holds its ready jobs back


def status_document(
    queues: Sequence[QueueCounts],
    running: Sequence[Job],
    workers: Sequence[WorkerInfo],
    stale_workers: int,
    now: float,
    limits: Mapping[str, int] = NO_LIMITS,
    stopping: Mapping[str, int] = NO_LIMITS,
    ending: Sequence[Job] = (),
    *,
    left_out: int = 0,
    rates: Mapping[str, Rate] = NO_RATES,
    held: Mapping[str, float] = NOT_HELD,
) -> dict[str, Any]:
    """`ending`: the jobs cancelled while running whose processes have yet to stop; they
    are in "stopping", beside "running", whose jobs are those running still. `left_out`:
    how many running jobs `running` does not list, past its first (by id) ones, so that
    a script is told its list is cut. `rates`: the config's [queues.NAME] rate, as written
    there: a backlog a rate holds is no stuck worker. `held`: for a queue whose rate holds
    its ready jobs back now, when the window lets the next start in."""
    return {
        "generated_at": iso(now),
        "queues": [
            {
                "queue": q.queue,
                "paused": q.paused,
                "max_running": limits.get(q.queue),
                "rate": str(rates[q.queue]) if q.queue in rates else None,
                "held_until": iso(held.get(q.queue)),
                "stopping": stopping.get(q.queue, 0),
                "counts": {s.value: q.counts.get(s, 0) for s in ALL_STATES},
                "oldest_ready_at": iso(q.oldest_ready_at),
                "oldest_ready_age_s": _age(q.oldest_ready_at, now),
            }
            for q in queues
        ],
        "running": [_running_entry(job, now, workers) for job in running],
        "running_left_out": left_out,
        "stopping": [
            _running_entry(job, now, workers) | {"cancelled_at": iso(job.finished_at)}
            for job in ending
        ],
        "workers": [
            {
                "id": w.id,
                "kind": w.kind,
                "host": w.host,
                "pid": w.pid,
                "queues": list(w.queues),
                "concurrency": w.concurrency,
                "started_at": iso(w.started_at),
                "heartbeat_at": iso(w.heartbeat_at),
                "heartbeat_age_s": _age(w.heartbeat_at, now),
                # Draining after a stop signal: it takes no job, and its running ones are
                # stopped and queued again at stopping_until, the end of its shutdown timeout.
                "stopping": w.stopping_until is not None,
                "stopping_until": iso(w.stopping_until),
            }
            for w in workers
        ],
        "stale_workers": stale_workers,
    }


def _running_entry(job: Job, now: float, alive: Sequence[WorkerInfo]) -> dict[str, Any]:
    """A job that holds a worker's lease. `command` and `cwd`, an `--exec` job's (null for a
    job type's), as the piped table's COMMAND gives it; `worker_gone`: its worker is not
    among the `alive` ones, and the job is queued again (or dead) when its lease ends,
    `lease_expires_at`."""
    return {
        "id": job.id,
        "job": job.job,
        "queue": job.queue,
        "worker": job.worker,
        "attempt": job.attempts,
        "max_attempts": job.max_attempts,
        "started_at": iso(job.started_at),
        "running_s": _age(job.started_at, now),
        "command": job.command,
        "cwd": job.cwd,
        "worker_gone": worker_gone(job, alive),
        "lease_expires_at": iso(job.lease_expires_at),
    }


def worker_gone(job: Job, alive: Sequence[WorkerInfo]) -> bool:
    """Whether a job holds the lease of a worker that is not among the `alive` ones (no
    recent heartbeat, or its process gone here): nothing runs it any more, yet it stays
    running until its lease ends."""
    return job.worker is not None and all(w.id != job.worker for w in alive)


def _age(ts: float | None, now: float) -> float | None:
    return None if ts is None else _rounded(elapsed(ts, now))


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)

"""Helpers shared by the observability tests (test_observe_*.py); this module holds no tests.

Long-running commands write their event lines to a file (never to a pipe nobody drains), so a
test can poll what a worker or daemon said while it runs. Conditions that need a moment in
the past (an old heartbeat, a job that has waited ten minutes) are written through the real
store with old timestamps instead of sleeping.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import JOBCTL, Env
from prometheus_client.parser import text_string_to_metric_families

from jobctl.models import AttemptResult, NewJob, Outcome, WorkerInfo
from jobctl.store import Finish
from jobctl.store.sqlite import SqliteStore

_counter = itertools.count(1)

# One text event line: "2026-06-01T12:34:56.789+02:00 [LEVEL ]event  fields..." (in a file
# or a pipe; "12:34:56.789" at a terminal).
TEXT_LINE = re.compile(
    r"^(?P<time>(?:\d{4}-\d\d-\d\dT)?\d{2}:\d{2}:\d{2}\.\d{3}(?:[+-]\d\d:\d\d)?)"
    r" (?:(?P<level>DEBUG|WARNING|ERROR) )?"
    r"(?P<event>[a-z_]+\.[a-z_]+) *(?P<rest>.*)$"
)
_TEXT_FIELD = re.compile(
    r'#(?P<id>\d+)|in (?P<dur>\S+)|(?P<qk>\w+)="(?P<qv>[^"]*)"|(?P<k>\w+)=(?P<v>\S+)|(?P<bare>\S+)'
)


# ---------------------------------------------------------------------------------------------
# The store, opened straight from the test's database file


@contextmanager
def opened(env: Env) -> Iterator[SqliteStore]:
    store = SqliteStore(env.db)
    try:
        yield store
    finally:
        store.close()


def enqueue_at(env: Env, when: float, *jobs: NewJob) -> list[int]:
    """Enqueue as if it happened at `when` (a job due then has been ready ever since)."""
    with opened(env) as store:
        return [r.id for r in store.enqueue(list(jobs), when)]


def finish_at(env: Env, job: str, started: float, run_time: float, outcome: Outcome) -> int:
    """A job enqueued, run and ended in the past, exactly as a worker would record it."""
    (job_id,) = enqueue_at(env, started, NewJob(job=job, payload={}, max_attempts=1))
    with opened(env) as store:
        (claim,) = store.claim("past-worker", None, started, 60.0)
        assert claim.job.id == job_id
        result = AttemptResult(
            outcome,
            exit_code=0 if outcome == Outcome.SUCCEEDED else 1,
            finished_at=started + run_time,
        )
        store.finish([Finish(claim, result, None)], started + run_time)
    return job_id


def register(
    env: Env, kind: str, age: float, interval: float = 10.0, queues: tuple[str, ...] = ("*",)
) -> str:
    """A worker (of `queues`) or cron daemon whose last heartbeat was `age` seconds ago."""
    now = time.time()
    name = f"{kind}-{next(_counter)}"
    with opened(env) as store:
        store.register_worker(
            WorkerInfo(
                id=name,
                host="elsewhere",
                pid=999999,
                queues=queues,
                concurrency=1,
                started_at=now - age - 60,
                heartbeat_at=now - age,
                kind=kind,
                interval=interval,
            )
        )
    return name


# ---------------------------------------------------------------------------------------------
# Long-running commands with their stderr in a file


@dataclass
class Running:
    proc: subprocess.Popen[str]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def lines(self) -> list[str]:
        """Complete lines only: the last one may still be being written."""
        text = self.text()
        return text.split("\n")[:-1]

    def events(self) -> list[dict[str, Any]]:
        """Every line, parsed as JSON (fails on a line that is not one object)."""
        records = []
        for line in self.lines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"not a JSON event line: {line!r}") from None
        return records

    def wait_event(
        self, env: Env, event: str, timeout: float = 30.0, **match: Any
    ) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            for record in self.events():
                if record["event"] == event and all(record.get(k) == v for k, v in match.items()):
                    found.append(record)
                    return True
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"exited {self.proc.returncode} before {event}:\n{self.text()}"
                )
            return False

        env.wait_for(seen, timeout=timeout)
        return found[0]

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def start_logged(
    env: Env,
    *args: str,
    log_format: str = "json",
    environ: dict[str, str] | None = None,
) -> Running:
    """`jobctl --log-format FMT [--config C] --db D ARGS...` in the background (with
    `environ`: only `jobctl --log-format FMT ARGS...`, in that environment); stopped at
    teardown."""
    log = env.root / f"events-{next(_counter)}.log"
    where = env.global_args() if environ is None else []
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [*JOBCTL, "--log-format", log_format, *where, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            text=True,
            env=env.env if environ is None else environ,
            cwd=env.root,
            start_new_session=True,
        )
    env.procs.append(proc)
    return Running(proc, log)


def listening(env: Env, running: Running) -> tuple[str, int]:
    """The address a --metrics-addr server announced in its `metrics.listening` event."""
    record = running.wait_event(env, "metrics.listening")
    host, _, port = str(record["address"]).rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)


# ---------------------------------------------------------------------------------------------
# Text event lines


def text_fields(line: str) -> dict[str, str]:
    """A text event line as strings: time, level, event, job_id, job, duration and key=value."""
    match = TEXT_LINE.match(line)
    assert match is not None, f"not a text event line: {line!r}"
    fields = {
        "time": match["time"],
        "level": (match["level"] or "info").lower(),
        "event": match["event"],
    }
    for token in _TEXT_FIELD.finditer(match["rest"]):
        if token["id"] is not None:
            fields["job_id"] = token["id"]
        elif token["dur"] is not None:
            fields["duration"] = token["dur"]
        elif token["qk"] is not None:
            fields[token["qk"]] = token["qv"]
        elif token["k"] is not None:
            fields[token["k"]] = token["v"]
        else:
            assert "job" not in fields, f"two bare words in {line!r}"
            fields["job"] = token["bare"]
    return fields


def parsed_events(stderr: str, log_format: str) -> list[dict[str, str]]:
    """Every stderr line as one event, in either format, with values as strings."""
    out = []
    for line in stderr.splitlines():
        if log_format == "json":
            record = json.loads(line)
            assert isinstance(record, dict), line
            out.append({k: v if isinstance(v, str) else json.dumps(v) for k, v in record.items()})
        else:
            out.append(text_fields(line))
    return out


# ---------------------------------------------------------------------------------------------
# HTTP and the Prometheus exposition


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_get(host: str, port: int, path: str, timeout: float = 5.0) -> tuple[int, str, str]:
    """(status, content type, body); fails if no answer comes within `timeout`."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read().decode()
    finally:
        conn.close()


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_exposition(text: str) -> tuple[dict[str, str], Samples]:
    """Parse with the official parser: ({family: type}, {(sample, labels): value}).

    Also holds the exposition to what the parser lets pass: one HELP and TYPE per family,
    no sample twice."""
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        assert family.name not in types, f"family {family.name} appears twice"
        types[family.name] = family.type
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"duplicate sample {key}"
            samples[key] = sample.value
    type_lines = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(type_lines) == len(set(type_lines)), type_lines
    return types, samples


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (n, labels), value in samples.items() if n == name}


# ---------------------------------------------------------------------------------------------
# Processes


def process_gone(pid: int) -> bool:
    """No such process, or only its zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text else None


def kill_if_alive(pid: int | None) -> None:
    """Clean up a process a test made (by its id)."""
    if pid is not None and not process_gone(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

"""Helpers shared by the operations tests (test_ops_*.py); this module holds no tests.

Conditions are read straight from the test's SQLite file through the real store (cheaper
than a `jobctl show` subprocess per poll); everything under test still runs as the CLI.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import Env

from jobctl.models import Attempt, Job
from jobctl.store.sqlite import SqliteStore


@contextmanager
def opened(env: Env) -> Iterator[SqliteStore]:
    store = SqliteStore(env.db, create=False)
    try:
        yield store
    finally:
        store.close()


def job(env: Env, job_id: int) -> Job | None:
    with opened(env) as store:
        return store.get(job_id)


def attempts(env: Env, job_id: int) -> list[Attempt]:
    with opened(env) as store:
        return store.attempts(job_id)


def wait_state(env: Env, job_id: int, *states: str, timeout: float = 30.0) -> Job:
    """Poll until the job is in one of `states`; returns it."""
    found: list[Job] = []

    def reached() -> bool:
        current = job(env, job_id)
        if current is not None and current.state.value in states:
            found.append(current)
            return True
        return False

    env.wait_for(reached, timeout=timeout)
    return found[0]


def wait_attempt_over(env: Env, job_id: int, timeout: float = 30.0) -> Attempt:
    """Poll until the job's latest attempt has an end recorded (its worker reported)."""
    env.wait_for(
        lambda: bool(attempts(env, job_id)) and attempts(env, job_id)[-1].finished_at is not None,
        timeout=timeout,
    )
    return attempts(env, job_id)[-1]


def start_worker(env: Env, *args: str) -> subprocess.Popen[str]:
    """A background worker (its event lines fill a pipe: keep tests to a few dozen jobs),
    registered when this returns: a wait that starts before it would say that no worker
    serves the queue."""
    from jobctl.store.sqlite import SqliteStore

    proc = env.start("run-worker", *args)

    def registered() -> bool:
        if proc.poll() is not None or "--db" in args:
            return True  # it failed (the test looks at why), or uses a database of its own
        if not env.db.exists():
            return False
        with SqliteStore(env.db, create=False) as store:
            return any(w.pid == proc.pid for w in store.workers())

    env.wait_for(registered)
    return proc


def burst(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return env.run("run-worker", "--burst", *args, check=True)


def dead_jobs(env: Env, count: int, runs_file: Path, ok_file: Path) -> list[int]:
    """`count` dead jobs of type `flaky`: each run appends its id to `runs_file`, says so on
    stdout (so it has a log file), and fails until `ok_file` exists."""
    env.write_config(
        "[jobs.flaky]\n"
        f'command = ["sh", "-c", "echo $JOBCTL_JOB_ID | tee -a {runs_file}; test -e {ok_file}"]\n'
        "max_attempts = 1\n"
    )
    lines = "".join(json.dumps({"job": "flaky"}) + "\n" for _ in range(count))
    ids = [
        int(x) for x in env.run("enqueue", "--batch", "-", input=lines, check=True).stdout.split()
    ]
    burst(env, "--concurrency", "4")
    for job_id in ids:
        current = job(env, job_id)
        assert current is not None and current.state.value == "dead"
    return ids


def runs_of(runs_file: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for line in runs_file.read_text().split():
        counts[int(line)] = counts.get(int(line), 0) + 1
    return counts


def process_gone(pid: int) -> bool:
    """No such process, or only its zombie (nobody may reap an orphan in a container)."""
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

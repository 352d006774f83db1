"""End to end: failures, retries with exponential backoff, dead letters, and `wait`."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from conftest import Env

from jobctl.models import Job
from jobctl.store.sqlite import SqliteStore

CONFIG = """\
[jobs.fail]
command = ["sh", "-c", "echo attempt-$JOBCTL_ATTEMPT went wrong >&2; exit 7"]
max_attempts = 3
backoff = "100ms"

[jobs.ok]
command = ["true"]

[jobs.suicide]
command = ["sh", "-c", "kill -9 $$"]
max_attempts = 1

[jobs.missing]
command = ["/nonexistent/jobctl-test-command", "x"]
max_attempts = 1

[jobs.noisy]
command = ["sh", "-c", "i=0; while [ $i -lt 300 ]; do echo xxxxxxxxxxxxxxxxxxxxx >&2; \
i=$((i+1)); done; echo THE-END >&2; exit 3"]
max_attempts = 1
"""


def timestamp(iso: Any) -> float:
    assert isinstance(iso, str), iso
    moment = datetime.fromisoformat(iso)
    assert moment.tzinfo is not None
    return moment.timestamp()


def stored(env: Env, job_id: int) -> Job:
    """The job as the store holds it, read in this process: what a wait polls for, at the
    cost of a query (a `show` run per poll cost a process each 20 ms)."""
    with SqliteStore(env.db, create=False) as store:
        job = store.get(job_id)
    assert job is not None
    return job


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("jobctl: ")
    return lines[0]


def test_failing_job_retries_with_backoff_then_goes_dead(env: Env) -> None:
    env.write_config(CONFIG)
    job_id = env.enqueue("fail")
    result = env.run("run-worker", "--burst", timeout=60)
    assert result.returncode == 0, result.stderr
    job = env.show(job_id)
    assert job["state"] == "dead"
    assert job["attempts"] == 3
    assert job["max_attempts"] == 3
    assert job["exit_code"] == 7
    assert "exit code 7" in str(job["error"])
    assert "attempt-3 went wrong" in str(job["error"])
    assert job["finished_at"] is not None
    attempts = job["attempts_history"]
    assert isinstance(attempts, list)
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["outcome"] for a in attempts] == ["failed", "failed", "failed"]
    for number, attempt in enumerate(attempts, start=1):
        assert attempt["exit_code"] == 7
        assert f"attempt-{number} went wrong" in attempt["error"]
        assert "exit code 7" in attempt["error"]
    # Backoff: 100ms then 200ms, with jitter taking at most half away (times are to the ms).
    gap1 = timestamp(attempts[1]["started_at"]) - timestamp(attempts[0]["finished_at"])
    gap2 = timestamp(attempts[2]["started_at"]) - timestamp(attempts[1]["finished_at"])
    assert gap1 >= 0.05 - 0.002, gap1
    assert gap2 >= 0.1 - 0.002, gap2
    assert gap1 < 5 and gap2 < 5
    assert "job.dead" in result.stderr

    waited = env.run("wait", str(job_id))
    assert waited.returncode == 1
    line = one_error_line(waited.stderr)
    assert f"job {job_id}" in line
    assert "dead" in line


def test_error_keeps_the_tail_of_stderr(env: Env) -> None:
    env.write_config(CONFIG)
    job_id = env.enqueue("noisy")
    assert env.run("run-worker", "--burst", timeout=60).returncode == 0
    job = env.show(job_id)
    assert job["state"] == "dead"
    error = str(job["error"])
    assert error.startswith("exit code 3: ")
    assert error.endswith("THE-END")
    assert len(error.encode()) < 2200  # the tail only, not all 6.6 kB
    log = job["attempts_history"][0]["log_path"]  # type: ignore[index]
    with open(log, encoding="utf-8") as handle:  # the full stderr is in the log
        text = handle.read()
    assert text.count("xxxxxxxxxxxxxxxxxxxxx") == 300
    assert text.endswith("THE-END\n")


def test_wait_exit_codes(env: Env) -> None:
    env.write_config(CONFIG)
    good = env.enqueue("ok")
    bad = env.enqueue("fail", "--max-attempts", "1")
    assert env.run("run-worker", "--burst", timeout=60).returncode == 0
    assert env.show(bad)["state"] == "dead"

    ok = env.run("wait", str(good))
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr == ""
    assert env.run("wait", str(bad)).returncode == 1
    both = env.run("wait", str(good), str(bad))
    assert both.returncode == 1
    assert f"job {bad}" in one_error_line(both.stderr)


def test_wait_timeout_exits_124(env: Env) -> None:
    env.write_config(CONFIG)
    job_id = env.enqueue("ok")  # nobody runs it
    started = time.monotonic()
    result = env.run("wait", str(job_id), "--timeout", "200ms", timeout=30)
    elapsed = time.monotonic() - started
    assert result.returncode == 124
    assert "timed out" in one_error_line(result.stderr)
    assert elapsed >= 0.2
    assert env.show(job_id)["state"] == "queued"


def test_wait_for_unknown_job_exits_2(env: Env) -> None:
    """Not 1, which says a job waited for ended dead or cancelled."""
    env.write_config(CONFIG)
    env.enqueue("ok")
    result = env.run("wait", "4242", "--timeout", "1s")
    assert result.returncode == 2
    assert "4242" in one_error_line(result.stderr)


def test_death_by_signal_and_missing_command(env: Env) -> None:
    env.write_config(CONFIG)
    killed = env.enqueue("suicide")
    missing = env.enqueue("missing")
    assert env.run("run-worker", "--burst", timeout=60).returncode == 0
    job = env.show(killed)
    assert job["state"] == "dead"
    assert job["exit_code"] == 137
    assert str(job["error"]).startswith("killed by signal 9 (SIGKILL)")
    (attempt,) = job["attempts_history"]  # type: ignore[misc]
    assert attempt["signal"] == 9
    assert attempt["outcome"] == "failed"

    job = env.show(missing)
    assert job["state"] == "dead"
    assert job["exit_code"] == 127
    assert "command not found" in str(job["error"])
    assert "/nonexistent/jobctl-test-command" in str(job["error"])
    (attempt,) = job["attempts_history"]  # type: ignore[misc]
    assert attempt["outcome"] == "error"


def test_a_retry_is_run_on_time_by_another_worker_when_its_own_stops(env: Env) -> None:
    """Idle workers sleep until the first run_at they know of: a retry scheduled by another
    worker, which then stopped (a deploy), waited for their next look, 10 s later."""
    import json
    import signal

    env.write_config(
        '[jobs.f]\ncommand = ["sh", "-c", "test $JOBCTL_ATTEMPT -ge 2"]\n'
        'max_attempts = 2\nbackoff = "2s"\njitter = false\n'
    )
    env.enqueue("f", "--delay", "1h")  # the database, before the workers
    workers = {name: env.start("run-worker", "--worker-name", name) for name in ("a", "b")}
    env.wait_for(lambda: len(_workers(env)) == 2)
    assert len(json.loads(env.run("status", "--json", check=True).stdout)["workers"]) == 2
    job_id = env.enqueue("f")
    env.wait_for(lambda: stored(env, job_id).state == "scheduled", interval=0.02)
    first = env.show(job_id)["attempts_history"][0]["worker"]
    workers[first].send_signal(signal.SIGTERM)
    assert workers[first].wait(timeout=30) == 0
    env.wait_for(lambda: stored(env, job_id).state == "succeeded", timeout=20)
    job = env.show(job_id)
    second = job["attempts_history"][1]
    assert second["worker"] != first
    assert timestamp(second["started_at"]) - timestamp(job["run_at"]) < 1.5


def _workers(env: Env) -> list[object]:
    with SqliteStore(env.db, create=False) as store:
        return list(store.workers())


def test_a_burst_worker_ends_at_once_when_the_retry_it_awaits_is_cancelled(env: Env) -> None:
    """It waited out its next look (lease/3, 10 s): cancelling a scheduled job woke nobody."""
    import subprocess

    env.write_config(
        '[jobs.f]\ncommand = ["false"]\nmax_attempts = 2\nbackoff = "1m"\njitter = false\n'
    )
    job_id = env.enqueue("f")
    burst = env.start("run-worker", "--burst")
    env.wait_for(lambda: stored(env, job_id).state == "scheduled", interval=0.02)
    started = time.monotonic()
    env.run("cancel", str(job_id), check=True)
    try:
        assert burst.wait(timeout=30) == 0
    except subprocess.TimeoutExpired:
        raise AssertionError("the burst worker did not end") from None
    assert time.monotonic() - started < 3

"""on_failure and on_dead: what a hook learns, which hook runs, and that a broken or hanging
hook is logged and killed without blocking or failing the worker.

Hooks write what they see to files; the tests wait for those files and for the worker's
`hook.*` events (JSON lines) instead of sleeping.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from conftest import Env
from test_observe_support import (
    Running,
    enqueue_at,
    kill_if_alive,
    opened,
    process_gone,
    read_pid,
    start_logged,
)

from jobctl.models import NewJob


def _dump_env(out: Path) -> str:
    """A hook (an argv list) that saves its JOBCTL_* environment as EVENT.ATTEMPT.env."""
    script = f'env | grep ^JOBCTL_ | sort > "{out}/$JOBCTL_EVENT.$JOBCTL_ATTEMPT.env"'
    return json.dumps(["sh", "-c", script])


def _read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return dict(pairs)


def _state(env: Env, job_id: int) -> str | None:
    with opened(env) as store:
        job = store.get(job_id)
    return None if job is None else job.state.value


def test_hooks_receive_the_job_in_their_environment(env: Env) -> None:
    out = env.root / "seen"
    out.mkdir()
    env.write_config(
        "[jobs.backup]\n"
        'command = ["sh", "-c", "echo working; echo \'disk full\' >&2; exit 4"]\n'
        'queue = "nightly"\nmax_attempts = 2\nbackoff = "10ms"\njitter = false\n'
        f"on_failure = {_dump_env(out)}\non_dead = {_dump_env(out)}\n"
    )
    worker = start_logged(env, "run-worker")
    job_id = env.enqueue("backup")
    expected_files = {"failure.1.env", "failure.2.env", "dead.2.env"}
    env.wait_for(lambda: {p.name for p in out.iterdir()} >= expected_files)
    env.wait_for(lambda: all(_read_env(out / name) for name in expected_files))
    assert {p.name for p in out.iterdir()} == expected_files

    dead = _read_env(out / "dead.2.env")
    log = dead.pop("JOBCTL_LOG")
    # Where its worker takes jobs, as its jobs have it (a hook may enqueue a follow-up).
    assert (dead.pop("JOBCTL_CONFIG"), dead.pop("JOBCTL_DB")) == (str(env.config), str(env.db))
    assert dead == {
        "JOBCTL_ATTEMPT": "2",
        "JOBCTL_ERROR": "exit code 4: disk full",
        "JOBCTL_EVENT": "dead",
        "JOBCTL_EXIT_CODE": "4",
        "JOBCTL_JOB_ID": str(job_id),
        "JOBCTL_JOB_NAME": "backup",
        "JOBCTL_MAX_ATTEMPTS": "2",
        "JOBCTL_PAYLOAD": "{}",
        "JOBCTL_QUEUE": "nightly",
        "JOBCTL_RUN": "2",
    }
    assert Path(log).read_text() == "working\ndisk full\n"  # the attempt's own output
    first = _read_env(out / "failure.1.env")
    assert (first["JOBCTL_EVENT"], first["JOBCTL_ATTEMPT"]) == ("failure", "1")
    assert first["JOBCTL_LOG"] != log
    assert _read_env(out / "failure.2.env")["JOBCTL_EXIT_CODE"] == "4"
    assert _state(env, job_id) == "dead"
    assert worker.stop() == 0


def test_the_error_is_the_tail_of_stderr(env: Env) -> None:
    out = env.root / "error.txt"
    noise = "x" * 100
    env.write_config(
        "[jobs.chatty]\n"
        f'command = ["sh", "-c", "for i in $(seq 200); do echo {noise} >&2; done;'
        ' echo the last words >&2; exit 1"]\n'
        "max_attempts = 1\n"
        f"on_dead = 'printf %s \"$JOBCTL_ERROR\" > {out}'\n"
    )
    worker = start_logged(env, "run-worker")
    env.enqueue("chatty")
    worker.wait_event(env, "job.dead")
    env.wait_for(lambda: out.exists() and out.read_text().endswith("the last words"))
    error = out.read_text()
    assert error.startswith("exit code 1: ")
    assert 1000 < len(error.encode()) < 4096  # a tail, not all 20 kB
    assert worker.stop() == 0


def test_settings_give_the_default_hooks_and_a_job_type_overrides_them(env: Env) -> None:
    seen = env.root / "seen.log"
    env.write_config(
        "[settings]\n"
        f"on_failure = 'echo default-failure $JOBCTL_JOB_NAME >> {seen}'\n"
        f"on_dead = 'echo default-dead $JOBCTL_JOB_NAME >> {seen}'\n\n"
        '[jobs.plain]\ncommand = ["false"]\nmax_attempts = 1\n\n'
        '[jobs.own]\ncommand = ["false"]\nmax_attempts = 1\n'
        f"on_dead = 'echo own-dead $JOBCTL_JOB_NAME >> {seen}'\n\n"
        '[jobs.fine]\ncommand = ["true"]\n'
    )
    worker = start_logged(env, "run-worker")
    env.enqueue("fine")
    env.enqueue("plain")
    env.enqueue("own")
    env.wait_for(lambda: seen.exists() and len(seen.read_text().splitlines()) >= 4)
    worker.wait_event(env, "job.dead", job="own")
    assert worker.stop() == 0
    assert sorted(seen.read_text().splitlines()) == [
        "default-dead plain",
        "default-failure own",  # its own on_dead replaces only the default on_dead
        "default-failure plain",
        "own-dead own",
    ]


def test_job_data_reaches_a_hook_only_as_data(env: Env) -> None:
    out = env.root / "error.txt"
    env.write_config(
        "[jobs.evil]\n"
        'command = ["sh", "-c", "echo \'$(touch pwned); `touch pwned2`\' >&2; exit 1"]\n'
        "max_attempts = 1\n"
        f"on_dead = 'printf %s \"$JOBCTL_ERROR\" > {out}'\n"
    )
    worker = start_logged(env, "run-worker")
    env.enqueue("evil")
    env.wait_for(lambda: out.exists() and out.read_text().endswith("pwned2`"))
    assert out.read_text() == "exit code 1: $(touch pwned); `touch pwned2`"
    assert not (env.root / "pwned").exists() and not (env.root / "pwned2").exists()
    assert worker.stop() == 0


def test_a_failing_or_missing_hook_is_logged_and_the_worker_goes_on(env: Env) -> None:
    env.write_config(
        "[jobs.broken]\n"
        'command = ["false"]\nmax_attempts = 1\n'
        "on_failure = 'echo hook says no >&2; exit 9'\n"
        'on_dead = ["/nonexistent/notify"]\n\n'
        '[jobs.ok]\ncommand = ["true"]\n'
    )
    worker = start_logged(env, "run-worker")
    broken = env.enqueue("broken")
    failed = [
        worker.wait_event(env, "hook.failed", hook="failure"),
        worker.wait_event(env, "hook.failed", hook="dead"),
    ]
    for record in failed:
        assert record["level"] == "warning"
        assert (record["job_id"], record["job"]) == (broken, "broken")
    assert "exit code 9" in failed[0]["error"] and "hook says no" in failed[0]["error"]
    assert "/nonexistent/notify" in failed[1]["error"]
    assert _state(env, broken) == "dead"  # the hooks change nothing about the job
    ok = env.enqueue("ok")
    worker.wait_event(env, "job.succeeded", job_id=ok)
    assert worker.stop() == 0
    hook_log = env.root / "q.db.logs" / "hooks" / f"{broken}.1.failure.log"
    assert hook_log.read_text() == "hook says no\n"


def _hanging(env: Env, hook_timeout: str) -> tuple[Path, Running]:
    pid_file = env.root / "hook.pid"
    env.write_config(
        "[jobs.bad]\n"
        'command = ["false"]\nmax_attempts = 1\n'
        f"on_dead = 'echo $$ > {pid_file}; exec sleep 300'\n"
        f'hook_timeout = "{hook_timeout}"\n\n'
        '[jobs.ok]\ncommand = ["true"]\n'
    )
    return pid_file, start_logged(env, "run-worker", "--shutdown-timeout", "2s")


def test_a_hanging_hook_is_killed_at_its_timeout(env: Env) -> None:
    pid_file, worker = _hanging(env, "500ms")
    env.enqueue("bad")
    env.wait_for(lambda: read_pid(pid_file) is not None)
    pid = read_pid(pid_file)
    assert pid is not None
    try:
        started = time.monotonic()
        record = worker.wait_event(env, "hook.failed", hook="dead")
        assert record["error"].startswith("timeout after 500ms")
        env.wait_for(lambda: process_gone(pid), timeout=10)
        assert time.monotonic() - started < 10
    finally:
        kill_if_alive(pid)
    assert worker.stop() == 0


def test_a_hanging_hook_never_blocks_the_worker(env: Env) -> None:
    pid_file, worker = _hanging(env, "5m")
    env.enqueue("bad")
    env.wait_for(lambda: read_pid(pid_file) is not None)
    pid = read_pid(pid_file)
    try:
        for _ in range(3):  # more jobs run while the hook hangs
            job_id = env.enqueue("ok")
            worker.wait_event(env, "job.succeeded", job_id=job_id)
        assert pid is not None and not process_gone(pid)
        started = time.monotonic()
        # A first SIGTERM leaves the hook its hook_timeout; a second one kills it at once.
        worker.proc.send_signal(signal.SIGTERM)
        worker.wait_event(env, "worker.stopping")
        assert not process_gone(pid)
        assert worker.stop() == 0
        assert time.monotonic() - started < 10
    finally:
        kill_if_alive(pid)


def test_a_hook_does_not_outlive_its_timeout_when_a_burst_worker_exits(env: Env) -> None:
    pid_file = env.root / "hook.pid"
    env.write_config(
        "[jobs.bad]\n"
        'command = ["false"]\nmax_attempts = 1\n'
        f"on_dead = 'echo $$ > {pid_file}; exec sleep 300'\n"
        'hook_timeout = "500ms"\n'
    )
    env.enqueue("bad")
    result = env.run("run-worker", "--burst")
    assert result.returncode == 0, result.stderr
    pid = read_pid(pid_file)
    try:
        assert pid is not None, "the hook never ran"
        env.wait_for(lambda: process_gone(pid), timeout=5)
    finally:
        kill_if_alive(pid)


def test_on_dead_runs_for_a_job_whose_worker_was_lost(env: Env) -> None:
    marker = env.root / "dead-hook"
    env.write_config(
        # A short lease: a worker just started leaves others its lease/3 before a rescue.
        '[settings]\nlease = "2s"\n'
        "[jobs.ok]\n"
        'command = ["true"]\nmax_attempts = 1\n'
        f"on_dead = 'echo \"$JOBCTL_JOB_ID $JOBCTL_ERROR\" > {marker}'\n"
    )
    long_ago = time.time() - 600
    (job_id,) = enqueue_at(env, long_ago, NewJob(job="ok", payload={}, max_attempts=1))
    with opened(env) as store:  # taken ten minutes ago by a worker that then died
        store.claim("vanished-worker", None, long_ago, 30.0)
    worker = start_logged(env, "run-worker")
    worker.wait_event(env, "job.recovered", job_id=job_id, state="dead")
    # `>` makes the file before it writes the line: wait for the line itself.
    env.wait_for(lambda: marker.exists() and marker.read_text().endswith("\n"), timeout=5)
    assert marker.read_text() == f"{job_id} worker vanished-worker lost: its lease expired\n"


def _killed_within(env: Env, pid_file: Path, seconds: float) -> None:
    env.wait_for(lambda: read_pid(pid_file) is not None)
    pid = read_pid(pid_file)
    assert pid is not None
    try:
        env.wait_for(lambda: process_gone(pid), timeout=seconds)
    finally:
        kill_if_alive(pid)


def test_settings_hook_timeout_is_the_default_for_a_job_types_own_hooks(env: Env) -> None:
    pid_file = env.root / "hook.pid"
    env.write_config(
        '[settings]\nhook_timeout = "500ms"\n\n'
        "[jobs.bad]\n"
        'command = ["false"]\nmax_attempts = 1\n'
        f"on_dead = 'echo $$ > {pid_file}; exec sleep 300'\n"
    )
    worker = start_logged(env, "run-worker")
    env.enqueue("bad")
    try:
        _killed_within(env, pid_file, 4)
    finally:
        worker.stop()


def test_a_job_types_hook_timeout_applies_to_the_default_hooks(env: Env) -> None:
    pid_file = env.root / "hook.pid"
    env.write_config(
        "[settings]\n"
        f"on_dead = 'echo $$ > {pid_file}; exec sleep 300'\n\n"
        "[jobs.bad]\n"
        'command = ["false"]\nmax_attempts = 1\nhook_timeout = "500ms"\n'
    )
    worker = start_logged(env, "run-worker")
    env.enqueue("bad")
    try:
        _killed_within(env, pid_file, 4)
    finally:
        worker.stop()


def test_a_dead_retry_keeps_the_hook_logs_of_the_jobs_first_life(env: Env) -> None:
    """Both lives end at attempt 1: hook logs named by attempt were written over, so only
    the latest alert's output was left, though `show` lists both runs."""
    env.write_config(
        '[jobs.f]\ncommand = ["false"]\nmax_attempts = 1\n'
        """on_dead = ["sh", "-c", "echo alert for run $JOBCTL_RUN"]\n"""
    )
    job_id = env.enqueue("f")
    env.run("run-worker", "--burst", check=True)
    env.run("dead", "retry", str(job_id), check=True)
    env.run("run-worker", "--burst", check=True)
    hooks = env.root / "q.db.logs" / "hooks"
    assert sorted(p.name for p in hooks.iterdir()) == [
        f"{job_id}.1.dead.log",
        f"{job_id}.2.dead.log",
    ]
    assert (hooks / f"{job_id}.1.dead.log").read_text() == "alert for run 1\n"
    assert (hooks / f"{job_id}.2.dead.log").read_text() == "alert for run 2\n"

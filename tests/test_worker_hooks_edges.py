"""A worker's hooks and draining at their edges: a hook the host's limits keep from starting,
hooks at a --burst worker's own end, the order of on_failure and on_dead, the hooks of a lost
attempt, a cancel during a drain, and a --worker-name reused after a crash.

Real workers on real SQLite files; hooks write what they see to files, and the tests poll for
states and files rather than sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from conftest import JOBCTL, Env
from test_observe_support import read_pid, start_logged
from test_ops_support import start_worker, wait_state


def test_hooks_at_the_open_files_limit_neither_end_the_worker_nor_go_unsaid(env: Env) -> None:
    # A failure storm near `ulimit -n`: the hooks running, and the jobs, hold the
    # descriptors the next hook's start needs. That start is tried again; the worker, and
    # the jobs it runs, go on.
    ran = env.root / "hooks.txt"
    env.write_config(
        f'[settings]\non_failure = "sleep 0.2; echo $JOBCTL_JOB_ID >> {ran}"\n'
        '[jobs.f]\ncommand = ["false"]\nmax_attempts = 1\n'
    )
    batch = "".join('{"job": "f"}\n' for _ in range(10))
    ids = [
        int(n) for n in env.run("enqueue", "--batch", "-", input=batch, check=True).stdout.split()
    ]
    worker = " ".join([*JOBCTL, *env.global_args(), "run-worker", "--burst", "-n", "10"])
    result = subprocess.run(
        # (10 at once under 26 descriptors: hook starts still meet EMFILE, tried again)
        ["sh", "-c", f"ulimit -n 26; exec {worker}"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env.env,
        cwd=env.root,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert "hook.failed" not in result.stderr
    for job_id in ids:
        assert wait_state(env, job_id, "dead", timeout=1).attempts == 1
    assert sorted(map(int, ran.read_text().split())) == ids


def test_a_named_burst_worker_runs_again_the_job_of_a_crashed_worker_of_its_name(
    env: Env,
) -> None:
    env.write_config(
        '[settings]\nlease = "3s"\n'
        '[jobs.s]\ncommand = ["sh", "-c", "[ $JOBCTL_RUN = 1 ] && exec sleep 300; true"]\n'
    )
    job_id = env.enqueue("s")
    crashed = start_worker(env, "--worker-name", "ci")
    wait_state(env, job_id, "running")
    os.kill(crashed.pid, signal.SIGKILL)  # its job's process runs on in its own session
    crashed.wait(timeout=10)
    result = env.run("run-worker", "--burst", "--worker-name", "ci", timeout=60)
    assert result.returncode == 0, result.stderr
    job = wait_state(env, job_id, "succeeded", timeout=1)
    assert job.attempts == 2


def test_a_cancel_during_a_drain_stops_the_job_at_once(env: Env) -> None:
    # With a 90 s lease, the next renewal (where a cancel was found during a drain) is 30 s on.
    env.write_config('[settings]\nlease = "90s"\n[jobs.s]\ncommand = ["sleep", "100"]\n')
    job_id = env.enqueue("s")
    worker = start_logged(env, "run-worker", "--shutdown-timeout", "2m")
    wait_state(env, job_id, "running")
    worker.proc.send_signal(signal.SIGTERM)
    worker.wait_event(env, "worker.stopping")
    started = time.monotonic()
    env.run("cancel", str(job_id), check=True)
    assert worker.proc.wait(timeout=20) == 0
    assert time.monotonic() - started < 10
    assert wait_state(env, job_id, "cancelled", timeout=1).state.value == "cancelled"


def test_a_burst_workers_own_end_gives_its_hooks_their_own_timeout(env: Env) -> None:
    # No stop was asked for: --shutdown-timeout, set short for a quick cancel of a CI step,
    # must not cut the alert of the last job short.
    ran = env.root / "hooks.txt"
    env.write_config(
        f'[settings]\non_dead = "sleep 1.5; echo ran >> {ran}"\nhook_timeout = "30s"\n'
        '[jobs.f]\ncommand = ["false"]\nmax_attempts = 1\n'
    )
    env.enqueue("f")
    result = env.run("run-worker", "--burst", "--shutdown-timeout", "0.5s", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "hook.failed" not in result.stderr
    assert ran.read_text() == "ran\n"


def test_on_dead_runs_after_on_failure_has_ended(env: Env) -> None:
    hooks = env.root / "hooks.txt"
    env.write_config(
        "[settings]\n"
        f'on_failure = "sleep 0.5; echo failure $JOBCTL_JOB_ID >> {hooks}"\n'
        f'on_dead = "echo dead $JOBCTL_JOB_ID >> {hooks}"\n'
        '[jobs.f]\ncommand = ["false"]\nmax_attempts = 1\n'
    )
    first, second = env.enqueue("f"), env.enqueue("f")
    result = env.run("run-worker", "--burst", timeout=60)
    assert result.returncode == 0, result.stderr
    lines = hooks.read_text().splitlines()
    for job_id in (first, second):
        mine = [line.split()[0] for line in lines if line.split()[1] == str(job_id)]
        assert mine == ["failure", "dead"], lines


def test_the_hooks_of_a_lost_attempt_get_its_log(env: Env) -> None:
    seen, pid_file = env.root / "seen", env.root / "pid"
    env.write_config(
        '[settings]\nlease = "2s"\n'
        f'on_failure = "cat \\"$JOBCTL_LOG\\" > {seen}.failure"\n'
        f'on_dead = "cat \\"$JOBCTL_LOG\\" > {seen}.dead"\n'
        '[jobs.s]\ncommand = ["sh", "-c", "echo output-of-run-$JOBCTL_RUN;'
        f" echo $$ > {pid_file};"
        ' exec sleep 300"]\nmax_attempts = 1\n'
    )
    job_id = env.enqueue("s")
    crashed = start_worker(env)
    env.wait_for(lambda: read_pid(pid_file) is not None)
    # Its output in its log before the crash (a worker killed first had not written it yet).
    env.wait_for(
        lambda: any("output-of-run-1" in p.read_text() for p in env.root.rglob(f"{job_id}.1.log"))
    )
    os.kill(crashed.pid, signal.SIGKILL)
    crashed.wait(timeout=10)
    result = env.run("run-worker", "--burst", timeout=60)
    assert result.returncode == 0, result.stderr
    assert wait_state(env, job_id, "dead", timeout=1).attempts == 1
    for event in ("failure", "dead"):
        assert (env.root / f"seen.{event}").read_text() == "output-of-run-1\n"

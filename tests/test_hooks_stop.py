"""Which hooks a job's end sets off, and how a stopping worker treats the hooks it runs: a
lost job whose type left the config, a stop signal while hooks run (--burst or not), a reload
while the job ran, and on_dead after a slow on_failure of an earlier attempt.

Real workers on real SQLite files; hooks write what they see to files, and the tests poll for
files and event lines rather than sleep.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from conftest import Env
from test_observe_support import read_pid, start_logged
from test_ops_support import start_worker, wait_state


def test_a_lost_job_whose_type_left_the_config_gets_the_settings_hooks(env: Env) -> None:
    alerts, pid_file = env.root / "alerts", env.root / "pid"
    settings = (
        '[settings]\nlease = "2s"\n'
        f'on_failure = "echo failure $JOBCTL_JOB_ID $JOBCTL_JOB_NAME >> {alerts}"\n'
        f'on_dead = "echo dead $JOBCTL_JOB_ID $JOBCTL_JOB_NAME >> {alerts}"\n'
    )
    env.write_config(
        settings
        + f'[jobs.nightly]\ncommand = ["sh", "-c", "echo $$ > {pid_file}; exec sleep 300"]\n'
        "max_attempts = 1\n"
    )
    job_id = env.enqueue("nightly")
    crashed = start_worker(env)
    env.wait_for(lambda: read_pid(pid_file) is not None)
    os.kill(crashed.pid, signal.SIGKILL)
    crashed.wait(timeout=10)
    env.write_config(settings + '[jobs.nightly2]\ncommand = ["true"]\n')  # renamed on restart
    result = env.run("run-worker", "--burst", timeout=60)
    assert result.returncode == 0, result.stderr
    assert wait_state(env, job_id, "dead", timeout=1).attempts == 1
    lines = alerts.read_text().splitlines()
    assert lines == [f"failure {job_id} nightly", f"dead {job_id} nightly"], lines


def _dying_job_with_a_slow_hook(env: Env) -> tuple[Path, Path]:
    started, sent = env.root / "hook-started", env.root / "sent"
    env.write_config(
        '[settings]\nhook_timeout = "30s"\n'
        f'on_dead = "touch {started}; sleep 1.5; echo sent > {sent}"\n'
        '[jobs.f]\ncommand = ["false"]\nmax_attempts = 1\n'
    )
    env.enqueue("f")
    return started, sent


def test_a_first_sigterm_leaves_a_running_hook_its_own_hook_timeout(env: Env) -> None:
    started, sent = _dying_job_with_a_slow_hook(env)
    worker = start_logged(env, "run-worker", "--shutdown-timeout", "0.2s")
    env.wait_for(lambda: os.path.exists(started))
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=30) == 0
    assert os.path.exists(sent), worker.text()
    assert not [e for e in worker.events() if e["event"] == "hook.failed"]


def test_a_first_sigterm_to_a_burst_worker_waiting_for_its_hooks_lets_them_end(
    env: Env,
) -> None:
    started, sent = _dying_job_with_a_slow_hook(env)
    worker = start_logged(env, "run-worker", "--burst")
    env.wait_for(lambda: os.path.exists(started))
    worker.proc.send_signal(signal.SIGTERM)
    worker.wait_event(env, "worker.stopping")  # said, as a stop in any other state is
    assert worker.proc.wait(timeout=30) == 0
    assert os.path.exists(sent), worker.text()
    assert not [e for e in worker.events() if e["event"] == "hook.failed"]


def test_a_second_signal_to_a_burst_worker_kills_its_hooks(env: Env) -> None:
    started, sent = _dying_job_with_a_slow_hook(env)
    worker = start_logged(env, "run-worker", "--burst")
    env.wait_for(lambda: os.path.exists(started))
    worker.proc.send_signal(signal.SIGTERM)
    worker.wait_event(env, "worker.stopping")
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=30) == 0
    assert not os.path.exists(sent)  # killed: the worker waited for no end of it
    worker.wait_event(env, "hook.failed", hook="dead")


def test_hooks_come_from_the_config_in_force_when_the_attempt_ends(env: Env) -> None:
    hooks, go = env.root / "hooks.txt", env.root / "go"
    running = env.root / "running"

    def config(version: str) -> str:
        return (
            f'[settings]\non_failure = "echo settings-{version}-failure >> {hooks}"\n'
            "[jobs.f]\n"
            f'command = ["sh", "-c", "touch {running}; while [ ! -e {go} ]; do sleep 0.05;'
            ' done; exit 1"]\n'
            f"max_attempts = 1\non_dead = 'echo job-{version}-dead >> {hooks}'\n"
        )

    env.write_config(config("OLD"))
    job_id = env.enqueue("f")
    worker = start_logged(env, "run-worker")
    env.wait_for(lambda: os.path.exists(running))
    env.write_config(config("NEW"))
    worker.proc.send_signal(signal.SIGHUP)
    worker.wait_event(env, "worker.reloaded")
    go.touch()
    wait_state(env, job_id, "dead")
    env.wait_for(lambda: hooks.exists() and len(hooks.read_text().splitlines()) == 2)
    assert hooks.read_text().splitlines() == ["settings-NEW-failure", "job-NEW-dead"]
    assert worker.stop() == 0


def test_on_dead_waits_for_a_slow_on_failure_of_an_earlier_attempt(env: Env) -> None:
    hooks = env.root / "hooks.txt"
    env.write_config(
        "[settings]\n"
        'on_failure = "if [ $JOBCTL_ATTEMPT = 1 ]; then sleep 1.5; fi;'
        f' echo failure $JOBCTL_ATTEMPT >> {hooks}"\n'
        f'on_dead = "echo dead >> {hooks}"\n'
        '[jobs.f]\ncommand = ["false"]\nmax_attempts = 2\nbackoff = "10ms"\n'
    )
    job_id = env.enqueue("f")
    result = env.run("run-worker", "--burst", timeout=60)
    assert result.returncode == 0, result.stderr
    assert wait_state(env, job_id, "dead", timeout=1).attempts == 2
    lines = hooks.read_text().splitlines()
    assert sorted(lines[:2]) == ["failure 1", "failure 2"] and lines[2:] == ["dead"], lines

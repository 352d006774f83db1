"""jobctl as a container's PID 1 (a PID namespace of its own, as `docker run` makes): it forks
an init that reaps the orphans its jobs leave behind and passes the stop signals on."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import JOBCTL, Env


def _pid_namespaces_work() -> bool:
    try:
        probe = ["unshare", "--pid", "--fork", "--mount-proc", "true"]
        return subprocess.run(probe, timeout=10, capture_output=True).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


pytestmark = pytest.mark.skipif(
    not _pid_namespaces_work(), reason="cannot make a PID namespace here (unshare refused)"
)


def _start_as_pid_1(env: Env, *args: str) -> subprocess.Popen[str]:
    """`jobctl ARGS` as the first process of a new PID namespace (stopped at teardown), its
    stderr in `jobctl.err`."""
    command = ["unshare", "--pid", "--fork", "--mount-proc", *JOBCTL, *env.global_args(), *args]
    with (env.root / "jobctl.err").open("w") as stderr:
        proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
            env=env.env,
            cwd=env.root,
            start_new_session=True,
        )
    env.procs.append(proc)
    return proc


def _stderr(env: Env) -> str:
    return (env.root / "jobctl.err").read_text()


def _children(pid: int) -> dict[int, str]:
    """The children of `pid`, seen from here, with their state letter (Z for a zombie)."""
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if int(parent) == pid:
            found[int(entry)] = state
    return found


def _only_child(pid: int) -> int:
    children = _children(pid)
    assert len(children) == 1, children
    return next(iter(children))


def _namespace_init(env: Env, unshare: subprocess.Popen[str]) -> int:
    """The pid here of the namespace's PID 1, once it runs jobctl: unshare's only child."""
    env.wait_for(lambda: len(_children(unshare.pid)) == 1, timeout=30)
    return _only_child(unshare.pid)


def test_as_pid_1_the_orphans_of_jobs_are_reaped_and_sigterm_drains(env: Env) -> None:
    """Each `(sleep 1 &)` a job leaves is the container's PID 1's to reap: jobctl reaped only
    its own children, and the zombies used up a pids limit until no job could fork."""
    env.write_config(
        "[jobs.orphan]\n"
        'command = ["sh", "-c", "(sleep 1 &); echo left"]\n'
        "[jobs.long]\n"
        'command = ["sh", "-c", "touch started; sleep 1.5; echo done"]\n'
    )
    unshare = _start_as_pid_1(env, "up", "--concurrency", "4")
    init = _namespace_init(env, unshare)
    env.wait_for(lambda: len(_children(init)) == 1, timeout=30)
    jobctl = _only_child(init)
    orphans = env.run("enqueue", "--batch", "-", input='{"job": "orphan"}\n' * 12, check=True)
    env.run("wait", *orphans.stdout.split(), "--timeout", "60s", check=True)
    # The sleeps end within a second and are reaped: the init is left with jobctl alone.
    env.wait_for(lambda: set(_children(init)) == {jobctl}, 30)

    long = env.enqueue("long")
    env.wait_for(lambda: (env.root / "started").exists())
    os.kill(init, signal.SIGTERM)  # what `docker stop` sends
    assert unshare.wait(timeout=60) == 0, _stderr(env)
    stderr = _stderr(env)
    assert "worker.stopping" in stderr and "worker.stopped" in stderr
    assert env.show(long)["state"] == "succeeded", stderr  # drained, not interrupted
    assert "PID 1" not in stderr


def test_as_pid_1_jobctl_runs_as_a_child_and_its_death_is_the_exit_code(env: Env) -> None:
    """The init exits as a shell says a death by signal N: 128 + N."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    unshare = _start_as_pid_1(env, "run-worker")
    init = _namespace_init(env, unshare)
    env.wait_for(lambda: len(_children(init)) == 1, timeout=30)
    jobctl = _only_child(init)
    # A process group of its own, as under tini (made just after the fork).
    env.wait_for(lambda: os.getpgid(jobctl) == jobctl)
    job = env.enqueue("ok")
    env.wait_for(lambda: env.show(job)["state"] == "succeeded")
    os.kill(jobctl, signal.SIGKILL)
    assert unshare.wait(timeout=30) == 128 + signal.SIGKILL


def test_as_pid_1_sighup_reaches_jobctl_and_reloads(env: Env) -> None:
    """SIGHUP (a `docker kill -s HUP`) to the init re-reads the config, and stops nothing."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    unshare = _start_as_pid_1(env, "schedule-daemon")
    init = _namespace_init(env, unshare)
    env.wait_for(lambda: len(_children(init)) == 1, timeout=30)
    env.wait_for(lambda: env.run("health", "--require-scheduler").returncode == 0, 30)
    os.kill(init, signal.SIGHUP)
    env.wait_for(lambda: "scheduler.reloaded" in _stderr(env), 30)
    assert unshare.poll() is None, _stderr(env)
    os.kill(init, signal.SIGINT)
    assert unshare.wait(timeout=30) == 0, _stderr(env)

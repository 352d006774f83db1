"""The signals a worker, `up` and the cron daemon take, and what the init of jobctl as a
container's PID 1 does with them: SIGUSR1 and SIGUSR2 end nothing, the terminal's Ctrl-Z does
not freeze jobctl, an inherited ignored SIGCHLD does not lose the exit code, and a pids limit
that refuses the init's fork is said plainly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import termios
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import JOBCTL, Env
from test_container_init import _pid_namespaces_work

needs_pid_namespace = pytest.mark.skipif(
    not _pid_namespaces_work(), reason="cannot make a PID namespace here (unshare refused)"
)
AS_PID_1 = ["unshare", "--pid", "--fork", "--mount-proc"]
LONG_JOB = '[jobs.long]\ncommand = ["sh", "-c", "touch started; sleep 2; echo done"]\n'


def _start(
    env: Env,
    argv: list[str],
    *,
    stdin: int | None = subprocess.DEVNULL,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[str]:
    """`argv` in the sandbox (stopped at teardown), its stderr in `jobctl.err`."""
    with (env.root / "jobctl.err").open("w") as stderr:
        proc = subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
            env=env.env,
            cwd=env.root,
            start_new_session=preexec_fn is None,
            preexec_fn=preexec_fn,
        )
    env.procs.append(proc)
    return proc


def _stderr(env: Env) -> str:
    return (env.root / "jobctl.err").read_text()


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _jobctl_behind_init(env: Env, unshare: subprocess.Popen[str]) -> tuple[int, int]:
    """The namespace's init and the jobctl it runs, as pids seen from here."""
    env.wait_for(lambda: len(_children(unshare.pid)) == 1, timeout=30)
    (init,) = _children(unshare.pid)
    env.wait_for(lambda: len(_children(init)) == 1, timeout=30)
    (jobctl,) = _children(init)
    return init, jobctl


@pytest.mark.parametrize("command", ["run-worker", "up"])
def test_sigusr1_and_sigusr2_are_said_and_the_job_runs_once(env: Env, command: str) -> None:
    """A logrotate postrotate's SIGUSR1 killed the worker (138): its job's process ran on
    unsupervised, and ran again beside itself once its lease ended."""
    env.write_config(LONG_JOB)
    job = env.enqueue("long")
    worker = _start(env, [*JOBCTL, *env.global_args(), command])
    env.wait_for(lambda: (env.root / "started").exists())
    worker.send_signal(signal.SIGUSR1)
    worker.send_signal(signal.SIGUSR2)
    env.wait_for(lambda: _stderr(env).count("worker.signal_ignored") == 2)
    assert worker.poll() is None, _stderr(env)
    assert "signal=SIGUSR1" in _stderr(env) and "signal=SIGUSR2" in _stderr(env)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0, _stderr(env)
    shown = env.show(job)
    assert shown["state"] == "succeeded" and shown["attempts"] == 1, shown


def test_sigusr1_and_sigusr2_do_not_end_the_cron_daemon(env: Env) -> None:
    env.write_config(LONG_JOB)
    daemon = _start(env, [*JOBCTL, *env.global_args(), "schedule-daemon"])
    env.wait_for(lambda: "scheduler.leader" in _stderr(env))
    daemon.send_signal(signal.SIGUSR1)
    daemon.send_signal(signal.SIGUSR2)
    env.wait_for(lambda: _stderr(env).count("scheduler.signal_ignored") == 2)
    daemon.send_signal(signal.SIGHUP)  # still a reload
    env.wait_for(lambda: "scheduler.reloaded" in _stderr(env))
    assert daemon.poll() is None, _stderr(env)
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0, _stderr(env)


@needs_pid_namespace
def test_as_pid_1_sigusr1_neither_forwarded_nor_fatal(env: Env) -> None:
    """The init passed SIGUSR1 on, and so killed the jobctl it would otherwise have dropped."""
    env.write_config(LONG_JOB)
    job = env.enqueue("long")
    unshare = _start(env, [*AS_PID_1, *JOBCTL, *env.global_args(), "run-worker"])
    init, jobctl = _jobctl_behind_init(env, unshare)
    env.wait_for(lambda: (env.root / "started").exists())
    os.kill(init, signal.SIGUSR1)  # dropped by the kernel: no handler
    os.kill(jobctl, signal.SIGUSR2)  # a `docker exec ... kill -USR2 <pid>`: said, ignored
    env.wait_for(lambda: "worker.signal_ignored" in _stderr(env))
    assert unshare.poll() is None, _stderr(env)
    assert "signal=SIGUSR1" not in _stderr(env)
    os.kill(init, signal.SIGTERM)
    assert unshare.wait(timeout=60) == 0, _stderr(env)
    assert env.show(job)["state"] == "succeeded"


def _ignoring_sigchld(*argv: str) -> list[str]:
    """`argv` run with SIGCHLD ignored, as some launchers leave it (exec keeps it)."""
    code = "import os, signal, sys; signal.signal(signal.SIGCHLD, signal.SIG_IGN);"
    code += " os.execv(sys.argv[1], sys.argv[1:])"
    return [sys.executable, "-c", code, *argv]


@needs_pid_namespace
def test_as_pid_1_an_inherited_ignored_sigchld_keeps_the_exit_code(env: Env) -> None:
    """The kernel reaped jobctl itself, the init's wait failed, and every exit code was 1."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok")
    args = [*env.global_args(), "run-worker", "--burst"]
    drained = subprocess.run(
        [*AS_PID_1, *_ignoring_sigchld(*JOBCTL, *args)],
        env=env.env,
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert drained.returncode == 0, drained.stderr
    missing = ["--config", str(env.root / "none.toml"), "--db", env.location(), "run-worker"]
    refused = subprocess.run(
        [*AS_PID_1, *_ignoring_sigchld(*JOBCTL, *missing)],
        env=env.env,
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2, refused.stderr


@needs_pid_namespace
def test_as_pid_1_on_a_terminal_ctrl_z_does_not_freeze_jobctl(env: Env) -> None:
    """Under `docker run -it` Ctrl-Z stopped jobctl for good: no shell there runs `fg`, and a
    Ctrl-C after it was never acted on."""
    env.write_config(LONG_JOB)
    env.enqueue("long")
    controller, terminal = os.openpty()

    def on_the_terminal() -> None:  # `docker run -it`: the terminal is the session's own
        os.setsid()
        import fcntl

        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        unshare = _start(
            env,
            [*AS_PID_1, *JOBCTL, *env.global_args(), "run-worker"],
            stdin=terminal,
            preexec_fn=on_the_terminal,
        )
        _init, jobctl = _jobctl_behind_init(env, unshare)
        env.wait_for(lambda: os.getpgid(jobctl) == jobctl)
        env.wait_for(lambda: (env.root / "started").exists())
        os.write(controller, b"\x1a")  # Ctrl-Z
        env.wait_for(lambda: "SIGTSTP does not stop jobctl" in _stderr(env))
        os.write(controller, b"\x03")  # Ctrl-C: a graceful stop, acted on
        assert unshare.wait(timeout=60) == 0, _stderr(env)
        assert "worker.stopped" in _stderr(env)
    finally:
        os.close(controller)
        os.close(terminal)


PIDS_CGROUP = Path("/sys/fs/cgroup/pids")


@needs_pid_namespace
@pytest.mark.skipif(
    os.geteuid() != 0 or not (PIDS_CGROUP / "cgroup.procs").exists(),
    reason="needs root and a cgroup v1 pids controller",
)
def test_as_pid_1_at_a_pids_limit_jobctl_runs_without_the_init(env: Env) -> None:
    """The init's fork at a pids limit ended in "unexpected error: BlockingIOError", exit 1."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    group = PIDS_CGROUP / f"jobctl-test-{os.getpid()}"
    group.mkdir()
    try:

        def in_the_limited_group() -> None:  # unshare and jobctl as PID 1: no room for a third
            (group / "cgroup.procs").write_text(str(os.getpid()))
            (group / "pids.max").write_text("2")

        limited = subprocess.run(
            [*AS_PID_1, *JOBCTL, *env.global_args(), "run-worker", "--burst"],
            env=env.env,
            cwd=env.root,
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=in_the_limited_group,
        )
    finally:
        group.rmdir()
    assert limited.returncode == 0, limited.stderr
    assert (
        "jobctl: warning: cannot fork the init that reaps the orphans of jobs (Resource"
        " temporarily unavailable: the host allows no more processes)" in limited.stderr
    )
    assert "unexpected error" not in limited.stderr

"""How a job's process is started: the program it names, the signals and descriptors it
inherits. Commands are started with posix_spawn where possible; these pin what exec-ing
through a shell or Popen would have given them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import JOBCTL, Env
from test_ops_support import start_worker, wait_state


def _run_one(env: Env, job: str) -> dict[str, object]:
    job_id = env.enqueue(job)
    env.run("run-worker", "--burst", check=True)
    return env.show(job_id)


def _output(env: Env, job_id: object) -> str:
    return env.run("logs", str(job_id), check=True).stdout


def test_a_command_is_found_on_the_path_the_job_sets(env: Env) -> None:
    tools = env.root / "tools"
    tools.mkdir()
    script = tools / "only-here"
    script.write_text("#!/bin/sh\necho found in tools\n")
    script.chmod(0o755)
    env.write_config(
        f'[jobs.tool]\ncommand = ["only-here"]\nenv = {{ PATH = "{tools}:/usr/bin:/bin" }}\n'
    )
    job = _run_one(env, "tool")
    assert job["state"] == "succeeded", job
    assert _output(env, job["id"]) == "found in tools\n"


def test_a_command_on_no_path_is_not_found(env: Env) -> None:
    env.write_config(
        '[jobs.tool]\ncommand = ["only-here"]\nenv = { PATH = "/nonexistent" }\nmax_attempts = 1\n'
    )
    job = _run_one(env, "tool")
    assert job["state"] == "dead"
    assert job["exit_code"] == 127
    assert "command not found" in str(job["error"])


def test_a_file_that_is_not_executable_is_refused(env: Env) -> None:
    tools = env.root / "tools"
    tools.mkdir()
    (tools / "not-exec").write_text("#!/bin/sh\necho no\n")
    env.write_config(
        f'[jobs.tool]\ncommand = ["not-exec"]\nenv = {{ PATH = "{tools}" }}\nmax_attempts = 1\n'
    )
    job = _run_one(env, "tool")
    assert job["state"] == "dead"
    assert job["exit_code"] in (126, 127)


def test_sigpipe_is_at_its_default_in_the_job(env: Env) -> None:
    # Python ignores SIGPIPE; a job must not inherit that, or `yes | head` never ends well.
    env.write_config(
        "[jobs.pipe]\n"
        'command = ["sh", "-c", "yes | head -n 2; grep SigIgn /proc/self/status"]\n'
        "max_attempts = 1\n"
    )
    job = _run_one(env, "pipe")
    assert job["state"] == "succeeded", job
    output = _output(env, job["id"])
    assert output.splitlines()[:2] == ["y", "y"]
    assert "Broken pipe" not in output
    ignored = int(output.split("SigIgn:")[1].split()[0], 16)
    for number in (13, 25):  # SIGPIPE, SIGXFSZ
        assert not ignored & (1 << (number - 1)), output


def test_descriptors_the_worker_inherited_do_not_reach_jobs(env: Env) -> None:
    env.write_config('[jobs.fds]\ncommand = ["ls", "/proc/self/fd"]\nmax_attempts = 1\n')
    job_id = env.enqueue("fds")
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    try:
        worker = subprocess.run(
            [*JOBCTL, *env.global_args(), "run-worker", "--burst"],
            env=env.env,
            cwd=env.root,
            capture_output=True,
            text=True,
            timeout=60,
            pass_fds=(write_end,),
        )
    finally:
        os.close(read_end)
        os.close(write_end)
    assert worker.returncode == 0, worker.stderr
    fds = set(_output(env, job_id).split())
    # ls itself opens one descriptor for the listing; nothing else beyond 0, 1 and 2.
    assert str(write_end) not in fds or write_end <= 3
    assert len(fds - {"0", "1", "2"}) <= 1, fds


def test_a_job_that_writes_without_pause_neither_starves_others_nor_fills_the_disk(
    env: Env,
) -> None:
    env.write_config(
        '[settings]\nlog_max_bytes = "64KiB"\n\n'
        '[jobs.flood]\ncommand = ["yes", "a line of output"]\ntimeout = "20s"\n'
        "max_attempts = 1\n\n"
        '[jobs.quick]\ncommand = ["echo", "done"]\n'
    )
    flood = env.enqueue("flood")
    worker = start_worker(env, "--concurrency", "2")
    wait_state(env, flood, "running")
    quick = env.enqueue("quick")
    wait_state(env, quick, "succeeded", timeout=10)
    assert env.show(flood)["state"] == "running"  # it is the flood that is still going
    log = Path(str(env.show(flood)["attempts_history"][0]["log_path"]))  # type: ignore[index]
    assert log.stat().st_size <= 3 * 64 * 1024
    env.run("cancel", str(flood), check=True)
    wait_state(env, flood, "cancelled")
    worker.terminate()


def test_without_pidfd_an_exit_that_closes_no_pipe_is_still_noticed(env: Env) -> None:
    # Kernels before 5.3 (or a seccomp filter) have no pidfd_open: the worker polls instead.
    env.write_config(
        '[jobs.quiet]\ncommand = ["sh", "-c", "exec >/dev/null 2>&1; sleep 0.3"]\n'
        '[jobs.other]\ncommand = ["true"]\n'
    )
    quiet, other = env.enqueue("quiet"), env.enqueue("other")
    script = (
        "import os, sys; del os.pidfd_open; sys.argv = ['jobctl'] + sys.argv[1:]; "
        "from jobctl.cli.main import run; run()"
    )
    started = time.monotonic()
    worker = subprocess.run(
        [sys.executable, "-c", script, *env.global_args(), "run-worker", "--burst"],
        env=env.env,
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == 0, worker.stderr
    assert time.monotonic() - started < 5.0  # not a maintenance interval or a lease later
    assert env.show(quiet)["state"] == "succeeded"
    assert env.show(other)["state"] == "succeeded"


def test_an_attempt_that_fails_to_start_leaves_no_descriptor_open(tmp_path: Path) -> None:
    from jobctl.executor import Attempt, AttemptSpec

    spec = AttemptSpec(
        argv=["true"],
        env={"BROKEN": 1},  # type: ignore[dict-item]  # not a string: the spawn raises
        log_path=str(tmp_path / "logs" / "1.1.log"),
    )
    with pytest.raises(TypeError):
        Attempt(spec).start()  # the first also opens /dev/null, kept for every later one
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(TypeError):
            Attempt(spec).start()
    assert set(os.listdir("/proc/self/fd")) == before


SIGNAL_INSIDE_THE_EVENT_LOG = """
import os, signal, sys
from pathlib import Path
from jobctl.config import parse_config
from jobctl.observe.events import EventLog
from jobctl.store import open_store
from jobctl.worker import Worker, WorkerOptions

class Stderr:
    # A SIGTERM lands while the event log writes (and holds its lock).
    sent = False
    def write(self, text):
        if not Stderr.sent:
            Stderr.sent = True
            os.kill(os.getpid(), signal.SIGTERM)
        sys.stdout.write(text)
    def flush(self):
        sys.stdout.flush()

with open_store(sys.argv[1]) as store:
    worker = Worker(store, parse_config(""), WorkerOptions(), log=EventLog(Stderr()))
    sys.exit(worker.run())
"""


def test_a_signal_that_lands_inside_the_event_log_stops_the_worker(env: Env) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SIGNAL_INSIDE_THE_EVENT_LOG, str(env.db)],
        env=env.env,
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "worker.stopping" in result.stdout and "worker.stopped" in result.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may switch users")
def test_a_root_worker_without_the_capability_to_switch_users_says_so(env: Env) -> None:
    """Popen names the working directory for any failure before the exec: the line read
    `working directory /: Operation not permitted` under a unit with no capabilities."""
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv on this host")
    env.write_config('[jobs.who]\ncommand = ["id"]\nuser = "nobody"\nmax_attempts = 1\n')
    job_id = env.enqueue("who")
    bounded = subprocess.run(
        ["setpriv", "--bounding-set=-all", *JOBCTL, *env.global_args(), "run-worker", "--burst"],
        capture_output=True,
        text=True,
        env=env.env,
        cwd=env.root,
        timeout=60,
    )
    assert bounded.returncode == 0, bounded.stderr
    assert env.show(job_id)["error"] == (
        "cannot start 'id' as user nobody: the worker runs as root without the capabilities to"
        " switch users (CAP_SETUID, CAP_SETGID: see a systemd unit's CapabilityBoundingSet=)"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may switch users")
def test_a_root_worker_that_could_not_stop_another_users_job_does_not_start_it(env: Env) -> None:
    """Root with CAP_SETUID and CAP_SETGID but not CAP_KILL (a unit's bounded capabilities)
    started the job as the user, then could neither time it out nor cancel it: every killpg
    was refused, and the refusal was taken for "the group is gone"."""
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv on this host")
    env.write_config(
        '[jobs.hang]\ncommand = ["sleep", "30"]\nuser = "nobody"\ntimeout = "1s"\n'
        "max_attempts = 1\n"
        '[jobs.mine]\ncommand = ["true"]\nuser = "root"\nmax_attempts = 1\n'
    )
    hang, mine = env.enqueue("hang"), env.enqueue("mine")
    bounded = subprocess.run(
        [
            "setpriv",
            "--bounding-set=-all,+setuid,+setgid",
            "--inh-caps=-all",
            *JOBCTL,
            *env.global_args(),
            "run-worker",
            "--burst",
        ],
        capture_output=True,
        text=True,
        env=env.env,
        cwd=env.root,
        timeout=25,  # the job would have run its 30 s
    )
    assert bounded.returncode == 0, bounded.stderr
    assert env.show(hang)["error"] == (
        "cannot start 'sleep' as user nobody: the worker runs as root without CAP_KILL, so it"
        " could not stop the job (timeout, cancel, shutdown): see a systemd unit's"
        " CapabilityBoundingSet="
    )
    assert env.show(mine)["state"] == "succeeded"  # its own jobs it can stop

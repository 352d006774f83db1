"""A job's command that becomes another user (sudo, a setuid program) cannot be signalled by
its worker unless the worker may signal anyone: the refusal is said at once, the attempt's
error says its timeout or stop was not applied, a shutdown's job that then succeeded is not
run again, and the search for a dead worker's processes names those it cannot reach.

A root worker without CAP_KILL (setpriv's bounding set, as the suite's other tests of it do)
stands in for an ordinary user's worker; `setpriv --reuid` in the job stands in for sudo."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import JOBCTL, Env

from jobctl.executor import Attempt, AttemptSpec
from jobctl.store.sqlite import SqliteStore

NOBODY = 65534

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to hand a job to another user"),
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="no setpriv on this host"),
]


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder uid 65534 can reach (pytest's own are root's alone)."""
    with tempfile.TemporaryDirectory(prefix="jobctl-refused-") as folder:
        os.chmod(folder, 0o1777)
        yield Path(folder)


def _nobody() -> str:
    try:
        return pwd.getpwuid(NOBODY).pw_name
    except KeyError:
        pytest.skip(f"no user {NOBODY} on this host")


def _bounded(env: Env, *args: str) -> list[str]:
    """jobctl ARGS as root that may switch users but not signal them (no CAP_KILL)."""
    return [
        "setpriv",
        "--bounding-set=-all,+setuid,+setgid",
        "--inh-caps=-all",
        *JOBCTL,
        *env.global_args(),
        *args,
    ]


def _start_bounded(env: Env, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        _bounded(env, "run-worker", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env.env,
        cwd=env.root,
        start_new_session=True,
    )
    env.procs.append(proc)
    return proc


def _job_as_nobody(
    env: Env, shared: Path, name: str, seconds: int, keys: str, settings: str = ""
) -> Path:
    """A job type whose command becomes uid 65534, then writes its pid (to the file this
    returns, in `shared`) and sleeps `seconds`."""
    pid_file = shared / name
    script = f"echo $$ > {pid_file}; sleep {seconds}"
    env.write_config(
        f"[settings]\n{settings}"
        f"[jobs.{name}]\n"
        f'command = ["setpriv", "--reuid={NOBODY}", "--regid={NOBODY}", "--clear-groups",'
        f' "sh", "-c", "{script}"]\n'
        f"{keys}"
    )
    return pid_file


def _pid_once_written(env: Env, pid_file: Path) -> int:
    env.wait_for(lambda: pid_file.exists() and pid_file.read_text().strip().isdigit())
    return int(pid_file.read_text())


def _refused(pid: int, owner: str) -> str:
    return f"its signals to pid {pid} ({owner}) were refused (Operation not permitted)"


def test_a_timeout_whose_signals_are_refused_says_so_at_once_and_in_its_error(
    env: Env, shared: Path
) -> None:
    """The worker sent SIGTERM and SIGKILL, both refused, and said nothing: the job ran its
    whole time and was recorded as `timeout after 1s`, exit code 0."""
    owner = _nobody()
    pid_file = _job_as_nobody(
        env, shared, "priv", 3, 'timeout = "1s"\nkill_grace = "0.2s"\nmax_attempts = 1\n'
    )
    job_id = env.enqueue("priv")
    worker = subprocess.run(
        _bounded(env, "run-worker", "--burst"),
        capture_output=True,
        text=True,
        env=env.env,
        cwd=env.root,
        timeout=30,
    )
    assert worker.returncode == 0, worker.stderr
    pid = int(pid_file.read_text())
    refusals = [line for line in worker.stderr.splitlines() if "job.kill_refused" in line]
    assert len(refusals) == 1, worker.stderr  # said once, not at each signal
    assert (
        f"WARNING job.kill_refused #{job_id} priv queue=default attempt=1"
        f' error="Operation not permitted" pid={pid} owner={owner}'
    ) in refusals[0]
    # Said when the timeout came, before the command ended on its own.
    lines = worker.stderr.splitlines()
    assert lines.index(refusals[0]) < next(i for i, line in enumerate(lines) if "job.dead" in line)
    shown = env.show(job_id)
    assert shown["state"] == "dead"
    assert shown["error"] == f"timeout after 1s could not be applied: {_refused(pid, owner)}"


def test_a_shutdown_that_could_not_stop_a_job_that_then_succeeded_does_not_run_it_again(
    env: Env, shared: Path
) -> None:
    """It was recorded interrupted by the shutdown and queued again (`queued 0/3`), though
    its command had exited 0: it would have run a second time."""
    owner = _nobody()
    pid_file = _job_as_nobody(env, shared, "priv", 2, 'kill_grace = "0.2s"\nmax_attempts = 3\n')
    job_id = env.enqueue("priv")
    worker = _start_bounded(env, "--shutdown-timeout", "0.2s")
    pid = _pid_once_written(env, pid_file)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert f"pid={pid} owner={owner}" in stderr
    shown = env.show(job_id)
    assert (shown["state"], shown["attempts"], shown["exit_code"]) == ("succeeded", 1, 0)
    assert shown["error"] == f"the worker shutdown could not stop it: {_refused(pid, owner)}"


def test_a_cancel_whose_signals_are_refused_says_so_in_its_error(env: Env, shared: Path) -> None:
    owner = _nobody()
    pid_file = _job_as_nobody(env, shared, "priv", 2, 'kill_grace = "0.2s"\nmax_attempts = 1\n')
    job_id = env.enqueue("priv")
    worker = _start_bounded(env)
    pid = _pid_once_written(env, pid_file)
    env.run("cancel", str(job_id), check=True)

    def ended() -> bool:
        """Its attempt's outcome recorded, read in this process: what the wait polls for, at
        the cost of a query (a `show` run per poll cost a process each 50 ms)."""
        with SqliteStore(env.db, create=False) as store:
            return store.attempts(job_id)[0].outcome is not None

    env.wait_for(ended)
    attempt: dict[str, object] = env.show(job_id)["attempts_history"][0]  # type: ignore[index]
    assert (attempt["outcome"], attempt["exit_code"]) == ("cancelled", 0)
    assert attempt["error"] == (
        f"cancelled, though the stop could not be applied: {_refused(pid, owner)}"
    )
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert f"job.kill_refused #{job_id} priv" in stderr


def test_a_dead_workers_process_out_of_reach_is_named_by_the_next_worker(
    env: Env, shared: Path
) -> None:
    """Its environment could not be read (another user's, not dumpable), so the search for
    the dead worker's processes skipped it in silence, and the rerun overlapped it."""
    owner = _nobody()
    pid_file = _job_as_nobody(
        env, shared, "priv", 30, "max_attempts = 1\n", settings='lease = "2s"\n'
    )
    job_id = env.enqueue("priv")
    first = _start_bounded(env)
    pid = _pid_once_written(env, pid_file)
    try:
        first.kill()
        first.wait(timeout=10)
        second = subprocess.run(
            _bounded(env, "run-worker", "--burst"),
            capture_output=True,
            text=True,
            env=env.env,
            cwd=env.root,
            timeout=30,
        )
        assert second.returncode == 0, second.stderr
        # (Other tests' processes of that user, started since, may be named too: the search
        # cannot tell whose they are.)
        assert (
            'WARNING job.orphan_unreached error="its environment cannot be read (Permission'
            f" denied): it may be a lost job's, still running\" pid={pid} owner={owner}"
        ) in second.stderr
        assert env.show(job_id)["state"] == "dead"
    finally:
        os.kill(pid, signal.SIGKILL)  # root with every capability reaches it


def _start_as_nobody(folder: Path, group: str, supplementary: list[int]) -> str:
    """The error of an attempt of `true` with `group`, started by a process that runs as
    uid 65534 with `supplementary` groups (a fork of this one: no interpreter to find)."""
    logs = folder / "nobody"  # a log folder belongs to the worker's user
    logs.mkdir(mode=0o700, exist_ok=True)
    os.chown(logs, NOBODY, NOBODY)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        try:
            os.close(read)
            os.setgroups(supplementary)
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            spec = AttemptSpec(
                argv=["true"],
                env={"PATH": os.defpath},
                log_path=str(logs / "job" / "attempt.log"),
                group=group,
            )
            result = Attempt(spec).start()
            os.write(write, ((result and result.error) or "started").encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as reader:
        said = reader.read().decode()
    os.waitpid(pid, 0)
    return said


def test_a_group_a_worker_that_is_not_root_cannot_switch_to_is_named_with_why(
    shared: Path,
) -> None:
    """The job failed with a bare `cannot start 'true': Operation not permitted`, where a
    `user` says that only root may switch users."""
    owner = _nobody()
    other = next((g for g in grp.getgrall() if g.gr_gid not in (0, NOBODY)), None)
    if other is None:
        pytest.skip("no group to switch to on this host")
    said = _start_as_nobody(shared, other.gr_name, [other.gr_gid])
    assert said == (
        f"cannot start 'true' as group {other.gr_name}: the worker does not run as root, and"
        f" only root may switch groups ({other.gr_name} is only a supplementary group of"
        f" {owner})"
    )
    said = _start_as_nobody(shared, other.gr_name, [])
    assert said == (
        f"cannot start 'true' as group {other.gr_name}: the worker does not run as root, and"
        f" only root may switch groups ({owner} is not a member of {other.gr_name})"
    )

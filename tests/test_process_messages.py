"""What jobctl says of the processes it looks at and of the limits they meet, through the
real CLI: the cron daemons `reload` finds, the open files limit, the stop signals."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import JOBCTL, Env

from jobctl.models import NewJob, State
from jobctl.store import Store, open_store

SCHEDULE = """
[jobs.tick]
command = ["true"]

[schedules.yearly]
job = "tick"
cron = "0 0 1 1 *"
"""


def _start_daemon(env: Env, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """`up` started by a command line of the caller's, its log kept in `log`."""
    with log.open("w") as sink:
        daemon = subprocess.Popen(
            [*argv, *env.global_args(), "up"],
            stdout=sink,
            stderr=sink,
            env=env.env,
            cwd=env.root,
            start_new_session=True,
        )
    env.wait_for(lambda: env.run("health", "--require-scheduler").returncode == 0, timeout=30)
    return daemon


def _stop(daemon: subprocess.Popen[bytes]) -> None:
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0


def _script(folder: Path, name: str) -> Path:
    """jobctl's console script, as pip writes it, under `name`."""
    script = folder / name
    script.write_text(f"#!{sys.executable}\nfrom jobctl.cli.entry import main\nmain()\n")
    script.chmod(0o755)
    return script


def test_reload_reaches_a_daemon_started_with_interpreter_options_or_through_a_link(
    env: Env,
) -> None:
    """`python -u -m jobctl up` (a container's CMD) and a link to the script under another
    name went unrecognised: reload said "no cron daemon leads on this host", exit 0, and
    the schedules were not re-read."""
    env.write_config(SCHEDULE)
    link = env.root / "jc"
    link.symlink_to(_script(env.root, "jobctl"))
    for number, argv in enumerate(([sys.executable, "-u", "-m", "jobctl"], [str(link)])):
        log = env.root / f"up{number}.log"
        daemon = _start_daemon(env, argv, log)
        try:
            result = env.run("reload")
            assert result.returncode == 0, result.stderr
            assert result.stdout.startswith("reload sent to 1 daemon(s)"), result.stdout
            env.wait_for(lambda log=log: "scheduler.reloaded" in log.read_text(), timeout=30)
        finally:
            _stop(daemon)


def test_reload_says_a_leader_it_cannot_identify_and_fails(env: Env) -> None:
    """A daemon started by a copy of the script under another name leads, yet reload said
    "no cron daemon leads on this host" and exit 0: it names the process, sends it nothing
    and exits 1."""
    env.write_config(SCHEDULE)
    log = env.root / "up.log"
    daemon = _start_daemon(env, [str(_script(env.root, "cron-runner"))], log)
    try:
        result = env.run("reload")
        assert result.returncode == 1, result
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith(
            f"jobctl: the cron daemon record of this host for database {env.db} names pid"
            f" {daemon.pid} ("
        ), line
        assert "cron-runner" in line and f"kill -HUP {daemon.pid}" in line, line
        assert "no cron daemon leads" not in line
        assert daemon.poll() is None
        assert "scheduler.reloaded" not in log.read_text()
    finally:
        _stop(daemon)


def _at_open_files_limits(env: Env, *args: str) -> dict[int, subprocess.CompletedProcess[str]]:
    """`jobctl ARGS` run as a new interpreter at open files limits from 4 up, until one gets
    past its opens: where each one fails depends on how many descriptors the interpreter's
    start takes."""
    runs = {}
    for limit in range(4, 32):
        runs[limit] = run = subprocess.run(
            [*JOBCTL, *env.global_args(), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env.env,
            cwd=env.root,
            timeout=60,
            preexec_fn=lambda limit=limit: resource.setrlimit(  # type: ignore[misc]
                resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
            ),
        )
        if run.returncode == 0 or "cannot start any job" in run.stderr:
            break
    return runs


def test_an_open_files_limit_is_said_as_such_not_as_a_folder_or_database_problem(
    env: Env,
) -> None:
    """At `ulimit -n 8` a worker said of its log folder, which existed, "make the folder"
    (exit 2); at 5 `status` said of the database "check that its directory exists and is
    writable" (exit 3). Both name the limit now, with the exit code of a worker that can
    start no job."""
    env.write_config(SCHEDULE)
    env.enqueue("tick")
    (env.root / "q.db.logs").mkdir(mode=0o700, exist_ok=True)
    for args, what in ((("status",), "database"), (("run-worker", "--burst"), "log folder")):
        runs = _at_open_files_limits(env, *args)
        said = {
            limit: run.stderr.splitlines()[-1]
            for limit, run in runs.items()
            if run.stderr.startswith((f"jobctl: {what} ", f"jobctl: cannot open {what} "))
        }
        assert said, "\n".join(f"{limit}: {run.stderr[-200:]}" for limit, run in runs.items())
        for limit, line in said.items():
            assert line.endswith(
                f": the open files limit ({limit}) is reached (raise ulimit -n or LimitNOFILE=)"
            ), line
            assert runs[limit].returncode == 1, runs[limit]


def test_a_batch_change_stopped_by_sigterm_or_sighup_says_it_as_any_command_does(
    env: Env,
) -> None:
    """A cancel of many jobs that SIGTERM (a CI runner's cancel) or SIGHUP stopped said
    "interrupted after cancelling N job(s)", as for Ctrl-C, where every other command says
    "terminated" or "hung up"."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    with open_store(str(env.db)) as store:
        for stop, word in ((signal.SIGTERM, "terminated"), (signal.SIGHUP, "hung up")):
            ids = [
                r.id
                for r in store.enqueue([NewJob(job="ok", payload={}, max_attempts=1)] * 5000, 0)
            ]
            before = _cancelled(store)
            proc = subprocess.Popen(
                [*JOBCTL, *env.global_args(), "cancel", *map(str, ids)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env.env,
                cwd=env.root,
            )
            try:
                env.wait_for(
                    lambda proc=proc, before=before: (
                        proc.poll() is not None or _cancelled(store) > before
                    ),
                    interval=0.005,
                )
                proc.send_signal(stop)
                _, err = proc.communicate(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
            cancelled = _cancelled(store) - before
            assert proc.returncode == 128 + stop, err
            assert 0 < cancelled < len(ids)
            assert err == f"jobctl: {word} after cancelling {cancelled} job(s)\n"


def _cancelled(store: Store) -> int:
    return sum(q.counts.get(State.CANCELLED, 0) for q in store.queue_counts(time.time()))


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None,
    reason="a PID namespace of its own needs root, unshare and nsenter",
)
def test_reload_s_hint_names_no_init_of_a_container_as_a_second_daemon(env: Env) -> None:
    """As a container's PID 1, `up` forks a small init that keeps its command line: reload
    on another database named "cron daemon processes 1, 2", one daemon counted twice."""
    env.write_config(SCHEDULE)
    log = env.root / "up.log"
    with log.open("w") as sink:
        container = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", *JOBCTL, *env.global_args(), "up"],
            stdout=sink,
            stderr=sink,
            env=env.env,
            cwd=env.root,
            start_new_session=True,
        )
    env.procs.append(container)  # type: ignore[arg-type]
    try:
        env.wait_for(lambda: "scheduler.leader" in log.read_text(), timeout=30)
        [init] = _children(container.pid)  # PID 1 inside
        result = subprocess.run(
            [
                "nsenter",
                "-t",
                str(init),
                "-p",
                "-m",
                *JOBCTL,
                *env.global_args(args=("--db",)),
                "--db",
                str(env.root / "other.db"),
                "reload",
            ],
            capture_output=True,
            text=True,
            env=env.env,
            cwd=env.root,
            timeout=60,
        )
        assert result.returncode == 3, result.stderr
        assert result.stderr.endswith(
            "; cron daemon process 2 runs on this host with another database: give reload the"
            " --db (or JOBCTL_DB) it was started with\n"
        ), result.stderr
    finally:
        os.killpg(container.pid, signal.SIGTERM)
        container.wait(timeout=30)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found

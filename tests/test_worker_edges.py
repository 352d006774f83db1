"""Attempts that end before their command starts: what they leave behind."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from chaoslib import page_size
from conftest import JOBCTL, Env, small_file_system
from test_ops_support import process_gone, read_pid, start_worker

# A wait on what jobctl's own commands say polls four times a second, not twenty: each look
# is a CLI call of some 40 ms of CPU, and the states waited for (a worker registered, a job
# running or finished) hold once reached.
POLL = 0.25


def test_an_attempt_of_an_unknown_job_leaves_no_log_path(env: Env) -> None:
    """The worker refuses a job its config no longer defines. Nothing was written, so there
    is no log: `show` says null, `logs` prints nothing and succeeds, `dead show` says none."""
    env.write_config('[jobs.gone]\ncommand = ["true"]\nmax_attempts = 1\n')
    job_id = env.enqueue("gone")
    env.write_config('[jobs.other]\ncommand = ["true"]\n')
    env.run("run-worker", "--burst", check=True)
    job = env.show(job_id)
    assert job["state"] == "dead"
    attempts = job["attempts_history"]
    assert isinstance(attempts, list) and len(attempts) == 1
    assert attempts[0]["log_path"] is None
    logs = env.run("logs", str(job_id))
    assert (logs.returncode, logs.stdout, logs.stderr) == (0, "", "")
    assert "log: none" in env.run("dead", "show", str(job_id), check=True).stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can switch to another user")
def test_a_job_run_as_another_user_gets_its_groups_and_home(env: Env) -> None:
    """Like cron and login: the user's primary group and supplementary groups, never root's,
    and its HOME, USER and LOGNAME; an explicit env entry still wins."""
    account = pwd.getpwnam("nobody")
    env.write_config(
        "[jobs.as]\n"
        'command = ["sh", "-c", "id -g; id -G; echo $HOME $USER $LOGNAME $SHELL $EXTRA"]\n'
        'user = "nobody"\nenv = {EXTRA = "x"}\n'
        "[jobs.home]\n"
        'command = ["sh", "-c", "echo $HOME"]\nuser = "nobody"\nenv = {HOME = "/tmp"}\n'
    )
    first, second = env.enqueue("as"), env.enqueue("home")
    env.run("run-worker", "--burst", check=True)
    assert env.show(first)["state"] == "succeeded"
    gid, groups, names = env.run("logs", str(first), check=True).stdout.splitlines()
    assert int(gid) == account.pw_gid
    assert sorted(map(int, groups.split())) == sorted(
        set(os.getgrouplist(account.pw_name, account.pw_gid))
    )
    assert "0" not in groups.split()
    assert names.split() == [account.pw_dir, "nobody", "nobody", "/bin/sh", "x"]
    assert env.run("logs", str(second), check=True).stdout.strip() == "/tmp"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can switch to another user")
def test_a_home_its_user_cannot_enter_leaves_the_job_in_the_root_folder(env: Env) -> None:
    """A service account's home that exists but is closed to it (nobody's /nonexistent
    made by root, mode 0700) failed every job with exit 126, though no `cwd` was asked
    for: it starts in /, as su and login start there. An explicit `cwd` still fails."""
    closed = env.root / "closed-home"
    closed.mkdir(mode=0o700)
    env.write_config(
        f'[jobs.home]\ncommand = ["pwd"]\nuser = "nobody"\nenv = {{HOME = "{closed}"}}\n'
        f'[jobs.cwd]\ncommand = ["pwd"]\nuser = "nobody"\ncwd = "{closed}"\nmax_attempts = 1\n'
    )
    home, cwd = env.enqueue("home"), env.enqueue("cwd")
    env.run("run-worker", "--burst", check=True)
    assert env.show(home)["state"] == "succeeded", env.show(home)["error"]
    assert env.run("logs", str(home), check=True).stdout == "/\n"
    assert "user nobody cannot enter it" in env.show(cwd)["error"]


def test_a_job_with_a_user_and_no_cwd_starts_in_that_users_home(env: Env) -> None:
    """As cron starts it: in the HOME of its environment (here set by its `env`, as a
    crontab's HOME= is), not in the worker's own directory; a `cwd` still wins."""
    me = pwd.getpwuid(os.geteuid()).pw_name
    home = env.root / "user-home"
    home.mkdir()
    env.write_config(
        f'[jobs.home]\ncommand = ["pwd"]\nuser = "{me}"\nenv = {{HOME = "{home}"}}\n'
        f'[jobs.cwd]\ncommand = ["pwd"]\nuser = "{me}"\ncwd = "/"\n'
        '[jobs.plain]\ncommand = ["pwd"]\n'
    )
    jobs = {name: env.enqueue(name) for name in ("home", "cwd", "plain")}
    worker_dir = env.root / "elsewhere"
    worker_dir.mkdir()
    env.run("run-worker", "--burst", check=True, cwd=worker_dir)
    where = {n: env.run("logs", str(i), check=True).stdout.strip() for n, i in jobs.items()}
    assert where == {"home": str(home), "cwd": "/", "plain": str(worker_dir)}


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can switch to another user")
def test_a_job_run_as_another_user_enters_its_folder_as_that_user(env: Env) -> None:
    """Popen changed folder as root, before switching users: a job could then read what lay
    below a folder closed to its user (root's home; or a crontab's HOME= line, as
    import-crontab --user makes its cwd). cron changes folder after its setuid."""
    closed = env.root / "closed"
    (closed / "sub").mkdir(parents=True)
    closed.chmod(0o700)  # root's: the user cannot pass it
    (closed / "sub").chmod(0o755)
    (closed / "sub" / "file.txt").write_text("root-private\n")
    (closed / "sub" / "file.txt").chmod(0o644)
    open_dir = "/usr"  # every user may enter it (the test's own folders lie below 0700 ones)
    env.write_config(
        f'[jobs.peek]\ncommand = ["cat", "file.txt"]\nuser = "nobody"\ncwd = "{closed / "sub"}"\n'
        "max_attempts = 1\n"
        f'[jobs.fine]\ncommand = ["pwd"]\nuser = "nobody"\ncwd = "{open_dir}"\n'
    )
    peek, fine = env.enqueue("peek"), env.enqueue("fine")
    env.run("run-worker", "--burst", check=True)
    job = env.show(peek)
    assert job["state"] == "dead"
    assert job["error"] == (
        f"exit code 126: working directory {closed / 'sub'}: user nobody cannot enter it"
    )
    assert "root-private" not in env.run("logs", str(peek)).stdout
    assert env.show(fine)["state"] == "succeeded"
    assert env.run("logs", str(fine), check=True).stdout == f"{open_dir}\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can switch to another user")
def test_a_user_whose_home_is_no_folder_starts_in_the_root_folder(env: Env) -> None:
    """A service account's home (/nonexistent) would fail every start; cron's users expect
    the job to run, and / is where systemd starts a service that names no folder."""
    missing = env.root / "nonexistent"
    env.write_config(
        f'[jobs.svc]\ncommand = ["pwd"]\nuser = "nobody"\nenv = {{HOME = "{missing}"}}\n'
    )
    job_id = env.enqueue("svc")
    env.run("run-worker", "--burst", check=True)
    assert env.show(job_id)["state"] == "succeeded", env.show(job_id)["error"]
    assert env.run("logs", str(job_id), check=True).stdout == "/\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can switch to another user")
def test_a_job_run_as_another_user_gets_none_of_the_workers_secrets(env: Env) -> None:
    """As cron: PATH, the locale and the time zone, not the worker's other variables; they
    may hold its secrets (JOBCTL_DB with a Redis password), which the user could use to
    queue a command that the worker runs as root."""
    env.write_config(
        '[jobs.as]\ncommand = ["env"]\nuser = "nobody"\nenv = {EXTRA = "x"}\n'
        '[jobs.me]\ncommand = ["env"]\nuser = "root"\n'
    )
    other, same = env.enqueue("as"), env.enqueue("me")
    env.env.update(WORKER_SECRET="s3cret", JOBCTL_DB=str(env.db), LC_TIME="C", TZ="UTC")
    env.run("run-worker", "--burst", check=True)
    seen = dict(
        line.split("=", 1) for line in env.run("logs", str(other), check=True).stdout.splitlines()
    )
    assert "WORKER_SECRET" not in seen and "JOBCTL_DB" not in seen
    assert seen["PATH"] == env.env["PATH"] and (seen["LC_TIME"], seen["TZ"]) == ("C", "UTC")
    assert (seen["USER"], seen["EXTRA"], seen["JOBCTL_JOB_ID"]) == ("nobody", "x", str(other))
    mine = env.run("logs", str(same), check=True).stdout  # root's own job: its whole env
    assert "WORKER_SECRET=s3cret" in mine


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too: its parent (init, here) has not reaped it yet
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_job_cancelled_after_its_worker_died_is_stopped_by_the_next_worker(env: Env) -> None:
    """The cancel cannot reach a killed worker; the worker that finds its lease expired
    stops the job's processes, as it does for a running job it rescues."""
    env.write_config(
        '[settings]\nlease = "1s"\n'
        '[jobs.long]\ncommand = ["sh", "-c", "echo $$ > job.pid; exec sleep 300"]\n'
    )
    pid_file = env.root / "job.pid"
    job_pid = None
    try:
        first = env.start("run-worker")
        job_id = env.enqueue("long")
        env.wait_for(lambda: pid_file.exists() and pid_file.read_text().strip())
        job_pid = int(pid_file.read_text())
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert env.run("cancel", str(job_id)).returncode == 0
        assert _alive(job_pid)
        second = env.start("run-worker")
        env.wait_for(lambda: not _alive(job_pid), timeout=30)
        attempt = env.show(job_id)["attempts_history"]
        assert isinstance(attempt, list) and attempt[0]["outcome"] == "cancelled"
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    finally:
        if job_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job_pid, signal.SIGKILL)


def test_a_job_type_added_after_the_worker_started_runs(env: Env) -> None:
    """The worker re-reads a changed config before calling a job type unknown."""
    env.write_config('[jobs.old]\ncommand = ["true"]\n')
    worker = env.start("run-worker")
    try:
        env.run("wait", str(env.enqueue("old")), "--timeout", "30s", check=True)
        env.write_config('[jobs.old]\ncommand = ["true"]\n[jobs.new]\ncommand = ["true"]\n')
        job_id = env.enqueue("new")
        waited = env.run("wait", str(job_id), "--timeout", "30s")
        assert waited.returncode == 0, env.show(job_id)
        assert env.show(job_id)["attempts"] == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0


def test_a_standby_up_runs_job_types_added_while_it_waits(env: Env) -> None:
    """Two `up` on one database: the standby's worker takes jobs too, and must know the new
    job type although its daemon, standing by, does not reload."""
    env.write_config('[jobs.old]\ncommand = ["true"]\n')
    ups = [env.start("--log-format", "json", "up", "--concurrency", "1") for _ in range(2)]
    try:
        env.run("wait", str(env.enqueue("old")), "--timeout", "30s", check=True)
        env.write_config('[jobs.old]\ncommand = ["true"]\n[jobs.new]\ncommand = ["true"]\n')
        ids = [env.enqueue("new") for _ in range(6)]
        waited = env.run("wait", *map(str, ids), "--timeout", "30s")
        listed = json.loads(env.run("list", "--json", "--limit", "0", check=True).stdout)
        jobs = [job for job in listed if job["id"] in ids]
        assert waited.returncode == 0, (waited.stderr, jobs)
        assert len(jobs) == len(ids)
        retried = [env.show(job["id"]) for job in jobs if job["attempts"] != 1]
        assert not retried, retried  # with each attempt's error, should it ever fail
    finally:
        for up in ups:
            up.send_signal(signal.SIGTERM)
        for up in ups:
            assert up.wait(timeout=30) == 0


def test_a_second_live_worker_of_the_same_name_is_refused(env: Env) -> None:
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    first = env.start("--log-format", "json", "run-worker", "--worker-name", "w1")
    try:
        env.wait_for(lambda: "w1" in env.run("status", "--json").stdout, interval=POLL)
        second = env.run("run-worker", "--worker-name", "w1", "--burst")
        assert second.returncode == 2, second
        assert second.stderr.startswith("jobctl: --worker-name 'w1': a running worker")
        assert len(second.stderr.splitlines()) == 1
        job_id = env.enqueue("ok")  # the first still has its row and its wake-up socket
        env.run("wait", str(job_id), "--timeout", "30s", check=True)
        assert "w1" in env.run("status", "--json").stdout
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
    # Once it has stopped, the name is free again.
    assert env.run("run-worker", "--worker-name", "w1", "--burst").returncode == 0


def test_dead_retry_says_which_jobs_a_taken_key_keeps_dead(env: Env) -> None:
    env.write_config(
        '[jobs.fail]\ncommand = ["false"]\nmax_attempts = 1\n[jobs.hold]\ncommand = ["true"]\n'
    )
    keyed = env.enqueue("fail", "--key", "K")
    plain = env.enqueue("fail")
    env.run("run-worker", "--burst", check=True)
    env.enqueue("hold", "--key", "K")  # queued: it holds K now
    one = env.run("dead", "retry", str(keyed))
    assert one.returncode == 1, one
    assert one.stderr == (  # one job asked for: its own line is the error, no count after it
        f"jobctl: job {keyed} has the key 'K', which an active job holds; not retried\n"
    )
    every = env.run("dead", "retry", "--all")
    assert every.returncode == 1, every
    assert every.stdout == f"retried 1 dead job(s): {plain}\n"
    assert f"job {keyed} has the key 'K'" in every.stderr
    assert env.show(plain)["state"] == "queued"
    assert env.show(keyed)["state"] == "dead"
    assert env.run("dead", "list", "--limit", "-1").returncode == 2


def test_logs_of_a_silent_attempt_its_worker_stopped_print_nothing(env: Env) -> None:
    """A shutdown interrupts a silent attempt: no file was made, and logs says nothing."""
    env.write_config('[jobs.quiet]\ncommand = ["sleep", "30"]\n')
    worker = env.start("run-worker", "--shutdown-timeout", "0s")
    job_id = env.enqueue("quiet")
    env.wait_for(lambda: env.show(job_id)["state"] == "running", interval=POLL)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    attempts = env.show(job_id)["attempts_history"]
    assert isinstance(attempts, list) and attempts[0]["outcome"] == "interrupted"
    assert attempts[0]["log_path"] is None  # not a file that was never made
    logs = env.run("logs", str(job_id), "--attempt", "1")
    assert (logs.returncode, logs.stdout, logs.stderr) == (0, "", "")


def test_a_worker_restarted_at_once_after_a_kill_keeps_its_name(env: Env) -> None:
    """systemd restarts a killed worker at once: its old heartbeat is still fresh, but its
    process is gone, so the name is free."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    first = env.start("run-worker", "--worker-name", "w1")
    env.wait_for(lambda: "w1" in env.run("status", "--json").stdout, interval=POLL)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    again = env.run("run-worker", "--worker-name", "w1", "--burst")
    assert again.returncode == 0, again.stderr


def test_logs_to_a_full_stdout_blames_stdout_not_the_log(env: Env) -> None:
    env.write_config('[jobs.talk]\ncommand = ["sh", "-c", "echo hello"]\n')
    job_id = env.enqueue("talk")
    env.run("run-worker", "--burst", check=True)
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [*JOBCTL, *env.global_args(), "logs", str(job_id)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=env.env,
            cwd=env.root,
            timeout=30,
        )
    assert result.returncode == 1
    assert result.stderr == "jobctl: cannot write to standard output: No space left on device\n"


def test_a_name_held_by_this_very_pid_is_free(tmp_path: Path) -> None:
    """A container restarts its worker as pid 1 again: the fresh row of the killed one
    carries this process's own pid, and must not keep it from starting."""
    import socket
    import time

    from jobctl.config import EMPTY_CONFIG
    from jobctl.records import WorkerInfo
    from jobctl.store.sqlite import SqliteStore
    from jobctl.worker import Worker, WorkerOptions

    store = SqliteStore(tmp_path / "q.db")
    now = time.time()
    store.register_worker(WorkerInfo("w1", socket.gethostname(), os.getpid(), ("*",), 1, now, now))
    worker = Worker(store, EMPTY_CONFIG, WorkerOptions(name="w1"), log_dir=tmp_path / "logs")
    worker._check_name_free()  # no UsageError
    store.close()


def test_a_config_read_before_the_file_changed_never_hides_the_newer_file(
    tmp_path: Path,
) -> None:
    """A worker is handed configs others read: the CLI's at start, and in `up` each one the
    cron daemon reloads, which may have been read in the middle of a rewrite (an empty file,
    after the truncation). Such a config must not make the worker call a job type unknown
    that the file defines by the time the job runs."""
    from jobctl.config import load_config_file
    from jobctl.models import NewJob, State
    from jobctl.observe.events import EventLog
    from jobctl.store.sqlite import SqliteStore
    from jobctl.worker import Worker, WorkerOptions

    path = tmp_path / "jobs.toml"
    path.write_text("")
    mid_rewrite = load_config_file(path)
    path.write_text('[jobs.new]\ncommand = ["true"]\n')

    store = SqliteStore(tmp_path / "q.db")
    with open(os.devnull, "w") as sink:
        try:
            (job,) = store.enqueue([NewJob(job="new", payload={})], 0.0)
            worker = Worker(
                store,
                mid_rewrite,
                WorkerOptions(burst=True),
                log=EventLog(sink),
                log_dir=tmp_path / "logs",
            )
            assert worker.run() == 0
            done = store.get(job.id)
        finally:
            store.close()
    assert done is not None and done.state == State.SUCCEEDED and done.attempts == 1, done


def test_an_edited_job_type_applies_to_the_next_attempt_without_a_restart(env: Env) -> None:
    """As cron re-reads a changed crontab: the attempts a worker starts after the config
    file is saved run the command it now says."""
    marker = env.root / "ran"
    env.write_config(f'[jobs.note]\ncommand = ["sh", "-c", "echo one >> {marker}"]\n')
    worker = env.start("run-worker")
    try:
        env.run("wait", str(env.enqueue("note")), "--timeout", "30s", check=True)
        env.write_config(f'[jobs.note]\ncommand = ["sh", "-c", "echo two >> {marker}"]\n')
        env.run("wait", str(env.enqueue("note")), "--timeout", "30s", check=True)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    assert marker.read_text() == "one\ntwo\n"


def test_sighup_reloads_a_worker_and_never_stops_it(env: Env) -> None:
    """A worker whose terminal goes away, or that an admin signals as any daemon, carries
    on with its jobs."""
    started, go = env.root / "started", env.root / "go"
    script = f"touch {started}; while [ ! -e {go} ]; do sleep 0.05; done"
    env.write_config(f'[jobs.slow]\ncommand = ["sh", "-c", "{script}"]\n')
    worker = env.start("run-worker")
    try:
        job_id = env.enqueue("slow")
        env.wait_for(started.exists)
        worker.send_signal(signal.SIGHUP)
        go.touch()
        env.run("wait", str(job_id), "--timeout", "30s", check=True)
        assert worker.poll() is None
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert err.count("worker.reloaded") == 1
    assert env.show(job_id)["state"] == "succeeded"


@pytest.mark.parametrize("command", ["run-worker", "schedule-daemon", "up"])
def test_sighup_before_the_handler_is_in_never_stops_a_daemon(env: Env, command: str) -> None:
    """`systemctl start` then `reload` at once sent SIGHUP while the process still started:
    it died of it, and systemd, counting that a clean exit, did not restart it. The config
    is a FIFO here, so the process waits on it, before any handler of its own, for as long
    as the test likes."""
    fifo = env.root / "fifo.toml"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [*JOBCTL, "--config", str(fifo), "--db", str(env.db), command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env.env,
        cwd=env.root,
        start_new_session=True,
    )
    try:
        env.wait_for(lambda: _waits_on_a_fifo(proc.pid))
        proc.send_signal(signal.SIGHUP)
        with fifo.open("w") as writer:  # its reader is the process: this opens at once
            writer.write(
                '[jobs.t]\ncommand = ["true"]\n[schedules.s]\njob = "t"\ncron = "0 0 1 1 *"\n'
            )
        env.wait_for(
            lambda: env.run("health", "--require-" + _KIND[command]).returncode == 0, interval=POLL
        )
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


_KIND = {"run-worker": "worker", "schedule-daemon": "scheduler", "up": "scheduler"}


def _waits_on_a_fifo(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/wchan").read_text() == "wait_for_partner"
    return False


def test_a_reload_refuses_what_validate_refuses_and_names_settings_kept_until_restart(
    env: Env,
) -> None:
    """In `up`, one file, one verdict: a bad cron expression makes the worker keep its config
    (as the daemon does), and a changed lease, which a running worker cannot take, is said."""
    marker = env.root / "ran"
    job = f'[jobs.note]\ncommand = ["sh", "-c", "echo {{word}} >> {marker}"]\n'
    env.write_config(job.replace("{word}", "one"))
    worker = env.start("up", "--concurrency", "1")
    try:
        env.run("wait", str(env.enqueue("note")), "--timeout", "30s", check=True)
        bad_cron = '[schedules.s]\njob = "note"\ncron = "61 * * * *"\n'
        env.write_config(job.replace("{word}", "two") + bad_cron)
        env.run("wait", str(env.enqueue("note")), "--timeout", "30s", check=True)
        env.write_config(job.replace("{word}", "three") + '[settings]\nlease = "45s"\n')
        env.run("wait", str(env.enqueue("note")), "--timeout", "30s", check=True)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert marker.read_text() == "one\none\nthree\n"
    assert "worker.reload_failed" in err and "cron" in err
    assert "worker.restart_needed" in err and "settings=lease" in err


def test_a_log_left_by_another_database_in_the_shared_folder_starts_empty(env: Env) -> None:
    """Two databases (or namespaces) sharing a log_dir number their jobs alike: a new
    attempt's log holds its own output, not another job's before it."""
    shared = env.root / "logs"
    env.write_config(f'[settings]\nlog_dir = "{shared}"\n[jobs.say]\ncommand = ["echo", "mine"]\n')
    (shared / "00000").mkdir(parents=True, mode=0o700)
    shared.chmod(0o700)
    (shared / "00000" / "1.1.log").write_text("another database's job 1\n")
    job_id = env.enqueue("say")
    assert job_id == 1
    env.run("run-worker", "--burst", check=True)
    assert env.run("logs", str(job_id), check=True).stdout == "mine\n"


def test_a_lone_worker_takes_job_type_edits_whatever_the_schedules_say(env: Env) -> None:
    """run-worker starts with a config whose cron line is bad (schedules are not its
    business), so its reloads must not refuse that same line either."""
    bad_cron = '[schedules.s]\njob = "a"\ncron = "61 * * * *"\n'
    env.write_config('[jobs.a]\ncommand = ["true"]\n' + bad_cron)
    worker = env.start("run-worker")
    try:
        env.run("wait", str(env.enqueue("a")), "--timeout", "30s", check=True)
        env.write_config('[jobs.a]\ncommand = ["true"]\n[jobs.b]\ncommand = ["true"]\n' + bad_cron)
        env.run("wait", str(env.enqueue("b")), "--timeout", "30s", check=True)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0


def test_a_job_that_cannot_start_is_reported_at_once(env: Env) -> None:
    """A job whose command does not exist, claimed as another ends, was reported only at the
    worker's next wake-up: the maintenance tick, 10 seconds later, once per such job."""
    env.write_config(
        '[jobs.missing]\ncommand = ["no-such-command-here"]\nmax_attempts = 1\n'
        '[jobs.ok]\ncommand = ["true"]\n'
    )
    for name in ("ok", "missing", "missing", "missing"):
        env.enqueue(name)
    env.run("run-worker", "--burst", check=True, timeout=8)  # three stalls took 30 s
    assert [env.show(i)["state"] for i in (1, 2, 3, 4)] == ["succeeded"] + ["dead"] * 3


@pytest.mark.timeout(15)
def test_a_burst_worker_ends_with_the_error_of_a_store_that_keeps_failing(tmp_path: Path) -> None:
    """--burst has an end to reach (a CI step waits for it): on a corrupt database it rode
    the error out forever, one line a minute. Past the outage grace it fails, exit 3."""
    from jobctl.clock import FakeClock
    from jobctl.config import EMPTY_CONFIG
    from jobctl.errors import StoreError
    from jobctl.models import NewJob
    from jobctl.observe.events import EventLog
    from jobctl.store.sqlite import SqliteStore
    from jobctl.worker import Worker, WorkerOptions

    class Ticking(FakeClock):
        """Five seconds pass at every look: the grace is over in a few turns."""

        def monotonic(self) -> float:
            self.advance(5.0)
            return super().monotonic()

    path = tmp_path / "q.db"
    store = SqliteStore(path)
    store.enqueue([NewJob(job="x", payload={}) for _ in range(200)], 0.0)
    (root,) = store._conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'jobs'"
    ).fetchone()
    store.close()
    with open(path, "r+b") as handle:  # garbage over the first page of the jobs table
        handle.seek((root - 1) * page_size(path))
        handle.write(b"\xff" * 64)
    store = SqliteStore(path)
    log = tmp_path / "events.log"
    try:
        with open(log, "w") as sink:
            worker = Worker(
                store,
                EMPTY_CONFIG,
                WorkerOptions(burst=True),
                clock=Ticking(),
                log=EventLog(sink),
                log_dir=tmp_path / "logs",
            )
            with pytest.raises(StoreError, match=r"corrupt.*a --burst worker waits 30s for it"):
                worker.run()
    finally:
        store.close()
    assert "worker.store_error" in log.read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can switch to another user")
def test_a_user_given_as_a_number_runs_the_job_as_that_uid(env: Env) -> None:
    uid = pwd.getpwnam("nobody").pw_uid
    env.write_config(f'[jobs.as]\ncommand = ["id", "-u"]\nuser = "{uid}"\nmax_attempts = 1\n')
    job_id = env.enqueue("as")
    env.run("run-worker", "--burst", check=True)
    assert env.show(job_id)["state"] == "succeeded", env.show(job_id)["error"]
    assert env.run("logs", str(job_id), check=True).stdout == f"{uid}\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can switch to another user")
def test_a_uid_with_no_passwd_entry_gets_its_own_number_as_group_and_no_other(env: Env) -> None:
    """Never root's group and the worker's groups: with those, such a job read /etc/shadow.
    With a `group`, that group alone."""
    uid = next(n for n in range(4242, 5000) if not _has_passwd_entry(n))
    env.write_config(
        f'[jobs.bare]\ncommand = ["sh", "-c", "id -u; id -g; id -G"]\nuser = "{uid}"\n'
        f'[jobs.grouped]\ncommand = ["sh", "-c", "id -g; id -G"]\nuser = "{uid}"\ngroup = "4343"\n'
    )
    bare, grouped = env.enqueue("bare"), env.enqueue("grouped")
    worker = subprocess.run(  # a root worker that has supplementary groups of its own
        ["setpriv", "--groups", "42,4", *JOBCTL, *env.global_args(), "run-worker", "--burst"],
        env=env.env,
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if worker.returncode != 0 and "setpriv" in worker.stderr:
        pytest.skip("setpriv cannot set groups here")
    assert worker.returncode == 0, worker.stderr
    assert env.run("logs", str(bare), check=True).stdout.split() == [str(uid)] * 3
    assert env.run("logs", str(grouped), check=True).stdout.split() == ["4343", "4343"]


def _has_passwd_entry(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small file system")
def test_a_log_folder_with_no_room_loses_the_output_not_the_job(env: Env) -> None:
    """A full disk must not kill an attempt: not when its log fills up, and not when the
    folder of a new block of job ids cannot be made."""
    with small_file_system(env.root / "full", "size=64k,nr_inodes=1") as full:
        marker = env.root / "ran"
        env.write_config(
            f'[settings]\nlog_dir = "{full}"\n'
            f'[jobs.x]\ncommand = ["sh", "-c", "echo out; touch {marker}"]\nmax_attempts = 1\n'
            '[jobs.silent]\ncommand = ["true"]\nmax_attempts = 1\n'
        )
        job_id, silent = env.enqueue("x"), env.enqueue("silent")
        env.run("run-worker", "--burst", check=True)
        job = env.show(job_id)
        assert job["state"] == "succeeded" and marker.exists()
        # Succeeded, and says that its output is gone: not mistaken for a silent job.
        assert job["error"] == "output lost (no space left on device)"
        # A job that wrote nothing lost nothing.
        assert (env.show(silent)["state"], env.show(silent)["error"]) == ("succeeded", None)


def test_output_past_a_file_size_limit_keeps_its_newest_part_in_the_log(env: Env) -> None:
    """A log that finds no room (here a file size limit on the worker, as a full disk would
    do) drops its older half, as a cut does, and keeps the newest output: the log kept the
    first bytes and lost the rest, the job's last lines (where its error is) with them."""
    import resource

    env.write_config(
        '[jobs.big]\ncommand = ["sh", "-c", "head -c 300000 /dev/zero; echo done >&2"]\n'
        "max_attempts = 1\n"
        '[jobs.bad]\ncommand = ["sh", "-c", "head -c 300000 /dev/zero; exit 3"]\n'
        "max_attempts = 1\n"
        '[jobs.small]\ncommand = ["echo", "hi"]\nmax_attempts = 1\n'
    )
    big, bad, small = env.enqueue("big"), env.enqueue("bad"), env.enqueue("small")
    limit = 200_000

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    worker = subprocess.run(
        [*JOBCTL, *env.global_args(), "run-worker", "--burst"],
        env=env.env,
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=cap,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr
    first, second, third = env.show(big), env.show(bad), env.show(small)
    assert first["state"] == "succeeded"
    assert first["error"] is None
    log = Path(str(first["attempts_history"][0]["log_path"]))  # type: ignore[index]
    assert 0 < log.stat().st_size <= limit
    text = log.read_bytes()
    assert text.startswith(b"[... ") and text.endswith(b"\0done\n")
    assert second["state"] == "dead"
    assert second["error"] == "exit code 3"
    assert (third["state"], third["error"]) == ("succeeded", None)


def test_a_user_or_group_this_host_does_not_know_is_named_in_the_error(env: Env) -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    env.write_config(
        '[jobs.nouser]\ncommand = ["true"]\nuser = "jobctl-no-such-user"\nmax_attempts = 1\n'
        f'[jobs.nogroup]\ncommand = ["true"]\nuser = "{me}"\ngroup = "jobctl-no-such-group"\n'
        "max_attempts = 1\n"
    )
    no_user, no_group = env.enqueue("nouser"), env.enqueue("nogroup")
    env.run("run-worker", "--burst", check=True)
    assert env.show(no_user)["error"] == (
        "cannot start 'true': no user 'jobctl-no-such-user' on this host"
    )
    assert env.show(no_group)["error"] == (
        "cannot start 'true': no group 'jobctl-no-such-group' on this host"
    )


def test_two_worker_names_made_alike_for_a_file_name_keep_a_socket_each(env: Env) -> None:
    """`a/b` and `a_b` both became `a_b.sock`: one worker was never woken (its pick-up fell
    from milliseconds to its half-second poll)."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok", "--delay", "1h")  # the database and its wake-up folder
    for name in ("a/b", "a_b", "x" * 90 + "1", "x" * 90 + "2"):
        start_worker(env, "--worker-name", name)
    wake = env.db.with_name(env.db.name + ".wake")
    env.wait_for(lambda: len(list(wake.glob("*.sock"))) == 4)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_worker_whose_database_file_goes_away_stops(env: Env, how: str) -> None:
    """`rm q.db*` to reset the queue, or a backup restored over it: the worker served the old
    file for good, and new jobs waited in the new one. It stops (exit 3), so that its
    supervisor starts it on the file there now."""
    env.write_config('[settings]\nlease = "1s"\n[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok", "--delay", "1h")
    worker = env.start("run-worker")
    env.wait_for(lambda: env.run("health", "--require-worker").returncode == 0, interval=POLL)
    if how == "replaced":  # made beside it first: the worker must never see the path empty
        made = env.db.with_name("new.db")
        env.run("--db", str(made), "enqueue", "ok", check=True)
        _remove_database(env)
        os.rename(made, env.db)
    else:
        _remove_database(env)
    _, err = worker.communicate(timeout=30)
    assert worker.returncode == 3, err
    word = "deleted" if how == "deleted" else "replaced by another file"
    assert err.splitlines()[-1] == (
        f"jobctl: database {env.db}: {word} while in use: start the worker again to serve it"
    )
    assert "worker.store_replaced" in err


@pytest.mark.parametrize("suffix", ["-wal", "-shm"])
def test_a_worker_whose_wal_or_shm_is_deleted_stops_and_loses_no_job(env: Env, suffix: str) -> None:
    """`rm q.db-*` under a running worker. Without its -shm, every new process used a new
    one while the worker kept the old: jobs enqueued then printed their ids and were gone
    once the worker stopped (its close checkpointed with its old view). Without its -wal, no
    other command worked ("disk I/O error") for as long as the worker ran."""
    env.write_config('[settings]\nlease = "3s"\n[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok", "--delay", "1h")
    worker = env.start("run-worker")
    env.wait_for(lambda: env.run("health", "--require-worker").returncode == 0, interval=POLL)
    kept = [env.enqueue("ok", "--delay", "1h") for _ in range(3)]
    Path(f"{env.db}{suffix}").unlink()
    if suffix == "-shm":
        kept += [env.enqueue("ok", "--delay", "1h") for _ in range(3)]
    _, err = worker.communicate(timeout=30)
    assert worker.returncode == 3, err
    # Of the worker and the next enqueue, which sees first that the -shm is gone (and the
    # enqueue makes a new one) is a race: the worker's line says which it found.
    since = ["", " (new processes use a new one)"] if suffix == "-shm" else [""]
    assert err.splitlines()[-1] in [
        f"jobctl: database {env.db}: its {suffix} file was deleted while in use{said}:"
        " start the worker again to serve it"
        for said in since
    ]
    listed = json.loads(env.run("list", "--json", "-n", "0", check=True).stdout)
    assert set(kept) <= {job["id"] for job in listed}


def test_an_io_error_from_a_deleted_wal_says_what_happened(env: Env) -> None:
    import sqlite3

    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok", "--delay", "1h")
    holder = sqlite3.connect(env.db, isolation_level=None)  # another process's, as a worker's
    try:
        holder.execute("UPDATE jobs SET priority = 1")  # changes that are in the -wal alone
        Path(f"{env.db}-wal").unlink()
        refused = env.run("enqueue", "ok")
        assert refused.returncode == 3
        assert refused.stderr == (
            f"jobctl: database {env.db}: disk I/O error: its -wal file was deleted while"
            " another process had the database open; once that process ends (jobctl workers"
            " and cron daemons stop by themselves at their next heartbeat), the database"
            " works again, with what that file held\n"
        )
    finally:
        holder.close()
    assert env.enqueue("ok") > 1


def test_a_wal_left_by_a_moved_database_is_not_destroyed(env: Env) -> None:
    """`mv q.db old.db` under a worker: the next enqueue made a new q.db, and SQLite reset
    and removed the q.db-wal that held the moved database's last changes."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok", "--delay", "1h")
    holder = __import__("sqlite3").connect(env.db)  # keeps the -wal, as a running worker
    try:
        holder.execute("SELECT count(*) FROM jobs").fetchone()
        env.enqueue("ok", "--delay", "1h")  # its changes are in the -wal alone
        env.db.rename(env.db.with_name("old.db"))
        wal = Path(f"{env.db}-wal")
        size = wal.stat().st_size
        refused = env.run("enqueue", "ok")
        assert refused.returncode == 3
        assert f"{wal} holds {size:,} bytes of changes of a database that was moved" in (
            refused.stderr
        )
        # Read commands say the same, not "nothing was ever enqueued there"; `wait --all`
        # does not pass a CI step green with "nothing to wait for".
        for args in (["status"], ["list"], ["wait", "--all"]):
            said = env.run(*args)
            assert said.returncode == 3 and "was moved or deleted while in use" in said.stderr
        assert wal.stat().st_size == size and not env.db.exists()
    finally:
        holder.close()


def _remove_database(env: Env) -> None:
    """`rm q.db q.db-wal q.db-shm` under a running process."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{env.db}{suffix}").unlink()


def test_a_cron_daemon_whose_database_file_goes_away_stops(env: Env) -> None:
    """As a worker does: checked with its heartbeat (every 5 s)."""
    env.write_config(
        '[jobs.ok]\ncommand = ["true"]\n[schedules.s]\njob = "ok"\ncron = "0 0 1 1 *"\n'
    )
    env.enqueue("ok", "--delay", "1h")
    daemon = env.start("schedule-daemon")
    env.wait_for(lambda: env.run("health", "--require-scheduler").returncode == 0, interval=POLL)
    _remove_database(env)
    _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 3, err
    assert err.splitlines()[-1] == (
        f"jobctl: database {env.db}: deleted while in use: start the cron daemon again to serve it"
    )


def test_the_started_line_of_an_exec_job_names_its_command(env: Env) -> None:
    """Every ad-hoc job is `exec`: in a worker's log they could not be told apart."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("--exec", "--", "sh", "-c", "echo hi")
    env.enqueue("ok")
    result = env.run("--log-format", "json", "run-worker", "--burst", check=True)
    started = [json.loads(line) for line in result.stderr.splitlines() if '"job.started"' in line]
    assert [(e["job"], e.get("command")) for e in started] == [
        ("exec", "sh -c 'echo hi'"),
        ("ok", None),
    ]


def test_a_job_that_enqueues_the_next_one_queues_it_where_its_worker_takes_it(
    env: Env, tmp_path: Path
) -> None:
    """A job chaining the next (`jobctl enqueue next`) saw neither the worker's --config nor
    its --db: from its own folder it found no config, or queued into another database."""
    chain = json.dumps([sys.executable, "-m", "jobctl", "enqueue", "second"])
    env.write_config(
        f'[jobs.first]\ncommand = {chain}\ncwd = "/"\n[jobs.second]\ncommand = ["true"]\n'
    )
    first = env.enqueue("first")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env.run("run-worker", "--burst", check=True, cwd=elsewhere)
    assert env.show(first)["state"] == "succeeded", env.show(first)["error"]
    jobs = json.loads(env.run("list", "--json", check=True).stdout)
    assert sorted((j["job"], j["state"]) for j in jobs) == [
        ("first", "succeeded"),
        ("second", "succeeded"),  # queued by the job, run by the same burst
    ]


def test_a_stall_of_every_worker_does_not_make_one_kill_another_s_job(env: Env) -> None:
    """The database locked (or the disk full) for longer than the lease: no worker could
    renew. The first worker back took the live worker's running job for a dead one's,
    killed it, and with max_attempts = 1 the healthy job went dead."""
    import sqlite3
    import time

    env.write_config(
        '[settings]\nlease = "1s"\n'
        '[jobs.once]\ncommand = ["sh", "-c", "touch started; sleep 4"]\nmax_attempts = 1\n'
    )
    job_id = env.enqueue("once")
    owner = env.start("run-worker")
    env.wait_for(lambda: (env.root / "started").exists())
    other = env.start("run-worker")
    env.wait_for(lambda: env.run("health", "--require-worker").returncode == 0, interval=POLL)
    time.sleep(0.5)  # the other worker is in its rhythm of looks
    blocker = sqlite3.connect(env.db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # every worker's writes wait, as on a stalled disk
    time.sleep(2.5)  # longer than the lease
    blocker.execute("ROLLBACK")
    blocker.close()
    env.wait_for(lambda: env.show(job_id)["state"] != "running", timeout=20, interval=POLL)
    job = env.show(job_id)
    assert (job["state"], job["attempts"]) == ("succeeded", 1), job["error"]
    for worker in (owner, other):
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0


def test_cutting_a_big_log_does_not_hold_it_in_memory(env: Env) -> None:
    """A cut read the kept bytes (log_max_bytes of them) into memory and built a second
    copy: with log_max_bytes = "400MiB" a worker grew to 841 MB."""
    env.write_config(
        '[settings]\nlog_max_bytes = "32MiB"\n'
        '[jobs.loud]\ncommand = ["sh", "-c", "head -c 100000000 /dev/zero"]\n'
    )
    job_id = env.enqueue("loud")
    measure = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], stderr=subprocess.DEVNULL, check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    argv = [*JOBCTL, *env.global_args(), "run-worker", "--burst"]
    done = subprocess.run(
        [sys.executable, "-c", measure, *argv], env=env.env, cwd=env.root,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    peak_kib = int(done.stdout)
    assert peak_kib < 60_000, f"{peak_kib} KiB"  # 88 MB when it held the 32 MiB twice
    log = Path(env.show(job_id)["attempts_history"][0]["log_path"])
    with open(log, "rb") as handle:
        dropped = 100_000_000 - (32 << 20)
        named = (dropped, log.stat().st_ino)
        assert (
            handle.readline()
            == b"[... %d bytes of earlier output dropped (log file %d) ...]\n" % named
        )
        assert handle.read() == b"\0" * (32 << 20)


def test_a_worker_out_of_descriptors_gives_jobs_back_instead_of_failing_them(
    env: Env,
) -> None:
    """At the open files limit (1024 by default: some 330 running jobs) every further start
    failed "Too many open files" and charged an attempt: 264 of 600 jobs went dead."""
    env.write_config(
        '[jobs.t]\ncommand = ["sh", "-c", "echo out; echo err >&2; sleep 0.3"]\nmax_attempts = 1\n'
    )
    env.run("enqueue", "--batch", "-", input='{"job": "t"}\n' * 12, check=True)
    limited = (
        "import os, resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))\n"
        "os.execv(sys.argv[1], sys.argv[1:])\n"
    )
    argv = [*JOBCTL, *env.global_args(), "run-worker", "--burst", "--concurrency", "16"]
    done = subprocess.run(
        [sys.executable, "-c", limited, *argv], env=env.env, cwd=env.root,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    states = json.loads(env.run("list", "--json", "-n", "0", check=True).stdout)
    assert {job["state"] for job in states} == {"succeeded"}
    assert {job["attempts"] for job in states} == {1}
    assert "worker.cannot_start" in done.stderr  # the limit was met, and said
    # A start the limit refused is no start: one job.started line for each job's attempt,
    # where each start given back said `job.started` as well (attempt 1 started twice).
    started = re.findall(r" job\.started +(#\d+) ", done.stderr)
    assert sorted(started) == sorted(f"#{job['id']}" for job in states), started
    # A start given back wrote nothing: no log_path points to a file never made.
    for job in states:
        for attempt in env.show(job["id"])["attempts_history"]:
            if attempt["outcome"] == "interrupted":
                assert attempt["log_path"] is None, attempt

    # Past the limit it runs as many at once as it could start, the slots its jobs free
    # being what the host allows: the jobs it gave back wait in the queue.
    holds = [line for line in done.stderr.splitlines() if "worker.cannot_start" in line]
    assert "at most" in holds[0] and "run at once" in holds[0]


def test_a_worker_names_its_database_and_says_when_it_made_it(env: Env) -> None:
    """A worker started with a mistyped --db served a new, empty database in silence."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    made = env.run("run-worker", "--burst", check=True).stderr
    assert f"db={env.db}" in made
    assert "worker.new_database" in made and "no job was ever enqueued there" in made
    again = env.run("run-worker", "--burst", check=True).stderr
    assert f"db={env.db}" in again and "worker.new_database" not in again
    # `up` fills the database it makes (its cron daemon enqueues): no warning there.
    env.db.unlink()
    env.write_config('[jobs.ok]\ncommand = ["true"]\n[schedules.s]\njob = "ok"\ncron = "@daily"\n')
    up = env.start("up")
    env.wait_for(lambda: env.run("health", "--require-worker").returncode == 0, interval=POLL)
    up.send_signal(signal.SIGTERM)
    _, err = up.communicate(timeout=30)
    assert up.returncode == 0 and "worker.started" in err and "worker.new_database" not in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_worker_whose_log_cannot_be_written_still_exits_0(env: Env) -> None:
    """Its event lines going to a full disk (or /dev/full), a --burst worker did all its
    work, then exited 120: Python's own code for a stream it could not flush at exit."""
    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    job_id = env.enqueue("ok")
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [*JOBCTL, *env.global_args(), "run-worker", "--burst"],
            stderr=full, env=env.env, cwd=env.root, timeout=60,
        )  # fmt: skip
    assert done.returncode == 0
    assert env.show(job_id)["state"] == "succeeded"


def test_a_worker_warns_of_waiting_jobs_whose_type_the_config_lost(env: Env) -> None:
    """A job type renamed in jobs.toml while jobs of it waited: nothing said so until they
    had failed every attempt and gone dead (validate cannot see the database's jobs)."""
    env.write_config('[jobs.old]\ncommand = ["true"]\n[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("old", "--delay", "1h")
    env.enqueue("old", "--delay", "1h")
    worker = env.start("run-worker")
    env.wait_for(lambda: env.run("health", "--require-worker").returncode == 0, interval=POLL)
    env.write_config('[jobs.renamed]\ncommand = ["true"]\n[jobs.ok]\ncommand = ["true"]\n')
    env.enqueue("ok")  # the worker's next claim reads the changed file
    env.wait_for(
        lambda: env.run("list", "-s", "succeeded", "--json").stdout.count('"id"') == 1,
        interval=POLL,
    )
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=30)
    (line,) = [x for x in err.splitlines() if "worker.unknown_jobs" in x]
    assert "jobs=old:2" in line and "put the job type back, or cancel them" in line
    started = env.run("run-worker", "--burst", check=True).stderr  # and at a start
    assert "worker.unknown_jobs" in started and "jobs=old:2" in started


@pytest.mark.parametrize("woken", [False, True])
def test_a_job_the_store_hands_out_again_while_it_runs_here_is_not_started_twice(
    env: Env, woken: bool
) -> None:
    """A store whose data went back in time (a Redis restored from a snapshot, a replica
    promoted behind its primary) hands out again a job a live worker runs. The worker
    started a second process beside the first, which it then never renewed, stopped or
    reported. Here the job is put back in the queue under the worker, as such a store
    would have it. Claimed again before the worker's renewal finds its lease lost (an
    enqueue wakes it), the running process goes on under the new claim; after it, the
    process being stopped ends first, given back, and the job runs again, never twice at
    once, and is not taken for cancelled."""
    env.write_config(
        '[settings]\nlease = "3s"\n[jobs.other]\ncommand = ["true"]\n[jobs.once]\n'
        'command = ["sh", "-c", "echo start >> runs; trap \'echo stop >> runs; exit 143\' TERM;'
        ' while [ ! -e go ]; do sleep 0.05; done; echo end >> runs"]\nkill_grace = "1s"\n'
    )
    job_id = env.enqueue("once")
    worker = env.start("run-worker", "--concurrency", "2")
    runs = env.root / "runs"
    env.wait_for(lambda: runs.exists(), timeout=20)
    with contextlib.closing(sqlite3.connect(env.db)) as conn:
        conn.execute(
            "UPDATE jobs SET state = 'queued', worker = NULL, lease_token = NULL,"
            " lease_expires_at = NULL WHERE id = ?",
            (job_id,),
        )
        conn.commit()
    if woken:
        env.enqueue("other")
    env.wait_for(lambda: env.show(job_id)["state"] == "running", timeout=20)

    def lease_end() -> float | None:
        with contextlib.closing(sqlite3.connect(env.db)) as conn:
            query = "SELECT lease_expires_at FROM jobs WHERE id = ?"
            end: float | None = conn.execute(query, (job_id,)).fetchone()[0]
        return end

    claimed_until = lease_end()
    # Past the next renewal (a third of the lease on): a second start would have written
    # its line by then.
    env.wait_for(lambda: lease_end() != claimed_until, timeout=20)
    (env.root / "go").touch()
    env.wait_for(lambda: env.show(job_id)["state"] == "succeeded", timeout=20, interval=POLL)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    lines = runs.read_text().split()
    assert lines in (["start", "end"], ["start", "stop", "start", "end"]), (lines, stderr)
    assert "worker.claimed_again" in stderr


def test_jobs_and_hooks_see_the_locale_the_worker_was_given(env: Env) -> None:
    """Started in the C locale, Python sets LC_CTYPE=C.UTF-8 for its children (PEP 538);
    cron's jobs see no LC_CTYPE then, and neither do jobctl's. One the worker was given
    reaches them as it was."""
    env.env = {k: v for k, v in env.env.items() if not k.startswith(("LC_", "LANG"))}
    coerced = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ.get('LC_CTYPE', ''))"],
        env=env.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not coerced:
        pytest.skip("this Python does not coerce the C locale here")
    seen = env.root / "hook.txt"
    env.write_config(
        "[jobs.show]\n"
        'command = ["sh", "-c", "echo ctype=$LC_CTYPE"]\n'
        "[jobs.fail]\n"
        'command = ["false"]\nmax_attempts = 1\n'
        f'on_dead = "echo ctype=$LC_CTYPE >> {seen}"\n'
    )
    plain, failing = env.enqueue("show"), env.enqueue("fail")
    env.run("run-worker", "--burst", check=True)
    assert env.run("logs", str(plain), check=True).stdout.strip() == "ctype="
    assert env.show(failing)["state"] == "dead"
    env.wait_for(seen.exists)
    assert seen.read_text().strip() == "ctype="

    env.env["LC_CTYPE"] = "C.UTF-8"
    given = env.enqueue("show")
    env.run("run-worker", "--burst", check=True)
    assert env.run("logs", str(given), check=True).stdout.strip() == "ctype=C.UTF-8"


def test_a_worker_started_with_sigchld_ignored_records_true_exit_codes(env: Env) -> None:
    """A parent that ignores SIGCHLD passes that on through exec: the kernel then reaps the
    worker's children itself, and their exit statuses were lost (a job exiting 0 recorded
    as exit 255 and run again, `false` with a cwd recorded as succeeded)."""
    env.write_config(
        '[jobs.ok]\ncommand = ["true"]\nmax_attempts = 1\n'
        '[jobs.bad]\ncommand = ["false"]\ncwd = "/tmp"\nmax_attempts = 1\n'
    )
    ok, bad = env.enqueue("ok"), env.enqueue("bad")
    ignoring = (
        "import os, signal, sys; signal.signal(signal.SIGCHLD, signal.SIG_IGN);"
        " os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
    )
    subprocess.run(
        [sys.executable, "-c", ignoring, *JOBCTL[1:], *env.global_args(), "run-worker", "--burst"],
        env=env.env,
        cwd=env.root,
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert (env.show(ok)["state"], env.show(ok)["exit_code"]) == ("succeeded", 0)
    assert (env.show(bad)["state"], env.show(bad)["exit_code"]) == ("dead", 1)


def test_a_worker_back_from_a_suspend_leaves_the_leases_it_slept_through(tmp_path: Path) -> None:
    """After a suspend the wall clock, which leases are counted on, has moved on while the
    monotonic clock stood still: every lease on the host looks expired. A worker that
    looked only at the monotonic clock took its neighbours' healthy jobs for lost (killing
    them, and running them again). It leaves them until they had their time to renew."""
    from jobctl.clock import FakeClock
    from jobctl.config import EMPTY_CONFIG
    from jobctl.models import NewJob, State
    from jobctl.observe.events import EventLog
    from jobctl.store.sqlite import SqliteStore
    from jobctl.worker import Worker, WorkerOptions

    clock = FakeClock()
    store = SqliteStore(tmp_path / "q.db")
    try:
        store.enqueue([NewJob(job="x", payload={})], clock.now())
        lease = EMPTY_CONFIG.settings.lease
        (claim,) = store.claim("neighbour:1", None, clock.now(), lease)
        with open(tmp_path / "events.log", "w") as sink:
            worker = Worker(
                store,
                EMPTY_CONFIG,
                WorkerOptions(),
                clock=clock,
                log=EventLog(sink),
                log_dir=tmp_path / "logs",
            )
            worker._maintain()
            with clock._lock:  # suspended for two leases: the wall clock alone moves
                clock._now += 2 * lease
            worker._maintain()
            assert store.get(claim.job.id).state == State.RUNNING
            for _ in range(2):  # the neighbour never renews: it is gone after all
                clock.advance(lease / 3)  # (a look every third of a lease)
                worker._maintain()
            assert store.get(claim.job.id).state == State.QUEUED
    finally:
        store.close()


def test_a_timeout_is_kept_while_another_process_holds_the_database_lock(env: Env) -> None:
    """The worker waits for a lock another writer holds (a large batch, a sqlite3 shell) up
    to SQLite's busy timeout, inside one store call: a `timeout = "2s"` job ran until the
    lock came free. Its timeout is served at every turn of that wait."""
    env.write_config(
        '[settings]\nlease = "3s"\n'  # a lease renewal each second: soon blocked on the lock
        '[jobs.slow]\ncommand = ["sh", "-c", "echo $$ > job.pid; exec sleep 30"]\n'
        'timeout = "2s"\nkill_grace = "0"\nmax_attempts = 1\n'
    )
    job_id = env.enqueue("slow")
    worker = env.start("run-worker", "--burst")
    env.wait_for(lambda: read_pid(env.root / "job.pid") is not None)
    started = time.monotonic()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
            " c.execute('BEGIN IMMEDIATE'); print('held', flush=True); time.sleep(8);"
            " c.execute('COMMIT')",
            str(env.db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        job_pid = read_pid(env.root / "job.pid")
        assert job_pid is not None
        env.wait_for(lambda: process_gone(job_pid), timeout=20)
        assert time.monotonic() - started < 5.0  # 2s, and a turn of the wait: not 8s
        assert holder.poll() is None  # the lock was still held when the job was stopped
    finally:
        holder.kill()  # its lock has done its part: no need to wait out its 8 s
        holder.wait(timeout=30)
    assert worker.wait(timeout=60) == 0
    job = env.show(job_id)
    assert job["state"] == "dead"
    assert "timeout" in str(job["error"])


def test_a_worker_out_of_descriptors_runs_as_many_as_the_host_allows(env: Env) -> None:
    """Out of file descriptors, a worker claimed its whole --concurrency again after each
    hold, and gave back all it could not start, as interrupted runs: 124 of them for 60
    jobs. It runs as many at once as it could start, and the rest wait in the queue."""
    import resource

    env.write_config('[jobs.loud]\ncommand = ["sh", "-c", "echo a; sleep 0.3; echo b"]\n')
    batch = env.root / "batch.jsonl"
    batch.write_text('{"job": "loud"}\n' * 60)
    env.run("enqueue", "--batch", str(batch), check=True)

    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))

    worker = subprocess.run(
        [*JOBCTL, *env.global_args(), "run-worker", "--concurrency", "30", "--burst"],
        env=env.env,
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=few_descriptors,
    )
    assert worker.returncode == 0, worker.stderr
    assert worker.stderr.count("job.succeeded") == 60
    # The first claim's overflow (30 claimed, some 8 started), and hardly any after.
    assert worker.stderr.count("job.interrupted") < 40, worker.stderr.count("job.interrupted")
    assert "at most" in worker.stderr


def _job_started(pid_file: Path) -> Callable[[], bool]:
    return lambda: read_pid(pid_file) is not None


def test_the_on_dead_hook_of_a_job_the_shutdown_made_dead_gets_its_hook_timeout(
    env: Env,
) -> None:
    """A job with max_attempts = 1 stopped by a shutdown goes dead and its on_dead hook runs:
    the hook had only what was left of --shutdown-timeout (none with 0), and was killed
    ('stopped by worker shutdown') before the one alert that the job was lost went out."""
    ran = env.root / "hook-ran.txt"
    pid_file = env.root / "job.pid"
    env.write_config(
        '[settings]\nhook_timeout = "30s"\n'
        "[jobs.once]\n"
        f'command = ["sh", "-c", "trap \'\' TERM; echo $$ > {pid_file}; sleep 60"]\n'
        'max_attempts = 1\nkill_grace = "1s"\n'
        f'on_dead = "sleep 0.5; echo hook done > {ran}"\n'
    )
    worker = start_worker(env, "--shutdown-timeout", "0")
    job_id = env.enqueue("once")
    env.wait_for(_job_started(pid_file))
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert env.show(job_id)["state"] == "dead"
    assert "hook.failed" not in stderr
    assert ran.read_text() == "hook done\n"


def test_a_second_signal_stops_the_hooks_a_shutdown_waits_for(env: Env) -> None:
    """The hooks a shutdown set off get their own hook_timeout; a second SIGTERM while they
    run still stops the worker, and them, at once."""
    ran, hook_pid = env.root / "hook-ran.txt", env.root / "hook.pid"
    pid_file = env.root / "job.pid"
    env.write_config(
        '[settings]\nhook_timeout = "60s"\n'
        "[jobs.once]\n"
        f'command = ["sh", "-c", "echo $$ > {pid_file}; exec sleep 60"]\n'
        "max_attempts = 1\n"
        f'on_dead = "echo $$ > {hook_pid}; sleep 30; echo hook done > {ran}"\n'
    )
    worker = start_worker(env, "--shutdown-timeout", "0")
    env.enqueue("once")
    env.wait_for(_job_started(pid_file))
    worker.send_signal(signal.SIGTERM)
    env.wait_for(_job_started(hook_pid))
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=15)
    assert worker.returncode == 0, stderr
    assert "hook.failed" in stderr
    pid = read_pid(hook_pid)
    assert pid is not None
    env.wait_for(lambda: process_gone(pid), timeout=10)
    assert not ran.exists()


def test_sigquit_stops_a_worker_at_once_and_gives_its_jobs_back(env: Env) -> None:
    """Ctrl-\\ (SIGQUIT) killed the worker outright, without a line, and left its job's
    process running unsupervised until the lease ran out: it is a stop at once now."""
    pid_file = env.root / "job.pid"
    env.write_config(
        f'[jobs.slow]\ncommand = ["sh", "-c", "echo $$ > {pid_file}; exec sleep 300"]\n'
    )
    worker = start_worker(env)
    job_id = env.enqueue("slow")
    env.wait_for(_job_started(pid_file))
    worker.send_signal(signal.SIGQUIT)
    _, stderr = worker.communicate(timeout=15)
    assert worker.returncode == 0, stderr
    assert "stopping at once" in stderr
    pid = read_pid(pid_file)
    assert pid is not None and process_gone(pid)
    assert env.show(job_id)["state"] == "queued"


def test_sigquit_stops_a_cron_daemon(env: Env) -> None:
    from jobctl.store.sqlite import SqliteStore

    env.write_config(
        '[jobs.tick]\ncommand = ["true"]\n[schedules.tick]\ncron = "0 0 1 1 *"\njob = "tick"\n'
    )
    daemon = env.start("schedule-daemon")

    def registered() -> bool:
        if daemon.poll() is not None or not env.db.exists():
            return daemon.poll() is not None
        with SqliteStore(env.db, create=False) as store:
            return any(w.pid == daemon.pid for w in store.workers())

    env.wait_for(registered)
    daemon.send_signal(signal.SIGQUIT)
    _, stderr = daemon.communicate(timeout=15)
    assert daemon.returncode == 0, stderr


def test_the_unit_s_stop_timeout_counts_the_hooks_a_shutdown_sets_off() -> None:
    """systemd's SIGKILL must come after the jobs' --shutdown-timeout and kill_grace and then
    the on_dead hooks' own hook_timeout (and their kill grace), or it kills the alert."""
    from test_observe_contrib import UNIT, _command, _one, _option, _timespan, _unit

    from jobctl.config import load_config_file
    from jobctl.durations import parse_duration
    from jobctl.observe.hooks import HOOK_KILL_GRACE

    service = _unit()["Service"]
    shutdown = parse_duration(_option(_command(service, "ExecStart"), "--shutdown-timeout", "30s"))
    example = load_config_file(UNIT.parent.parent / "jobs.toml.example")
    grace = max(job.kill_grace for job in example.jobs.values())
    hooks = max(
        [example.settings.hook_timeout]
        + [job.hook_timeout for job in example.jobs.values() if job.hook_timeout is not None]
    )
    budget = shutdown + grace + hooks + HOOK_KILL_GRACE
    assert _timespan(_one(service, "TimeoutStopSec")) > budget


def test_a_burst_worker_finishes_a_cancel_whose_worker_died(env: Env) -> None:
    """Cancelled while it ran, then its worker was killed during the kill grace: a --burst
    worker exited at once and left the job `stopping` for good, its command running and its
    key taken (`enqueue --key` refused, with only --burst workers in CI). It waits out the
    lease, kills the processes left behind, and lets the key go."""
    env.write_config(
        '[settings]\nlease = "1s"\n'
        '[jobs.build]\ncommand = ["sh", "-c", "trap \\"\\" TERM; echo $$ > job.pid; sleep 300"]\n'
        'kill_grace = "60s"\n'
    )
    pid_file = env.root / "job.pid"
    job_pid = None
    try:
        first = start_worker(env)
        job_id = env.enqueue("build", "--key", "release")
        env.wait_for(lambda: read_pid(pid_file))
        job_pid = read_pid(pid_file)
        assert job_pid is not None
        assert env.run("cancel", str(job_id)).returncode == 0
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        burst = env.run("run-worker", "--burst", timeout=30)
        assert burst.returncode == 0, burst.stderr
        assert process_gone(job_pid)
        (attempt,) = env.show(job_id)["attempts_history"]  # type: ignore[misc]
        assert attempt["outcome"] == "cancelled"
        again = env.run("enqueue", "build", "--key", "release")
        assert again.returncode == 0, again.stderr
        assert int(again.stdout) != job_id
    finally:
        if job_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job_pid, signal.SIGKILL)


def test_a_burst_worker_that_can_start_no_job_ends_with_an_error(env: Env) -> None:
    """At an open files limit its own descriptors nearly fill (ulimit -n 16), no job can
    start: a --burst worker backed off up to 30 s at a time for ever, and the CI step hung
    until its own timeout. With none of its jobs running, none frees a descriptor: it gives
    up after its second try, and the job stays queued, its attempt not counted."""
    import resource

    env.write_config('[jobs.ok]\ncommand = ["true"]\n')
    job_id = env.enqueue("ok")

    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))

    started = time.monotonic()
    worker = subprocess.run(
        [*JOBCTL, *env.global_args(), "run-worker", "--burst", "--concurrency", "10"],
        env=env.env,
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=90,
        preexec_fn=few_descriptors,
    )
    assert worker.returncode == 1, worker.stderr[-2000:]
    assert time.monotonic() - started < 20
    last = worker.stderr.strip().splitlines()[-1]
    assert "cannot start any job: the open files limit (16) leaves no descriptor for one" in last
    shown = env.show(job_id)
    assert (shown["state"], shown["attempts"]) == ("queued", 0)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can switch to another user")
def test_a_relative_cwd_of_a_job_run_as_another_user_is_the_configs_folder(env: Env) -> None:
    """With the config found as ./jobs.toml, `cwd = "sub"` stayed relative, and a job run as
    another user, which enters its folder from /, failed: `working directory sub: user
    nobody cannot enter it`."""
    import shutil
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="jobctl-relative-cwd-"))  # nobody can reach it
    try:
        top.chmod(0o755)
        (top / "sub").mkdir(mode=0o755)
        (top / "jobs.toml").write_text(
            '[jobs.w]\ncommand = ["pwd"]\ncwd = "sub"\nuser = "nobody"\nmax_attempts = 1\n'
        )
        job_id = int(env.run("enqueue", "w", config=False, cwd=top, check=True).stdout)
        env.run("run-worker", "--burst", config=False, cwd=top, check=True)
        assert env.show(job_id)["state"] == "succeeded", env.show(job_id)
        assert env.run("logs", str(job_id), check=True).stdout == f"{top / 'sub'}\n"
    finally:
        shutil.rmtree(top, ignore_errors=True)

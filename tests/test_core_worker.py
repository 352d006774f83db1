"""End to end: workers against one real SQLite file, with real job processes.

Covers concurrency (many workers, every job exactly once), crash recovery through leases,
timeouts that kill whole process trees, graceful and forced shutdown, pick-up of new work
by an idle worker, and `--burst`.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import os
import re
import resource
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Env

# A wait on what jobctl's own commands say polls four times a second, not twenty: each look
# is a CLI call of some 40 ms of CPU, and the states waited for (a worker registered, a job
# running or finished) hold once reached.
POLL = 0.25

# ---------------------------------------------------------------------------------------------
# Helpers


def process_alive(pid: int) -> bool:
    """True while `pid` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text else None


def read_stderr_until(proc: subprocess.Popen[str], needle: str, timeout: float = 30.0) -> str:
    """Read a background process's stderr (raw fd, never the text wrapper) until `needle`."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    buffer = b""
    deadline = time.monotonic() + timeout
    while needle.encode() not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{needle!r} not seen on stderr within {timeout}s: {buffer!r}")
        readable, _, _ = select.select([fd], [], [], remaining)
        if readable:
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"stderr closed before {needle!r} appeared: {buffer!r}")
            buffer += chunk
    return buffer.decode()


def stop_worker(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def timestamp(iso: Any) -> float:
    assert isinstance(iso, str), iso
    moment = datetime.fromisoformat(iso)
    assert moment.tzinfo is not None, iso
    return moment.timestamp()


def history(job: dict[str, Any]) -> list[dict[str, Any]]:
    attempts = job["attempts_history"]
    assert isinstance(attempts, list)
    return attempts


def list_all(env: Env) -> list[dict[str, Any]]:
    result = env.run("list", "--json", "--limit", "0", check=True)
    jobs = json.loads(result.stdout)
    assert isinstance(jobs, list)
    return jobs


# ---------------------------------------------------------------------------------------------
# 1. Many workers, one database: every job exactly once


# Enough for every worker to claim, again and again, beside the three others (hundreds of
# claims each at a concurrency of 2), yet each job one short `sh`.
JOBS = 600


def test_four_workers_run_600_jobs_exactly_once(env: Env) -> None:
    env.write_config('[jobs.append]\ncommand = ["sh", "-c", "echo $JOBCTL_JOB_ID >> out.txt"]\n')
    lines = json.dumps({"job": "append"}) + "\n"
    enqueued = env.run("enqueue", "--batch", "-", input=lines * JOBS, check=True)
    ids = [int(word) for word in enqueued.stdout.split()]
    assert len(ids) == JOBS
    assert len(set(ids)) == JOBS

    def worker(_: int) -> subprocess.CompletedProcess[str]:
        return env.run("run-worker", "--burst", "--concurrency", "2", timeout=100)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(worker, range(4)))

    ran_by: list[list[int]] = []
    for result in results:
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Traceback" not in result.stderr
        ran_by.append([int(n) for n in re.findall(r"job\.succeeded\s+#(\d+)", result.stderr)])
    # The workers' own reports: each job succeeded in exactly one worker, exactly once.
    reported = sorted(n for ran in ran_by for n in ran)
    assert reported == sorted(ids)
    assert sum(1 for ran in ran_by if ran) >= 2, "the workers did not share the queue"
    # What the jobs themselves observed: each ran exactly once.
    out = (env.root / "out.txt").read_text().split()
    assert sorted(int(n) for n in out) == sorted(ids)
    # What the database says.
    jobs = list_all(env)
    assert len(jobs) == JOBS
    assert {job["state"] for job in jobs} == {"succeeded"}
    assert {job["attempts"] for job in jobs} == {1}
    assert {job["exit_code"] for job in jobs} == {0}


def test_a_queue_s_max_running_holds_across_worker_processes(env: Env) -> None:
    """[queues.NAME] max_running = 1: two workers of concurrency 3 never run two of its
    jobs at once (each holds a lock directory while it runs, and fails if it finds one),
    while jobs of another queue use the slots left."""
    env.write_config(
        "[queues.serial]\nmax_running = 1\n\n"
        '[jobs.one]\nqueue = "serial"\nmax_attempts = 1\n'
        'command = ["sh", "-c", "mkdir held || exit 99; sleep 0.05; rmdir held"]\n\n'
        '[jobs.other]\ncommand = ["sh", "-c", "echo $JOBCTL_JOB_ID >> other.txt"]\n'
    )
    lines = '{"job": "one"}\n' * 30 + '{"job": "other"}\n' * 30
    env.run("enqueue", "--batch", "-", input=lines, check=True)

    def worker(_: int) -> subprocess.CompletedProcess[str]:
        return env.run("run-worker", "--burst", "--concurrency", "3", timeout=100)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(worker, range(2)))
    for result in results:
        assert result.returncode == 0, result.stderr[-2000:]
    jobs = list_all(env)
    assert {job["state"] for job in jobs} == {"succeeded"}, [
        (job["id"], job["exit_code"]) for job in jobs if job["state"] != "succeeded"
    ]
    assert len((env.root / "other.txt").read_text().split()) == 30
    # status says which queue has a limit: a backlog that waits on it is not a stuck worker.
    queues = {q["queue"]: q for q in json.loads(env.run("status", "--json").stdout)["queues"]}
    assert (queues["serial"]["max_running"], queues["default"]["max_running"]) == (1, None)
    assert re.search(r"serial .* 0/1 ", env.run("status").stdout)
    # And validate reads the table; a bad value names the key.
    env.write_config('[queues.serial]\nmax_running = 0\n[jobs.one]\ncommand = ["true"]\n')
    bad = env.run("validate")
    assert bad.returncode == 2
    assert "[queues.serial] max_running: must be between 1 and 1000000" in bad.stderr


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ('"0/1s"', "its number of starts must be between 1 and 1000000, got '0/1s'"),
        ('"1000001/1m"', "its number of starts must be between 1 and 1000000"),
        ('"1' + "0" * 5000 + '/1m"', "its number of starts must be between 1 and 1000000"),
        ('"5/500ms"', "its duration must be between 1s and 1d, got '5/500ms'"),
        ('"5/2d"', "its duration must be between 1s and 1d, got '5/2d'"),
        ('"5/0"', "its duration must be between 1s and 1d"),
        ('"100/m"', "its duration needs a number: 100/1m, not '100/m'"),
        ('"5/1x"', "invalid duration '1x'"),
        ('"fast"', "expected STARTS/DURATION, like '100/1m'"),
        ('"-5/1s"', "expected STARTS/DURATION"),
        ('"2.5/1s"', "expected STARTS/DURATION"),
        ("100", "expected a string, got an integer"),
    ],
)
def test_a_queue_s_bad_rate_is_refused_naming_its_file_line_and_key(
    env: Env, value: str, says: str
) -> None:
    """[queues.NAME] rate = "N/DURATION": N from 1 to 1,000,000, DURATION in jobctl's one
    duration format from 1s to 1d. A bad one is refused by the config's loading, so by
    validate and by every command that reads the config, as max_running's are."""
    config = env.write_config(f'[jobs.one]\ncommand = ["true"]\n\n[queues.mail]\nrate = {value}\n')
    bad = env.run("validate")
    assert bad.returncode == 2, bad
    assert bad.stderr.startswith(f"jobctl: {config}:5: [queues.mail] rate: {says}"), bad.stderr
    assert len(bad.stderr.splitlines()) == 1 and "Traceback" not in bad.stderr
    assert env.run("enqueue", "one").returncode == 2


def test_a_queue_s_rate_reads_in_any_duration_beside_max_running(env: Env) -> None:
    from jobctl.config import load_config
    from jobctl.models import Rate

    config = env.write_config(
        '[jobs.one]\ncommand = ["true"]\n\n'
        '[queues.mail]\nmax_running = 2\nrate = " 100 / 1h30m "\n[queues.b]\nrate = "1/1d"\n'
    )
    assert env.run("validate", check=True).stdout.endswith("ok (1 job, 0 schedules)\n")
    loaded = load_config(str(config))
    assert loaded.queue_rates == {"mail": Rate(100, 5400.0), "b": Rate(1, 86400.0)}
    assert loaded.queue_limits == {"mail": 2}
    assert str(loaded.queue_rates["mail"]) == "100/1h30m"


# ---------------------------------------------------------------------------------------------
# 2. A worker killed with SIGKILL: its lease expires and another worker runs the job


def test_killed_worker_job_is_completed_by_another_worker(env: Env) -> None:
    env.write_config(
        '[settings]\nlease = "1s"\n\n'
        "[jobs.block]\n"
        'command = ["sh", "-c", "touch started.$JOBCTL_ATTEMPT; '
        'while [ ! -e release ]; do sleep 0.05; done"]\n'
    )
    release = env.root / "release"
    try:
        first = env.start("run-worker", "--worker-name", "first")
        job_id = env.enqueue("block")
        env.wait_for(lambda: (env.root / "started.1").exists())
        assert env.show(job_id)["state"] == "running"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

        second = env.start("run-worker", "--worker-name", "second")
        env.wait_for(lambda: (env.root / "started.2").exists(), timeout=30)
        job = env.show(job_id)
        assert job["state"] == "running"
        assert job["attempts"] == 2
        lost = history(job)[0]
        assert lost["worker"] == "first"
        assert lost["outcome"] == "lost"
        assert "lease expired" in lost["error"]

        release.touch()
        waited = env.run("wait", str(job_id), "--timeout", "30s")
        assert waited.returncode == 0, waited.stderr
        job = env.show(job_id)
        assert job["state"] == "succeeded"
        assert job["attempts"] == 2
        attempts = history(job)
        assert [a["outcome"] for a in attempts] == ["lost", "succeeded"]
        assert [a["worker"] for a in attempts] == ["first", "second"]
        assert stop_worker(second) == 0
    finally:
        release.touch()  # lets the orphaned first attempt (its own session) end too


def test_a_burst_worker_runs_again_the_job_of_a_worker_killed_a_moment_ago(env: Env) -> None:
    """A CI step that runs `run-worker --burst` after a crash saw the job `running` and
    exited at once, leaving it running for nobody: it now waits out the dead worker's lease
    and runs the job again. A live worker's running job does not hold it."""
    env.write_config(
        '[settings]\nlease = "2s"\n\n'
        "[jobs.once]\n"
        'command = ["sh", "-c", "touch started.$JOBCTL_ATTEMPT; [ $JOBCTL_ATTEMPT -ge 2 ]'
        ' || exec sleep 300"]\n'
    )
    first = env.start("run-worker", "--worker-name", "first")
    job_id = env.enqueue("once")
    env.wait_for(lambda: (env.root / "started.1").exists())
    beside = env.run("run-worker", "--burst", timeout=60)  # the first worker lives: no wait
    assert beside.returncode == 0 and env.show(job_id)["attempts"] == 1
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    result = env.run("run-worker", "--burst", timeout=60)
    assert result.returncode == 0, result.stderr
    job = env.show(job_id)
    assert (job["state"], job["attempts"]) == ("succeeded", 2)
    assert [a["outcome"] for a in history(job)] == ["lost", "succeeded"]


def test_lost_job_without_attempts_left_goes_dead(env: Env) -> None:
    env.write_config(
        '[settings]\nlease = "1s"\n\n'
        "[jobs.once]\n"
        'command = ["sh", "-c", "echo $$ > job.pid; exec sleep 300"]\n'
        "max_attempts = 1\n"
    )
    job_pid = None
    try:
        first = env.start("run-worker")
        job_id = env.enqueue("once")
        env.wait_for(lambda: read_pid(env.root / "job.pid") is not None)
        job_pid = read_pid(env.root / "job.pid")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        # Another worker, a burst one: it waits out the lease of the killed one.
        second = env.run("run-worker", "--burst", timeout=60)
        assert second.returncode == 0, second.stderr
        waited = env.run("wait", str(job_id), "--timeout", "30s")
        assert waited.returncode == 1, waited.stderr
        job = env.show(job_id)
        assert job["state"] == "dead"
        assert job["attempts"] == 1
        assert "lease expired" in str(job["error"])
        assert job["finished_at"] is not None
        assert [a["outcome"] for a in history(job)] == ["lost"]
    finally:
        if job_pid is not None:  # the orphaned attempt, in its own session
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job_pid, signal.SIGKILL)


def test_a_long_job_keeps_its_lease_and_runs_once(env: Env) -> None:
    # Leases of 1s are renewed every ~0.33s: a 2.5s job must not be taken by the idle worker.
    env.write_config(
        '[settings]\nlease = "1s"\n\n'
        "[jobs.long]\n"
        'command = ["sh", "-c", "echo $JOBCTL_ATTEMPT >> runs.txt; sleep 2.5"]\n'
    )
    workers = [env.start("run-worker") for _ in range(2)]
    job_id = env.enqueue("long")
    waited = env.run("wait", str(job_id), "--timeout", "30s")
    assert waited.returncode == 0, waited.stderr
    assert (env.root / "runs.txt").read_text() == "1\n"
    job = env.show(job_id)
    assert job["attempts"] == 1
    assert [a["outcome"] for a in history(job)] == ["succeeded"]
    for worker in workers:
        assert stop_worker(worker) == 0


# ---------------------------------------------------------------------------------------------
# 3. Timeouts stop the whole process tree; so does a job that leaves processes behind


def test_timeout_kills_grandchildren(env: Env) -> None:
    env.write_config(
        "[jobs.slow]\n"
        'command = ["sh", "-c", "sleep 300 & echo $! > grandchild.pid; wait"]\n'
        'timeout = "1s"\n'
        "max_attempts = 1\n"
    )
    job_id = env.enqueue("slow")
    result = env.run("run-worker", "--burst", timeout=60)
    assert result.returncode == 0, result.stderr
    job = env.show(job_id)
    assert job["state"] == "dead"
    assert str(job["error"]).startswith("timeout after 1s")
    (attempt,) = history(job)
    assert attempt["outcome"] == "timeout"
    assert str(attempt["error"]).startswith("timeout after 1s")
    grandchild = read_pid(env.root / "grandchild.pid")
    assert grandchild is not None
    assert not process_alive(grandchild)
    waited = env.run("wait", str(job_id))
    assert waited.returncode == 1


def test_timeout_kills_a_tree_that_ignores_sigterm(env: Env) -> None:
    env.write_config(
        "[jobs.stubborn]\n"
        'command = ["sh", "-c", "trap \'\' TERM; echo $$ > leader.pid; '
        'sleep 300 & echo $! > grandchild.pid; wait"]\n'
        'timeout = "1s"\n'
        'kill_grace = "300ms"\n'
        "max_attempts = 1\n"
    )
    job_id = env.enqueue("stubborn")
    started = time.monotonic()
    result = env.run("run-worker", "--burst", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 10, "SIGKILL should follow kill_grace, long before the sleep ends"
    job = env.show(job_id)
    assert job["state"] == "dead"
    assert str(job["error"]).startswith("timeout after 1s")
    for name in ("leader.pid", "grandchild.pid"):
        pid = read_pid(env.root / name)
        assert pid is not None
        assert not process_alive(pid), name
    leader = read_pid(env.root / "leader.pid")
    assert leader is not None
    assert group_members(leader) == []


def test_processes_left_behind_by_a_finished_job_are_stopped(env: Env) -> None:
    # One background process keeps the job's stdout/stderr, the other closes them.
    env.write_config(
        "[jobs.leaky]\n"
        'command = ["sh", "-c", "sleep 300 & echo $! > a.pid; '
        'sleep 300 >/dev/null 2>&1 </dev/null & echo $! > b.pid; echo $$ > leader.pid"]\n'
    )
    job_id = env.enqueue("leaky")
    result = env.run("run-worker", "--burst", timeout=60)
    assert result.returncode == 0, result.stderr
    assert env.show(job_id)["state"] == "succeeded"
    for name in ("a.pid", "b.pid"):
        pid = read_pid(env.root / name)
        assert pid is not None
        assert not process_alive(pid), name
    leader = read_pid(env.root / "leader.pid")
    assert leader is not None
    assert group_members(leader) == []


PR_SET_CHILD_SUBREAPER = 36


@contextlib.contextmanager
def non_reaping_parent() -> Iterator[None]:
    """Make this test process the parent of orphans and leave them unreaped for a while, as
    a busy init does, or a worker running as PID 1 in a container."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        pytest.skip("prctl(PR_SET_CHILD_SUBREAPER) is not available")
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def test_timeout_is_not_delayed_by_unreaped_grandchildren(env: Env) -> None:
    # A killed grandchild stays a zombie until its new parent reaps it; the attempt
    # must not wait for that (a zombie is not a live member of the group).
    env.write_config(
        "[jobs.slow]\n"
        'command = ["sh", "-c", "sleep 300 & echo $! > grandchild.pid; wait"]\n'
        'timeout = "1s"\n'
        "max_attempts = 1\n"
    )
    job_id = env.enqueue("slow")
    grandchild = None
    with non_reaping_parent():
        try:
            result = env.run("run-worker", "--burst", timeout=60)
        finally:
            grandchild = read_pid(env.root / "grandchild.pid")
            if grandchild is not None:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(grandchild, 0)  # it became our child: reap it now
    assert result.returncode == 0, result.stderr
    job = env.show(job_id)
    assert str(job["error"]).startswith("timeout after 1s")
    (attempt,) = history(job)
    assert attempt["duration_s"] < 3.0, attempt["duration_s"]


# Processes of the attempt's session in a group of their own: coreutils `timeout` makes one
# (setpgid), and so does each background job of a shell with job control (`set -m`).
OWN_GROUP = {
    "timeout": "timeout 300 sh -c 'echo $$ > grandchild.pid; exec sleep 300'",
    "job control": "exec bash -c 'set -m; sleep 300 & echo $! > grandchild.pid; wait'",
}


@pytest.mark.parametrize("wrapper", sorted(OWN_GROUP))
def test_timeout_kills_processes_in_a_group_of_their_own(env: Env, wrapper: str) -> None:
    """A signal to the leader's group alone left these running after the job was recorded
    dead ("timeout after 1s"), where a `timeout 300 rsync ...` in a job script kept going."""
    command = json.dumps(["sh", "-c", OWN_GROUP[wrapper]])
    env.write_config(
        f'[jobs.slow]\ncommand = {command}\ntimeout = "1s"\nkill_grace = "300ms"\n'
        "max_attempts = 1\n"
    )
    job_id = env.enqueue("slow")
    result = env.run("run-worker", "--burst", timeout=60)
    assert result.returncode == 0, result.stderr
    assert str(env.show(job_id)["error"]).startswith("timeout after 1s")
    grandchild = read_pid(env.root / "grandchild.pid")
    assert grandchild is not None
    env.wait_for(lambda: not process_alive(grandchild), timeout=5)


def test_cancel_and_max_running_reach_a_process_in_a_group_of_its_own(env: Env) -> None:
    """`cancel` said the worker stopped the job while its `timeout`-wrapped command ran on,
    and the next job of a `max_running = 1` queue started beside it."""
    command = json.dumps(["sh", "-c", OWN_GROUP["timeout"].replace("grandchild", "$JOBCTL_JOB_ID")])
    env.write_config(
        '[queues.one]\nmax_running = 1\n[jobs.slow]\nqueue = "one"\nkill_grace = "300ms"\n'
        f"command = {command}\nmax_attempts = 1\n"
    )
    first, second = env.enqueue("slow"), env.enqueue("slow")
    worker = env.start("run-worker", "--concurrency", "2")
    env.wait_for(lambda: read_pid(env.root / f"{first}.pid") is not None, timeout=20)
    first_pid = read_pid(env.root / f"{first}.pid")
    assert first_pid is not None
    env.run("cancel", str(first), check=True)
    env.wait_for(lambda: read_pid(env.root / f"{second}.pid") is not None, timeout=20)
    assert not process_alive(first_pid), "the cancelled job's command still runs"
    second_pid = read_pid(env.root / f"{second}.pid")
    assert second_pid is not None
    env.run("cancel", str(second), check=True)
    env.wait_for(lambda: not process_alive(second_pid), timeout=5)
    assert stop_worker(worker) == 0


def test_a_leftover_in_a_group_of_its_own_is_stopped_when_the_job_ends(env: Env) -> None:
    """The leader exits and leaves a process of its session that made a group of its own,
    holding the job's output: it is stopped as leftovers in the leader's group are."""
    command = json.dumps(["bash", "-c", "set -m; sleep 300 & echo $! > grandchild.pid; exit 0"])
    env.write_config(f'[jobs.leaves]\ncommand = {command}\nkill_grace = "300ms"\n')
    job_id = env.enqueue("leaves")
    result = env.run("run-worker", "--burst", timeout=60)
    assert result.returncode == 0, result.stderr
    assert env.show(job_id)["state"] == "succeeded"
    grandchild = read_pid(env.root / "grandchild.pid")
    assert grandchild is not None
    env.wait_for(lambda: not process_alive(grandchild), timeout=5)


# ---------------------------------------------------------------------------------------------
# 4. Shutdown: graceful, out of time, and forced by a second Ctrl-C


def test_sigterm_lets_the_running_job_finish(env: Env) -> None:
    env.write_config(
        "[jobs.work]\n"
        'command = ["sh", "-c", "touch started; while [ ! -e go ]; do sleep 0.02; done; '
        'touch finished"]\n'
    )
    worker = env.start("run-worker")
    try:
        job_id = env.enqueue("work")
        env.wait_for(lambda: (env.root / "started").exists())
        waiting = env.enqueue("work")  # the worker is busy: this one waits in the queue
        worker.send_signal(signal.SIGTERM)
        read_stderr_until(worker, "worker.stopping")
        assert worker.poll() is None, "the worker must wait for its running job"
    finally:
        (env.root / "go").touch()  # never leave the job (in its own session) looping
    assert worker.wait(timeout=30) == 0
    assert (env.root / "finished").exists()
    job = env.show(job_id)
    assert job["state"] == "succeeded"
    assert job["attempts"] == 1
    assert [a["outcome"] for a in history(job)] == ["succeeded"]
    # A stopping worker claims nothing more.
    left = env.show(waiting)
    assert left["state"] == "queued"
    assert left["attempts"] == 0
    assert history(left) == []


def test_sigterm_with_a_short_job_exits_zero_after_it(env: Env) -> None:
    env.write_config(
        '[jobs.second]\ncommand = ["sh", "-c", "touch started; sleep 1; touch finished"]\n'
    )
    worker = env.start("run-worker")
    job_id = env.enqueue("second")
    env.wait_for(lambda: (env.root / "started").exists())
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert (env.root / "finished").exists()
    assert env.show(job_id)["state"] == "succeeded"


def test_shutdown_timeout_requeues_the_job_without_counting_the_attempt(env: Env) -> None:
    env.write_config(
        '[jobs.long]\ncommand = ["sh", "-c", "echo $$ > job.pid; exec sleep 300"]\n'
        "max_attempts = 2\n"
    )
    worker = env.start("run-worker", "--shutdown-timeout", "200ms")
    job_id = env.enqueue("long")
    env.wait_for(lambda: read_pid(env.root / "job.pid") is not None)
    job_pid = read_pid(env.root / "job.pid")
    assert job_pid is not None
    signalled = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    elapsed = time.monotonic() - signalled
    assert 0.2 <= elapsed < 10
    assert not process_alive(job_pid)
    job = env.show(job_id)
    assert job["state"] == "queued"
    assert job["attempts"] == 0
    assert job["worker"] is None
    (attempt,) = history(job)
    assert attempt["outcome"] == "interrupted"
    # How its process ended, as the worker's job.interrupted line says it.
    assert (attempt["signal"], attempt["exit_code"]) == (15, 143)
    assert attempt["error"] == "stopped by worker shutdown"


def test_a_rerun_after_a_shutdown_tells_itself_apart_by_its_run_number(env: Env) -> None:
    """The attempt a shutdown gave back does not count, so JOBCTL_ATTEMPT is 1 again on the
    rerun; JOBCTL_RUN counts every start."""
    env.write_config(
        "[jobs.twice]\n"
        'command = ["sh", "-c", "echo $JOBCTL_ATTEMPT/$JOBCTL_RUN >> runs.txt;'
        ' if [ $JOBCTL_RUN = 1 ]; then exec sleep 300; fi"]\n'
    )
    worker = env.start("run-worker", "--shutdown-timeout", "200ms")
    job_id = env.enqueue("twice")
    env.wait_for(lambda: (env.root / "runs.txt").exists())
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    env.run("run-worker", "--burst", check=True)
    assert env.show(job_id)["state"] == "succeeded"
    assert (env.root / "runs.txt").read_text().split() == ["1/1", "1/2"]


def test_a_job_with_one_attempt_stopped_by_a_shutdown_is_not_run_again(env: Env) -> None:
    """max_attempts = 1 is the way to run a command at most once (a deploy, a migration):
    given back by a shutdown, it ran a second time from the start under the next worker."""
    marker = env.root / "dead.txt"
    env.write_config(
        '[jobs.once]\ncommand = ["sh", "-c", "echo $$ > job.pid; exec sleep 300"]\n'
        f'max_attempts = 1\non_dead = "echo $JOBCTL_JOB_ID > {marker}"\n'
    )
    worker = env.start("run-worker", "--shutdown-timeout", "200ms")
    job_id = env.enqueue("once")
    env.wait_for(lambda: read_pid(env.root / "job.pid") is not None)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    job = env.show(job_id)
    assert (job["state"], job["attempts"]) == ("dead", 1)
    (attempt,) = history(job)
    assert attempt["outcome"] == "interrupted"
    assert "not run again" in str(attempt["error"])
    assert marker.read_text().strip() == str(job_id)  # its on_dead hook ran
    env.run("run-worker", "--burst", check=True)
    assert len(history(env.show(job_id))) == 1


@pytest.mark.parametrize("stop", ["shutdown", "cancel"])
def test_a_job_that_exits_0_on_sigterm_is_not_taken_for_done(env: Env, stop: str) -> None:
    """A service-like job ends cleanly on SIGTERM. Stopped by a worker's shutdown it was
    recorded as succeeded, and never run again; a cancelled one got a succeeded attempt."""
    env.write_config(
        "[jobs.svc]\n"
        'command = ["sh", "-c", "trap \'exit 0\' TERM; echo $$ > job.pid;'
        ' while :; do sleep 0.05; done"]\n'
    )
    worker = env.start("run-worker", "--shutdown-timeout", "200ms")
    job_id = env.enqueue("svc")
    env.wait_for(lambda: read_pid(env.root / "job.pid") is not None)
    if stop == "shutdown":
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        job = env.show(job_id)
        assert (job["state"], job["attempts"]) == ("queued", 0)
        wanted = ("interrupted", "stopped by worker shutdown")
    else:
        env.run("cancel", str(job_id), check=True)
        env.wait_for(lambda: history(env.show(job_id))[-1]["outcome"] is not None, interval=POLL)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        assert env.show(job_id)["state"] == "cancelled"
        wanted = ("cancelled", "cancelled")
    (attempt,) = history(env.show(job_id))
    assert (attempt["outcome"], attempt["error"], attempt["exit_code"]) == (*wanted, 0)


@pytest.mark.parametrize("command", ["run-worker", "up"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_second_stop_signal_stops_at_once(env: Env, command: str, signum: int) -> None:
    # The job ignores SIGTERM and the grace periods are long: only a forced stop is quick.
    # A supervisor or CI runner may send SIGTERM twice, as a user presses Ctrl-C twice.
    env.write_config(
        "[jobs.stubborn]\n"
        'command = ["sh", "-c", "trap \'\' TERM; echo $$ > job.pid; sleep 300"]\n'
        'kill_grace = "60s"\n'
    )
    worker = env.start(command, "--shutdown-timeout", "60s")
    job_id = env.enqueue("stubborn")
    env.wait_for(lambda: read_pid(env.root / "job.pid") is not None)
    job_pid = read_pid(env.root / "job.pid")
    assert job_pid is not None
    worker.send_signal(signum)
    read_stderr_until(worker, "worker.stopping")
    assert worker.poll() is None
    signalled = time.monotonic()
    worker.send_signal(signum)
    assert worker.wait(timeout=30) == 0
    assert time.monotonic() - signalled < 10
    assert group_members(job_pid) == []
    job = env.show(job_id)
    assert job["state"] == "queued"
    assert job["attempts"] == 0
    assert [a["outcome"] for a in history(job)] == ["interrupted"]


def test_worker_does_not_spin_after_the_shutdown_deadline(env: Env) -> None:
    # Past --shutdown-timeout the jobs get their kill_grace; the worker must sleep meanwhile.
    env.write_config(
        "[jobs.stubborn]\n"
        'command = ["sh", "-c", "trap \'\' TERM; touch started; sleep 300"]\n'
        'kill_grace = "2s"\n'
    )
    env.enqueue("stubborn")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker = env.start("run-worker", "--shutdown-timeout", "100ms")
    env.wait_for(lambda: (env.root / "started").exists())
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The worker's CPU time over its whole life (start-up included), mostly spent waiting.
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert cpu < 0.9, f"the worker used {cpu:.2f}s of CPU while waiting ~2s"


# ---------------------------------------------------------------------------------------------
# 8. Pick-up: an idle worker starts new work at once (a sanity bound; benchmarks measure it)


def test_idle_worker_picks_up_new_jobs_quickly(env: Env) -> None:
    # The default lease is 30s, so without a wake-up the idle worker would sleep ~10s.
    env.write_config('[jobs.quick]\ncommand = ["true"]\n')
    worker = env.start("run-worker")
    warm_up = env.enqueue("quick")  # not measured: the worker may still be starting
    assert env.run("wait", str(warm_up), "--timeout", "30s").returncode == 0
    for _ in range(3):  # the worker is idle now, asleep until woken
        job_id = env.enqueue("quick")
        waited = env.run("wait", str(job_id), "--timeout", "30s")
        assert waited.returncode == 0, waited.stderr
        job = env.show(job_id)
        latency = timestamp(job["started_at"]) - timestamp(job["created_at"])
        # A wake-up takes milliseconds; without one the look every lease/3 comes after 10 s.
        # 3 s tells them apart on a loaded machine too.
        assert 0 <= latency < 3.0, f"picked up after {latency:.3f}s"
    assert stop_worker(worker) == 0


# ---------------------------------------------------------------------------------------------
# 9. --burst


def test_burst_exits_zero_when_nothing_is_ready(env: Env) -> None:
    env.write_config('[jobs.quick]\ncommand = ["true"]\n')
    started = time.monotonic()
    result = env.run("run-worker", "--burst", timeout=30)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 10
    assert list_all(env) == []


def test_burst_waits_for_its_own_retries(env: Env) -> None:
    env.write_config(
        "[jobs.flaky]\n"
        'command = ["sh", "-c", "[ \\"$JOBCTL_ATTEMPT\\" -ge 3 ]"]\n'
        "max_attempts = 3\n"
        'backoff = "200ms"\n'
    )
    job_id = env.enqueue("flaky")
    result = env.run("run-worker", "--burst", timeout=60)
    assert result.returncode == 0, result.stderr
    job = env.show(job_id)
    assert job["state"] == "succeeded"
    assert job["attempts"] == 3
    assert [a["outcome"] for a in history(job)] == ["failed", "failed", "succeeded"]


def test_burst_is_not_kept_alive_by_a_job_delayed_an_hour(env: Env) -> None:
    env.write_config('[jobs.quick]\ncommand = ["true"]\n')
    later = env.enqueue("quick", "--delay", "1h")
    now = env.enqueue("quick")
    started = time.monotonic()
    result = env.run("run-worker", "--burst", timeout=30)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10
    assert env.show(now)["state"] == "succeeded"
    delayed = env.show(later)
    assert delayed["state"] == "scheduled"
    assert delayed["attempts"] == 0


def test_a_job_that_exited_0_before_a_shutdown_is_not_run_again(env: Env) -> None:
    """The job was done, and its leftover child was being stopped when the shutdown came:
    recorded as interrupted (exit code 0), it was given back and would run a second time."""
    env.write_config(
        "[jobs.done]\n"
        """command = ["sh", "-c", "(trap '' TERM; sleep 100) & echo $! > child.pid; exit 0"]\n"""
        'kill_grace = "3s"\n'
    )
    worker = env.start("run-worker", "--shutdown-timeout", "200ms")
    job_id = env.enqueue("done")
    env.wait_for(lambda: read_pid(env.root / "child.pid") is not None)
    time.sleep(0.3)  # the job has exited; its worker is stopping the child it left
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    job = env.show(job_id)
    assert (job["state"], job["attempts"]) == ("succeeded", 1), history(job)


def test_a_changed_max_running_applies_to_the_next_claim(env: Env) -> None:
    """The worker read its config before a start, after the claim: a limit lowered from 2
    to 1 let a third job start beside the second (2/1), and one raised was not seen by a
    worker that the old limit kept from starting anything."""
    config = '[jobs.s]\ncommand = ["sleep", "60"]\nqueue = "lim"\n[queues.lim]\nmax_running = {}\n'
    env.write_config(config.format(2))
    worker = env.start("run-worker", "--concurrency", "3", "--shutdown-timeout", "100ms")
    ids = [env.enqueue("s") for _ in range(3)]

    def running() -> list[int]:
        listed = json.loads(env.run("list", "--json", "-s", "running", check=True).stdout)
        return sorted(job["id"] for job in listed)

    env.wait_for(lambda: len(running()) == 2, interval=POLL)
    env.write_config(config.format(1))
    env.run("cancel", str(running()[0]), check=True)  # its slot frees: the limit is 1 now
    env.wait_for(lambda: len(running()) == 1, interval=POLL)
    time.sleep(0.5)
    assert len(running()) == 1 and env.show(ids[2])["state"] == "queued"
    env.write_config(config.format(3))
    env.enqueue("s")  # wakes the worker, which the old limit kept from claiming
    env.wait_for(lambda: len(running()) == 3, timeout=10, interval=POLL)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0


# ---------------------------------------------------------------------------------------------
# 10. One database, several paths to it


@pytest.mark.parametrize("through", ["a link to the file", "a linked folder"])
def test_a_worker_and_a_client_on_two_paths_to_one_database_share_wake_ups_and_logs(
    env: Env, through: str
) -> None:
    """A worker named the database through a link to its file, a client by its own path:
    each made its wake folder beside the path it was given, so the worker slept through the
    enqueue (its periodic check, seconds later) and wrote its logs in a folder of its own."""
    real = env.root / "real"
    real.mkdir(mode=0o700)
    env.db = real / "q.db"
    if through == "a link to the file":
        (env.root / "link.db").symlink_to(env.db)
        linked = dataclasses.replace(env, db=env.root / "link.db")
    else:
        (env.root / "linkdir").symlink_to(real)
        linked = dataclasses.replace(env, db=env.root / "linkdir" / "q.db")
    env.write_config('[jobs.say]\ncommand = ["echo", "hi"]\n')
    warm_up = env.enqueue("say")  # makes the database; the worker may still be starting
    worker = linked.start("run-worker")
    assert env.run("wait", str(warm_up), "--timeout", "30s").returncode == 0
    job_id = env.enqueue("say")  # the worker is idle now, asleep until woken
    waited = env.run("wait", str(job_id), "--timeout", "30s")
    assert waited.returncode == 0, waited.stderr
    job = env.show(job_id)
    latency = timestamp(job["started_at"]) - timestamp(job["created_at"])
    # A wake-up, not the look every lease/3 (10 s), on a loaded machine too.
    assert 0 <= latency < 3.0, f"picked up after {latency:.3f}s"
    (attempt,) = history(job)
    assert Path(attempt["log_path"]).parent.parent == real.resolve() / "q.db.logs"
    assert env.run("logs", str(job_id), check=True).stdout == "hi\n"
    assert sorted(p.name for p in env.root.iterdir()) == [
        "home",
        "jobs.toml",
        "linkdir" if through == "a linked folder" else "link.db",
        "real",
    ]
    assert stop_worker(worker) == 0

"""Many processes against one Redis: a worker fleet that loses a member to SIGKILL, and two
cron daemons whose leader dies.

Workers present different host names (distinct --worker-name) and share one redis-server on
loopback. Every job records when each of its runs started and ended, so the test can check
that all jobs succeeded and that no job ever ran concurrently with itself. The full-scale
variants run under `make chaos` (pytest -m chaos); the default suite runs short ones.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import JOBCTL
from redis_server import RedisEnv, RedisServer, namespace_for, start_server

from jobctl.models import JobFilter, State
from jobctl.store.redis import RedisStore

LEASE = 2.0  # the workers' job lease: a killed worker's jobs run again after this


def spawn(env: RedisEnv, log: Path, *args: str) -> subprocess.Popen[str]:
    """Start `jobctl ARGS` with its output in a file (a pipe nobody reads would fill up)."""
    with log.open("a") as handle:
        proc = subprocess.Popen(
            [*JOBCTL, *env.global_args(), *args],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
            env=env.env,
            cwd=env.root,
            start_new_session=True,
        )
    env.procs.append(proc)
    return proc


def wait_until(what: str, condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def logged(log: Path, event: str, job_id: int) -> bool:
    """Whether a worker's log file holds its `event` line of job `job_id` (job.started once
    the job runs, job.succeeded once the store holds its success)."""
    return any(line.split()[1:3] == [event, f"#{job_id}"] for line in log.read_text().splitlines())


def succeeded_in(log: Path, job_id: int) -> bool:
    return logged(log, "job.succeeded", job_id)


def stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    return proc.wait(timeout=60)


# ---------------------------------------------------------------------------------------------
# Workers


@dataclass(frozen=True)
class Run:
    start: float
    end: float | None


def runs_of(folder: Path) -> dict[int, list[Run]]:
    """Per job id, the runs its command recorded ("s TIME" then "e TIME" per run)."""
    found: dict[int, list[Run]] = {}
    for path in folder.iterdir():
        runs: list[Run] = []
        for line in path.read_text().splitlines():
            mark, stamp = line.split()
            if mark == "s":
                runs.append(Run(float(stamp), None))
            else:
                # An end belongs to the latest run without one (they never interleave unless
                # two runs overlapped, which the check below reports).
                open_runs = [i for i, r in enumerate(runs) if r.end is None]
                runs[open_runs[0]] = Run(runs[open_runs[0]].start, float(stamp))
        found[int(path.name)] = runs
    return found


def fleet(env: RedisEnv, jobs: int, timeout: float) -> tuple[dict[int, list[Run]], RedisStore]:
    """3 workers on "hosts" a, b and c drain `jobs` jobs; b is SIGKILLed a third of the way."""
    marks = env.root / "runs"
    marks.mkdir()
    script = (
        f'f={marks}/$JOBCTL_JOB_ID; echo "s $EPOCHREALTIME" >> "$f"; sleep 0.02; '
        'echo "e $EPOCHREALTIME" >> "$f"'
    )
    env.write_config(
        f'[settings]\nlease = "{LEASE:g}s"\n\n'
        f'[jobs.mark]\ncommand = ["bash", "-c", \'{script}\']\nmax_attempts = 5\n'
    )
    batch = "".join('{"job": "mark"}\n' for _ in range(jobs))
    env.run("enqueue", "--batch", "-", input=batch, check=True, timeout=120)
    store = RedisStore(env.url, create=False)
    workers = {
        host: spawn(
            env, env.root / f"{host}.log", "run-worker", "-n", "2", "--worker-name", f"host-{host}"
        )
        for host in "abc"
    }

    def succeeded() -> int:
        (counts,) = store.queue_counts(time.time())
        return counts.counts.get(State.SUCCEEDED, 0)

    wait_until("a third of the jobs", lambda: succeeded() >= jobs // 3, timeout)
    workers["b"].send_signal(signal.SIGKILL)  # the worker only: its jobs' processes live on
    assert workers["b"].wait(timeout=10) == -signal.SIGKILL
    wait_until("every job to succeed", lambda: succeeded() == jobs, timeout)
    for host in "ac":
        assert stop(workers[host]) == 0, (env.root / f"{host}.log").read_text()[-2000:]
    return runs_of(marks), store


def check_fleet(runs: dict[int, list[Run]], store: RedisStore, jobs: int) -> None:
    assert sorted(runs) == list(range(1, jobs + 1))
    for job_id, job_runs in runs.items():
        ordered = sorted(job_runs, key=lambda r: r.start)
        assert all(r.end is not None for r in ordered), f"job {job_id}: a run never ended"
        for earlier, later in itertools.pairwise(ordered):
            assert earlier.end is not None and earlier.end <= later.start, (
                f"job {job_id} ran concurrently with itself: {ordered}"
            )
    everything = store.list_jobs(JobFilter(limit=None))
    assert len(everything) == jobs and {j.state for j in everything} == {State.SUCCEEDED}
    lost = [j for j in everything if j.attempts > 1]
    assert lost, "the killed worker held no job: nothing was recovered"
    by_worker: dict[str, int] = {}
    for job in everything:
        for attempt in store.attempts(job.id):
            by_worker[attempt.worker] = by_worker.get(attempt.worker, 0) + 1
    assert set(by_worker) == {"host-a", "host-b", "host-c"}


@pytest.mark.timeout(180)
def test_a_fleet_loses_a_worker_and_no_job(redis_env: RedisEnv) -> None:
    runs, store = fleet(redis_env, jobs=120, timeout=90)
    with store:
        check_fleet(runs, store, 120)


@pytest.mark.chaos
@pytest.mark.timeout(900)
def test_full_scale_fleet(redis_env: RedisEnv, request: pytest.FixtureRequest) -> None:
    expr = (request.config.option.markexpr or "").strip()
    if "chaos" not in expr or "not chaos" in expr:
        pytest.skip("full scale: run with `make chaos` (pytest -m chaos)")
    runs, store = fleet(redis_env, jobs=5_000, timeout=600)
    with store:
        check_fleet(runs, store, 5_000)


@pytest.mark.timeout(120)
def test_a_worker_rides_out_a_restart_of_the_server(tmp_path: Path, redis_env: RedisEnv) -> None:
    aof = ("--appendonly", "yes", "--appendfsync", "always")
    server = start_server(tmp_path / "restarted", *aof)
    env = redis_env
    env.url = server.url("restart")
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    log = env.root / "worker.log"
    try:
        first = env.enqueue("noop")
        worker = spawn(env, log, "run-worker")
        wait_until("the first job", lambda: succeeded_in(log, first), 30)
        assert env.show(first)["state"] == "succeeded"
        server.stop()  # a restart: the append-only file keeps the queue
        wait_until("the worker to notice", lambda: "worker.store_error" in log.read_text(), 30)
        server = start_server(tmp_path / "restarted", *aof, port=server.port)
        second = env.enqueue("noop")
        wait_until("the second job", lambda: succeeded_in(log, second), 30)
        assert env.show(second)["state"] == "succeeded"
        assert env.show(first)["state"] == "succeeded"
        assert worker.poll() is None
        assert stop(worker) == 0
        assert "worker.registered_again" not in log.read_text()  # its record was kept
    finally:
        server.stop()


@pytest.mark.timeout(120)
def test_a_worker_says_so_when_the_server_comes_back_without_its_data(
    tmp_path: Path, redis_env: RedisEnv
) -> None:
    """A restart that lost everything (no persistence) drops the connection first: the
    worker registered again on its way back from the outage, and said nothing; the warning
    meant for it came only after a FLUSHDB, with the connection kept."""
    server = start_server(tmp_path / "emptied")
    env = redis_env
    env.url = server.url("emptied")
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    log = env.root / "worker.log"
    try:
        first = env.enqueue("noop")
        worker = spawn(env, log, "run-worker")
        wait_until("the first job", lambda: succeeded_in(log, first), 30)
        assert env.show(first)["state"] == "succeeded"
        server.stop()
        wait_until("the worker to notice", lambda: "worker.store_error" in log.read_text(), 30)
        server = start_server(tmp_path / "emptied", port=server.port)
        wait_until("the worker back", lambda: "worker.store_back" in log.read_text(), 30)
        assert stop(worker) == 0
        assert "worker.registered_again" in log.read_text()
    finally:
        server.stop()


def test_a_store_outage_is_retried_once_a_second_not_at_every_line_of_output(
    tmp_path: Path, redis_env: RedisEnv
) -> None:
    # While the store is down the worker keeps serving its running attempts (their output
    # wakes it up all the time), but it tries the store again only once a second.
    server = start_server(tmp_path / "outage", "--appendonly", "yes")
    env = redis_env
    env.url = server.url("outage")
    chatty = "import time\nfor i in range(1500):\n    print(i, flush=True)\n    time.sleep(0.001)"
    env.write_config(f"[jobs.chatty]\ncommand = {json.dumps([sys.executable, '-c', chatty])}\n")
    log = env.root / "worker.log"
    try:
        job = env.enqueue("chatty")
        worker = spawn(env, log, "--log-level", "debug", "run-worker", "--concurrency", "2")
        wait_until("the job to run", lambda: logged(log, "job.started", job), 30)
        assert env.show(job)["state"] == "running"
        server.stop()
        time.sleep(1.2)  # the outage: past one retry, the job writing a line each ms meanwhile
        server = start_server(tmp_path / "outage", "--appendonly", "yes", port=server.port)
        wait_until("the job to end", lambda: succeeded_in(log, job), 60)
        assert env.show(job)["state"] == "succeeded"
        assert stop(worker) == 0
        text = log.read_text()
        assert text.count("worker.store_error") == 1  # one line, however long the outage
        tries = text.count("worker.store_error") + text.count("worker.store_retry")
        assert 1 <= tries <= 6, tries  # each try is a debug line: about one a second
    finally:
        server.stop()


def waiting_on(env: RedisEnv, server: RedisServer, *args: str) -> subprocess.Popen[str]:
    """`jobctl wait ARGS` with a queued job, once it is connected to the server (so that
    stopping the server next is an outage under its polling, not a failure to start)."""
    env.write_config('[jobs.noop]\ncommand = ["true"]\n')
    job = env.enqueue("noop")
    waiting = subprocess.Popen(
        [*JOBCTL, *env.global_args(), "wait", str(job), *args],
        stderr=subprocess.PIPE,
        text=True,
        env=env.env,
        cwd=env.root,
    )
    probe = server.client()
    wait_until("wait to connect", lambda: len(probe.client_list()) >= 2, 30)
    probe.close()
    return waiting


def test_wait_rides_out_a_short_outage_of_the_server(tmp_path: Path, redis_env: RedisEnv) -> None:
    """As workers do: a blip of the server is no reason for `wait` to give up (exit 3)."""
    aof = ("--appendonly", "yes", "--appendfsync", "always")
    server = start_server(tmp_path / "blip", *aof)
    redis_env.url = server.url("blip")
    try:
        waiting = waiting_on(redis_env, server, "--timeout", "60s")
        server.stop()
        time.sleep(1.5)  # the outage, in real time: `wait` polls a real server
        server = start_server(tmp_path / "blip", *aof, port=server.port)
        redis_env.run("run-worker", "--burst", check=True)
        _, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 0, err
    finally:
        server.stop()


def test_wait_keeps_its_timeout_while_the_server_is_down(
    tmp_path: Path, redis_env: RedisEnv
) -> None:
    server = start_server(tmp_path / "down")
    redis_env.url = server.url("down")
    try:
        started = time.monotonic()
        waiting = waiting_on(redis_env, server, "--timeout", "2s")
        server.stop()
        _, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 124, err  # its timeout, not the outage's 30 s grace
        assert time.monotonic() - started < 15
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# Cron daemons

DAEMON_LEASE = 1.5  # the cron leader's lease: the longest a dead leader's fires may wait


def cron_env(env: RedisEnv, server: RedisServer) -> RedisEnv:
    env.url = server.url(namespace_for(env.root), leader_lease=f"{int(DAEMON_LEASE * 1000)}ms")
    env.write_config(
        '[jobs.tick]\ncommand = ["true"]\n\n'
        '[schedules.every-second]\njob = "tick"\ncron = "* * * * * *"\n'
        'catch_up = "all"\ncatch_up_limit = 100\noverlap = "allow"\ntimezone = "UTC"\n'
    )
    return env


def fires(store: RedisStore) -> list[tuple[float, float]]:
    """(fire time, enqueued at) of every tick job, by fire time."""
    jobs = store.list_jobs(JobFilter(job="tick", limit=None, newest_first=False))
    return sorted((j.fire_time, j.created_at) for j in jobs if j.fire_time is not None)


def check_each_second_once(found: list[tuple[float, float]]) -> None:
    times = [fire for fire, _ in found]
    assert len(times) == len(set(times)), "a fire was enqueued twice"
    steps = {round(b - a, 6) for a, b in itertools.pairwise(times)}
    assert steps == {1.0}, f"fires missing between {times[0]} and {times[-1]}: steps {steps}"


@pytest.mark.timeout(120)
def test_the_standby_daemon_takes_over_within_one_lease(
    redis_env: RedisEnv, redis_server: RedisServer
) -> None:
    env = cron_env(redis_env, redis_server)
    env.enqueue("tick", "--delay", "1h")  # creates the namespace
    first_log, second_log = env.root / "first.log", env.root / "second.log"
    first = spawn(env, first_log, "schedule-daemon")
    wait_until("a leader", lambda: "scheduler.leader" in first_log.read_text(), 30)
    second = spawn(env, second_log, "schedule-daemon")
    wait_until("a standby", lambda: "scheduler.standby" in second_log.read_text(), 30)
    store = RedisStore(env.url, create=False)
    with store:
        wait_until("three fires", lambda: len(fires(store)) >= 3, 30)
        first.send_signal(signal.SIGKILL)
        killed_at = time.time()
        first.wait(timeout=10)
        wait_until(
            "the standby to fire three times",
            lambda: len([f for f in fires(store) if f[1] > killed_at]) >= 3,
            30,
        )
        assert stop(second) == 0
        found = fires(store)
    check_each_second_once(found)
    resumed = min(at for _, at in found if at > killed_at)
    # The lease runs out at most one lease after the leader's last renewal (which came before
    # its death); the standby tries again the moment it does. 0.3s is for process wake-ups.
    assert resumed - killed_at <= DAEMON_LEASE + 0.3, (resumed - killed_at, found)
    assert "scheduler.leader" in second_log.read_text()


@pytest.mark.timeout(120)
def test_a_leader_that_loses_its_lease_stops_firing_and_stands_by(
    redis_env: RedisEnv, redis_server: RedisServer
) -> None:
    env = cron_env(redis_env, redis_server)
    env.enqueue("tick", "--delay", "1h")
    log = env.root / "daemon.log"
    daemon = spawn(env, log, "schedule-daemon")
    wait_until("a leader", lambda: "scheduler.leader" in log.read_text(), 30)
    store = RedisStore(env.url, create=False)
    client = redis_server.client()
    leader_key = f"{store.prefix}leader"
    with store:
        wait_until("two fires", lambda: len(fires(store)) >= 2, 30)
        # Another daemon (as after a network split) holds the lease now, for 1.6 seconds: the
        # leader notices within a renewal (lease/3), so over a second stays in which it would
        # have fired.
        client.set(leader_key, "999:impostor", px=1600)
        stolen_at = time.time()
        wait_until(
            "the lost leadership", lambda: "scheduler.lost_leadership" in log.read_text(), 10
        )
        lost_at = time.time()
        wait_until("leadership again", lambda: log.read_text().count("scheduler.leader") >= 2, 10)
        regained_at = time.time()
        wait_until("a fire after that", lambda: max(at for _, at in fires(store)) > regained_at, 10)
        assert stop(daemon) == 0
        found = fires(store)
    client.close()
    assert lost_at - stolen_at <= DAEMON_LEASE + 0.3  # noticed at the next renewal
    # No fire was enqueued while the impostor held the lease, once the daemon had noticed.
    assert not [at for _, at in found if lost_at < at < regained_at - 0.05]
    check_each_second_once(found)  # and the fires it missed were caught up


def test_a_leader_that_noticed_its_lease_lost_has_every_fire_refused(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Once its renewal found the lease taken, a former leader's writes went without a token,
    as the CLI's do, and were taken: the rest of a tick begun before the loss enqueued a
    fire the new leader had enqueued already."""
    import threading

    from jobctl.errors import StoreError
    from jobctl.models import NewJob

    url = redis_server.url(namespace_for(tmp_path), leader_lease="600ms")
    fire_at = 1_900_000_000.0
    with RedisStore(url) as former, RedisStore(url) as current:
        lock = former.scheduler_lock()
        assert lock.acquire(1.0)
        token = lock._token
        lock._stop.set()  # its host stalls: no renewal meanwhile
        assert lock._thread is not None
        lock._thread.join()
        client = redis_server.client()
        client.delete(f"{current.prefix}leader")
        taken = current.scheduler_lock()
        assert taken.acquire(1.0)
        fired = current.record_fire("nightly", fire_at, NewJob("echo", {}), time.time())
        assert fired is not None and fired.status == "enqueued"
        lock._renew(token, threading.Event())  # it resumes, and its renewal finds the loss
        assert not lock.held()
        with pytest.raises(StoreError, match="not the cron leader"):
            former.forget_fires_after("nightly", fire_at - 60)
        with pytest.raises(StoreError, match="not the cron leader"):
            former.record_fire("nightly", fire_at + 30, NewJob("echo", {}), time.time())
        assert len(current.list_jobs(JobFilter(limit=None))) == 1  # the new leader's alone
        taken.release()
        client.close()

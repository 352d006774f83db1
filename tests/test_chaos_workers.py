"""Chaos: four workers drain a queue while a killer sends SIGKILL to one of them every half
second and starts a replacement.

Every job appends `ATTEMPT start T` and `ATTEMPT end T` (wall clock, microseconds) to a file
of its own, so what really ran is known apart from what the database says. At the end: every
job succeeded, no two executions of one job overlapped in time, and a job ran more than once
only when a worker running it was killed (its earlier attempts are `lost` by a killed worker).

Jobs are much shorter than the lease, so an attempt orphaned by its worker's death ends long
before the lease lets another worker run the job again; `test_hostile_security` shows what
happens to a job that outlives its lease.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from chaoslib import (
    consistency_problems,
    count,
    peek,
    report,
    require_full_scale,
    spawn,
    states,
    stop,
)
from conftest import Env

# bash, for $EPOCHREALTIME: a timestamp without starting a process; and a wait of 0 to 40 ms
# without one either, a read that times out on a FIFO nobody writes (opened for reading and
# writing, it never blocks the open).
RECORD = (
    'r=rec/$JOBCTL_JOB_ID; echo "$JOBCTL_ATTEMPT start $EPOCHREALTIME" >> $r; '
    "read -t 0.0$((RANDOM % 5)) <> pause; "
    'echo "$JOBCTL_ATTEMPT end $EPOCHREALTIME" >> $r'
)
CONFIG = f"""\
[settings]
lease = "1s"

[jobs.record]
command = ["bash", "-c", {json.dumps(RECORD)}]
max_attempts = 100
"""
WORKERS = 4
CONCURRENCY = 4
KILL_EVERY = 0.5


@dataclass
class Execution:
    attempt: int
    start: float
    end: float | None = None


@dataclass
class Outcome:
    jobs: int
    seed: int
    kills: int = 0
    started: int = 0
    seconds: float = 0.0
    lost_attempts: int = 0
    kills_that_hit: int = 0
    reruns: int = 0
    lost: list[int] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)


def read_executions(rec: Path) -> dict[int, list[Execution]]:
    found: dict[int, list[Execution]] = {}
    for path in rec.iterdir():
        by_attempt: dict[int, Execution] = {}
        runs = found.setdefault(int(path.name), [])
        for line in path.read_text().splitlines():
            attempt_text, kind, stamp = line.split()
            attempt, moment = int(attempt_text), float(stamp.replace(",", "."))
            if kind == "start":
                execution = Execution(attempt, moment)
                runs.append(execution)
                by_attempt[attempt] = execution
            else:
                by_attempt[attempt].end = moment
    return found


def chaos(
    env: Env,
    jobs: int,
    max_kills: int | None,
    seed: int,
    timeout: float,
    concurrency: int = CONCURRENCY,
) -> Outcome:
    env.write_config(CONFIG)
    rec = env.root / "rec"
    rec.mkdir()
    os.mkfifo(env.root / "pause")
    lines = "".join(json.dumps({"job": "record", "payload": {"n": n}}) + "\n" for n in range(jobs))
    ids = [int(word) for word in env.run("enqueue", "--batch", "-", input=lines).stdout.split()]
    assert len(ids) == jobs
    rng = random.Random(seed)
    names = (f"w{n}" for n in itertools.count(1))
    workers: dict[str, subprocess.Popen[str]] = {}
    killed: set[str] = set()
    outcome = Outcome(jobs=jobs, seed=seed)

    def start_worker() -> None:
        name = next(names)
        workers[name] = spawn(
            env,
            "run-worker",
            "--concurrency",
            str(concurrency),
            "--worker-name",
            name,
            log=env.root / f"{name}.log",
        )
        outcome.started += 1

    def log_of(name: str) -> str:
        return (env.root / f"{name}.log").read_text()[-3000:]

    began = time.monotonic()
    for _ in range(WORKERS):
        start_worker()
    # The killer's rhythm starts once jobs run; before, it would only kill starting workers.
    env.wait_for(lambda: any(rec.iterdir()), timeout=60)
    next_kill = time.monotonic() + KILL_EVERY
    deadline = began + timeout
    while count(env.db, "SELECT count(*) FROM jobs WHERE state = 'succeeded'") < jobs:
        now = time.monotonic()
        assert now < deadline, f"not done in {timeout}s: {states(env.db)}"
        for name, proc in workers.items():
            assert proc.poll() is None, f"worker {name} exited {proc.returncode}: {log_of(name)}"
        # A short run goes on until a kill has hit a worker that was running jobs.
        more = max_kills is None or outcome.kills < max_kills or not outcome.kills_that_hit
        if more and outcome.kills < 20 * (max_kills or 1000) and now >= next_kill:
            victim = rng.choice(sorted(workers))
            proc = workers.pop(victim)
            running = count(
                env.db,
                "SELECT count(*) FROM jobs WHERE state = 'running' AND worker = ?",
                (victim,),
            )
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            killed.add(victim)
            outcome.kills += 1
            outcome.kills_that_hit += running > 0
            start_worker()
            next_kill += KILL_EVERY
        time.sleep(max(0.0, min(0.05, next_kill - time.monotonic())))
    outcome.seconds = time.monotonic() - began
    for name, proc in workers.items():
        # One started just now may still be importing, before any signal handler: a SIGTERM
        # then ends it as the default action does. Stop each once it runs.
        log = env.root / f"{name}.log"
        env.wait_for(lambda log=log: "worker.started" in log.read_text(), timeout=60)
        assert stop(proc) == 0, log_of(name)
    for name in workers:
        assert "Traceback" not in log_of(name)

    executions = read_executions(rec)
    with peek(env.db) as conn:
        final = dict(conn.execute("SELECT id, state FROM jobs").fetchall())
        attempts = conn.execute(
            "SELECT job_id, attempt, worker, outcome FROM attempts ORDER BY job_id, run"
        ).fetchall()
    by_job: dict[int, dict[int, tuple[str, str | None]]] = {}
    for job_id, attempt, worker, how in attempts:
        by_job.setdefault(job_id, {})[attempt] = (worker, how)
        if how == "lost":
            outcome.lost_attempts += 1
    for job_id in ids:
        runs = sorted(executions.get(job_id, []), key=lambda e: e.start)
        tries = by_job.get(job_id, {})
        succeeded = [a for a, (_, how) in tries.items() if how == "succeeded"]
        finished = [e for e in runs if e.end is not None]
        if (
            final.get(job_id) != "succeeded"
            or len(succeeded) != 1
            or not any(e.attempt == succeeded[0] for e in finished)
        ):
            outcome.lost.append(job_id)
            continue
        outcome.reruns += len(runs) - 1
        if len({e.attempt for e in runs}) != len(runs):
            outcome.unexplained.append(f"job {job_id}: one attempt number ran twice: {runs}")
        for first, second in itertools.pairwise(runs):
            if first.end is None or second.start < first.end:
                outcome.overlaps.append(f"job {job_id}: {first} and {second}")
        for attempt, (worker, how) in tries.items():
            if attempt == succeeded[0]:
                continue
            if how != "lost" or worker not in killed:
                outcome.unexplained.append(
                    f"job {job_id} attempt {attempt}: {how} by {worker}"
                    f" (a killed worker: {worker in killed})"
                )
        for execution in runs:
            if execution.attempt not in tries:
                outcome.unexplained.append(
                    f"job {job_id}: ran attempt {execution.attempt} unknown to the database"
                )
    assert consistency_problems(env.db) == []
    return outcome


def check(outcome: Outcome) -> None:
    assert outcome.lost == [], f"lost jobs: {outcome.lost[:20]}"
    assert outcome.overlaps == [], outcome.overlaps[:10]
    assert outcome.unexplained == [], outcome.unexplained[:10]
    assert outcome.kills_that_hit >= 1, "no kill hit a running job: the run proved nothing"
    assert outcome.lost_attempts >= 1


def summary(outcome: Outcome) -> list[tuple[str, object]]:
    return [
        ("jobs", outcome.jobs),
        ("workers started", outcome.started),
        ("kills (SIGKILL)", outcome.kills),
        ("kills that hit running jobs", outcome.kills_that_hit),
        ("attempts lost with their worker", outcome.lost_attempts),
        ("re-runs (executions beyond one per job)", outcome.reruns),
        ("lost jobs (must be 0)", len(outcome.lost)),
        ("overlapping executions (must be 0)", len(outcome.overlaps)),
        ("unexplained re-runs (must be 0)", len(outcome.unexplained)),
        ("seconds", f"{outcome.seconds:.1f}"),
        ("seed", outcome.seed),
    ]


def test_workers_killed_every_half_second_lose_nothing(env: Env) -> None:
    # Two jobs at once in each worker: eight running, enough for a kill every half second to
    # hit some, and half the jobs drain in the same seconds as 600 at four.
    outcome = chaos(env, jobs=300, max_kills=3, seed=1, timeout=90, concurrency=2)
    check(outcome)


@pytest.mark.chaos
@pytest.mark.timeout(1800)
def test_full_scale_worker_chaos(
    env: Env, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    require_full_scale(request)
    outcome = chaos(env, jobs=5000, max_kills=None, seed=int(time.time()), timeout=1500)
    report(capsys, "worker chaos (4 workers, SIGKILL every 0.5s)", summary(outcome))
    check(outcome)


# ---------------------------------------------------------------------------------------------
# A job longer than its lease, orphaned by kill -9 of its worker

OUTLIVER = """\
import os, sys, time

attempt = os.environ["JOBCTL_ATTEMPT"]
root = sys.argv[1]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


with open(f"{root}/attempt.{attempt}.part", "w") as handle:
    handle.write(str(os.getpid()))
os.rename(f"{root}/attempt.{attempt}.part", f"{root}/attempt.{attempt}")  # whole, or not there
if attempt == "1":
    time.sleep(6)
else:
    with open(f"{root}/attempt.1") as handle:
        first = int(handle.read())
    with open(f"{root}/first-alive-when-second-started", "w") as handle:
        handle.write(str(alive(first)))
"""


def test_an_orphaned_attempt_does_not_overlap_its_rerun(env: Env) -> None:
    script = env.root / "outliver.py"
    script.write_text(OUTLIVER)
    env.write_config(
        '[settings]\nlease = "1s"\n\n[jobs.long]\n'
        f"command = [{json.dumps(sys.executable)}, {json.dumps(str(script))},"
        f" {json.dumps(str(env.root))}]\n"
    )
    first_pid = None
    try:
        first = env.start("run-worker", "--worker-name", "first")
        job_id = env.enqueue("long")
        env.wait_for(lambda: (env.root / "attempt.1").exists(), timeout=60)
        first_pid = int((env.root / "attempt.1").read_text())
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        env.start("run-worker", "--worker-name", "second")
        assert env.run("wait", str(job_id), "--timeout", "60s").returncode == 0
        verdict = (env.root / "first-alive-when-second-started").read_text()
        assert verdict == "False", "attempt 1 still ran when attempt 2 started"
    finally:
        if first_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(first_pid, signal.SIGKILL)

"""Pick-up latency: an idle worker, from `enqueue` returning to the job's first instruction.

A `jobctl run-worker` sits idle. This process enqueues one job through the store API
(SqliteStore.enqueue, as `jobctl enqueue` does) and notes the wall clock the moment the call
returns. The job is `date +%s%N`: it prints the wall clock as it starts, into the attempt's
log. The cost of spawning `date` itself (Popen to its clock reading, measured separately in
this process) is subtracted, so the figure is the worker's own delay: wake-up, claim, and
preparing the attempt. 200 samples, one at a time. Targets: p50 <= 5 ms, p99 <= 20 ms.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

from benchlib import (
    ERROR,
    Row,
    Sandbox,
    format_ms,
    median,
    parse_args,
    percentile,
    report,
    say,
    verdict,
    wait_until,
    wake_socket_ready,
)

from jobctl.models import NewJob, State
from jobctl.store.sqlite import SqliteStore

TITLE = "Pick-up latency"
STAMP_COMMAND = ["date", "+%s%N"]
TARGET_P50 = 0.005
TARGET_P99 = 0.020
SPAWN_SAMPLES = 50


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    samples = 50 if args.quick else 200
    with Sandbox("pickup", keep=args.keep) as sandbox:
        rows = measure(sandbox, samples)
    return report(TITLE, rows, args)


def measure(sandbox: Sandbox, samples: int) -> list[Row]:
    spawn_cost = median(spawn_cost_samples(SPAWN_SAMPLES, sandbox))
    command = " ".join(STAMP_COMMAND)
    say(f"   spawn cost of `{command}` (Popen to its clock reading): {format_ms(spawn_cost)}")
    with SqliteStore(sandbox.db) as store:
        worker = sandbox.start("run-worker", log_name="worker.log")
        if not wait_until(lambda: wake_socket_ready(sandbox.db), timeout=30):
            note = f"worker not listening: {sandbox.log_tail('worker.log')}"
            return [Row(TITLE, "worker did not start", result=ERROR, note=note)]
        time.sleep(0.5)  # let the worker settle into its idle wait
        raw = [pickup_sample(store, sandbox.root) for _ in range(samples)]
        if worker.poll() is not None:
            return [Row(TITLE, "worker exited", result=ERROR, note=sandbox.log_tail("worker.log"))]
    latencies = [value - spawn_cost for value in raw]
    return rows_for(latencies, raw, spawn_cost)


def spawn_cost_samples(count: int, sandbox: Sandbox) -> list[float]:
    """Seconds from Popen of the stamp command to the clock reading it prints."""
    values: list[float] = []
    for _ in range(count):
        before = time.time_ns()
        out = subprocess.run(
            STAMP_COMMAND,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            env=sandbox.env,
            start_new_session=True,
            check=True,
        ).stdout
        values.append((int(out) - before) / 1e9)
    return values


def pickup_sample(store: SqliteStore, cwd: Path) -> float:
    """Seconds from enqueue() returning to the job's own clock reading (raw, with spawn)."""
    job = NewJob(job="exec", payload={}, command=STAMP_COMMAND, cwd=str(cwd))
    (result,) = store.enqueue([job], time.time())
    returned = time.time_ns()
    started = read_stamp(store, result.id)
    time.sleep(random.uniform(0.01, 0.03))  # the worker goes back to its idle wait
    return (started - returned) / 1e9


def read_stamp(store: SqliteStore, job_id: int) -> int:
    """Wait for the job to finish and return the clock reading its command printed."""
    time.sleep(0.02)  # do not compete with the worker for the CPU while it starts the job
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = store.get(job_id)
        if job is not None and job.state == State.SUCCEEDED:
            attempts = store.attempts(job_id)
            log_path = attempts[-1].log_path if attempts else None
            if log_path is None:
                raise RuntimeError(f"job {job_id} has no log")
            return int(Path(log_path).read_text().split()[0])
        if job is not None and job.state not in (State.QUEUED, State.RUNNING):
            raise RuntimeError(f"job {job_id} ended {job.state.value}: {job.error}")
        time.sleep(0.005)
    raise RuntimeError(f"job {job_id} did not finish within 30 s")


def rows_for(latencies: list[float], raw: list[float], spawn_cost: float) -> list[Row]:
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    raw_note = (
        f"{len(latencies)} samples; spawn cost {format_ms(spawn_cost)} subtracted; "
        f"raw p50 {format_ms(percentile(raw, 0.50))}, p99 {format_ms(percentile(raw, 0.99))}"
    )
    say(f"   {raw_note}")
    return [
        Row(
            figure="pick-up latency, idle worker: p50",
            measured=format_ms(p50),
            target=f"<= {format_ms(TARGET_P50)}",
            result=verdict(p50 <= TARGET_P50),
            note=raw_note,
        ),
        Row(
            figure="pick-up latency, idle worker: p99",
            measured=format_ms(p99),
            target=f"<= {format_ms(TARGET_P99)}",
            result=verdict(p99 <= TARGET_P99),
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
